// `ual init`: write a randomly initialized GPT-2 or Llama checkpoint in Hugging Face layout (config.json +
// model.safetensors, plus the tokenizer files when --tokenizer is given); the directory appears whole or not at all.
import fs from 'node:fs';
import { Tokenizer, copyTokenizerFiles } from '../data/tokenizer.js';
import { UsageError } from '../errors.js';
import { initConfigJson, initModel } from '../models/index.js';
import { writeDirAtomic } from '../util/atomic.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command } from './command.js';

const USAGE = `usage: ual init --arch gpt2|llama --layers N --d N --heads N [--kv-heads N] [--vocab N | --tokenizer DIR]
                [--ctx N] [--ffn N] [--seed N] [--force] [--json] --out DIR

Writes a random checkpoint in Hugging Face layout: config.json + model.safetensors (weights N(0, 0.02), norm
scales 1, biases 0). With --tokenizer DIR the vocabulary size comes from DIR/tokenizer.json, whose tokenizer files
are copied into --out.

  --arch        gpt2 (LayerNorm, learned positions, tied head) or llama (RMSNorm, RoPE, SwiGLU, separate head)
  --layers N    transformer blocks           --d N        hidden size
  --heads N     attention heads              --kv-heads N key/value heads for grouped-query attention (llama)
  --vocab N     vocabulary size (>= the tokenizer's when both are given)
  --ctx N       positions (default 1024)     --ffn N      MLP width (default 4*d for gpt2, 3*d for llama)
  --seed N      PRNG seed (default 0)        --force      replace a non-empty --out directory
  --json        print {"out", "model_type", "params", ...} as the last line of stdout`;

export const command: Command = {
  name: 'init',
  summary: 'create a random GPT-2 or Llama checkpoint (Hugging Face layout)',
  usage: USAGE,
  async run(argv) {
    const o = parseOptions('init', argv, {
      arch: { type: 'string' }, layers: { type: 'string' }, d: { type: 'string' }, heads: { type: 'string' },
      'kv-heads': { type: 'string' }, vocab: { type: 'string' }, tokenizer: { type: 'string' }, ctx: { type: 'string' },
      ffn: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const arch = requireOpt('init', 'arch', o.arch as string | undefined);
    if (arch !== 'gpt2' && arch !== 'llama') throw new UsageError(`ual init: --arch must be gpt2 or llama, got "${arch}"`);
    const out = requireOpt('init', 'out', o.out as string | undefined);
    const int = (name: string, dflt?: number): number => numOpt('init', name, o[name] as string | undefined, dflt, { int: true, min: 1 });
    const layers = int('layers'), d = int('d'), heads = int('heads'), ctx = int('ctx', 1024);
    const seed = numOpt('init', 'seed', o.seed as string | undefined, 0, { int: true, min: 0 });
    const kvHeads = o['kv-heads'] === undefined ? undefined : int('kv-heads');
    const ffn = o.ffn === undefined ? undefined : int('ffn');

    const tokDir = o.tokenizer as string | undefined;
    const tok = tokDir ? Tokenizer.load(tokDir) : null;
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
    if (o.json) {
      printJson({ out, model_type: model.config.modelType, params, vocab_size: vocab, layers, d, heads,
        kv_heads: model.config.numKvHeads, ctx, seed, tokenizer_files: copied });
    } else {
      process.stdout.write(`wrote ${out}: ${model.config.modelType}, ${params.toLocaleString('en-US')} parameters, ` +
        `vocab ${vocab}${copied.length ? `, tokenizer from ${tokDir}` : ''}\n`);
    }
    return 0;
  },
};
