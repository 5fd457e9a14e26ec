// `ual init` as a library function: a randomly initialized GPT-2 or Llama checkpoint in Hugging Face layout
// (config.json + model.safetensors, plus the tokenizer files when one is given, whose size sets the vocabulary);
// the directory appears whole or not at all. The demo makes its base model with it too.
import fs from 'node:fs';
import { copyTokenizerFiles, Tokenizer } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { initConfigJson, initModel } from '../models/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { flags, type Values } from '../util/options.js';

export const INIT_FLAGS = flags({
  arch: { flag: 'arch', kind: ['gpt2', 'llama'], required: true, help: 'gpt2 (LayerNorm, learned positions, tied head) or llama (RMSNorm, RoPE, SwiGLU, separate head)' },
  layers: { flag: 'layers', kind: 'int', min: 1, required: true, help: 'transformer blocks' },
  d: { flag: 'd', kind: 'int', min: 1, required: true, help: 'hidden size' },
  heads: { flag: 'heads', kind: 'int', min: 1, required: true, help: 'attention heads' },
  kvHeads: { flag: 'kv-heads', kind: 'int', min: 1, help: 'key/value heads for grouped-query attention (llama)' },
  vocab: { flag: 'vocab', kind: 'int', min: 1, help: 'vocabulary size (>= the tokenizer\'s when both are given)' },
  tokenizer: { flag: 'tokenizer', kind: 'string', arg: 'DIR', help: 'take the vocabulary size from DIR/tokenizer.json and copy its tokenizer files into --out' },
  ctx: { flag: 'ctx', kind: 'int', min: 1, default: 1024, help: 'positions' },
  ffn: { flag: 'ffn', kind: 'int', min: 1, help: 'MLP width (default 4*d for gpt2, 3*d for llama)' },
  seed: { flag: 'seed', kind: 'int', min: 0, default: 0, help: 'PRNG seed' },
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
}

export function initCheckpoint(o: Values<typeof INIT_FLAGS>): InitSummary {
  const { arch, layers, d, heads, kvHeads, ctx, ffn, seed, out } = o;
  const tokDir = o.tokenizer;
  const tok = tokDir ? Tokenizer.load(tokDir) : null;
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

  const cfg = initConfigJson({ arch, layers, d, heads, kvHeads, vocab, ctx, ffn });
  if (tok?.bosId != null) cfg.bos_token_id = tok.bosId;
  if (tok?.eosId != null) cfg.eos_token_id = tok.eosId;
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !o.force) {
    throw new UsageError(`ual init: --out ${out} exists and is not empty`, 'choose a new directory, or add --force to replace it');
  }

  const model = initModel(cfg, seed);
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  let copied: string[] = [];
  writeDirAtomic(out, (tmp) => {
    model.save(tmp);
    if (tokDir) copied = copyTokenizerFiles(tokDir, tmp);
  });
  return {
    out, model_type: model.config.modelType, params, vocab_size: vocab, layers, d, heads,
    kv_heads: model.config.numKvHeads, ctx, seed, tokenizer_files: copied,
  };
}
