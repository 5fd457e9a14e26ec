// linearCrossEntropy: the LM head (hidden · W_headᵀ) and smoothedCrossEntropy fused and chunked over positions, so
// no (B, T, V) logits or logit-gradient buffer ever exists (Liger Kernel's fused linear cross-entropy, Apple's Cut
// Cross-Entropy arXiv 2411.09009). Same loss and gradients as linear + smoothedCrossEntropy, to rounding.
//
// Per chunk of target positions: logits (m, V) = h_chunk · Wᵀ; the smoothed-CE kernel reduces them to the loss terms
// (gold logit, logsumexp, sum of logits) and overwrites them in place with dlogits = scale · (softmax - q);
// dh_chunk = dlogits · W and dW += dlogitsᵀ · h_chunk. Only one chunk's logits exist at a time.
//
// Where the work happens: forward computes only the loss (one GEMM per chunk). Backward recomputes each chunk's
// logits (as Cut Cross-Entropy does) and turns them into both gradients with the upstream gradient already known.
// Computing the gradients in forward instead (Liger) would save that GEMM but needs a private (V, C) dW buffer: our
// gradients persist across steps and micro-batches (zeroGrad fills, the trainer scales by each micro-batch's token
// share), so dW could not go straight into W.grad, and for Qwen2.5-0.5B that buffer (544 MB) outweighs the logits
// it replaces at T ≈ 512.
//
// Only positions that have a target go through the head: prompt tokens masked with -100, padding and each row's
// last position cost nothing.
//
// The target of one chunk is (gold, eps) per row plus the style's uniform q (kernels.crossEntropy). A teacher target
// (q = a teacher's sparse top-k distribution per position, DESIGN.md "Smoothing targets") would be one more field of
// ChunkTargets, the chunk's slice of (ids (m, k), probs (m, k)): the kernel's loss becomes
// lse - (1-eps)·x_gold - eps·Σ_k probs_k·x_{ids_k} and its gradient scale · (softmax - (1-eps)·onehot(gold) - eps·q),
// a scatter of k values per row into dlogits; the GEMMs around it do not change.
import type { Arr } from '../kernels.js';
import { Tensor, alloc, kernelsFor, needsGrad, record } from '../tensor.js';
import { shiftTargets, type EpsStyle } from './cross_entropy.js';
import { checkDtypes, checkRank, describe, fail } from './util.js';
import { gemmWeight } from './weight.js';

/**
 * Bytes of one chunk's logits when no chunk size is given: 64 MB is ~110 positions at Qwen2.5's 151,936 tokens and
 * ~333 at GPT-2's 50,257. Smaller chunks save memory but cost time: dW += dlogitsᵀ · h is a rank-m update that
 * streams all of W.grad (544 MB for Qwen2.5-0.5B) once per chunk, and BLAS is slower on short matrices. Measured on
 * the head alone (T = 512, V = 151,936, C = 896, one thread): 55-position chunks (32 MB) took 2-3x the unfused time,
 * 128-position chunks 1.6x, one chunk of 512 about 2x; 64 MB is small next to a 0.5B model's weights and state.
 */
export const CE_CHUNK_BYTES = 64 * 1024 * 1024;

export interface LinearCrossEntropyOptions {
  /** positions per chunk (default: as many as fit CE_CHUNK_BYTES of logits) */
  chunkRows?: number;
}

/** The targets of the positions that have one, packed: chunk c covers packed rows [c*rows, c*rows + m). */
interface ChunkTargets {
  /** (M): position index n in (B*T) of each packed row */
  pos: Int32Array;
  /** (M): the gold token of each packed row */
  gold: Int32Array;
  /** (M): the row's epsilon */
  eps: Arr;
}

export function defaultChunkRows(V: number, bytesPerFloat = 4): number {
  return Math.max(1, Math.floor(CE_CHUNK_BYTES / (bytesPerFloat * V)));
}

/**
 * Smoothed cross-entropy of the logits hidden · weightᵀ without building them.
 * hidden (B, T, C): the final hidden states (after the final norm); weight (V, C): the head in nn.Linear's [out, in]
 * layout (a tied embedding table is the same layout). labels, eps, style as smoothedCrossEntropy.
 */
export function linearCrossEntropy(
  hidden: Tensor, weight: Tensor, labels: Int32Array, eps: ArrayLike<number>, style: EpsStyle,
  opts: LinearCrossEntropyOptions = {},
): Tensor {
  const op = 'linearCrossEntropy';
  checkDtypes(op, hidden, weight);
  checkRank(op, 'hidden (B, T, C)', hidden, 3);
  checkRank(op, 'head weight (V, C)', weight, 2);
  const [B, T, C] = hidden.shape;
  const [V, Cw] = weight.shape;
  if (Cw !== C) fail(op, `hidden ${describe(hidden)} has ${C} features but head ${describe(weight)} expects ${Cw}`);
  const { targets, epsRows, count, styleCode } = shiftTargets(op, labels, eps, style, B, T, V, hidden.data);
  const asked = opts.chunkRows ?? defaultChunkRows(V, hidden.data.BYTES_PER_ELEMENT);
  if (!(Number.isInteger(asked) && asked >= 1)) fail(op, `chunkRows must be a positive integer, got ${asked}`);
  const rows = Math.min(asked, Math.max(count, 1));

  const tg = packTargets(targets, epsRows, count, hidden.data);
  const k = kernelsFor(hidden.data);
  const h = hidden.data;
  const hc = alloc(h, rows * C); // (rows, C): the chunk's hidden rows, gathered
  const logits = alloc(h, rows * V); // (rows, V): the only logits buffer; becomes dlogits in place
  const losses = alloc(h, rows); // (rows)

  /** logits of packed rows [r0, r0 + m), then the kernel: losses, and dlogits in place when gradScale is given */
  const chunk = (r0: number, m: number, gradScale: number | null): void => {
    for (let i = 0; i < m; i++) {
      const n = tg.pos[r0 + i];
      hc.set(h.subarray(n * C, (n + 1) * C), i * C);
    }
    gemmWeight(k, true, m, V, C, 1, hc, 0, weight, 0, logits, 0);
    k.crossEntropy(logits, tg.gold.subarray(r0, r0 + m), tg.eps.subarray(r0, r0 + m), m, V, styleCode,
      losses, gradScale === null ? null : logits, gradScale ?? 0);
  };

  let sum = 0;
  for (let r0 = 0; r0 < count; r0 += rows) {
    const m = Math.min(rows, count - r0);
    chunk(r0, m, null);
    for (let i = 0; i < m; i++) sum += losses[i];
  }
  const out = alloc(h, 1);
  out[0] = count > 0 ? sum / count : 0; // no targets: loss 0 and zero gradient, not 0/0
  const loss = new Tensor(out, [], needsGrad(hidden, weight));
  if (!loss.requiresGrad) return loss;

  record(() => {
    const g = loss.grad ? loss.grad[0] : 0;
    // upstream ops still see a (zero) gradient when nothing is predicted
    const dh = hidden.requiresGrad ? hidden.ensureGrad() : null; // (B, T, C)
    const dw = weight.requiresGrad ? weight.ensureGrad() : null; // (V, C); null when the head is frozen (LoRA)
    if (count === 0 || g === 0) return;
    const dhc = dh ? alloc(h, rows * C) : null; // (rows, C)
    for (let r0 = 0; r0 < count; r0 += rows) {
      const m = Math.min(rows, count - r0);
      chunk(r0, m, g / count);
      if (dh && dhc) {
        gemmWeight(k, false, m, C, V, 1, logits, 0, weight, 0, dhc, 0); // (m, C) = dlogits · W
        for (let i = 0; i < m; i++) {
          const o = tg.pos[r0 + i] * C;
          for (let c = 0; c < C; c++) dh[o + c] += dhc[i * C + c];
        }
      }
      if (dw) k.gemm(true, false, V, C, m, 1, logits, 0, hc, 0, 1, dw, 0, 1, 0, 0, 0); // (V, C) += dlogitsᵀ · h
    }
  });
  return loss;
}

/** The positions with a target, in order, with their gold token and epsilon. */
function packTargets(targets: Int32Array, epsRows: Arr, count: number, like: Arr): ChunkTargets {
  const pos = new Int32Array(count), gold = new Int32Array(count), eps = alloc(like, count);
  let j = 0;
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] < 0) continue;
    pos[j] = n;
    gold[j] = targets[n];
    eps[j] = epsRows[n];
    j++;
  }
  return { pos, gold, eps };
}
