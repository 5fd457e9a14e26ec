// scale: a * s for a constant s (attention/LoRA scaling, loss scaling for gradient accumulation).
import { Tensor, allocOutput, needsGrad, record } from '../tensor.js';

export function scale(a: Tensor, s: number): Tensor {
  const n = a.size, A = a.data;
  const out = allocOutput(A, n);
  for (let i = 0; i < n; i++) out[i] = A[i] * s;
  const y = new Tensor(out, [...a.shape], needsGrad(a));
  if (!y.requiresGrad) return y;

  record(() => {
    const dy = y.grad;
    if (!dy) return;
    const da = a.ensureGrad();
    for (let i = 0; i < n; i++) da[i] += dy[i] * s;
  }, y);
  return y;
}
