// `ual generate`: continue a prompt (text through the checkpoint's tokenizer, or raw ids) with a KV-cached decode
// loop; text streams to stdout, and with --json the last line is {"ids": [prompt + new], "text": ...}.
import fs from 'node:fs';
import path from 'node:path';
import { hasTokenizer, Tokenizer } from '../data/tokenizer.js';
import { CheckpointError, UalError, UsageError } from '../errors.js';
import { loadModel } from '../models/index.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command } from './command.js';

const USAGE = `usage: ual generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed N] [--stop ID,..] [--json]

  --model DIR         Hugging Face checkpoint directory (config.json + model.safetensors [+ tokenizer.json])
  --prompt TEXT       text, encoded with DIR/tokenizer.json      --prompt-ids  token ids, comma-separated
  --max-new-tokens N  default 64
  --temperature T     0 = greedy (default); > 0 samples           --seed N      sampling seed (default 0)
  --top-k K           sample among the K most likely tokens       --top-p P     nucleus sampling, 0 < P <= 1
  --stop ID,..        stop after any of these ids (eos from generation_config.json, config.json or the
                      tokenizer always stops)
  --json              last stdout line: {"ids", "text", "completion", "new_tokens", "stop_reason"}`;

function parseIds(flag: string, s: string, V: number, dir: string): number[] {
  const parts = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (parts.length === 0) throw new UsageError(`ual generate: --${flag} has no ids`, 'give comma-separated token ids, e.g. 1,2,3');
  return parts.map((p) => {
    const id = Number(p);
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(id)) throw new UsageError(`ual generate: --${flag}: "${p}" is not a token id`, 'token ids are non-negative integers');
    if (id >= V) throw new UsageError(`ual generate: --${flag}: id ${id} is outside the vocabulary [0, ${V}) of ${dir}`);
    return id;
  });
}

/** End-of-sequence ids as HF's generate finds them: generation_config.json, config.json, the tokenizer's eos. */
function eosIds(dir: string, config: Record<string, unknown>, tok: Tokenizer | null): number[] {
  const ids: number[] = [];
  const take = (v: unknown): void => {
    for (const x of Array.isArray(v) ? v : [v]) if (Number.isInteger(x) && x >= 0) ids.push(x);
  };
  const genFile = path.join(dir, 'generation_config.json');
  if (fs.existsSync(genFile)) {
    try {
      take((JSON.parse(fs.readFileSync(genFile, 'utf8')) as Record<string, unknown>).eos_token_id);
    } catch (e) {
      throw new CheckpointError(`${genFile}: not valid JSON (${(e as Error).message})`, `fix or delete ${genFile}`);
    }
  }
  take(config.eos_token_id);
  if (tok?.eosId != null) ids.push(tok.eosId);
  return ids;
}

export const command: Command = {
  name: 'generate',
  summary: 'generate text from a checkpoint (greedy, temperature, top-k, top-p)',
  usage: USAGE,
  async run(argv) {
    const o = parseOptions('generate', argv, {
      model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' },
      'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
      'top-p': { type: 'string' }, seed: { type: 'string' }, stop: { type: 'string' }, json: { type: 'boolean' },
    });
    const dir = requireOpt('generate', 'model', o.model as string | undefined);
    const text = o.prompt as string | undefined;
    const idsFlag = o['prompt-ids'] as string | undefined;
    if ((text === undefined) === (idsFlag === undefined)) {
      throw new UsageError('ual generate: give exactly one of --prompt TEXT or --prompt-ids 1,2,3');
    }
    const num = (name: string, dflt: number, check: { int?: boolean; min?: number; max?: number }): number =>
      numOpt('generate', name, o[name] as string | undefined, dflt, check);
    const maxNewTokens = num('max-new-tokens', 64, { int: true, min: 0 });
    const temperature = num('temperature', 0, { min: 0 });
    const topK = num('top-k', 0, { int: true, min: 0 });
    const topP = num('top-p', 1, { min: 0, max: 1 });
    const seed = num('seed', 0, { int: true, min: 0 });
    if (topP <= 0) throw new UsageError('ual generate: --top-p must be > 0');
    if (temperature === 0 && (topK > 0 || topP < 1)) {
      throw new UsageError('ual generate: --top-k/--top-p only apply when sampling, but --temperature is 0 (greedy)',
        'add --temperature, e.g. --temperature 0.8');
    }

    const model = loadModel(dir);
    const V = model.config.vocabSize;
    const tok = hasTokenizer(dir) ? Tokenizer.load(dir) : null;
    let prompt: number[];
    if (text !== undefined) {
      if (!tok) {
        throw new UalError('UAL_TOKENIZER', `${dir}: no tokenizer.json, so --prompt text cannot be encoded`,
          'pass token ids with --prompt-ids 1,2,3, or copy the tokenizer files into the directory (ual init --tokenizer DIR does)');
      }
      prompt = tok.encode(text);
      if (prompt.length === 0) throw new UsageError('ual generate: --prompt encodes to no tokens', 'give a non-empty prompt');
      const bad = prompt.find((id) => id >= V);
      if (bad !== undefined) {
        throw new UalError('UAL_MODEL_INPUT', `${dir}: the tokenizer produced id ${bad}, outside the model's vocabulary [0, ${V})`,
          'the tokenizer files do not belong to this checkpoint; use the tokenizer the model was made with');
      }
    } else {
      prompt = parseIds('prompt-ids', idsFlag!, V, dir);
    }
    const stop = o.stop === undefined ? [] : parseIds('stop', o.stop as string, V, dir);
    stop.push(...eosIds(dir, model.config.raw, tok).filter((id) => id < V));

    // stream text as it is produced (not in --json mode, whose stdout is the JSON line alone); hold back a
    // trailing U+FFFD, which is a multi-byte character still arriving
    let shown = '';
    const stream = !o.json && tok !== null;
    const newIds: number[] = [];
    if (stream) process.stdout.write(tok.decode(prompt, { skipSpecialTokens: true }));
    const t0 = performance.now();
    const res = model.generate(prompt, {
      maxNewTokens, temperature, topK, topP, seed, stopIds: stop,
      onToken: (id) => {
        if (!stream) return;
        newIds.push(id);
        const s = tok.decode(newIds, { skipSpecialTokens: true });
        if (s.startsWith(shown) && !s.endsWith('\uFFFD')) {
          process.stdout.write(s.slice(shown.length));
          shown = s;
        }
      },
    });
    const secs = (performance.now() - t0) / 1000;
    const completion = tok ? tok.decode(res.newIds, { skipSpecialTokens: true }) : null;
    if (stream) process.stdout.write((completion!.startsWith(shown) ? completion!.slice(shown.length) : '') + '\n');
    process.stderr.write(`generated ${res.newIds.length} tokens in ${secs.toFixed(2)} s ` +
      `(${(res.newIds.length / Math.max(secs, 1e-9)).toFixed(1)} tokens/s), stop: ${res.stopReason}\n`);
    if (o.json) {
      printJson({ ids: res.ids, text: tok ? tok.decode(res.ids, { skipSpecialTokens: true }) : null, completion,
        new_tokens: res.newIds.length, stop_reason: res.stopReason });
    } else if (!tok) {
      process.stdout.write(res.ids.join(',') + '\n');
    }
    return 0;
  },
};
