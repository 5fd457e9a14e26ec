// gelu: tanh-approximate GELU (GPT-2's gelu_new, torch's approximate="tanh"), elementwise.
import { Tensor, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';

export function gelu(x: Tensor): Tensor {
  const n = x.size;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, n);
  k.geluForward(x.data, out, n);
  const y = new Tensor(out, [...x.shape], needsGrad(x));
  if (!y.requiresGrad) return y;

  record(() => {
    if (y.grad) k.geluBackward(y.grad, x.data, x.ensureGrad(), n);
  }, y);
  return y;
}
