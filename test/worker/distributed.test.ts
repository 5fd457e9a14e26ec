// The worker's token-weighted reduction and its checkpoints: two gloo processes with two rows each equal one process
// with four, even when one rank's rows hold 31 target tokens each and the other's one; accumulating 2 micro-steps of 2
// rows equals one step of 4 rows, even when one micro-step holds 62 targets and the other 2; a run resumed from its
// own checkpoint continues exactly; checkpoints have the native layout (sharded here), so either engine resumes the other's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CheckpointTensors } from '../../src/models/safetensors.js';
import { train } from '../../src/train/trainer.js';
import { resolveTrainConfig, type TrainConfig } from '../../src/train/config.js';
import { describeWith } from '../helpers/needs.js';
import { ROOT } from '../helpers/cli.js';
import { writeJsonl } from '../helpers/files.js';
import { maxAbsDiff } from '../models/helpers.js';
import type { WorkerRun } from '../../src/train/torch-launch.js';
import { expectSameCheckpoint, launch, maxRelDiff, needTorch, ok, readMetrics, writePlan } from '../helpers/worker.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-worker-dist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ckpt = (out: string, step: number) => path.join(out, 'checkpoints', `step-${step}`);

/** Rows in file order 4k, 4k+1 long with 31 targets, 4k+2, 4k+3 short with 1: rank 0 of 2 gets 62 targets, rank 1 gets 2. */
function unevenRows(): unknown[] {
  let s = 12345;
  const id = () => { s = (s * 1103515245 + 12345) % 2 ** 31; return 1 + (s % 127); };
  return Array.from({ length: 16 }, (_, i) => {
    const long = i % 4 < 2;
    const ids = Array.from({ length: long ? 36 : 5 }, id);
    return { input_ids: ids, labels: ids.map((t, j) => (j < (long ? 5 : 4) ? -100 : t)), epsilon: (i % 5) * 0.05 };
  });
}

/** The largest absolute difference over every tensor of two checkpoint directories (single file or shards). */
function weightDiff(a: string, b: string): number {
  const [ta, tb] = [CheckpointTensors.open(a), CheckpointTensors.open(b)];
  try {
    expect([...tb.entries.keys()].sort()).toEqual([...ta.entries.keys()].sort());
    return Math.max(...[...ta.entries.keys()].map((name) => maxAbsDiff(ta.read(name), tb.read(name)).diff));
  } finally {
    ta.close();
    tb.close();
  }
}

describeWith(needTorch, 'the worker on two processes and across a resume', () => {
  let base: (out: string, extra?: Record<string, string | boolean>) => TrainConfig;
  const dir = (name: string) => path.join(tmp, name);
  const run: Record<string, WorkerRun> = {};

  beforeAll(async () => {
    const data = writeJsonl(tmp, 'uneven.jsonl', unevenRows());
    base = (out, extra = {}) => resolveTrainConfig({
      model: path.join(ROOT, 'fixtures', 'torch', 'llama'), data, out, loss: 'ual', steps: '6', 'batch-size': '4',
      'grad-accum': '2', 'no-shuffle': true, lr: '3e-3', 'weight-decay': '0.1', 'max-grad-norm': '1.0', 'save-every': '2',
      'max-shard-size': '150KB', ...extra, // sharded weights: each engine reads the other's shards on resume
    });
    await train(base(dir('native')));
    const start = async (name: string, cfg: TrainConfig, nproc = 1, threads = 0) => { run[name] = ok(await launch(cfg, await writePlan(cfg, { threads }), nproc)); };
    // one process; two processes (gradient checkpointing on: the same numbers, less memory); in file order, micro-steps
    // of 2 rows alternate 62 and 2 targets: 2 accumulated equal one of 4 rows
    const flat = (out: string, extra: Record<string, string | boolean> = {}) => base(out, { 'batch-size': '4', 'grad-accum': '1', 'save-every': '0', ...extra });
    await Promise.all([start('one', base(dir('one'))), start('two', base(dir('two'), { 'gradient-checkpointing': true }), 2),
      start('acc', flat(dir('acc'), { 'batch-size': '2', 'grad-accum': '2' })), start('flat', flat(dir('flat')), 1, 2)]);
    // the worker resumed from its own checkpoint and from the native engine's
    await Promise.all([start('own', base(dir('own'), { resume: ckpt(dir('one'), 2) })), start('cross', base(dir('cross'), { resume: ckpt(dir('native'), 2) }))]);
  });

  it('2 processes × 2 rows equal 1 process × 4 rows, with accumulation 2, however unevenly the targets fall', () => {
    expect(run.two.events[0]).toMatchObject({ event: 'start', world_size: 2, backend: 'gloo', device: 'cpu' });
    expect(run.two.steps.map((m) => [m.step, m.tokens])).toEqual(run.one.steps.map((m) => [m.step, m.tokens]));
    const loss = maxRelDiff(run.two.steps.map((m) => m.loss), run.one.steps.map((m) => m.loss));
    const weights = weightDiff(dir('one'), dir('two'));
    console.log(`world size 2 vs 1: max relative loss difference ${loss.toExponential(2)}, max weight difference ${weights.toExponential(2)}`);
    expect(loss).toBeLessThan(1e-6);
    expect(weights).toBeLessThan(1e-5); // Adam turns rounding-level gradient differences into ~1e-6 over 6 steps
    // and both are the native run: the mean over the step's 64 + 64 target tokens, not a mean of the ranks' means
    expect(maxRelDiff(run.one.steps.map((m) => m.loss), readMetrics(dir('native')).map((m) => m.loss))).toBeLessThan(1e-5);
  });

  it('accumulation 2 × 2 rows equals one micro-step of 4 rows, however unevenly the targets fall between micro-steps', () => {
    expect(run.acc.steps.map((m) => [m.step, m.tokens])).toEqual(run.flat.steps.map((m) => [m.step, m.tokens]));
    const loss = maxRelDiff(run.acc.steps.map((m) => m.loss), run.flat.steps.map((m) => m.loss));
    const weights = weightDiff(dir('flat'), dir('acc'));
    console.log(`accumulation 2 × 2 vs batch 4: max relative loss difference ${loss.toExponential(2)}, max weight difference ${weights.toExponential(2)}`);
    expect(loss).toBeLessThan(1e-6);
    expect(weights).toBeLessThan(1e-5);
    // plan.threads is torch.set_num_threads in each rank (the launch sets OMP_NUM_THREADS=1, torch's default here)
    expect([run.flat.start.threads, run.acc.start.threads]).toEqual([2, 1]);
  });

  it('checkpoints have the native layout: same files, tensor names, Adam step and trainer state', () => {
    expect(run.one.events.filter((e) => e.event === 'checkpoint')).toEqual([2, 4].map((s) => ({ event: 'checkpoint', step: s, dir: ckpt(dir('one'), s) })));
    expect(fs.readdirSync(ckpt(dir('one'), 2))).toContain('model.safetensors.index.json');
    expectSameCheckpoint(ckpt(dir('one'), 2), ckpt(dir('native'), 2), dir('one'));
  });

  it('a run resumed from its own checkpoint continues exactly', () => {
    expect(run.own.steps.map((m) => [m.step, m.loss])).toEqual(run.one.steps.slice(2).map((m) => [m.step, m.loss]));
    expect(weightDiff(dir('one'), dir('own'))).toBe(0);
  });

  it('each engine resumes the other\'s checkpoint', async () => {
    const fromNative = maxRelDiff(run.cross.steps.map((m) => m.loss), readMetrics(dir('native')).slice(2).map((m) => m.loss));
    await train(base(dir('back'), { resume: ckpt(dir('one'), 4) }));
    const fromWorker = maxRelDiff(readMetrics(dir('back')).map((m) => m.loss), run.one.steps.slice(4).map((m) => m.loss));
    console.log(`resumed across engines: max relative loss difference ${fromNative.toExponential(2)} (worker from native), ${fromWorker.toExponential(2)} (native from worker)`);
    expect(fromNative).toBeLessThan(1e-5);
    expect(fromWorker).toBeLessThan(1e-5);
    expect(weightDiff(dir('native'), dir('cross'))).toBeLessThan(1e-4);
    expect(weightDiff(dir('one'), dir('back'))).toBeLessThan(1e-4);
  });
});
