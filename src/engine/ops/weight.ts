// Reading a weight that may be stored as bfloat16 (a frozen base, --base-dtype bf16): the ops that read weights
// (linear, embedding, the LM head in linearCrossEntropy) multiply through gemmWeight, which widens a bfloat16 weight
// a block at a time (kernels.gemmBf16) and never rounds the activations, so the product equals the float32 product
// with the weight widened beforehand. A bfloat16 weight never requires a gradient (Tensor refuses), so no op ever
// writes one.
import type { Arr, Kernels } from '../kernels.js';
import type { Tensor } from '../tensor.js';

/**
 * C (M, N) = alpha · A (M, K) · op(W) + beta · C, A and C float32 (or float64 with a float64 W); W stored (K, N), or
 * (N, K) when transW (nn.Linear's [out, in] weight, read as Wᵀ). No batch.
 */
export function gemmWeight(
  k: Kernels, transW: boolean, M: number, N: number, K: number, alpha: number,
  A: Arr, aOff: number, W: Tensor, beta: number, C: Arr, cOff: number,
): void {
  const bits = W.bf16;
  if (bits) k.gemmBf16(transW, M, N, K, alpha, A, aOff, bits, beta, C, cOff);
  else k.gemm(false, transW, M, N, K, alpha, A, aOff, W.data, 0, beta, C, cOff, 1, 0, 0, 0);
}

const FLOAT32 = new Float32Array(0);

/** A buffer of the dtype W's values compute in (float32 for bfloat16 storage): for alloc() and kernelsFor(). */
export function computeLike(W: Tensor): Arr {
  return W.bf16 ? FLOAT32 : W.data;
}
