// Collation: a list of token rows -> one right-padded batch (pad id 0, label -100) with each row's epsilon.
import type { TokenRow } from './pretokenized.js';

export interface Batch {
  B: number;
  T: number;
  ids: Int32Array; // (B, T)
  labels: Int32Array; // (B, T), -100 = ignored
  eps: Float32Array; // (B)
  /** target tokens in the batch after the causal shift (the loss divisor) */
  targets: number;
  /** real (non-pad) input tokens */
  tokens: number;
}

export function collate(rows: TokenRow[], padId = 0): Batch {
  const B = rows.length;
  let T = 0;
  for (const r of rows) T = Math.max(T, r.inputIds.length);
  const ids = new Int32Array(B * T).fill(padId);
  const labels = new Int32Array(B * T).fill(-100);
  const eps = new Float32Array(B);
  let targets = 0;
  let tokens = 0;
  rows.forEach((r, b) => {
    tokens += r.inputIds.length;
    ids.set(r.inputIds, b * T);
    labels.set(r.labels, b * T);
    eps[b] = r.epsilon;
    for (let t = 1; t < r.labels.length; t++) if (r.labels[t] !== -100) targets++;
  });
  return { B, T, ids, labels, eps, targets, tokens };
}
