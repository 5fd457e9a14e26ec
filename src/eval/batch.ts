// Batched scoring forwards: sequences sorted by length, right-padded into batches under a token budget, run
// without the tape; each sequence then sees only its own real positions. Our attention is causal with no padding
// mask, so right-padding is exact: a real position never attends to the pads that come after it.
import { noGrad, type Arr } from '../engine/index.js';
import type { CausalLM } from '../models/index.js';

export interface BatchOptions {
  /** at most this many sequences per forward (default 16) */
  batchSize?: number;
  /** at most this many (padded) positions per forward; default keeps the (B, T, V) logits near 128 MB */
  maxTokens?: number;
  /** also hand out the final hidden states (after the final norm: the input of lm_head) */
  hidden?: boolean;
  /** false: only the hidden states are wanted, so lm_head runs on the last position alone (default true) */
  logits?: boolean;
  /** called after each forward with the sequences done so far */
  onProgress?: (done: number, total: number) => void;
}

/** One sequence's slice of a batch's outputs. Position t's logits are logits[off + t*V .. off + (t+1)*V). */
export interface SeqOutput {
  /** index of the sequence in the caller's list */
  index: number;
  /** its real length (positions past it are padding and are not shown) */
  T: number;
  V: number;
  /** (B, Tpad, V); with logits: false only the last padded position, (B, 1, V): do not read it */
  logits: Arr;
  off: number;
  C: number;
  /** (B, Tpad, C) final-norm states, when asked for; position t at hidden[hoff + t*C ..] */
  hidden: Arr | null;
  hoff: number;
}

const LOGIT_BUDGET = 1 << 25; // floats

/** Pack indices (longest first, as lm-evaluation-harness orders them) into batches under both limits. */
export function planBatches(lengths: readonly number[], batchSize: number, maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    const Tpad = cur.length ? lengths[cur[0]] : lengths[i];
    if (cur.length && (cur.length >= batchSize || (cur.length + 1) * Tpad > maxTokens)) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length) batches.push(cur);
  return batches;
}

/** Forward every sequence (each at least 1 token) and hand its outputs to `visit`, batch by batch. */
export function forwardSequences(model: CausalLM, seqs: readonly ArrayLike<number>[], o: BatchOptions,
  visit: (out: SeqOutput) => void): void {
  const V = model.config.vocabSize;
  const C = model.config.hiddenSize;
  const wantLogits = o.logits ?? true;
  if (!wantLogits && !o.hidden) throw new Error('forwardSequences: neither logits nor hidden states asked for');
  // with a large vocabulary the (B, T, V) head dominates both memory and time: skip it when only states are wanted
  const perToken = (wantLogits ? V : 0) + (o.hidden ? C * (model.config.numLayers + 2) : 0);
  const maxTokens = o.maxTokens ?? Math.max(1, Math.floor(LOGIT_BUDGET / perToken));
  const batches = planBatches(seqs.map((s) => s.length), o.batchSize ?? 16, maxTokens);
  let done = 0;
  for (const batch of batches) {
    const B = batch.length;
    const T = Math.max(...batch.map((i) => seqs[i].length));
    const ids = new Int32Array(B * T); // (B, T), pads are id 0: any valid id will do, nothing real sees them
    batch.forEach((i, b) => {
      const s = seqs[i];
      for (let t = 0; t < s.length; t++) ids[b * T + t] = s[t];
    });
    const res = noGrad(() => model.forward(ids, B, T, { hidden: !!o.hidden, lastOnly: !wantLogits }));
    const h = o.hidden ? res.hidden![res.hidden!.length - 1].data : null; // (B, T, C)
    batch.forEach((i, b) => visit({
      index: i, T: seqs[i].length, V, logits: res.logits.data, off: b * T * V, C, hidden: h, hoff: b * T * C,
    }));
    done += B;
    o.onProgress?.(done, seqs.length);
  }
}

export interface RowStats {
  /** log-sum-exp of the row: log p(v) = logit(v) - lse */
  lse: number;
  /** the first maximum (torch.argmax's tie rule) */
  argmax: number;
  max: number;
}

/** Softmax statistics of one logits row, in float64 whatever the logits' dtype. */
export function rowStats(logits: Arr, off: number, V: number): RowStats {
  let max = -Infinity;
  let argmax = 0;
  for (let v = 0; v < V; v++) {
    const x = logits[off + v];
    if (x > max) { max = x; argmax = v; }
  }
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - max);
  return { lse: max + Math.log(s), argmax, max };
}
