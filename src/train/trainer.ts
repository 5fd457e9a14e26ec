// The training loop: batches, loss (chosen by config), backward, clipping, AdamW, schedule, metrics, run directory.
// The model only exposes forward/parameters/save; everything about the loop lives here (nanoGPT's train.py split).
import fs from 'node:fs';
import path from 'node:path';
import { AdamW, backward, clipGradNorm, closeBufferScope, openBufferScope, scale, type Tensor } from '../engine/index.js';
import { loadModel, positionLimit, saveOptions, type AdaptableLM } from '../models/index.js';
import { hasTokenizer, loadTokenizer } from '../data/tokenizer.js';
import { loadTextDataset, type TextDatasetSummary } from '../data/dataset.js';
import type { TokenRow } from '../data/pretokenized.js';
import { Lora } from './lora.js';
import { collate } from '../data/collate.js';
import { UalError, DataError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import { LOSSES } from './losses.js';
import { lrAt } from './schedule.js';
import { RESUMABLE_CHANGES, TRAIN_DEFAULTS, type TrainConfig } from './config.js';
import { loadOptimizer, readTrainerState, resolveResumeDir, saveCheckpoint } from './checkpoint.js';

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

/** Optimizer steps of a run: --steps, or enough micro-batches to cover the data --epochs times. */
export function totalSteps(cfg: TrainConfig, rows: number): number {
  return cfg.steps > 0 ? cfg.steps : Math.max(1, Math.ceil((cfg.epochs * rows) / (cfg.batchSize * cfg.gradAccum)));
}

/** Check that a resumed run is the same run: only out/resume/save cadence may change. */
function checkResumable(saved: TrainConfig, now: TrainConfig, dir: string): void {
  // a key the saved config lacks (it predates the option) had the default value
  const was = (k: keyof TrainConfig) => saved[k] ?? (TRAIN_DEFAULTS as Partial<TrainConfig>)[k];
  const differ = (Object.keys(now) as (keyof TrainConfig)[])
    .filter((k) => !RESUMABLE_CHANGES.has(k) && JSON.stringify(was(k)) !== JSON.stringify(now[k]));
  if (differ.length > 0) {
    throw new UsageError(`--resume ${dir}: the checkpoint was made with different ${differ.map((k) => `${k} (${JSON.stringify(was(k))} there, ${JSON.stringify(now[k])} now)`).join(', ')}`,
      'resume with the options of the original run (see its train_config.json)');
  }
}

export interface TrainSetup {
  model: AdaptableLM;
  lora: Lora | null;
  rows: TokenRow[];
  summary: TextDatasetSummary;
  steps: number;
  resumeDir: string | null;
  first: number;
}

/** Everything before the loop: model (+ LoRA), data, resume state. Nothing is written yet. */
export async function prepareTraining(cfg: TrainConfig, onWarning: (msg: string) => void = () => {}): Promise<TrainSetup> {
  const resumeDir = cfg.resume ? resolveResumeDir(cfg.resume) : null;
  const state = resumeDir ? readTrainerState(resumeDir) : null;
  if (state && resumeDir) checkResumable(state.config, cfg, resumeDir);
  const useLora = cfg.loraR > 0 || cfg.adapter !== '';
  // a full fine-tune resumes from the checkpoint's weights; LoRA from the base model plus the checkpoint's adapter
  const model = loadModel(resumeDir && !useLora ? resumeDir : cfg.model, { baseDtype: cfg.baseDtype });
  const tokenizer = hasTokenizer(cfg.model) ? loadTokenizer(cfg.model) : null;
  if (tokenizer && tokenizer.vocabSize > model.config.vocabSize) {
    throw new UalError('UAL_TOKENIZER', `${cfg.model}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocabSize}`,
      'use the tokenizer the model was made with (ual init --tokenizer DIR sets vocab_size from it)');
  }
  const { max, context: ctx } = positionLimit(model.config, 'train');
  if (cfg.maxLength > max) {
    throw new UsageError(`--max-length ${cfg.maxLength} is longer than the model's ${max} positions`, `use --max-length ${max} or less`);
  }
  const { rows, summary } = await loadTextDataset(cfg.data, {
    format: cfg.format === 'auto' ? undefined : cfg.format, template: cfg.template, tokenizer,
    maxLength: cfg.maxLength > 0 ? cfg.maxLength : ctx, trainOnPrompt: cfg.trainOnPrompt, skipBadRows: cfg.skipBadRows,
    pack: cfg.pack, requireEpsilon: cfg.loss === 'ual', vocabSize: model.config.vocabSize,
  });
  if (rows.length === 0) throw new DataError(cfg.data, null, null, 'no trainable rows (every row was skipped or had no target tokens)', 'check the file and --max-length');
  if (cfg.loss === 'ual' && rows.every((r) => r.epsilon === 0)) {
    onWarning(`--loss ual but every row of ${cfg.data} has epsilon 0: this is plain SFT`);
  }
  let lora: Lora | null = null;
  if (useLora) {
    const opts = { r: cfg.loraR, alpha: cfg.loraAlpha, dropout: cfg.loraDropout, targets: cfg.loraTargets.split(',').map((t) => t.trim()).filter(Boolean) };
    lora = Lora.attach(model, opts, cfg.seed, resumeDir ?? (cfg.adapter || undefined));
  }
  return { model, lora, rows, summary, steps: totalSteps(cfg, rows.length), resumeDir, first: state ? state.step : 0 };
}

/** Load, validate, train, save. Bad input is reported before anything is written to cfg.out. */
export interface TrainHooks {
  /** after validation, before the first step: the step count and the data summary */
  onStart?(steps: number, first: number, summary: TextDatasetSummary): void;
  onStep?(m: StepMetrics): void;
  /** something the user should know that does not stop the run (the CLI prints it) */
  onWarning?(msg: string): void;
}

export async function train(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const save = saveOptions(cfg.saveDtype, cfg.maxShardSize);
  const { model, lora, rows, summary, steps, resumeDir, first } = await prepareTraining(cfg, hooks.onWarning);
  hooks.onStart?.(steps, first, summary);
  model.gradientCheckpointing = cfg.gradientCheckpointing;
  const params = lora ? lora.parameters() : model.parameters();
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: decayFor(cfg) });
  if (resumeDir) loadOptimizer(resumeDir, opt);
  const warmup = cfg.warmupSteps > 0 ? cfg.warmupSteps : Math.round(cfg.warmupRatio * steps);
  const saveWeights = (dir: string) => (lora ? lora.save(dir, cfg.model) : model.save(dir, save));

  fs.mkdirSync(cfg.out, { recursive: true });
  writeFileAtomic(path.join(cfg.out, 'train_config.json'), JSON.stringify({ ...cfg, steps, warmupSteps: warmup, data_summary: summary }, null, 2) + '\n');
  const metricsPath = path.join(cfg.out, 'metrics.jsonl');
  // on resume keep the metrics of the steps before the checkpoint, drop any written after it
  const kept = resumeDir && fs.existsSync(metricsPath)
    ? fs.readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as StepMetrics).step <= first)
    : [];
  writeFileAtomic(metricsPath, kept.map((l) => l + '\n').join(''));

  const micro = cfg.batchSize;
  const order = new BatchOrder(rows.length, micro, cfg.shuffle, cfg.seed);
  const lossFn = LOSSES[cfg.loss];
  const lossOpts = { epsilon: cfg.epsilon, epsStyle: cfg.epsStyle, fused: cfg.fusedLoss };
  const t0 = performance.now();
  let last: StepMetrics | null = null;
  let tokensTotal = 0;

  for (let k = first; k < steps; k++) {
    const ts = performance.now();
    const lr = lrAt(k, cfg.lr, cfg.lrSchedule, warmup, steps);
    lora?.setStep(cfg.seed, k);
    opt.zeroGrad();
    // micro-batches of one optimizer step; each loss is weighted by its share of the step's target tokens, so the
    // accumulated gradient is that of the mean over all target tokens (not a mean of per-micro-batch means)
    const batches = [];
    for (let a = 0; a < cfg.gradAccum; a++) batches.push(collate(order.rowsFor(k * cfg.gradAccum + a).map((i) => rows[i])));
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
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const src = path.join(cfg.model, f);
    if (fs.existsSync(src)) writeFileAtomic(path.join(cfg.out, f), fs.readFileSync(src));
  }
  const elapsed = (performance.now() - t0) / 1000;
  return { steps, final_loss: last ? last.loss : NaN, tokens_per_s: tokensTotal / elapsed, out: cfg.out };
}
