// Test-only: the PyTorch worker (python/ual_worker) run exactly as `ual train --engine torch` runs it: src's plan
// writer (prepareData, loraStart, writePlan) and src's launcher (runWorker under the keeper), on the data the native
// trainer would train on; plus the comparisons the worker tests share.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Need } from './needs.js';
import { UalError } from '../../src/errors.js';
import { SafetensorsReader } from '../../src/models/safetensors.js';
import type { TrainConfig } from '../../src/train/config.js';
import { writePlan as writeEnginePlan } from '../../src/train/plan.js';
import { loraStart, prepareData } from '../../src/train/prepare.js';
import { findTorch, type TorchInfo } from '../../src/train/torch-engine.js';
import { runWorker, type WorkerRun } from '../../src/train/torch-launch.js';
import type { StepMetrics } from '../../src/train/trainer.js';

function probe(): TorchInfo | null {
  try {
    return findTorch(process.env.UAL_PYTHON ?? '');
  } catch (e) {
    if (e instanceof UalError) return null;
    throw e;
  }
}
const torch = probe();

/** The python the tests train with: UAL_PYTHON when set, else the one `ual train --engine torch` finds by default. */
export const PYTHON = torch?.executable ?? '';

/** The worker's one dependency; CI installs it (.ci/run), elsewhere the tests skip with this hint. */
export const needTorch: Need & { cuda: boolean } = {
  what: `PyTorch >= 1.13 (${process.env.UAL_PYTHON ? `UAL_PYTHON=${process.env.UAL_PYTHON}` : 'python3 or /usr/bin/python3'})`,
  present: torch !== null, cuda: torch?.cuda ?? false,
  fix: 'apt-get install -y python3-torch (Debian) or pip install torch, or set UAL_PYTHON to a python that has it',
};

/** Write <cfg.out>/engine/ as the torch engine does before launching; returns plan.json. */
export async function writePlan(cfg: TrainConfig, o: { device?: 'cpu' | 'cuda'; threads?: number } = {}): Promise<string> {
  const data = await prepareData(cfg);
  return writeEnginePlan(cfg, data, data.useLora ? loraStart(cfg, data) : null, { device: o.device ?? 'cpu', threads: o.threads });
}

export interface Launched {
  /** the run, when the worker group finished well */
  run: WorkerRun | null;
  /** the error ual would raise (the first rank's UAL_WORKER_ERROR), when it did not */
  error: UalError | null;
  /** whether rank 0 printed its start event */
  started: boolean;
  /** <out>/engine/worker.log: the ranks' stderr (and any stray stdout line, marked [stdout]) */
  log: string;
}

/**
 * src's runWorker on `planFile` with `nproc` ranks on this machine. One intra-op thread per rank (what
 * torch.distributed.run sets for N > 1), so runs a test file starts together share the cores instead of
 * oversubscribing them.
 */
export async function launch(cfg: TrainConfig, planFile: string, nproc = 1): Promise<Launched> {
  const env = { ...process.env, OMP_NUM_THREADS: '1' };
  let started = false;
  const { run, error } = await runWorker({ ...cfg, engine: 'torch', python: PYTHON, nprocPerNode: nproc }, planFile, { env, onStart: () => { started = true; } })
    .then((r) => ({ run: r, error: null }), (e: UalError) => ({ run: null, error: e }));
  return { run, error, started, log: fs.readFileSync(path.join(path.dirname(planFile), 'worker.log'), 'utf8') };
}

/** The run of a launch that must have gone well. */
export function ok(l: Launched): WorkerRun {
  expect(l.error, l.log).toBeNull();
  return l.run!;
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
