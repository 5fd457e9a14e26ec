// What both engines do outside the training step, so that native and torch runs train on the same thing and leave the
// same run directory: rows (template, masks, per-row epsilon, teacher targets), the seeded step -> rows order, the
// schedule, the resume state; train_config.json, metrics.jsonl and the tokenizer files. ual distill tokenizes with loadTrainRows too.
import fs from 'node:fs';
import path from 'node:path';
import { loadModel, positionLimit, readConfig, type AdaptableLM, type ModelConfig } from '../models/index.js';
import { hasTokenizer, loadTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { tokenizerHash } from '../data/teacher-topk.js';
import { loadTextDataset, type TextDatasetSummary } from '../data/dataset.js';
import type { TokenRow } from '../data/pretokenized.js';
import { UalError, DataError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import { lrAt } from './schedule.js';
import { Lora, LoraWeights, type LoraOptions } from './lora.js';
import { checkpointLinearModules } from '../models/linear-modules.js';
import { RESUMABLE_CHANGES, TRAIN_DEFAULTS, type TrainConfig } from './config.js';
import { readTrainerState, resolveResumeDir } from './checkpoint.js';
import { attachTeacherTargets, checkTopK } from './teacher.js';

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

/** Warmup steps: --warmup-steps, or --warmup-ratio of the run. */
export function warmupOf(cfg: TrainConfig, steps: number): number {
  return cfg.warmupSteps > 0 ? cfg.warmupSteps : Math.round(cfg.warmupRatio * steps);
}

/** The learning rate of every optimizer step 0..steps-1 (the one schedule definition both engines use). */
export function lrSchedule(cfg: TrainConfig, steps: number): number[] {
  const warmup = warmupOf(cfg, steps);
  return Array.from({ length: steps }, (_, k) => lrAt(k, cfg.lr, cfg.lrSchedule, warmup, steps));
}

/** Check that a resumed run is the same run: only out/resume/save cadence/engine may change. */
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

export interface TrainData {
  /** config.json of the weights training starts from */
  config: ModelConfig;
  /** the directory those weights are read from: the base model, or a resumed full fine-tune's checkpoint */
  weights: string;
  useLora: boolean;
  rows: TokenRow[];
  summary: TextDatasetSummary;
  steps: number;
  resumeDir: string | null;
  /** optimizer steps already taken (the resume step) */
  first: number;
}

/** The options that decide how rows are tokenized and masked: ual train's, and ual distill's (the same flags). */
export type RowOptions = Pick<TrainConfig, 'data' | 'format' | 'template' | 'maxLength' | 'trainOnPrompt' | 'skipBadRows'>;

/** A checkpoint's tokenizer (null without tokenizer.json), refused when its ids do not fit the model's vocabulary. */
export function checkpointTokenizer(dir: string, config: ModelConfig): Tokenizer | null {
  const tokenizer = hasTokenizer(dir) ? loadTokenizer(dir) : null;
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new UalError('UAL_TOKENIZER', `${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`,
      'use the tokenizer the model was made with (ual init --tokenizer DIR sets vocab_size from it)');
  }
  return tokenizer;
}

export interface TrainRows {
  rows: TokenRow[];
  summary: TextDatasetSummary;
  tokenizer: Tokenizer | null;
  /** tokens a row is cut to: --max-length, or the model's context */
  maxLength: number;
}

/**
 * The rows exactly as training sees them (template, masks, max length; the tokenizer of `model`): ual train's rows,
 * and the ones ual distill computes teacher targets for. `teacher` reads each row's "teacher_topk" ('rows') or
 * computes the targets with a teacher checkpoint, before any packing.
 */
export async function loadTrainRows(model: string, config: ModelConfig, o: RowOptions & {
  pack?: boolean; requireEpsilon?: boolean; teacher?: 'rows' | { dir: string; topK: number; batchSize: number };
}): Promise<TrainRows> {
  const tokenizer = checkpointTokenizer(model, config);
  const { max, context: ctx } = positionLimit(config, 'train');
  if (o.maxLength > max) {
    throw new UsageError(`--max-length ${o.maxLength} is longer than the model's ${max} positions`, `use --max-length ${max} or less`);
  }
  const maxLength = o.maxLength > 0 ? o.maxLength : ctx;
  const teacher = o.teacher;
  const { rows, summary } = await loadTextDataset(o.data, {
    format: o.format === 'auto' ? undefined : o.format, template: o.template, tokenizer,
    maxLength, trainOnPrompt: o.trainOnPrompt, skipBadRows: o.skipBadRows,
    pack: o.pack, requireEpsilon: o.requireEpsilon, vocabSize: config.vocabSize,
    readTeacher: teacher === 'rows' ? { tokenizer: tokenizerHash(tokenizer, o.template), vocabSize: config.vocabSize } : undefined,
    attachTeacher: teacher && teacher !== 'rows' ? async (all) => {
      const t = loadTeacher(teacher.dir, tokenizerHash(tokenizer, o.template), model, o.template);
      checkTopK(teacher.topK, t);
      attachTeacherTargets(t, all, teacher.topK, teacher.batchSize, config.vocabSize);
    } : undefined,
  });
  if (rows.length === 0) throw new DataError(o.data, null, null, 'no trainable rows (every row was skipped or had no target tokens)', 'check the file and --max-length');
  return { rows, summary, tokenizer, maxLength };
}

/** --teacher DIR: its weights, refused unless its tokenizer is the student's (`studentTokenizer`, its hash). */
function loadTeacher(dir: string, studentTokenizer: string | null, student: string, template: RowOptions['template']): AdaptableLM {
  const config = readConfig(dir);
  const hash = tokenizerHash(checkpointTokenizer(dir, config), template);
  if (hash !== studentTokenizer) {
    throw new UalError('UAL_TOKENIZER', `--teacher ${dir}: its tokenizer is not the one of --model ${student} (${hash === null || studentTokenizer === null ? 'only one of them has tokenizer.json' : 'tokenizer.json differs'})`,
      'a teacher target needs the student\'s vocabulary: use a teacher of the same family (the same tokenizer.json)');
  }
  return loadModel(dir);
}

/** Everything before the weights: resume state, the model's config, the rows. Nothing is written. */
export async function prepareData(cfg: TrainConfig, onWarning: (msg: string) => void = () => {}): Promise<TrainData> {
  const resumeDir = cfg.resume ? resolveResumeDir(cfg.resume) : null;
  const state = resumeDir ? readTrainerState(resumeDir) : null;
  if (state && resumeDir) checkResumable(state.config, cfg, resumeDir);
  const useLora = cfg.loraR > 0 || cfg.adapter !== '';
  // a full fine-tune resumes from the checkpoint's weights; LoRA from the base model plus the checkpoint's adapter
  const weights = resumeDir && !useLora ? resumeDir : cfg.model;
  const config = readConfig(weights);
  const { rows, summary } = await loadTrainRows(cfg.model, config, {
    ...cfg, requireEpsilon: cfg.loss === 'ual',
    teacher: cfg.smoothTarget !== 'teacher' ? undefined : cfg.teacher ? { dir: cfg.teacher, topK: cfg.topK, batchSize: cfg.batchSize } : 'rows',
  });
  if (cfg.loss === 'ual' && rows.every((r) => r.epsilon === 0)) {
    onWarning(`--loss ual but every row of ${cfg.data} has epsilon 0: this is plain SFT`);
  }
  if (cfg.smoothTarget === 'teacher' && cfg.loss === 'sft') onWarning('--smooth-target teacher with --loss sft: epsilon is 0, so the teacher target has no weight');
  return { config, weights, useLora, rows, summary, steps: totalSteps(cfg, rows.length), resumeDir, first: state ? state.step : 0 };
}

const loraOptions = (cfg: TrainConfig): LoraOptions =>
  ({ r: cfg.loraR, alpha: cfg.loraAlpha, dropout: cfg.loraDropout, targets: cfg.loraTargets.split(',').map((t) => t.trim()).filter(Boolean) });

/** LoRA as the run asks: fresh adapters drawn from the seed, or the resumed checkpoint's / --adapter's weights. */
export function attachLora(model: AdaptableLM, cfg: TrainConfig, resumeDir: string | null): Lora {
  return Lora.attach(model, loraOptions(cfg), cfg.seed, resumeDir ?? (cfg.adapter || undefined));
}

/**
 * attachLora's starting adapters without the model (the torch engine: only the worker loads it): the linear modules
 * from the checkpoint's config.json and safetensors headers, the same seeded draws, or the same saved weights.
 */
export function loraStart(cfg: TrainConfig, d: TrainData): LoraWeights {
  const { config, modules } = checkpointLinearModules(d.weights);
  return LoraWeights.create(modules, config, loraOptions(cfg), cfg.seed, d.resumeDir ?? (cfg.adapter || undefined));
}

/** train_config.json: the resolved options, the derived step and warmup counts, the data summary, and `extra`. */
export function writeTrainConfig(cfg: TrainConfig, d: TrainData, extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(cfg.out, { recursive: true });
  writeFileAtomic(path.join(cfg.out, 'train_config.json'),
    JSON.stringify({ ...cfg, steps: d.steps, warmupSteps: warmupOf(cfg, d.steps), data_summary: d.summary, ...extra }, null, 2) + '\n');
}

/** Start metrics.jsonl: on resume keep the steps up to the checkpoint, drop any written after it. Returns its path. */
export function startMetrics(out: string, resumed: boolean, first: number): string {
  const file = path.join(out, 'metrics.jsonl');
  const kept = resumed && fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= first)
    : [];
  writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
  return file;
}

/** The files that make a run directory usable as a checkpoint beside the weights: tokenizer and generation config. */
export function copyRunFiles(model: string, out: string): void {
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const src = path.join(model, f);
    if (fs.existsSync(src)) writeFileAtomic(path.join(out, f), fs.readFileSync(src));
  }
}
