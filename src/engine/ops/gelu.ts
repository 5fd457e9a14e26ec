// gelu: tanh-approximate GELU (GPT-2's gelu_new, torch's approximate="tanh"), elementwise; biasGelu adds a linear
// layer's bias first, in the same pass (the linear then runs without one, and its bias gradient comes out of GELU's
// backward instead of a separate column sum).
import { Tensor, allocOutput, kernelsFor, needsGrad, record, gradOrScratch, saveForBackward } from '../tensor.js';
import { checkDtypes, checkShape, lastDim } from './util.js';

export function gelu(x: Tensor): Tensor {
  const n = x.size;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, n);
  k.geluForward(x.data, out, n);
  const y = new Tensor(out, [...x.shape], needsGrad(x));
  if (!y.requiresGrad) return y;
  saveForBackward(x);

  record(() => {
    if (y.grad) k.geluBackward(y.grad, x.data, x.ensureGrad(), n);
  }, y);
  return y;
}

/** gelu(x + b) with b (C) broadcast over the rows of x (..., C) */
export function biasGelu(x: Tensor, b: Tensor): Tensor {
  checkDtypes('biasGelu', x, b);
  const C = lastDim('biasGelu', x);
  checkShape('biasGelu', 'bias', b, [C]);
  const N = x.size / C;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, N * C); // (N, C)
  k.biasGeluForward(x.data, b.data, out, N, C);
  const y = new Tensor(out, [...x.shape], needsGrad(x, b));
  if (!y.requiresGrad) return y;
  saveForBackward(x);

  record(() => {
    if (!y.grad) return;
    // the kernel writes both; a frozen input's gradient lands in a throwaway buffer
    const dx = gradOrScratch(x);
    const db = gradOrScratch(b, x.data);
    k.biasGeluBackward(y.grad, x.data, b.data, dx, db, N, C);
  }, y);
  return y;
}
