// The training configuration, typed once: defaults, the CLI flag for every key (a key without a flag fails to
// compile; parsing, checks and help come from src/util/options), presets, and the resolved copy the run directory keeps.
import { UsageError } from '../errors.js';
import type { EpsStyle, LossType } from './losses.js';
import type { LrSchedule } from './schedule.js';
import { DATA_FORMATS, type DataFormat } from '../data/formats.js';
import { TEMPLATES, type TemplateName } from '../data/template.js';
import { DEFAULT_MAX_SHARD_SIZE, SAVE_DTYPE_NAMES, type SaveDtype } from '../models/shards.js';
import { BASE_DTYPES, type BaseDtype } from '../models/model.js';
import { flags, resolveFlags, typedFlags, type RawFlags, type TableFor } from '../util/options.js';
import { checkEngineConfig, ENGINE_DEFAULTS, ENGINE_FLAGS, type EngineConfig } from './engine-config.js';

export const SMOOTH_TARGETS = ['uniform', 'teacher'] as const;
/** uniform: epsilon spread over the vocabulary (the paper); teacher: over a teacher's top-k next tokens */
export type SmoothTarget = (typeof SMOOTH_TARGETS)[number];

export interface TrainConfig extends EngineConfig {
  model: string;
  data: string;
  out: string;
  loss: LossType;
  epsilon: number;
  epsStyle: EpsStyle;
  /** what the smoothing mass goes to: uniform (the paper) or a teacher's top-k (rows' "teacher_topk", or --teacher) */
  smoothTarget: SmoothTarget;
  /** a teacher checkpoint whose top-k targets are computed in memory ('' = read them from the rows) */
  teacher: string;
  /** entries per target token of --teacher */
  topK: number;
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
  /** fraction of the steps spent in linear warmup (used when warmupSteps is 0) */
  warmupRatio: number;
  /** dataset format; 'auto' detects it from the first rows */
  format: 'auto' | DataFormat;
  template: TemplateName;
  /** tokens per row; 0 = the model's context */
  maxLength: number;
  /** also train on prompt tokens (the paper's unmasked variant) */
  trainOnPrompt: boolean;
  skipBadRows: boolean;
  /** concatenate rows of equal epsilon into max-length blocks */
  pack: boolean;
  /** LoRA rank; 0 = full fine-tuning */
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargets: string;
  /** start LoRA from this PEFT adapter directory */
  adapter: string;
  /** with LoRA, also write the merged full checkpoint W + (alpha/r)·B·A */
  merge: boolean;
  /** 'paper' = the UAL reference setup (see PRESETS) */
  preset: '' | 'paper';
  /** dtype of the saved weights (final, merged, checkpoints/step-N); optimizer state and LoRA adapters stay fp32 */
  saveDtype: SaveDtype;
  /** weights above this size are saved as shards + index, as transformers does ("5GB", "500MB", "1GiB", bytes) */
  maxShardSize: string;
  /** recompute each block's activations in backward instead of keeping them: less memory, same results, slower */
  gradientCheckpointing: boolean;
  /** the LM head and the loss in chunks of positions (no full (B, T, V) logits); --no-fused-loss makes the logits */
  fusedLoss: boolean;
  /** with LoRA, keep the frozen base's matrices as bfloat16 (half the memory); products still accumulate in float32 */
  baseDtype: BaseDtype;
}

export const TRAIN_DEFAULTS: Readonly<Omit<TrainConfig, 'model' | 'data' | 'out'>> = Object.freeze({
  loss: 'ual',
  steps: 0,
  epochs: 0,
  gradAccum: 1,
  saveEvery: 0,
  resume: '',
  warmupRatio: 0,
  format: 'auto',
  template: 'paper',
  maxLength: 0,
  trainOnPrompt: false,
  skipBadRows: false,
  pack: false,
  loraR: 0,
  loraAlpha: 16,
  loraDropout: 0.05,
  loraTargets: 'q_proj,v_proj',
  adapter: '',
  merge: false,
  preset: '',
  saveDtype: 'fp32',
  maxShardSize: DEFAULT_MAX_SHARD_SIZE,
  gradientCheckpointing: false,
  fusedLoss: true,
  baseDtype: 'fp32',
  epsilon: 0.1,
  epsStyle: 'paper',
  smoothTarget: 'uniform',
  teacher: '',
  topK: 32,
  batchSize: 8,
  lr: 3e-4,
  weightDecay: 0,
  decayAll: false,
  maxGradNorm: 1.0,
  warmupSteps: 0,
  lrSchedule: 'constant',
  shuffle: true,
  seed: 0,
  ...ENGINE_DEFAULTS,
});

/** The CLI table: one entry per config key (the defaults are TRAIN_DEFAULTS, the presets go between). */
export const TRAIN_FLAGS = flags({
  model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'checkpoint directory (HF layout)' },
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, help: 'training rows (formats above), with "epsilon" per row for --loss ual' },
  out: { flag: 'out', kind: 'string', arg: 'DIR', required: true, help: 'run directory to write' },
  loss: { flag: 'loss', kind: ['sft', 'ls', 'ual'], help: 'sft (eps 0) | ls (one --epsilon) | ual (each row\'s epsilon)' },
  epsilon: { flag: 'epsilon', kind: 'number', min: 0, max: 0.99, help: 'epsilon of --loss ls' },
  epsStyle: { flag: 'eps-style', kind: ['paper', 'hf'], help: 'paper: eps/(V-1) on non-gold tokens; hf: transformers\' LabelSmoother' },
  smoothTarget: {
    flag: 'smooth-target', kind: SMOOTH_TARGETS,
    help: 'uniform: epsilon spread over the vocabulary as --eps-style says (the paper);\nteacher: epsilon on a teacher\'s top-k next tokens, renormalised: each row\'s "teacher_topk"\n(written by ual distill; train on its output) or, with --teacher DIR, computed in memory',
  },
  teacher: { flag: 'teacher', kind: 'string', arg: 'DIR', help: 'with --smooth-target teacher: compute the targets with this checkpoint (the same tokenizer;\n--batch-size rows per forward) in memory before training, as ual distill would' },
  topK: { flag: 'top-k', kind: 'int', min: 1, help: 'tokens per target of --teacher' },
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
  warmupRatio: { flag: 'warmup-ratio', kind: 'number', min: 0, max: 1, help: 'warmup as a fraction of the steps (when --warmup-steps is 0)' },
  format: { flag: 'format', kind: ['auto', ...DATA_FORMATS], help: 'dataset format' },
  template: { flag: 'template', kind: TEMPLATES, help: 'paper: "\\n### User: ...\\n\\n### Assistant: "; chat: the tokenizer\'s chat_template; plain' },
  maxLength: { flag: 'max-length', kind: 'int', min: 0, help: 'truncate rows to N tokens (0 = the model\'s context)' },
  trainOnPrompt: { flag: 'train-on-prompt', kind: 'bool', help: 'loss on prompt tokens too (default: responses only)' },
  skipBadRows: { flag: 'skip-bad-rows', kind: 'bool', help: 'skip and count invalid rows instead of stopping' },
  pack: { flag: 'pack', kind: 'bool', help: 'pack rows of equal epsilon into --max-length blocks' },
  loraR: { flag: 'lora-r', kind: 'int', min: 0, help: 'LoRA rank (0 = full fine-tuning)' },
  loraAlpha: { flag: 'lora-alpha', kind: 'number', min: 0, help: 'LoRA alpha (scale alpha/r)' },
  loraDropout: { flag: 'lora-dropout', kind: 'number', min: 0, max: 0.99, help: 'dropout on the LoRA input' },
  loraTargets: { flag: 'lora-targets', kind: 'string', help: 'comma-separated linear layers (HF names; GPT-2 names map too)' },
  adapter: { flag: 'adapter', kind: 'string', help: 'start LoRA from this PEFT adapter directory' },
  merge: { flag: 'merge', kind: 'bool', help: 'with LoRA, also write the merged full checkpoint' },
  preset: { flag: 'preset', kind: ['', 'paper'], help: 'paper: LoRA r8 a16 dropout 0.1 on q,v, lr 3e-4, batch 64, 10% warmup, paper template, prompt not masked' },
  saveDtype: { flag: 'save-dtype', kind: SAVE_DTYPE_NAMES, help: 'saved weights (model, merged, step-N; bf16/fp16 round to nearest even, so resuming from them is not exact); optimizer state and adapters stay fp32' },
  maxShardSize: { flag: 'max-shard-size', kind: 'string', help: 'shard saved weights above this size as transformers does (500MB, 2GB, 1GiB, bytes)' },
  gradientCheckpointing: { flag: 'gradient-checkpointing', kind: 'bool', help: 'recompute each block\'s activations in backward: less memory for long sequences, identical results, about a third slower' },
  fusedLoss: { flag: 'no-fused-loss', kind: 'negbool', help: 'make the full (B, T, V) logits, then the loss (by default the LM head and the loss run\nchunked over positions, on either engine: ~0.6 GB less per 512 tokens at a 152k vocabulary, the same loss to 1e-6)' },
  baseDtype: { flag: 'base-dtype', kind: BASE_DTYPES, help: 'LoRA only: bf16 keeps the frozen base\'s linear weights, embeddings and head as bfloat16 (half\nthe memory; activations, adapters, norms, biases, gradients stay fp32, products accumulate in fp32): the\nresults of the fp32 base rounded to bf16 (W.to(torch.bfloat16).float()); losses within 1e-3 relative of the fp32 base\'s' },
  ...ENGINE_FLAGS,
}) satisfies TableFor<TrainConfig>;

/** Named setups; a preset's values sit between the defaults and the user's own options. */
export const PRESETS: Readonly<Record<'paper', Partial<TrainConfig>>> = Object.freeze({
  // the UAL reference setup (arXiv 2406.04854, section 4): LoRA on q,v; AdamW 3e-4; batch 64; 10% warmup, then constant
  paper: {
    loraR: 8, loraAlpha: 16, loraDropout: 0.1, loraTargets: 'q_proj,v_proj', lr: 3e-4, warmupRatio: 0.1,
    lrSchedule: 'constant', template: 'paper', trainOnPrompt: true,
  },
});

/** defaults <- preset <- file config (already parsed object) <- command-line values by flag name; unknown keys and
 * wrong types are errors. */
export function resolveTrainConfig(raw: RawFlags, file: Partial<TrainConfig> = {}): TrainConfig {
  const cli = typedFlags('train', TRAIN_FLAGS, raw);
  for (const k of Object.keys(file)) {
    if (!(k in TRAIN_FLAGS)) throw new UsageError(`config: unknown key "${k}"`, `known keys: ${Object.keys(TRAIN_FLAGS).join(', ')}`);
  }
  const preset = cli.preset ?? file.preset ?? '';
  if (preset !== '' && preset !== 'paper') throw new UsageError(`ual train: --preset must be paper, got "${preset}"`);
  const cfg = resolveFlags('train', TRAIN_FLAGS, { ...TRAIN_DEFAULTS, ...(preset ? PRESETS[preset] : {}), ...file, ...cli }) as TrainConfig;
  // the paper's effective batch of 64, through accumulation unless the user chose it
  if (preset === 'paper' && cli.gradAccum === undefined && file.gradAccum === undefined) {
    cfg.gradAccum = Math.max(1, Math.round(64 / cfg.batchSize));
  }
  if (cfg.steps === 0 && cfg.epochs === 0) throw new UsageError('ual train: give --steps N or --epochs E', 'run "ual train --help" for the options');
  if (cfg.steps !== 0 && cfg.epochs !== 0) throw new UsageError('ual train: give --steps or --epochs, not both');
  checkEngineConfig(cfg, new Set([...Object.keys(file), ...Object.keys(cli)]), TORCH_REFUSES);
  const given = { ...file, ...cli };
  if (cfg.smoothTarget !== 'teacher' && (given.teacher !== undefined || given.topK !== undefined)) {
    throw new UsageError(`ual train: --${given.teacher !== undefined ? 'teacher' : 'top-k'} applies to --smooth-target teacher`, 'add --smooth-target teacher');
  }
  if (cfg.teacher === '' && given.topK !== undefined) {
    throw new UsageError('ual train: --top-k applies to --teacher DIR (targets read from the rows keep the k ual distill wrote)');
  }
  if (cfg.baseDtype === 'bf16' && cfg.loraR === 0 && cfg.adapter === '') {
    throw new UsageError('ual train: --base-dtype bf16 keeps the base frozen in bfloat16, so it needs LoRA; a full fine-tune trains every weight in fp32',
      'add --lora-r N (or --adapter DIR, or --preset paper), or drop --base-dtype bf16');
  }
  return cfg;
}

/** options of the native engine that the torch worker does not implement (refused with --engine torch) */
const TORCH_REFUSES: Partial<Record<keyof TrainConfig, string>> = { baseDtype: '--base-dtype' };

/** keys that may differ between a run and its resumption (everything else must match for an exact continuation);
 * the engine and its launch settings may change: the same flags train the same model on any engine and world size */
export const RESUMABLE_CHANGES: ReadonlySet<keyof TrainConfig> = new Set(['out', 'resume', 'saveEvery', 'model', 'saveDtype', 'maxShardSize', 'gradientCheckpointing', 'fusedLoss',
  ...(Object.keys(ENGINE_FLAGS) as (keyof EngineConfig)[])]);
