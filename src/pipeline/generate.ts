// `ual generate` as a library function: continue a prompt (text through the checkpoint's tokenizer, or raw ids) with
// the KV-cached decode loop, stopping at the ids HF's generate stops at; text can be followed as it is produced.
import fs from 'node:fs';
import path from 'node:path';
import { hasTokenizer, Tokenizer } from '../data/tokenizer.js';
import { CheckpointError, UalError, UsageError } from '../errors.js';
import { loadModel } from '../models/index.js';
import { flags, type Values } from '../util/options.js';

export const GENERATE_FLAGS = flags({
  model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'Hugging Face checkpoint directory (config.json + model.safetensors [+ tokenizer.json])' },
  prompt: { flag: 'prompt', kind: 'string', arg: 'TEXT', help: 'text, encoded with DIR/tokenizer.json' },
  promptIds: { flag: 'prompt-ids', kind: 'string', arg: '1,2,3', help: 'or token ids, comma-separated' },
  maxNewTokens: { flag: 'max-new-tokens', kind: 'int', min: 0, default: 64, help: 'new tokens at most' },
  temperature: { flag: 'temperature', kind: 'number', min: 0, default: 0, arg: 'T', help: '0 = greedy; > 0 samples' },
  topK: { flag: 'top-k', kind: 'int', min: 0, default: 0, arg: 'K', help: 'sample among the K most likely tokens (0 = all)' },
  topP: { flag: 'top-p', kind: 'number', min: 0, max: 1, default: 1, arg: 'P', help: 'nucleus sampling, 0 < P <= 1' },
  seed: { flag: 'seed', kind: 'int', min: 0, default: 0, help: 'sampling seed' },
  stop: { flag: 'stop', kind: 'string', arg: 'ID,..', help: 'stop after any of these ids (eos from generation_config.json, config.json or the\ntokenizer always stops)' },
});

export interface GenerateTextResult {
  /** prompt + new ids */
  ids: number[];
  /** prompt + completion as text; null without a tokenizer */
  text: string | null;
  completion: string | null;
  new_tokens: number;
  stop_reason: string;
  seconds: number;
}

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

/**
 * Generate from the checkpoint. `onText` (only with a tokenizer) receives the text as it is produced: the prompt,
 * then each piece of the completion, never a trailing U+FFFD (a multi-byte character still arriving).
 */
export function generateText(o: Values<typeof GENERATE_FLAGS>, onText?: (piece: string) => void): GenerateTextResult {
  const dir = o.model;
  const text = o.prompt;
  if ((text === undefined) === (o.promptIds === undefined)) {
    throw new UsageError('ual generate: give exactly one of --prompt TEXT or --prompt-ids 1,2,3');
  }
  const { maxNewTokens, temperature, topK, topP, seed } = o;
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
    prompt = parseIds('prompt-ids', o.promptIds!, V, dir);
  }
  const stop = o.stop === undefined ? [] : parseIds('stop', o.stop, V, dir);
  stop.push(...eosIds(dir, model.config.raw, tok).filter((id) => id < V));

  let shown = '';
  const stream = onText !== undefined && tok !== null;
  const newIds: number[] = [];
  if (stream) onText(tok.decode(prompt, { skipSpecialTokens: true }));
  const t0 = performance.now();
  const res = model.generate(prompt, {
    maxNewTokens, temperature, topK, topP, seed, stopIds: stop,
    onToken: (id) => {
      if (!stream) return;
      newIds.push(id);
      const s = tok.decode(newIds, { skipSpecialTokens: true });
      if (s.startsWith(shown) && !s.endsWith('\uFFFD')) {
        onText(s.slice(shown.length));
        shown = s;
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const completion = tok ? tok.decode(res.newIds, { skipSpecialTokens: true }) : null;
  if (stream && completion!.startsWith(shown)) onText(completion!.slice(shown.length));
  return {
    ids: res.ids, text: tok ? tok.decode(res.ids, { skipSpecialTokens: true }) : null, completion,
    new_tokens: res.newIds.length, stop_reason: res.stopReason, seconds,
  };
}
