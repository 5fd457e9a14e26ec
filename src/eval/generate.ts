// Batched generation for the evaluations: B prompts of different lengths decode together through one KV cache.
// With no padding mask, padding would leak into attention; instead rows run in lockstep by position: the shared
// prefill covers the shortest prompt, then a row still inside its prompt is fed its next prompt token (its logits
// ignored) while the others feed what they generated. Every row sees exactly its own tokens, so a batch gives the
// same ids as generating each prompt alone; sorting prompts by length keeps the lockstep stretch short.
import { noGrad } from '../engine/index.js';
import { UalError } from '../errors.js';
import { Rng, sampleNext, type CausalLM, type SamplingOptions } from '../models/index.js';

export interface BatchGenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** sampling seed; each row gets its own PRNG seeded with it, as a lone generate() call would (default 0) */
  seed?: number;
  /** per-row sampling seeds instead of `seed` (several samples of one prompt in one batch) */
  rowSeeds?: readonly number[];
  /** a row ends after producing any of these ids (the id is kept, as HF keeps eos) */
  stopIds?: readonly number[];
  /** a row also ends when this says so after its latest token (text-level stop strings) */
  shouldStop?: (row: number, newIds: readonly number[]) => boolean;
}

export type StopReason = 'stop' | 'length' | 'context';

export interface BatchGenerateResult {
  newIds: number[][];
  stopReasons: StopReason[];
}

/** The number of positions a model can hold (GPT-2's learned positions, a sliding window), or Infinity. */
export function positionLimit(model: CausalLM): number {
  const { family, maxPositions, slidingWindow } = model.config;
  let limit = family === 'gpt2' ? maxPositions : Infinity;
  if (slidingWindow !== null) limit = Math.min(limit, slidingWindow);
  return limit;
}

/** Continue every prompt in one batch. */
export function generateBatch(model: CausalLM, prompts: readonly (readonly number[])[], o: BatchGenerateOptions): BatchGenerateResult {
  const B = prompts.length;
  const newIds: number[][] = prompts.map(() => []);
  const stopReasons: StopReason[] = prompts.map(() => 'length');
  if (B === 0 || o.maxNewTokens <= 0) return { newIds, stopReasons };
  const limit = positionLimit(model);
  const lens = prompts.map((p) => p.length);
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new UalError('UAL_MODEL_INPUT', `prompt ${b} is empty: generation needs at least one token`, 'give every prompt some text');
    if (p.length > limit) {
      throw new UalError('UAL_MODEL_INPUT', `prompt ${b} has ${p.length} tokens; ${model.source} takes at most ${limit}`,
        'shorten the prompt (fewer few-shot examples?)');
    }
  });
  const Lmin = Math.min(...lens);
  const total = Math.min(limit, Math.max(...lens.map((l) => l + o.maxNewTokens)));
  const V = model.config.vocabSize;
  const stop = new Set(o.stopIds ?? []);
  const rngs = prompts.map((_, b) => new Rng(o.rowSeeds?.[b] ?? o.seed ?? 0));
  const done = new Array<boolean>(B).fill(false);

  noGrad(() => {
    const cache = model.newCache(B, total);
    const first = new Int32Array(B * Lmin); // (B, Lmin)
    prompts.forEach((p, b) => { for (let t = 0; t < Lmin; t++) first[b * Lmin + t] = p[t]; });
    let logits = model.forward(first, B, Lmin, { cache, lastOnly: true }).logits.data; // (B, 1, V)
    let pos = Lmin; // positions consumed so far; the next forward feeds position `pos`
    const next = new Int32Array(B);
    for (;;) {
      let live = 0;
      for (let b = 0; b < B; b++) {
        next[b] = 0; // a finished row is fed anything; nobody reads its outputs again
        if (done[b]) continue;
        if (pos < lens[b]) { next[b] = prompts[b][pos]; live++; continue; }
        // the row already fills every position the model has: one more token would not fit
        if (pos >= limit) { done[b] = true; stopReasons[b] = 'context'; continue; }
        const id = sampleNext(logits.subarray(b * V, (b + 1) * V), o, rngs[b]);
        newIds[b].push(id);
        next[b] = id;
        if (stop.has(id) || o.shouldStop?.(b, newIds[b])) { done[b] = true; stopReasons[b] = 'stop'; continue; }
        if (newIds[b].length >= o.maxNewTokens) { done[b] = true; continue; }
        live++;
      }
      if (live === 0) break;
      logits = model.forward(next, B, 1, { cache, lastOnly: true }).logits.data;
      pos++;
    }
  });
  return { newIds, stopReasons };
}

export interface GenerateAllOptions extends BatchGenerateOptions {
  /** prompts per batch (default 8) */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Generate for many prompts: batches of similar length (so lockstep feeding stays short), results in input order. */
export function generateAll(model: CausalLM, prompts: readonly (readonly number[])[], o: GenerateAllOptions): BatchGenerateResult {
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length || a - b);
  const bs = Math.max(1, o.batchSize ?? 8);
  const newIds: number[][] = new Array(prompts.length);
  const stopReasons: StopReason[] = new Array(prompts.length);
  for (let s = 0; s < order.length; s += bs) {
    const idx = order.slice(s, s + bs);
    const r = generateBatch(model, idx.map((i) => prompts[i]), {
      ...o, shouldStop: o.shouldStop ? (row, ids) => o.shouldStop!(idx[row], ids) : undefined,
      rowSeeds: o.rowSeeds ? idx.map((i) => o.rowSeeds![i]) : undefined,
    });
    idx.forEach((i, k) => { newIds[i] = r.newIds[k]; stopReasons[i] = r.stopReasons[k]; });
    o.onProgress?.(Math.min(s + bs, order.length), order.length);
  }
  return { newIds, stopReasons };
}

/**
 * A shouldStop for text stop strings: decodes only the last few tokens of a row (stop strings are short), so the
 * check stays O(1) per token. The caller still cuts the final text at the first stop string.
 */
export function stopStrings(decode: (ids: ArrayLike<number>) => string, stops: readonly string[], window = 12): ((row: number, ids: readonly number[]) => boolean) | undefined {
  if (stops.length === 0) return undefined;
  return (_row, ids) => {
    const tail = decode(ids.slice(-window));
    return stops.some((s) => tail.includes(s));
  };
}

/** Cut text at the first occurrence of any stop string. */
export function cutAtStop(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && i < end) end = i;
  }
  return text.slice(0, end);
}
