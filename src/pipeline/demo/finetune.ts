// One run of the demo: fine-tune one method for one seed from the shared base, then score it. It runs in the demo's
// own process or in a child process (job.ts), so that two runs can share two cores.
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic.js';
import { round } from '../../util/stats.js';
import type { TrainConfig } from '../../train/config.js';
import { train } from '../../train/trainer.js';
import type { TestSplit } from './benchmark.js';
import { evaluateModel, type EvalSettings, type ModelEval } from './evaluate.js';

/** Everything a run needs, as plain JSON (it crosses a process boundary). */
export interface FinetuneJob {
  method: string;
  seed: number;
  cfg: TrainConfig;
  test: TestSplit;
  eval: EvalSettings;
}

export interface FinetuneResult {
  curve: { step: number; loss: number }[];
  trainSeconds: number;
  ev: ModelEval;
}

export interface FinetuneHooks {
  onStep?(step: number, loss: number): void;
  onEvaluate?(): void;
  onWarning?(msg: string): void;
}

export async function finetuneAndScore(job: FinetuneJob, hooks: FinetuneHooks = {}): Promise<FinetuneResult> {
  const curve: { step: number; loss: number }[] = [];
  const t0 = Date.now();
  await train(job.cfg, { onStep: (m) => { curve.push({ step: m.step, loss: round(m.loss, 5) }); hooks.onStep?.(m.step, m.loss); }, onWarning: hooks.onWarning });
  const trainSeconds = round((Date.now() - t0) / 1000, 2);
  hooks.onEvaluate?.();
  const ev = evaluateModel(job.cfg.out, job.test, job.eval, job.seed);
  writeFileAtomic(path.join(job.cfg.out, 'demo_eval.json'), JSON.stringify(ev, null, 2) + '\n');
  return { curve, trainSeconds, ev };
}
