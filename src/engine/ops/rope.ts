// rope: rotary position embedding, HF Llama's rotate-half convention, on (B, T, H, hd) with token t at position
// pos0 + t (pos0 > 0 when generating with a KV cache). Linear in x, so backward needs nothing saved.
import { Tensor, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';
import { checkRank, fail } from './util.js';

export function rope(x: Tensor, pos0: number, theta: number): Tensor {
  checkRank('rope', 'x (B, T, H, hd)', x, 4);
  const [B, T, H, hd] = x.shape;
  if (hd % 2 !== 0) fail('rope', `head dim must be even, got ${hd}`);
  if (!Number.isInteger(pos0) || pos0 < 0) fail('rope', `pos0 must be a non-negative integer, got ${pos0}`);
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, x.size); // (B, T, H, hd)
  k.ropeForward(x.data, out, B, T, H, hd, pos0, theta);
  const y = new Tensor(out, [...x.shape], needsGrad(x));
  if (!y.requiresGrad) return y;

  record(() => {
    if (y.grad) k.ropeBackward(y.grad, x.ensureGrad(), B, T, H, hd, pos0, theta);
  }, y);
  return y;
}
