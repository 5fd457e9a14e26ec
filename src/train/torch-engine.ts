// `ual train --engine torch`: TypeScript finds a python with torch (--python, or python3 then /usr/bin/python3) and
// prepares (prepareData: rows, epsilon, order, schedule; LoRA's init adapter from the checkpoint's headers; plan.ts
// writes them), the PyTorch worker (python/ual_worker, torch-launch.ts starts it) trains, and its progress becomes the
// same hooks, metrics.jsonl and run directory the native engine leaves. The contract: README "Beyond one machine" and plan.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { saveOptions } from '../models/index.js';
import { UalError } from '../errors.js';
import type { TrainConfig } from './config.js';
import { worldSize } from './engine-config.js';
import { engineDir, removePlanArrays, writePlan } from './plan.js';
import { copyRunFiles, loraStart, prepareData, startMetrics, writeTrainConfig } from './prepare.js';
import { installHint, runWorker, workerRoot, type WorkerRun } from './torch-launch.js';
import type { TrainHooks, TrainResult } from './trainer.js';

export interface TorchInfo {
  torch: string;
  /** the python's version */
  python: string;
  cuda: boolean;
  gpus: number;
  /** the python program that was asked: --python, or the default that had torch */
  executable: string;
}

const PROBE = 'import json, sys, torch; print(json.dumps({"torch": torch.__version__.split("+")[0], "python": sys.version.split()[0], ' +
  '"cuda": torch.cuda.is_available(), "gpus": torch.cuda.device_count()}))';

/** The pythons tried, in order, when --python is not given: the one on PATH, then Debian's (python3-torch's). */
export const DEFAULT_PYTHONS = ['python3', '/usr/bin/python3'] as const;

/** What `python` says of its torch, or why it has none usable (a sentence naming the python). */
function probe(python: string): TorchInfo | { why: string; cannotRun?: string } {
  const r = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    const cannotRun = code === 'ENOENT' ? 'no such program' : r.error.message;
    return { why: `cannot run ${python} (${cannotRun})`, cannotRun };
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let info: TorchInfo | null = null;
  try { info = r.status === 0 ? { ...JSON.parse(last) as TorchInfo, executable: python } : null; } catch { info = null; }
  if (!info) {
    const why = r.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit status ${r.status}`;
    return { why: `${python} cannot import torch (${why})` };
  }
  const [major, minor] = info.torch.split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 13)) return { why: `${python} has torch ${info.torch}; the worker needs torch >= 1.13` };
  return info;
}

/**
 * The python to train with and its torch: --python when given (no python, no torch, or torch < 1.13 is an error
 * with the fix), else the first of `defaults` whose torch is >= 1.13 (an error naming each one's problem otherwise).
 */
export function findTorch(python: string, defaults: readonly string[] = DEFAULT_PYTHONS): TorchInfo {
  if (python) {
    const p = probe(python);
    if ('torch' in p) return p;
    if (p.cannotRun !== undefined) {
      throw new UalError('UAL_TORCH_UNAVAILABLE', `--engine torch: cannot run --python ${python} (${p.cannotRun})`,
        `give --python the path of a python 3 that has torch; then ${installHint('that python')}`);
    }
    throw new UalError('UAL_TORCH_UNAVAILABLE', `--engine torch: ${p.why}`, installHint('that python'));
  }
  const problems: string[] = [];
  for (const candidate of defaults) {
    const p = probe(candidate);
    if ('torch' in p) return p;
    problems.push(p.why);
  }
  throw new UalError('UAL_TORCH_UNAVAILABLE', `--engine torch: no python with torch >= 1.13 (without --python, ${defaults.join(' and ')} are tried): ${problems.join('; ')}`,
    installHint('one of them'));
}

/** --device auto|cpu|cuda against what torch sees; CUDA asked for but absent, or too few GPUs, is an error. */
export function resolveDevice(cfg: TrainConfig, info: TorchInfo): 'cpu' | 'cuda' {
  const device = cfg.device === 'auto' ? (info.cuda ? 'cuda' : 'cpu') : cfg.device;
  if (device === 'cuda' && !info.cuda) {
    throw new UalError('UAL_TORCH_UNAVAILABLE', `--device cuda: torch ${info.torch} (${info.executable}) sees no CUDA device`,
      'train on a machine with a GPU and a CUDA build of torch, or use --device cpu');
  }
  if (device === 'cuda' && cfg.nprocPerNode > info.gpus) {
    throw new UalError('UAL_TORCH_UNAVAILABLE', `--nproc-per-node ${cfg.nprocPerNode}: torch sees ${info.gpus} CUDA device(s) on this node`,
      `one rank per GPU: use --nproc-per-node ${info.gpus} or less`);
  }
  if (device === 'cpu' && cfg.dtype === 'bf16') {
    throw new UalError('UAL_TORCH_UNAVAILABLE', `--dtype bf16: torch ${info.torch} sees no CUDA device, and bf16 is autocast on CUDA`,
      'train in fp32 on the CPU (drop --dtype bf16), or on a machine with a GPU');
  }
  return device;
}

/** What a caller other than `ual train` may set: torch.set_num_threads per rank, the worker's environment. */
export interface TorchRunOptions {
  threads?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * The torch engine: check and prepare everything, write <out>/engine/, train in the worker, finish the run directory.
 * Returns the run's result and what the worker reported (every step, the group's peak RSS).
 */
export async function trainTorch(cfg: TrainConfig, hooks: TrainHooks = {}, o: TorchRunOptions = {}): Promise<TrainResult & { worker: WorkerRun }> {
  saveOptions(cfg.saveDtype, cfg.maxShardSize);
  const info = findTorch(cfg.python);
  const device = resolveDevice(cfg, info);
  if (!fs.existsSync(path.join(workerRoot(), 'ual_worker', '__main__.py'))) {
    throw new UalError('UAL_TORCH_UNAVAILABLE', `--engine torch: the worker package is missing (${path.join(workerRoot(), 'ual_worker')})`,
      'reinstall ual: the package ships python/ual_worker beside dist/');
  }
  const data = await prepareData(cfg, hooks.onWarning);
  // LoRA's starting adapter is drawn (or read) here, as the native engine does, so both engines start identical;
  // from the checkpoint's headers: only the worker reads the weights
  const lora = data.useLora ? loraStart(cfg, data) : null;
  const W = worldSize(cfg);
  hooks.onLog?.(`torch ${info.torch} (${info.executable}): ${W} rank${W > 1 ? 's' : ''}${cfg.nnodes > 1 ? ` on ${cfg.nnodes} nodes` : ''}, ` +
    `${device} (${device === 'cuda' ? 'nccl' : 'gloo'}), ${cfg.dtype}; the worker's log: ${path.join(engineDir(cfg), 'worker.log')}`);
  hooks.onStart?.(data.steps, data.first, data.summary);

  const planFile = writePlan(cfg, data, lora, { device, threads: o.threads });
  let metricsPath = '';
  const run = await runWorker({ ...cfg, python: info.executable }, planFile, {
    env: o.env,
    // the node that hosts rank 0 writes the run directory's files: on several nodes sharing --out, only that one
    onStart: () => {
      writeTrainConfig(cfg, data, {
        torch: { version: info.torch, python: info.executable, world_size: W, device, dtype: cfg.dtype, backend: device === 'cuda' ? 'nccl' : 'gloo' },
      });
      metricsPath = startMetrics(cfg.out, data.resumeDir !== null, data.first);
    },
    onStep: (m) => {
      if (metricsPath) fs.appendFileSync(metricsPath, JSON.stringify(m) + '\n');
      hooks.onStep?.(m);
    },
  });
  if (run.started) copyRunFiles(cfg.model, cfg.out);
  removePlanArrays(planFile);
  const last = run.steps.at(-1);
  const tokens = run.steps.reduce((n, m) => n + m.tokens, 0);
  // over the worker's training loop, as the native engine counts its own (not the launch and torch's import)
  const result = { steps: data.steps, final_loss: last ? last.loss : NaN, tokens_per_s: last ? tokens / last.elapsed_s : NaN, out: cfg.out, worker: run };
  if (run.started) return result;
  // this node's ranks trained, but rank 0 (which alone reports steps and writes --out) ran elsewhere
  const node = cfg.rdzvEndpoint ? 'this node' : `node ${cfg.nodeRank}`;
  return { ...result, note: `${node}: training done; rank 0 on ${cfg.rdzvEndpoint ? 'another node' : 'node 0'} reports the metrics and writes ${cfg.out}` };
}
