// Text generation for any CausalLM: the one KV-cached decode loop (greedy, temperature, top-k, top-p, stop ids, a
// seeded PRNG per row so the same seed always gives the same ids), for one prompt or a batch of them.
// A batch of prompts of different lengths decodes through one KV cache. With no padding mask, padding would leak
// into attention; instead rows run in lockstep by position: the shared prefill covers the shortest prompt, then a
// row still inside its prompt is fed its next prompt token (its logits ignored) while the others feed what they
// generated. Every row sees exactly its own tokens, so a batch gives the same ids as generating each prompt alone.
import { noGrad, type Arr, type Tensor } from '../engine/index.js';
import { UalError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { KVCache } from './kvcache.js';
import { positionLimit } from './positions.js';
import { Rng } from '../util/rng.js';

/** What decoding needs of a model; every CausalLM has it. Declared here so model.ts -> generate.ts is one-way. */
export interface DecodableLM {
  readonly config: ModelConfig;
  readonly source: string;
  forward(ids: Int32Array, B: number, T: number, opts?: { cache?: KVCache; lastOnly?: boolean }): { logits: Tensor };
  newCache(B: number, Tmax: number): KVCache;
}

export interface SamplingOptions {
  /** 0 = greedy (argmax, the default); > 0 divides the logits before sampling */
  temperature?: number;
  /** keep only the k most likely tokens (0 = off) */
  topK?: number;
  /** keep the smallest set of most likely tokens whose probability reaches p (1 = off) */
  topP?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** default 20 */
  maxNewTokens?: number;
  /** PRNG seed for sampling (default 0); each row gets its own PRNG seeded with it, as a lone prompt would */
  seed?: number;
  /** per-row seeds instead of `seed` (several samples of one prompt in one batch) */
  rowSeeds?: readonly number[];
  /** a row ends after producing any of these ids (the stop id is kept, as HF keeps eos) */
  stopIds?: readonly number[];
  /** a row also ends when this says so after its latest token (text-level stop strings) */
  shouldStop?: (row: number, newIds: readonly number[]) => boolean;
  /** false recomputes the whole sequence every step (the reference the cache is tested against); default true */
  useCache?: boolean;
  /** called with each new id as it is produced (streaming) */
  onToken?: (id: number, row: number) => void;
}

/** 'stop': a stop id (or shouldStop) ended the row; 'length': maxNewTokens reached; 'context': no more positions */
export type StopReason = 'stop' | 'length' | 'context';

export interface GenerateResult {
  /** prompt + new ids */
  ids: number[];
  newIds: number[];
  stopReason: StopReason;
}

export interface BatchGenerateResult {
  newIds: number[][];
  stopReasons: StopReason[];
}

/** Draw index i with probability w[i] / sum(w[0..n)). */
function draw(w: Float64Array, n: number, rng: Rng): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += w[i];
  let r = rng.next() * total;
  for (let i = 0; i < n; i++) {
    r -= w[i];
    if (r < 0) return i;
  }
  return n - 1;
}

/** Pick the next id from one row of logits (V). */
export function sampleNext(logits: ArrayLike<number>, opts: SamplingOptions, rng: Rng): number {
  const V = logits.length;
  const temperature = opts.temperature ?? 0;
  let max = 0; // the first maximum, as torch.argmax picks it
  for (let v = 1; v < V; v++) if (logits[v] > logits[max]) max = v;
  if (temperature <= 0) return max;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  const weight = (v: number): number => Math.exp((logits[v] - logits[max]) / temperature);
  if (!(topK > 0 && topK < V) && topP >= 1) {
    const w = new Float64Array(V); // plain sampling needs no sort
    for (let v = 0; v < V; v++) w[v] = weight(v);
    return draw(w, V, rng);
  }
  // HF's order: temperature, then top-k, then top-p over what is left
  let order = Array.from({ length: V }, (_, v) => v);
  order.sort((a, b) => logits[b] - logits[a] || a - b);
  if (topK > 0 && topK < V) {
    const kth = logits[order[topK - 1]];
    let keep = topK;
    while (keep < V && logits[order[keep]] === kth) keep++; // ties with the k-th survive, as in HF
    order = order.slice(0, keep);
  }
  const w = Float64Array.from(order, weight);
  let n = order.length;
  if (topP < 1) {
    let sum = 0;
    for (const x of w) sum += x;
    let cum = 0;
    n = 0;
    while (n < order.length && cum < topP * sum) cum += w[n++];
    n = Math.max(n, 1);
  }
  return order[draw(w, n, rng)];
}

/** Continue `prompt` (token ids) for up to maxNewTokens tokens. */
export function generate(model: DecodableLM, prompt: ArrayLike<number>, opts: GenerateOptions = {}): GenerateResult {
  const r = generateBatch(model, [prompt], opts);
  return { ids: [...Array.from(prompt, Number), ...r.newIds[0]], newIds: r.newIds[0], stopReason: r.stopReasons[0] };
}

/** Continue every prompt in one batch, in lockstep by position (see the top of this file). */
export function generateBatch(model: DecodableLM, prompts: readonly ArrayLike<number>[], o: GenerateOptions = {}): BatchGenerateResult {
  const maxNew = o.maxNewTokens ?? 20;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  const B = prompts.length;
  const limit = positionLimit(model.config, 'generate').max;
  prompts.forEach((p, b) => {
    const which = B === 1 ? 'the prompt' : `prompt ${b}`;
    if (p.length === 0) {
      throw new UalError('UAL_MODEL_INPUT', `${which} is empty: generation needs at least one token to continue`,
        'give a non-empty prompt (or the model\'s BOS id)');
    }
    if (p.length > limit) {
      throw new UalError('UAL_MODEL_INPUT', `${which} has ${p.length} tokens; ${model.source} takes at most ${limit}`,
        'shorten the prompt (or use fewer few-shot examples)');
    }
  });
  const lens = prompts.map((p) => p.length);
  const newIds: number[][] = prompts.map(() => []);
  // a prompt that fills every position leaves no room for one new token
  const stopReasons: StopReason[] = lens.map((l) => (l >= limit && maxNew > 0 ? 'context' : 'length'));
  const done = stopReasons.map((r) => r === 'context');
  if (maxNew === 0 || done.every(Boolean)) return { newIds, stopReasons };
  const Lmin = Math.min(...lens);
  const total = Math.min(limit, Math.max(...lens) + maxNew);
  const V = model.config.vocabSize;
  const stop = new Set(o.stopIds ?? []);
  const rngs = prompts.map((_, b) => new Rng(o.rowSeeds?.[b] ?? o.seed ?? 0));

  noGrad(() => {
    const cache = (o.useCache ?? true) ? model.newCache(B, total) : undefined;
    const seq = new Int32Array(B * total); // (B, total): each row's prompt, then what it generates; a finished row's rest stays 0
    prompts.forEach((p, b) => seq.set(p, b * total));
    // feeds positions [from, to) of every row (from > 0: the cache holds the rest) and gives the logits for position `to`
    const forward = (from: number, to: number): Arr => {
      const T = to - from;
      const ids = new Int32Array(B * T); // (B, T)
      for (let b = 0; b < B; b++) ids.set(seq.subarray(b * total + from, b * total + to), b * T);
      return model.forward(ids, B, T, { cache, lastOnly: true }).logits.data; // (B, 1, V)
    };
    let pos = Lmin; // positions consumed so far: the next token of every row goes at position `pos`
    let logits = forward(0, pos);
    for (;;) {
      let live = 0;
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        live++;
        if (pos < lens[b]) continue; // still inside its prompt: seq already holds the token it is fed next
        const id = sampleNext(logits.subarray(b * V, (b + 1) * V), o, rngs[b]);
        seq[b * total + pos] = id;
        newIds[b].push(id);
        o.onToken?.(id, b);
        const reason: StopReason | null = stop.has(id) || o.shouldStop?.(b, newIds[b]) ? 'stop'
          : newIds[b].length >= maxNew ? 'length'
            : pos + 1 >= limit ? 'context' : null; // this token took the last position
        if (reason) {
          done[b] = true;
          stopReasons[b] = reason;
          live--;
        }
      }
      if (live === 0) break;
      pos++;
      logits = cache ? forward(pos - 1, pos) : forward(0, pos);
    }
  });
  return { newIds, stopReasons };
}
