// layernorm: LayerNorm over the last dim with weight and bias (GPT-2's ln_1, ln_2, ln_f).
// Forward saves the per-row mean and 1/std, which is all backward needs besides x and w.
import { Tensor, gradOrScratch, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, checkShape, lastDim } from './util.js';

export function layernorm(x: Tensor, w: Tensor, b: Tensor, eps: number): Tensor {
  checkDtypes('layernorm', x, w, b);
  const C = lastDim('layernorm', x);
  checkShape('layernorm', 'weight', w, [C]);
  checkShape('layernorm', 'bias', b, [C]);
  const N = x.size / C;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, N * C); // (N, C)
  const mean = allocOutput(x.data, N); // (N)
  const rstd = allocOutput(x.data, N); // (N)
  k.layernormForward(x.data, w.data, b.data, out, mean, rstd, N, C, eps);
  const y = new Tensor(out, [...x.shape], needsGrad(x, w, b));
  if (!y.requiresGrad) return y;
  saveForBackward(x);

  record(() => {
    if (!y.grad) return;
    // the kernel writes all three; gradients of inputs that need none land in throwaway buffers
    const dx = gradOrScratch(x);
    const dw = gradOrScratch(w, x.data);
    const db = gradOrScratch(b, x.data);
    k.layernormBackward(y.grad, x.data, w.data, mean, rstd, dx, dw, db, N, C);
  }, y);
  return y;
}
