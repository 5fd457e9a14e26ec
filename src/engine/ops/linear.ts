// linear: y = x W (+ b) over the last dim, for both weight layouts found in checkpoints: HF nn.Linear stores
// [out, in] ('out_in'), GPT-2's Conv1D stores [in, out] ('in_out'). The bias is fused (rows pre-filled, GEMM beta=1).
import { Tensor, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { addColumnSums, checkDtypes, checkRank, checkShape, describe, fail, lastDim } from './util.js';
import { gemmWeight } from './weight.js';

export type LinearLayout = 'out_in' | 'in_out';

export function linear(x: Tensor, w: Tensor, b: Tensor | null, layout: LinearLayout): Tensor {
  checkDtypes('linear', x, w, b);
  checkRank('linear', 'weight', w, 2);
  if (layout !== 'out_in' && layout !== 'in_out') fail('linear', `layout must be 'out_in' or 'in_out', got '${layout}'`);
  const outIn = layout === 'out_in';
  const I = lastDim('linear', x);
  const O = outIn ? w.shape[0] : w.shape[1];
  const wIn = outIn ? w.shape[1] : w.shape[0];
  if (wIn !== I) fail('linear', `input has ${I} features but weight ${describe(w)} (layout ${layout}) expects ${wIn}`);
  if (b) checkShape('linear', 'bias', b, [O]);
  const N = x.size / I;

  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, N * O); // (N, O)
  if (b) for (let n = 0; n < N; n++) out.set(b.data, n * O);
  gemmWeight(k, outIn, N, O, I, 1, x.data, 0, w, b ? 1 : 0, out, 0);
  const y = new Tensor(out, [...x.shape.slice(0, -1), O], needsGrad(x, w, b));
  if (!y.requiresGrad) return y;
  if (w.requiresGrad) saveForBackward(x); // the weight's gradient reads x; a frozen weight's backward needs only W

  record(() => {
    const dy = y.grad; // (N, O)
    if (!dy) return;
    if (x.requiresGrad) gemmWeight(k, !outIn, N, I, O, 1, dy, 0, w, 1, x.ensureGrad(), 0);
    if (w.requiresGrad) {
      const dw = w.ensureGrad();
      if (outIn) k.gemm(true, false, O, I, N, 1, dy, 0, x.data, 0, 1, dw, 0, 1, 0, 0, 0); // (O, I) = dy^T x
      else k.gemm(true, false, I, O, N, 1, x.data, 0, dy, 0, 1, dw, 0, 1, 0, 0, 0); // (I, O) = x^T dy
    }
    if (b && b.requiresGrad) addColumnSums(k, dy, b.ensureGrad(), N, O); // db (O) += column sums of dy
  }, y);
  return y;
}
