// Shared by the fused-head tests (linear-cross-entropy, teacher): the loss and gradients of the LM head + smoothed
// cross-entropy through either path (linearCrossEntropy, or linear then smoothedCrossEntropy), and their comparison.
import { expect } from 'vitest';
import {
  Tensor, backward, linear, linearCrossEntropy, scale, smoothedCrossEntropy, type EpsStyle, type TeacherTargets,
} from '../../src/engine/index.js';
import { relDiff } from './gradcheck.js';

export interface HeadRun { loss: number; dh: ArrayLike<number> | null; dw: ArrayLike<number> | null }

/** hidden (B, T, C) and head weight (V, C) values */
export interface HeadCase { hidden: ArrayLike<number>; weight: ArrayLike<number>; B: number; T: number; C: number; V: number }

export interface HeadOptions {
  eps: number[];
  style?: EpsStyle;
  chunkRows?: number;
  /** scales the loss before backward (gradient accumulation) */
  upstream?: number;
  frozenHead?: boolean;
  teacher?: TeacherTargets;
}

export function runHead(c: HeadCase, fused: boolean, dtype: 'float32' | 'float64', labels: Int32Array, o: HeadOptions): HeadRun {
  const h = Tensor.from(c.hidden, [c.B, c.T, c.C], dtype, true);
  const w = Tensor.from(c.weight, [c.V, c.C], dtype, !o.frozenHead);
  const style = o.style ?? 'paper';
  const loss = fused
    ? linearCrossEntropy(h, w, labels, o.eps, style, { chunkRows: o.chunkRows, teacher: o.teacher })
    : smoothedCrossEntropy(linear(h, w, null, 'out_in'), labels, o.eps, style, o.teacher);
  backward(o.upstream === undefined ? loss : scale(loss, o.upstream));
  return { loss: loss.item(), dh: h.grad, dw: w.grad };
}

export function expectSameHead(got: HeadRun, want: HeadRun, tol: number): void {
  expect(Math.abs(got.loss - want.loss) / Math.abs(want.loss)).toBeLessThan(tol);
  expect(relDiff(got.dh!, want.dh!)).toBeLessThan(tol);
  if (want.dw === null) expect(got.dw).toBeNull();
  else expect(relDiff(got.dw!, want.dw)).toBeLessThan(tol);
}
