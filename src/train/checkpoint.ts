// Resumable checkpoints, checkpoints/step-N/: the model in its own HF layout, the AdamW moments
// (optimizer.safetensors, by parameter name) and trainer_state.json; each directory is written atomically.
import fs from 'node:fs';
import path from 'node:path';
import type { AdamW } from '../engine/index.js';
import { SafetensorsReader, writeSafetensors } from '../models/safetensors.js';
import { UalError } from '../errors.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import type { TrainConfig } from './config.js';

export interface TrainerState {
  step: number;
  config: TrainConfig;
}

export function checkpointDir(out: string, step: number): string {
  return path.join(out, 'checkpoints', `step-${step}`);
}

/** Save everything an exact continuation needs. Data order and schedules are recomputed from (seed, step). */
export function saveCheckpoint(out: string, step: number, saveWeights: (dir: string) => void, opt: AdamW,
  config: TrainConfig): string {
  const dir = checkpointDir(out, step);
  writeDirAtomic(dir, (tmp) => {
    saveWeights(tmp);
    const { m, v, step: optStep } = opt.stateDict();
    const names = opt.params.map((p, i) => p.name || `param.${i}`);
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    names.forEach((n, i) => {
      tensors.set(`exp_avg.${n}`, { shape: [...opt.params[i].shape], data: m[i] });
      tensors.set(`exp_avg_sq.${n}`, { shape: [...opt.params[i].shape], data: v[i] });
    });
    writeSafetensors(path.join(tmp, 'optimizer.safetensors'), tensors, { metadata: { step: String(optStep) } });
    writeFileAtomic(path.join(tmp, 'trainer_state.json'), JSON.stringify({ step, config } satisfies TrainerState, null, 2) + '\n');
  });
  return dir;
}

/** A checkpoint directory, or a run directory whose latest checkpoints/step-N is meant. */
export function resolveResumeDir(p: string): string {
  if (fs.existsSync(path.join(p, 'trainer_state.json'))) return p;
  const ck = path.join(p, 'checkpoints');
  const steps = fs.existsSync(ck)
    ? fs.readdirSync(ck).map((d) => /^step-(\d+)$/.exec(d)).filter((m) => m !== null).map((m) => Number(m![1]))
    : [];
  if (steps.length === 0) {
    throw new UalError('UAL_CHECKPOINT', `${p}: no trainer_state.json and no checkpoints/step-N inside`,
      'pass a checkpoints/step-N directory written by "ual train --save-every N", or the run directory holding it');
  }
  return checkpointDir(p, Math.max(...steps));
}

export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, 'trainer_state.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new UalError('UAL_CHECKPOINT', `${file}: cannot read trainer state (${(e as Error).message})`,
      'the checkpoint is incomplete: resume from an earlier checkpoints/step-N');
  }
}

/** Restore the AdamW moments saved by saveCheckpoint, matched by parameter name. */
export function loadOptimizer(dir: string, opt: AdamW): void {
  const file = path.join(dir, 'optimizer.safetensors');
  const step = readTrainerState(dir).step;
  // each moment is read straight into the optimizer's own float32 array (stateDict hands those out, not copies), so
  // resuming a large full fine-tune does not hold the optimizer state twice
  const { m, v } = opt.stateDict();
  const r = SafetensorsReader.open(file);
  try {
    opt.params.forEach((p, i) => {
      const n = p.name || `param.${i}`;
      if (!r.entries.has(`exp_avg.${n}`) || !r.entries.has(`exp_avg_sq.${n}`)) {
        throw new UalError('UAL_CHECKPOINT', `${file}: no optimizer state for parameter ${n}`, 'resume with the same model and LoRA settings the checkpoint was made with');
      }
      r.readInto(`exp_avg.${n}`, m[i]);
      r.readInto(`exp_avg_sq.${n}`, v[i]);
    });
  } finally {
    r.close();
  }
  opt.loadStateDict({ step, m, v });
}
