// Generation for the evaluations: many prompts in length-sorted batches through the models layer's decode loop
// (generateBatch), and text-level stop strings.
import { generateBatch, type BatchGenerateResult, type CausalLM, type GenerateOptions, type StopReason } from '../models/index.js';

export interface GenerateAllOptions extends GenerateOptions {
  maxNewTokens: number;
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
      onToken: o.onToken ? (id, row) => o.onToken!(id, idx[row]) : undefined,
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
