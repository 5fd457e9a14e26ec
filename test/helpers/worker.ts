// Test-only: run the PyTorch worker (python/ual_worker) on the data the native trainer would train on. writePlan
// prepares a TrainConfig as the native engine does (prepareTraining: rows, per-row epsilon, LoRA start, resume state,
// BatchOrder, lrAt) and writes <out>/engine/plan.json + arrays; runWorker launches it under torch.distributed.run.
// The product's plan writer is `ual train --engine torch` in src/; this one stays minimal and only serves the tests.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Need } from './needs.js';
import { ROOT } from './cli.js';
import { BatchOrder, prepareTraining, type StepMetrics } from '../../src/train/trainer.js';
import { lrAt } from '../../src/train/schedule.js';
import { parseSize } from '../../src/models/shards.js';
import { SafetensorsReader } from '../../src/models/safetensors.js';
import type { TrainConfig } from '../../src/train/config.js';

export const PYTHON = '/usr/bin/python3';

function probeTorch(): { present: boolean; cuda: boolean } {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  return { present: r.status === 0, cuda: r.stdout.trim() === 'True' };
}
const probe = probeTorch();

/** The worker's one dependency; CI installs it (.ci/run), elsewhere the tests skip with this hint. */
export const needTorch: Need & { cuda: boolean } = {
  what: `PyTorch for ${PYTHON}`, present: probe.present, cuda: probe.cuda,
  fix: 'apt-get install -y python3-torch (Debian) or pip install torch',
};

export interface PlanOptions {
  device?: 'auto' | 'cpu' | 'cuda';
  dtype?: 'fp32' | 'bf16';
}

/** Write <cfg.out>/engine/{plan.json, tokens.i32, labels.i32, offsets.i64, eps.f32, order.i32}; returns plan.json. */
export async function writePlan(cfg: TrainConfig, o: PlanOptions = {}): Promise<string> {
  const { model, lora, rows, steps, resumeDir, first } = await prepareTraining(cfg);
  const eng = path.join(cfg.out, 'engine');
  fs.mkdirSync(eng, { recursive: true });
  const offsets = new BigInt64Array(rows.length + 1);
  rows.forEach((r, i) => { offsets[i + 1] = offsets[i] + BigInt(r.inputIds.length); });
  const tokens = new Int32Array(Number(offsets[rows.length]));
  const labels = new Int32Array(tokens.length);
  rows.forEach((r, i) => { tokens.set(r.inputIds, Number(offsets[i])); labels.set(r.labels, Number(offsets[i])); });
  // the epsilon LOSSES[cfg.loss] gives each row
  const eps = Float32Array.from(rows, (r) => (cfg.loss === 'sft' ? 0 : cfg.loss === 'ls' ? cfg.epsilon : r.epsilon));
  const batches = new BatchOrder(rows.length, cfg.batchSize, cfg.shuffle, cfg.seed);
  const order = new Int32Array(steps * cfg.gradAccum * cfg.batchSize);
  for (let s = 0; s < steps * cfg.gradAccum; s++) order.set(batches.rowsFor(s), s * cfg.batchSize);
  const warmup = cfg.warmupSteps > 0 ? cfg.warmupSteps : Math.round(cfg.warmupRatio * steps);
  const lr = Array.from({ length: steps }, (_, k) => lrAt(k, cfg.lr, cfg.lrSchedule, warmup, steps));
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const [name, a] of [['tokens.i32', tokens], ['labels.i32', labels], ['offsets.i64', offsets], ['eps.f32', eps], ['order.i32', order]] as const) {
    fs.writeFileSync(path.join(eng, name), bytes(a));
  }
  // the run's starting adapter (fresh from the seed, --adapter's, or the resumed checkpoint's), as TypeScript hands it over
  const init = path.join(eng, 'lora-init');
  lora?.save(init, cfg.model);
  const plan = {
    version: 1, model: resumeDir && !lora ? resumeDir : cfg.model, out: cfg.out, first, steps,
    grad_accum: cfg.gradAccum, micro_batch: cfg.batchSize, loss: cfg.loss, eps_style: cfg.epsStyle,
    smooth_target: 'uniform', lr, weight_decay: cfg.weightDecay, decay_all: cfg.decayAll,
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, max_grad_norm: cfg.maxGradNorm, seed: cfg.seed,
    lora: lora ? { ...lora.opts, init } : null, merge: cfg.merge, save_every: cfg.saveEvery,
    save_dtype: cfg.saveDtype, max_shard_size: parseSize(cfg.maxShardSize),
    gradient_checkpointing: cfg.gradientCheckpointing, device: o.device ?? 'cpu', dtype: o.dtype ?? 'fp32',
    resume: resumeDir, pad_id: 0, config: cfg, rows: rows.length, vocab_size: model.config.vocabSize,
  };
  const file = path.join(eng, 'plan.json');
  fs.writeFileSync(file, JSON.stringify(plan, null, 2) + '\n');
  return file;
}

export interface WorkerRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** every stdout line, parsed (the protocol allows nothing else there) */
  events: Record<string, unknown>[];
  steps: StepMetrics[];
  /** the first UAL_WORKER_ERROR object on stderr */
  error: { rank: number; code: string; message: string; hint: string } | null;
}

/**
 * python -m ual_worker.launch --standalone --nproc_per_node N -m ual_worker PLAN, as `ual train --engine torch` runs
 * it. Asynchronous, so a test file can start its runs together: each is mostly the two processes importing torch.
 */
export function runWorker(plan: string, nproc = 1): Promise<WorkerRun> {
  // one intra-op thread per process (what torch.distributed.run sets for N > 1), so runs started together share
  // the cores instead of oversubscribing them
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: path.join(ROOT, 'python'), OMP_NUM_THREADS: '1' };
  const child = spawn(PYTHON, ['-m', 'ual_worker.launch', '--standalone', '--nproc_per_node', String(nproc),
    '--monitor_interval', '0.1', '-m', 'ual_worker', plan], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => { stdout += c; });
  child.stderr.on('data', (c) => { stderr += c; });
  return new Promise((done) => child.on('close', (status) => {
    const events = stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = events.filter((e) => e.event === 'step').map(({ event: _, ...m }) => m as unknown as StepMetrics);
    const line = /^UAL_WORKER_ERROR (.*)$/m.exec(stderr);
    done({ status, stdout, stderr, events, steps, error: line ? JSON.parse(line[1]) : null });
  }));
}

/** A checkpoints/step-N of the worker has the native one's files, optimizer tensor names, Adam step and trainer state. */
export function expectSameCheckpoint(mine: string, theirs: string, out: string): void {
  expect(fs.readdirSync(mine).sort()).toEqual(fs.readdirSync(theirs).sort());
  const [a, b] = [SafetensorsReader.open(path.join(mine, 'optimizer.safetensors')), SafetensorsReader.open(path.join(theirs, 'optimizer.safetensors'))];
  expect([[...a.entries.keys()].sort(), a.metadata]).toEqual([[...b.entries.keys()].sort(), b.metadata]);
  a.close();
  b.close();
  const state = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'trainer_state.json'), 'utf8'));
  expect(state(mine)).toEqual({ ...state(theirs), config: { ...state(theirs).config, out } });
}

/** A run directory's metrics.jsonl (the native engine's per-step record). */
export function readMetrics(out: string): StepMetrics[] {
  return fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepMetrics);
}

/** The largest relative difference between two loss series of equal length. */
export function maxRelDiff(a: number[], b: number[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} losses vs ${b.length}`);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
}
