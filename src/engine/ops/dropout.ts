// Inverted dropout (torch.nn.Dropout in training mode): zero each element with probability p, scale the rest by
// 1/(1-p). The mask comes from a seeded Rng so a resumed run draws the same masks.
import { Tensor, allocOutput, beforeRandom, needsGrad, record } from '../tensor.js';
import type { Rng } from '../../util/rng.js';

export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const n = x.size;
  const keep = 1 / (1 - p);
  const mask = allocOutput(x.data, n); // (same shape as x): 0 or 1/(1-p)
  const out = allocOutput(x.data, n);
  const xd = x.data;
  beforeRandom(rng);
  for (let i = 0; i < n; i++) {
    const m = rng.next() >= p ? keep : 0;
    mask[i] = m;
    out[i] = xd[i] * m;
  }
  const y = new Tensor(out, x.shape, needsGrad(x));
  if (y.requiresGrad) {
    record(() => {
      if (!y.grad) return;
      const dx = x.ensureGrad();
      const dy = y.grad;
      for (let i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
    }, y);
  }
  return y;
}
