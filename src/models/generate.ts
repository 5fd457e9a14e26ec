// Text generation for any CausalLM: a KV-cached decode loop with greedy, temperature, top-k and top-p sampling,
// stop tokens and a seeded PRNG, so the same seed always gives the same ids.
import { noGrad } from '../engine/index.js';
import { UalError } from '../errors.js';
import type { CausalLM } from './model.js';
import { Rng } from '../util/rng.js';

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
  /** PRNG seed for sampling (default 0) */
  seed?: number;
  /** generation ends after any of these ids is produced (the stop id is kept, as HF keeps eos) */
  stop?: readonly number[];
  /** false recomputes the whole sequence every step (the reference the cache is tested against); default true */
  useCache?: boolean;
  /** called with each new id as it is produced (streaming) */
  onToken?: (id: number) => void;
}

export interface GenerateResult {
  /** prompt + new ids */
  ids: number[];
  newIds: number[];
  /** 'stop': a stop id was produced; 'length': maxNewTokens reached; 'context': the model has no more positions */
  stopReason: 'stop' | 'length' | 'context';
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
export function generate(model: CausalLM, prompt: ArrayLike<number>, opts: GenerateOptions = {}): GenerateResult {
  const maxNew = opts.maxNewTokens ?? 20;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  if (prompt.length === 0) {
    throw new UalError('UAL_MODEL_INPUT', 'the prompt is empty: generation needs at least one token to continue',
      'give a non-empty prompt (or the model\'s BOS id)');
  }
  const { family, maxPositions, slidingWindow } = model.config;
  // GPT-2's learned positions end at n_positions; RoPE has no hard end (HF runs past max_position_embeddings too)
  let limit = Infinity;
  if (family === 'gpt2') limit = maxPositions;
  if (slidingWindow !== null) limit = Math.min(limit, slidingWindow);
  if (prompt.length > limit) {
    throw new UalError('UAL_MODEL_INPUT', `the prompt has ${prompt.length} tokens; ${model.source} takes at most ${limit}`,
      'shorten the prompt');
  }
  const stop = new Set(opts.stop ?? []);
  const useCache = opts.useCache ?? true;
  const rng = new Rng(opts.seed ?? 0);
  const ids = Array.from(prompt, Number);
  const newIds: number[] = [];
  const total = Math.min(ids.length + maxNew, limit);
  let stopReason: GenerateResult['stopReason'] = ids.length + maxNew > limit ? 'context' : 'length';

  noGrad(() => {
    const cache = useCache ? model.newCache(1, Math.max(total, ids.length)) : undefined;
    let pending = Int32Array.from(ids); // what the next forward consumes: the prompt, then one token at a time
    while (ids.length < total) {
      const input = cache ? pending : Int32Array.from(ids);
      const { logits } = model.forward(input, 1, input.length, { cache, lastOnly: true }); // (1, 1, V)
      const next = sampleNext(logits.data, opts, rng);
      ids.push(next);
      newIds.push(next);
      opts.onToken?.(next);
      if (stop.has(next)) {
        stopReason = 'stop';
        break;
      }
      pending = Int32Array.of(next);
    }
  });
  return { ids, newIds, stopReason };
}
