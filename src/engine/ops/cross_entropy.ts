// smoothedCrossEntropy: the UAL training loss (per-row label smoothing, arXiv 2406.04854) exactly as torch_ref.py's
// `smoothed_ce`; one fused kernel call also computes d loss / d logits, so no (B, T, V) target tensor is built.
// With a teacher (ops/teacher.ts) the smoothing mass goes to the teacher's sparse top-k instead of the uniform q
// (scripts/teacher_ref.py is its PyTorch transcription).
import { EPS_STYLE_HF, EPS_STYLE_PAPER, type Arr } from '../kernels.js';
import { Tensor, alloc, kernelsFor, needsGrad, record, releaseBuffer, setGrad } from '../tensor.js';
import { checkTeacher, teacherRows, type TeacherTargets } from './teacher.js';
import { checkRank, describe, fail } from './util.js';

export type EpsStyle = 'paper' | 'hf';

/** HF's ignore index: labels equal to this are neither predicted nor counted. */
export const IGNORE_INDEX = -100;

/** The shifted targets of a (B, T) batch: what each position predicts, and with which epsilon. */
export interface ShiftedTargets {
  /** (B, T): the token position t predicts (labels[t + 1]), or -1 when it predicts nothing */
  targets: Int32Array;
  /** (B, T): the row's epsilon at each of its positions */
  epsRows: Arr;
  /** positions with a target: the loss is their mean */
  count: number;
  /** the kernel's code for the style */
  styleCode: number;
}

/**
 * Validate labels and epsilons at the boundary and apply the causal shift (position t's logits predict
 * labels[t + 1]; each row's last position predicts nothing). `like` picks the dtype of epsRows.
 */
export function shiftTargets(
  op: string, labels: Int32Array, eps: ArrayLike<number>, style: EpsStyle, B: number, T: number, V: number, like: Arr,
): ShiftedTargets {
  const N = B * T;
  if (style !== 'paper' && style !== 'hf') fail(op, `style must be 'paper' or 'hf', got '${style}'`);
  if (labels.length !== N) fail(op, `${labels.length} labels for B*T = ${N} positions (B=${B}, T=${T})`);
  if (eps.length !== B) fail(op, `${eps.length} epsilon values for a batch of ${B} rows`);
  for (let b = 0; b < B; b++) {
    const e = eps[b];
    if (!(e >= 0 && e < 1)) fail(op, `epsilon of row ${b} is ${e}; it must be in [0, 1)`);
  }
  const targets = new Int32Array(N); // (B, T)
  const epsRows = alloc(like, N); // (B, T)
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      epsRows[n] = eps[b];
      const label = labels[n];
      if (label !== IGNORE_INDEX && (label < 0 || label >= V)) {
        fail(op, `label ${label} at row ${b}, position ${t} is outside [0, ${V}) and is not ` +
          `the ignore index ${IGNORE_INDEX}; the labels and the model's vocabulary disagree`);
      }
      // labels[b, 0] is never a target (nothing precedes it), but it is still range-checked above
      if (t > 0) {
        targets[n - 1] = label === IGNORE_INDEX ? -1 : label;
        if (label !== IGNORE_INDEX) count++;
      }
    }
    targets[b * T + T - 1] = -1;
  }
  return { targets, epsRows, count, styleCode: style === 'hf' ? EPS_STYLE_HF : EPS_STYLE_PAPER };
}

/**
 * Mean smoothed cross-entropy of logits (B, T, V) against labels (B, T) (HF convention: position t predicts
 * labels[t + 1], -100 ignored), row b smoothed by eps[b]: toward the uniform q of `style`, or toward `teacher`'s
 * sparse distribution when given (style is then ignored).
 */
export function smoothedCrossEntropy(
  logits: Tensor, labels: Int32Array, eps: ArrayLike<number>, style: EpsStyle, teacher?: TeacherTargets,
): Tensor {
  checkRank('smoothedCrossEntropy', 'logits (B, T, V)', logits, 3);
  const [B, T, V] = logits.shape;
  const N = B * T;
  if (labels.length !== N) fail('smoothedCrossEntropy', `${labels.length} labels for ${describe(logits)} (expected B*T = ${N})`);
  const { targets, epsRows, count, styleCode } = shiftTargets('smoothedCrossEntropy', labels, eps, style, B, T, V, logits.data);
  if (teacher) checkTeacher('smoothedCrossEntropy', teacher, targets, B, T, V);
  // (N, k): kernel row n's entries are those of the position it predicts
  const q = teacher ? teacherRows(teacher, targets.map((tg, n) => (tg >= 0 ? n : -1))) : null;

  const grad = needsGrad(logits);
  const k = kernelsFor(logits.data);
  const losses = alloc(logits.data, N); // (B, T)
  // gradient computed in the same pass as the loss; only allocated when it will be used
  const dlogits = grad && count > 0 ? alloc(logits.data, N * V) : null; // (B, T, V)
  k.crossEntropy(logits.data, targets, epsRows, N, V, styleCode, losses, dlogits, count > 0 ? 1 / count : 0,
    q?.k, q?.ids, q?.probs);
  let sum = 0;
  for (let n = 0; n < N; n++) sum += losses[n];
  const out = alloc(logits.data, 1);
  out[0] = count > 0 ? sum / count : 0; // no targets: loss 0 and zero gradient, not 0/0
  const loss = new Tensor(out, [], grad);
  if (!grad) return loss;

  record(() => {
    const g = loss.grad ? loss.grad[0] : 0;
    if (!dlogits) {
      logits.ensureGrad(); // upstream ops still see a (zero) gradient
      return;
    }
    if (logits.grad === null && g === 1) {
      // the common case (loss.backward() straight from this loss): adopt the buffer rather than copy V-wide rows
      setGrad(logits, dlogits);
      return;
    }
    k.axpy(g, dlogits, logits.ensureGrad(), N * V);
    releaseBuffer(dlogits);
  }, loss);
  return loss;
}
