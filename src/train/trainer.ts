// The training loop: batches, loss (chosen by config), backward, clipping, AdamW, schedule, metrics, run directory.
// The model only exposes forward/parameters/save; everything about the loop lives here (nanoGPT's train.py split).
import fs from 'node:fs';
import { AdamW, backward, clipGradNorm, closeBufferScope, openBufferScope, planStepMemory, scale, type Tensor } from '../engine/index.js';
import { loadModel, saveOptions, type AdaptableLM } from '../models/index.js';
import type { TextDatasetSummary } from '../data/dataset.js';
import type { Lora } from './lora.js';
import { collate } from '../data/collate.js';
import { UalError } from '../errors.js';
import { LOSSES } from './losses.js';
import type { TrainConfig } from './config.js';
import { loadOptimizer, saveCheckpoint } from './checkpoint.js';
import { attachLora, BatchOrder, copyRunFiles, lrSchedule, prepareData, startMetrics, writeTrainConfig, type TrainData } from './prepare.js';

// the batch order and step count moved to prepare.ts (both engines use them); importers of the trainer keep them
export { BatchOrder, totalSteps } from './prepare.js';

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
}

export interface TrainResult {
  steps: number;
  final_loss: number;
  tokens_per_s: number;
  out: string;
  /** why this process saw no step (a torch node that does not host rank 0), shown in place of the final loss */
  note?: string;
}

/** No weight decay on biases and norm weights (every 1-D parameter): transformers' Trainer convention. */
export function decayFor(cfg: Pick<TrainConfig, 'weightDecay' | 'decayAll'>): (p: Tensor) => number {
  return (p) => (cfg.decayAll || p.shape.length > 1 ? cfg.weightDecay : 0);
}

export interface TrainSetup extends TrainData {
  model: AdaptableLM;
  lora: Lora | null;
}

/** Everything before the loop: data (prepareData, shared with the torch engine), the model, LoRA. Nothing is written. */
export async function prepareTraining(cfg: TrainConfig, onWarning: (msg: string) => void = () => {}): Promise<TrainSetup> {
  const data = await prepareData(cfg, onWarning);
  const model = loadModel(data.weights, { baseDtype: cfg.baseDtype });
  return { ...data, model, lora: data.useLora ? attachLora(model, cfg, data.resumeDir) : null };
}

export interface TrainHooks {
  /** after validation, before the first step: the step count and the data summary */
  onStart?(steps: number, first: number, summary: TextDatasetSummary): void;
  onStep?(m: StepMetrics): void;
  /** something the user should know that does not stop the run (the CLI prints it) */
  onWarning?(msg: string): void;
  /** a note on how the run runs (the torch engine: torch version, ranks, device, where the worker's log is) */
  onLog?(line: string): void;
}

/**
 * Load, validate, train, save, with the engine cfg.engine names (the torch engine is loaded only when asked for);
 * both leave the same run directory. Bad input is reported before anything is written to cfg.out.
 */
export async function train(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  if (cfg.engine === 'torch') {
    const { worker: _worker, ...result } = await (await import('./torch-engine.js')).trainTorch(cfg, hooks);
    return result;
  }
  return trainNative(cfg, hooks);
}

async function trainNative(cfg: TrainConfig, hooks: TrainHooks): Promise<TrainResult> {
  const save = saveOptions(cfg.saveDtype, cfg.maxShardSize);
  const setup = await prepareTraining(cfg, hooks.onWarning);
  const { model, lora, rows, summary, steps, resumeDir, first } = setup;
  hooks.onStart?.(steps, first, summary);
  model.gradientCheckpointing = cfg.gradientCheckpointing;
  const params = lora ? lora.parameters() : model.parameters();
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: decayFor(cfg) });
  if (resumeDir) loadOptimizer(resumeDir, opt);
  const lrs = lrSchedule(cfg, steps);
  const saveWeights = (dir: string) => (lora ? lora.save(dir, cfg.model) : model.save(dir, save));

  writeTrainConfig(cfg, setup);
  const metricsPath = startMetrics(cfg.out, resumeDir !== null, first);

  const micro = cfg.batchSize;
  const order = new BatchOrder(rows.length, micro, cfg.shuffle, cfg.seed);
  const lossFn = LOSSES[cfg.loss];
  const lossOpts = { epsilon: cfg.epsilon, epsStyle: cfg.epsStyle, fused: cfg.fusedLoss };
  const microBatch = (k: number, a: number) => collate(order.rowsFor(k * cfg.gradAccum + a).map((i) => rows[i]));
  if (first < steps) {
    // the first micro-batch's buffers allocated and paged in now, so step 1 runs as fast as the steps after it
    const b = microBatch(first, 0);
    const plan = planStepMemory(() => backward(lossFn(model.forwardHidden(b.ids, b.B, b.T), b, lossOpts)));
    hooks.onLog?.(`memory plan: ${(plan.bytes / 2 ** 20).toFixed(0)} MiB of step buffers (activations, gradients, scratch) for batches of ${b.B} × ${b.T} tokens, laid out in ${(plan.ms / 1000).toFixed(1)} s`);
  }
  const t0 = performance.now();
  let last: StepMetrics | null = null;
  let tokensTotal = 0;

  for (let k = first; k < steps; k++) {
    const ts = performance.now();
    const lr = lrs[k];
    lora?.setStep(cfg.seed, k);
    opt.zeroGrad();
    // micro-batches of one optimizer step; each loss is weighted by its share of the step's target tokens, so the
    // accumulated gradient is that of the mean over all target tokens (not a mean of per-micro-batch means)
    const batches = [];
    for (let a = 0; a < cfg.gradAccum; a++) batches.push(microBatch(k, a));
    const targets = batches.reduce((n, b) => n + b.targets, 0);
    let lossValue = 0;
    let tokens = 0;
    for (const batch of batches) {
      // the micro-batch's activations and their gradients come from (and go back to) the buffer pool
      const scope = openBufferScope();
      const loss = lossFn(model.forwardHidden(batch.ids, batch.B, batch.T), batch, lossOpts);
      const w = targets > 0 ? batch.targets / targets : 0;
      backward(cfg.gradAccum === 1 ? loss : scale(loss, w));
      lossValue += loss.item() * w;
      tokens += batch.tokens;
      closeBufferScope(scope);
    }
    const norm = clipGradNorm(params, cfg.maxGradNorm > 0 ? cfg.maxGradNorm : Infinity);
    if (!Number.isFinite(lossValue) || !Number.isFinite(norm)) {
      throw new UalError('UAL_TRAIN_NONFINITE',
        `step ${k + 1}: ${!Number.isFinite(lossValue) ? `loss is ${lossValue}` : `gradient norm is ${norm}`}; stopped before the update, no model was written`,
        'lower --lr, set --max-grad-norm 1.0, or look for extreme rows in the data; metrics.jsonl has the steps before it');
    }
    opt.step(lr);
    tokensTotal += tokens;
    const now = performance.now();
    last = {
      step: k + 1, loss: lossValue, lr, grad_norm: norm, tokens,
      tokens_per_s: tokens / ((now - ts) / 1000), elapsed_s: (now - t0) / 1000,
    };
    fs.appendFileSync(metricsPath, JSON.stringify(last) + '\n');
    if (cfg.saveEvery > 0 && (k + 1) % cfg.saveEvery === 0 && k + 1 < steps) saveCheckpoint(cfg.out, k + 1, saveWeights, opt, cfg);
    hooks.onStep?.(last);
  }

  saveWeights(cfg.out);
  if (lora && cfg.merge) {
    lora.merge();
    model.save(cfg.out, save);
  }
  copyRunFiles(cfg.model, cfg.out);
  const elapsed = (performance.now() - t0) / 1000;
  return { steps, final_loss: last ? last.loss : NaN, tokens_per_s: tokensTotal / elapsed, out: cfg.out };
}
