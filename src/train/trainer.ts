// The training loop: batches, loss (chosen by config), backward, clipping, AdamW, schedule, metrics, run directory.
// The model only exposes forward/parameters/save; everything about the loop lives here (nanoGPT's train.py split).
import fs from 'node:fs';
import path from 'node:path';
import { AdamW, backward, clipGradNorm, type Tensor } from '../engine/index.js';
import { loadModel, type CausalLM } from '../models/index.js';
import { readTokenRows, type TokenRow } from '../data/pretokenized.js';
import { collate } from '../data/collate.js';
import { UalError, DataError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import { LOSSES } from './losses.js';
import { lrAt } from './schedule.js';
import type { TrainConfig } from './config.js';

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
}

/** No weight decay on biases and norm weights (every 1-D parameter): transformers' Trainer convention. */
export function decayFor(cfg: Pick<TrainConfig, 'weightDecay' | 'decayAll'>): (p: Tensor) => number {
  return (p) => (cfg.decayAll || p.shape.length > 1 ? cfg.weightDecay : 0);
}

/**
 * Which rows step k (0-based) trains on. Without shuffling: rows kB..kB+B-1 in file order, wrapping (the reference
 * contract). With shuffling: the same positions in the concatenation of seeded per-epoch permutations, so a resumed
 * run can recompute any step's batch from (seed, step) alone.
 */
export class BatchOrder {
  private perms = new Map<number, Int32Array>();
  constructor(private n: number, private B: number, private shuffle: boolean, private seed: number) {}

  rowsFor(step0: number): number[] {
    const out: number[] = [];
    for (let j = 0; j < this.B; j++) {
      const pos = step0 * this.B + j;
      const epoch = Math.floor(pos / this.n);
      const i = pos % this.n;
      out.push(this.shuffle ? this.perm(epoch)[i] : i);
    }
    return out;
  }

  private perm(epoch: number): Int32Array {
    let p = this.perms.get(epoch);
    if (!p) {
      p = new Rng(this.seed * 1000003 + epoch).permutation(this.n);
      this.perms.clear(); // only the current epoch is needed
      this.perms.set(epoch, p);
    }
    return p;
  }
}

function maxPositions(model: CausalLM): number {
  return model.config.maxPositions;
}

/** Load, validate, train, save. Bad input is reported before anything is written to cfg.out. */
export function train(cfg: TrainConfig, onStep?: (m: StepMetrics) => void): TrainResult {
  const model = loadModel(cfg.model);
  const rows = readTokenRows(cfg.data, model.config.vocabSize);
  const ctx = maxPositions(model);
  for (const r of rows) {
    if (r.inputIds.length > ctx) {
      throw new DataError(cfg.data, r.line, 'input_ids', `has ${r.inputIds.length} tokens, more than the model's ${ctx} positions`, 'truncate the rows or use a checkpoint with a longer context');
    }
  }
  if (cfg.loss === 'ual' && rows.every((r) => r.epsilon === 0)) {
    process.stderr.write(`ual train: warning: --loss ual but no row of ${cfg.data} has an "epsilon" > 0: this is plain SFT (run "ual smooth" first)\n`);
  }

  fs.mkdirSync(cfg.out, { recursive: true });
  writeFileAtomic(path.join(cfg.out, 'train_config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const metricsPath = path.join(cfg.out, 'metrics.jsonl');
  fs.writeFileSync(metricsPath, '');

  const params = model.parameters();
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: decayFor(cfg) });
  const order = new BatchOrder(rows.length, cfg.batchSize, cfg.shuffle, cfg.seed);
  const lossFn = LOSSES[cfg.loss];
  const t0 = performance.now();
  let last: StepMetrics | null = null;
  let tokensTotal = 0;

  for (let k = 0; k < cfg.steps; k++) {
    const ts = performance.now();
    const batchRows: TokenRow[] = order.rowsFor(k).map((i) => rows[i]);
    const batch = collate(batchRows);
    const lr = lrAt(k, cfg.lr, cfg.lrSchedule, cfg.warmupSteps, cfg.steps);
    opt.zeroGrad();
    const { logits } = model.forward(batch.ids, batch.B, batch.T);
    const loss = lossFn(logits, batch, { epsilon: cfg.epsilon, epsStyle: cfg.epsStyle });
    backward(loss);
    const lossValue = loss.item();
    const norm = clipGradNorm(params, cfg.maxGradNorm > 0 ? cfg.maxGradNorm : Infinity);
    if (!Number.isFinite(lossValue) || !Number.isFinite(norm)) {
      throw new UalError('UAL_TRAIN_NONFINITE',
        `step ${k + 1}: ${!Number.isFinite(lossValue) ? `loss is ${lossValue}` : `gradient norm is ${norm}`}; stopped before the update, no model was written`,
        'lower --lr, set --max-grad-norm 1.0, or look for extreme rows in the data; metrics.jsonl has the steps before it');
    }
    opt.step(lr);
    let tokens = 0;
    for (const r of batchRows) tokens += r.inputIds.length;
    tokensTotal += tokens;
    const now = performance.now();
    last = {
      step: k + 1, loss: lossValue, lr, grad_norm: norm, tokens,
      tokens_per_s: tokens / ((now - ts) / 1000), elapsed_s: (now - t0) / 1000,
    };
    fs.appendFileSync(metricsPath, JSON.stringify(last) + '\n');
    onStep?.(last);
  }

  model.save(cfg.out);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const src = path.join(cfg.model, f);
    if (fs.existsSync(src)) writeFileAtomic(path.join(cfg.out, f), fs.readFileSync(src));
  }
  const elapsed = (performance.now() - t0) / 1000;
  return { steps: cfg.steps, final_loss: last ? last.loss : NaN, tokens_per_s: tokensTotal / elapsed, out: cfg.out };
}
