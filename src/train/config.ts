// The training configuration, typed once: defaults, the CLI flag for every key (a key without a flag fails to
// compile), validation with messages naming the flag, and the resolved copy written to the run directory.
import { UsageError } from '../errors.js';
import type { EpsStyle, LossType } from './losses.js';
import type { LrSchedule } from './schedule.js';

export interface TrainConfig {
  model: string;
  data: string;
  out: string;
  loss: LossType;
  epsilon: number;
  epsStyle: EpsStyle;
  /** optimizer steps; 0 = derived from epochs */
  steps: number;
  /** passes over the data (used when steps is 0) */
  epochs: number;
  batchSize: number;
  /** micro-batches per optimizer step (effective batch = batchSize * gradAccum) */
  gradAccum: number;
  lr: number;
  weightDecay: number;
  /** decay every parameter (plain torch AdamW); default skips biases and norm weights (transformers' convention) */
  decayAll: boolean;
  maxGradNorm: number;
  warmupSteps: number;
  lrSchedule: LrSchedule;
  shuffle: boolean;
  seed: number;
  /** write checkpoints/step-N every N steps (0 = only the final model) */
  saveEvery: number;
  /** a checkpoints/step-N directory (or a run directory: its latest step) to continue from */
  resume: string;
}

export const TRAIN_DEFAULTS: Readonly<Omit<TrainConfig, 'model' | 'data' | 'out'>> = Object.freeze({
  loss: 'ual',
  steps: 0,
  epochs: 0,
  gradAccum: 1,
  saveEvery: 0,
  resume: '',
  epsilon: 0.1,
  epsStyle: 'paper',
  batchSize: 8,
  lr: 3e-4,
  weightDecay: 0,
  decayAll: false,
  maxGradNorm: 1.0,
  warmupSteps: 0,
  lrSchedule: 'constant',
  shuffle: true,
  seed: 0,
});

type Kind = 'string' | 'int' | 'number' | 'bool' | 'negbool' | readonly string[];
interface Flag { flag: string; kind: Kind; help: string; min?: number; max?: number }

/** The CLI table: one entry per config key. */
export const TRAIN_FLAGS: Readonly<Record<keyof TrainConfig, Flag>> = Object.freeze({
  model: { flag: 'model', kind: 'string', help: 'checkpoint directory (HF layout)' },
  data: { flag: 'data', kind: 'string', help: 'pretokenized JSONL {input_ids, labels?, epsilon?}' },
  out: { flag: 'out', kind: 'string', help: 'run directory to write' },
  loss: { flag: 'loss', kind: ['sft', 'ls', 'ual'], help: 'sft (eps 0) | ls (one --epsilon) | ual (each row\'s epsilon)' },
  epsilon: { flag: 'epsilon', kind: 'number', min: 0, max: 0.99, help: 'epsilon of --loss ls' },
  epsStyle: { flag: 'eps-style', kind: ['paper', 'hf'], help: 'paper: eps/(V-1) on non-gold tokens; hf: transformers\' LabelSmoother' },
  steps: { flag: 'steps', kind: 'int', min: 0, help: 'optimizer steps (or give --epochs)' },
  epochs: { flag: 'epochs', kind: 'number', min: 0, help: 'passes over the data, when --steps is not given' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, help: 'rows per micro-batch' },
  gradAccum: { flag: 'grad-accum', kind: 'int', min: 1, help: 'micro-batches per optimizer step' },
  lr: { flag: 'lr', kind: 'number', min: 0, help: 'peak learning rate' },
  weightDecay: { flag: 'weight-decay', kind: 'number', min: 0, help: 'AdamW weight decay' },
  decayAll: { flag: 'decay-all', kind: 'bool', help: 'also decay biases and norm weights (plain torch AdamW)' },
  maxGradNorm: { flag: 'max-grad-norm', kind: 'number', min: 0, help: 'clip the global gradient norm (0 = off)' },
  warmupSteps: { flag: 'warmup-steps', kind: 'int', min: 0, help: 'linear warmup steps' },
  lrSchedule: { flag: 'lr-schedule', kind: ['constant', 'linear', 'cosine'], help: 'after warmup' },
  shuffle: { flag: 'no-shuffle', kind: 'negbool', help: 'take rows in file order: step k uses rows kB..kB+B-1 (wrapping)' },
  seed: { flag: 'seed', kind: 'int', min: 0, help: 'data order seed' },
  saveEvery: { flag: 'save-every', kind: 'int', min: 0, help: 'write a resumable checkpoints/step-N every N steps' },
  resume: { flag: 'resume', kind: 'string', help: 'continue from checkpoints/step-N (or a run directory\'s latest)' },
});

/** parseArgs options derived from the table */
export function trainParseOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const o: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const f of Object.values(TRAIN_FLAGS)) o[f.flag] = { type: f.kind === 'bool' || f.kind === 'negbool' ? 'boolean' : 'string' };
  return o;
}

export function trainUsage(): string {
  const lines = ['usage: ual train --model DIR --data FILE --out DIR (--steps N | --epochs E) [options]', '', 'options:'];
  for (const [key, f] of Object.entries(TRAIN_FLAGS)) {
    const dflt = (TRAIN_DEFAULTS as Record<string, unknown>)[key];
    const arg = f.kind === 'bool' || f.kind === 'negbool' ? '' : Array.isArray(f.kind) ? ` ${(f.kind as string[]).join('|')}` : ' X';
    lines.push(`  --${(f.flag + arg).padEnd(34)} ${f.help}${dflt !== undefined && f.kind !== 'negbool' ? ` (default ${dflt})` : ''}`);
  }
  return lines.join('\n');
}

/** defaults <- file config (already parsed object) <- CLI values; unknown keys and wrong types are errors. */
export function resolveTrainConfig(cli: Record<string, string | boolean | undefined>, file: Partial<TrainConfig> = {}): TrainConfig {
  const cfg: Record<string, unknown> = { ...TRAIN_DEFAULTS };
  for (const [k, v] of Object.entries(file)) {
    if (!(k in TRAIN_FLAGS)) throw new UsageError(`config: unknown key "${k}"`, `known keys: ${Object.keys(TRAIN_FLAGS).join(', ')}`);
    cfg[k] = v;
  }
  for (const [key, f] of Object.entries(TRAIN_FLAGS) as [keyof TrainConfig, Flag][]) {
    const v = cli[f.flag];
    if (v === undefined) continue;
    if (f.kind === 'bool') cfg[key] = v === true;
    else if (f.kind === 'negbool') cfg[key] = v !== true;
    else if (f.kind === 'string') cfg[key] = String(v);
    else if (Array.isArray(f.kind)) {
      if (!f.kind.includes(String(v))) throw new UsageError(`ual train: --${f.flag} must be one of ${f.kind.join(', ')}, got "${v}"`);
      cfg[key] = String(v);
    } else {
      const x = Number(v);
      if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`ual train: --${f.flag} must be a number, got "${v}"`);
      if (f.kind === 'int' && !Number.isInteger(x)) throw new UsageError(`ual train: --${f.flag} must be an integer, got "${v}"`);
      cfg[key] = x;
    }
  }
  for (const [key, f] of Object.entries(TRAIN_FLAGS) as [keyof TrainConfig, Flag][]) {
    const v = cfg[key];
    if (v === undefined) throw new UsageError(`ual train: --${f.flag} is required`, 'run "ual train --help" for the options');
    if (typeof v === 'number') {
      if (f.min !== undefined && v < f.min) throw new UsageError(`ual train: --${f.flag} must be >= ${f.min}, got ${v}`);
      if (f.max !== undefined && v > f.max) throw new UsageError(`ual train: --${f.flag} must be <= ${f.max}, got ${v}`);
    }
  }
  if (cfg.steps === 0 && cfg.epochs === 0) throw new UsageError('ual train: give --steps N or --epochs E', 'run "ual train --help" for the options');
  if (cfg.steps !== 0 && cfg.epochs !== 0) throw new UsageError('ual train: give --steps or --epochs, not both');
  return cfg as unknown as TrainConfig;
}

/** keys that may differ between a run and its resumption (everything else must match for an exact continuation) */
export const RESUMABLE_CHANGES: ReadonlySet<keyof TrainConfig> = new Set(['out', 'resume', 'saveEvery', 'model']);
