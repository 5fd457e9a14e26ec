// Teacher smoothing targets (DESIGN.md "Smoothing targets"): a teacher's sparse top-k next-token distribution per
// position, the q of target = (1-eps)·onehot(gold) + eps·q in smoothedCrossEntropy and linearCrossEntropy. Validated
// here once at the op boundary, then handed to the crossEntropy kernel row by row (O(positions × k), never (B, T, V)).
import { fail } from './util.js';

/** Largest |sum of a used position's probs - 1| accepted: the caller renormalises the teacher's top-k. */
export const TEACHER_SUM_TOLERANCE = 1e-4;

export interface TeacherTargets {
  /** entries per position (>= 1) */
  k: number;
  /**
   * (B*T*k): entries n*k .. n*k+k-1 are the teacher's distribution for the token AT position n, aligned with
   * labels[n] (not shifted); entries of positions whose label is -100, and of each row's position 0, are ignored
   */
  ids: Int32Array;
  /** (B*T*k): sums to 1 over each used position's k entries; an unused slot has prob 0 (its id still in [0, V)) */
  probs: Float32Array;
}

/**
 * Check a teacher target for a (B, T) batch and a vocabulary of V: sizes, ids in [0, V), probs finite and >= 0, and
 * the probs of each position that is a target (targets: shiftTargets' (B, T), -1 where nothing is predicted) summing
 * to 1 within TEACHER_SUM_TOLERANCE.
 */
export function checkTeacher(op: string, teacher: TeacherTargets, targets: Int32Array, B: number, T: number, V: number): void {
  const { k, ids, probs } = teacher;
  if (!(Number.isInteger(k) && k >= 1)) fail(op, `teacher.k must be a positive integer, got ${k}`);
  if (!(ids instanceof Int32Array)) fail(op, 'teacher.ids must be an Int32Array');
  if (!(probs instanceof Float32Array)) fail(op, 'teacher.probs must be a Float32Array');
  const need = B * T * k;
  for (const [name, a] of [['ids', ids], ['probs', probs]] as const) {
    if (a.length !== need) {
      fail(op, `teacher.${name} has ${a.length} entries for B*T*k = ${need} (B=${B}, T=${T}, k=${k}): one k-entry ` +
        'slice per position, aligned with labels');
    }
  }
  const where = (i: number) => {
    const n = Math.floor(i / k);
    return `row ${Math.floor(n / T)}, position ${n % T}, entry ${i % k}`;
  };
  for (let i = 0; i < need; i++) {
    if (ids[i] < 0 || ids[i] >= V) fail(op, `teacher id ${ids[i]} at ${where(i)} is outside [0, ${V}); the teacher's vocabulary and the model's disagree`);
    const p = probs[i];
    if (!(Number.isFinite(p) && p >= 0)) fail(op, `teacher prob ${p} at ${where(i)} must be finite and >= 0`);
  }
  // the positions that are targets: the shifted row n predicts position n + 1
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] < 0) continue;
    const o = (n + 1) * k;
    let s = 0;
    for (let j = 0; j < k; j++) s += probs[o + j];
    if (!(Math.abs(s - 1) <= TEACHER_SUM_TOLERANCE)) {
      fail(op, `teacher probs at row ${Math.floor((n + 1) / T)}, position ${(n + 1) % T} sum to ${s}, not 1 ` +
        `(within ${TEACHER_SUM_TOLERANCE}): renormalise each position's top-k before training`);
    }
  }
}

/**
 * The teacher's entries for kernel rows whose shifted position is pos[r] (the position predicting labels[pos[r] + 1]):
 * row r gets the entries of position pos[r] + 1. pos[r] < 0 (a row without a target) leaves zeros (id 0, prob 0).
 * The result is laid out per kernel row (row r's k entries at r*k), as kernels.crossEntropy reads it.
 */
export function teacherRows(teacher: TeacherTargets, pos: Int32Array): TeacherTargets {
  const { k } = teacher;
  const ids = new Int32Array(pos.length * k), probs = new Float32Array(pos.length * k);
  for (let r = 0; r < pos.length; r++) {
    if (pos[r] < 0) continue;
    const src = (pos[r] + 1) * k;
    ids.set(teacher.ids.subarray(src, src + k), r * k);
    probs.set(teacher.probs.subarray(src, src + k), r * k);
  }
  return { k, ids, probs };
}
