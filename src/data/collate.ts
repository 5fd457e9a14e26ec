// Collation: a list of token rows -> one right-padded batch (pad id 0, label -100) with each row's epsilon and, with
// teacher targets, each target position's top-k (the engine's TeacherTargets layout).
import type { TokenRow } from './pretokenized.js';
import { targetPositions } from './teacher-topk.js';

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
  /** (B*T*k) ids and probs, entries n*k.. for the token at position n; zeros where n is not a target */
  teacher?: { k: number; ids: Int32Array; probs: Float32Array };
}

/** The rows' teacher entries spread over the (B, T) positions; every row carries them (the loader checked). */
function teacherTargets(rows: TokenRow[], T: number): Batch['teacher'] {
  const k = rows[0].teacher!.k;
  const ids = new Int32Array(rows.length * T * k);
  const probs = new Float32Array(rows.length * T * k);
  rows.forEach((r, b) => {
    targetPositions(r.labels).forEach((t, i) => {
      ids.set(r.teacher!.ids.subarray(i * k, (i + 1) * k), (b * T + t) * k);
      probs.set(r.teacher!.probs.subarray(i * k, (i + 1) * k), (b * T + t) * k);
    });
  });
  return { k, ids, probs };
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
  return { B, T, ids, labels, eps, targets, tokens, ...(rows[0]?.teacher ? { teacher: teacherTargets(rows, T) } : {}) };
}
