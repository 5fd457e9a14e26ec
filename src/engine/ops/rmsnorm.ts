// rmsnorm: Llama's RMSNorm over the last dim, x * rsqrt(mean(x^2) + eps) * w. Forward saves 1/rms per row.
import { Tensor, gradOrScratch, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, checkShape, lastDim } from './util.js';

export function rmsnorm(x: Tensor, w: Tensor, eps: number): Tensor {
  checkDtypes('rmsnorm', x, w);
  const C = lastDim('rmsnorm', x);
  checkShape('rmsnorm', 'weight', w, [C]);
  const N = x.size / C;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, N * C); // (N, C)
  const rstd = allocOutput(x.data, N); // (N)
  k.rmsnormForward(x.data, w.data, out, rstd, N, C, eps);
  const y = new Tensor(out, [...x.shape], needsGrad(x, w));
  if (!y.requiresGrad) return y;
  saveForBackward(x);

  record(() => {
    if (!y.grad) return;
    // the kernel writes both; a frozen input's gradient lands in a throwaway buffer
    const dx = gradOrScratch(x);
    const dw = gradOrScratch(w, x.data);
    k.rmsnormBackward(y.grad, x.data, w.data, rstd, dx, dw, N, C);
  }, y);
  return y;
}
