// mul: elementwise a * b of equal shapes (gates, masks).
import { Tensor, allocOutput, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, checkShape } from './util.js';

export function mul(a: Tensor, b: Tensor): Tensor {
  checkDtypes('mul', a, b);
  checkShape('mul', 'b', b, a.shape);
  const n = a.size, A = a.data, Bd = b.data;
  const out = allocOutput(A, n);
  for (let i = 0; i < n; i++) out[i] = A[i] * Bd[i];
  const y = new Tensor(out, [...a.shape], needsGrad(a, b));
  if (!y.requiresGrad) return y;
  saveForBackward(a, b);

  record(() => {
    const dy = y.grad;
    if (!dy) return;
    if (a.requiresGrad) {
      const da = a.ensureGrad();
      for (let i = 0; i < n; i++) da[i] += dy[i] * Bd[i];
    }
    if (b.requiresGrad) {
      const db = b.ensureGrad();
      for (let i = 0; i < n; i++) db[i] += dy[i] * A[i];
    }
  }, y);
  return y;
}
