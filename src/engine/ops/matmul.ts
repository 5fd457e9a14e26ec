// matmul: 2D x 2D, batched 3D x 3D, or 3D x 2D with b shared by every batch item (activations x weight).
// Forward and backward are GEMMs; transposes are flags on the kernel, never copies.
import { Tensor, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, describe, fail } from './util.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  checkDtypes('matmul', a, b);
  const ra = a.shape.length, rb = b.shape.length;
  if (!((ra === 2 && rb === 2) || (ra === 3 && (rb === 3 || rb === 2)))) {
    fail('matmul', `expects 2D x 2D, 3D x 3D or 3D x 2D, got ${describe(a)} x ${describe(b)}`);
  }
  const batch = ra === 3 ? a.shape[0] : 1;
  if (rb === 3 && b.shape[0] !== batch) fail('matmul', `batch sizes differ: ${describe(a)} x ${describe(b)}`);
  const bcast = ra === 3 && rb === 2;
  const [aR, aC] = a.shape.slice(-2);
  const [bR, bC] = b.shape.slice(-2);
  const M = transA ? aC : aR, K = transA ? aR : aC;
  const N = transB ? bR : bC, Kb = transB ? bC : bR;
  if (K !== Kb) {
    fail('matmul', `inner dimensions differ (${K} vs ${Kb}): ${describe(a)}${transA ? '^T' : ''} x ${describe(b)}${transB ? '^T' : ''}`);
  }

  const k = kernelsFor(a.data);
  const sA = M * K, sB = bcast ? 0 : K * N, sC = M * N;
  // b shared and a not transposed: the whole batch is one tall GEMM, the shape BLAS is fastest at
  const flat = bcast && !transA;
  const out = allocOutput(a.data, batch * M * N); // (batch, M, N)
  if (flat) k.gemm(false, transB, batch * M, N, K, 1, a.data, 0, b.data, 0, 0, out, 0, 1, 0, 0, 0);
  else k.gemm(transA, transB, M, N, K, 1, a.data, 0, b.data, 0, 0, out, 0, batch, sA, sB, sC);
  const y = new Tensor(out, ra === 3 ? [batch, M, N] : [M, N], needsGrad(a, b));
  if (!y.requiresGrad) return y;
  saveForBackward(a, b);

  record(() => {
    const dC = y.grad; // (batch, M, N)
    if (!dC) return;
    if (a.requiresGrad) {
      const dA = a.ensureGrad();
      if (flat) k.gemm(false, !transB, batch * M, K, N, 1, dC, 0, b.data, 0, 1, dA, 0, 1, 0, 0, 0);
      // op(A) = dC op(B)^T ; stored A^T = op(B) dC^T
      else if (!transA) k.gemm(false, !transB, M, K, N, 1, dC, 0, b.data, 0, 1, dA, 0, batch, sC, sB, sA);
      else k.gemm(transB, true, K, M, N, 1, b.data, 0, dC, 0, 1, dA, 0, batch, sB, sC, sA);
    }
    if (b.requiresGrad) {
      const dB = b.ensureGrad();
      if (flat) {
        // summing op(A_i)^T dC_i over the batch = one GEMM over the stacked rows
        if (!transB) k.gemm(true, false, K, N, batch * M, 1, a.data, 0, dC, 0, 1, dB, 0, 1, 0, 0, 0);
        else k.gemm(true, false, N, K, batch * M, 1, dC, 0, a.data, 0, 1, dB, 0, 1, 0, 0, 0);
      } else if (bcast) {
        // transposed a with shared b: one call per item, so accumulation into the single dB is never concurrent
        for (let i = 0; i < batch; i++) {
          if (!transB) k.gemm(false, false, K, N, M, 1, a.data, i * sA, dC, i * sC, 1, dB, 0, 1, 0, 0, 0);
          else k.gemm(true, true, N, K, M, 1, dC, i * sC, a.data, i * sA, 1, dB, 0, 1, 0, 0, 0);
        }
      } else if (!transB) {
        k.gemm(!transA, false, K, N, M, 1, a.data, 0, dC, 0, 1, dB, 0, batch, sA, sC, sB);
      } else {
        k.gemm(true, transA, N, K, M, 1, dC, 0, a.data, 0, 1, dB, 0, batch, sC, sA, sB);
      }
    }
  }, y);
  return y;
}
