// linearCrossEntropy: the LM head (hidden · W_headᵀ) and smoothedCrossEntropy fused and chunked over positions, so
// no (B, T, V) logits or logit-gradient buffer ever exists (Liger Kernel's fused linear cross-entropy, Apple's Cut
// Cross-Entropy arXiv 2411.09009). Same loss and gradients as linear + smoothedCrossEntropy, to rounding.
//
// Per chunk of target positions: logits (m, V) = h_chunk · Wᵀ; the smoothed-CE kernel reduces them to the loss terms
// (gold logit, logsumexp, sum of logits) and overwrites them in place with dlogits = scale · (softmax - q);
// dh_chunk = dlogits · W and dW += dlogitsᵀ · h_chunk. Only one chunk's logits exist at a time.
//
// Where the work happens: like smoothedCrossEntropy, the gradients are computed in forward, while each chunk's
// logits exist (Liger Kernel's order): per chunk one GEMM for the logits, one for dh_chunk = dlogits · W and, when the
// head trains, one for dW; backward only scales them by the upstream gradient g (the loss is linear in its seed, so
// computing them at g = 1 and scaling later is exact up to one rounding). That is the same three GEMMs as the unfused
// head (forward logits, backward dh and dW) with no (B, T, V) buffer. dh is kept packed, (M, C) for the M target
// positions; dW needs a private (V, C) buffer because our gradients accumulate across micro-batches (zeroGrad fills,
// the trainer seeds each micro-batch's loss with its token share), so it cannot be written into W.grad before g is
// known — the same buffer the unfused head's dW needs, and only when the head trains (never with LoRA).
// Recomputing the logits in backward instead (Cut Cross-Entropy) saves that buffer but costs a fourth GEMM, the
// largest of the step at a 152k vocabulary: measured 1.6x slower per step on the Qwen2.5-0.5B shape.
//
// Only positions that have a target go through the head: prompt tokens masked with -100, padding and each row's
// last position cost nothing.
//
// The target of one chunk is (gold, eps) per row plus the style's uniform q (kernels.crossEntropy), or with a teacher
// (q = a teacher's sparse top-k distribution per position, DESIGN.md "Smoothing targets", ops/teacher.ts) the chunk's
// slice of the packed (ids (M, k), probs (M, k)): the kernel's loss becomes lse - (1-eps)·x_gold - eps·Σ_k probs_k·x_{ids_k}
// and its gradient scale · (softmax - (1-eps)·onehot(gold) - eps·q), a scatter of k values per row into dlogits; the
// GEMMs around it do not change, and the teacher costs O(M × k) memory, never (B, T, V).
import type { Arr } from '../kernels.js';
import { Tensor, alloc, kernelsFor, needsGrad, record, releaseBuffer } from '../tensor.js';
import { shiftTargets, type EpsStyle } from './cross_entropy.js';
import { checkTeacher, teacherRows, type TeacherTargets } from './teacher.js';
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
  /** smooth toward a teacher's sparse distribution instead of the style's uniform q (style is then ignored) */
  teacher?: TeacherTargets;
}

/** The targets of the positions that have one, packed: chunk c covers packed rows [c*rows, c*rows + m). */
interface ChunkTargets {
  /** (M): position index n in (B*T) of each packed row */
  pos: Int32Array;
  /** (M): the gold token of each packed row */
  gold: Int32Array;
  /** (M): the row's epsilon */
  eps: Arr;
  /** (M, k): the teacher's entries of each packed row, when smoothing toward a teacher */
  q: TeacherTargets | null;
}

export function defaultChunkRows(V: number, bytesPerFloat = 4): number {
  return Math.max(1, Math.floor(CE_CHUNK_BYTES / (bytesPerFloat * V)));
}

/**
 * Smoothed cross-entropy of the logits hidden · weightᵀ without building them.
 * hidden (B, T, C): the final hidden states (after the final norm); weight (V, C): the head in nn.Linear's [out, in]
 * layout (a tied embedding table is the same layout). labels, eps, style and opts.teacher as smoothedCrossEntropy.
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
  if (opts.teacher) checkTeacher(op, opts.teacher, targets, B, T, V);
  const asked = opts.chunkRows ?? defaultChunkRows(V, hidden.data.BYTES_PER_ELEMENT);
  if (!(Number.isInteger(asked) && asked >= 1)) fail(op, `chunkRows must be a positive integer, got ${asked}`);
  const rows = Math.min(asked, Math.max(count, 1));

  const tg = packTargets(targets, epsRows, count, hidden.data, opts.teacher);
  const k = kernelsFor(hidden.data);
  const h = hidden.data;
  const grad = needsGrad(hidden, weight);
  const hc = alloc(h, rows * C); // (rows, C): the chunk's hidden rows, gathered
  const logits = alloc(h, rows * V); // (rows, V): the only logits buffer; becomes dlogits in place
  const losses = alloc(h, rows); // (rows)
  // gradients at a seed of 1, scaled by the real seed in backward
  const dhPacked = grad && hidden.requiresGrad && count > 0 ? alloc(h, count * C) : null; // (M, C)
  const dwOwn = grad && weight.requiresGrad && count > 0 ? alloc(h, V * C) : null; // (V, C)

  let sum = 0;
  for (let r0 = 0; r0 < count; r0 += rows) {
    const m = Math.min(rows, count - r0);
    for (let i = 0; i < m; i++) {
      const n = tg.pos[r0 + i];
      hc.set(h.subarray(n * C, (n + 1) * C), i * C);
    }
    gemmWeight(k, true, m, V, C, 1, hc, 0, weight, 0, logits, 0); // (m, V) = h_chunk · Wᵀ
    const q = tg.q;
    k.crossEntropy(logits, tg.gold.subarray(r0, r0 + m), tg.eps.subarray(r0, r0 + m), m, V, styleCode,
      losses, grad ? logits : null, 1 / count,
      q?.k, q?.ids.subarray(r0 * q.k, (r0 + m) * q.k), q?.probs.subarray(r0 * q.k, (r0 + m) * q.k));
    for (let i = 0; i < m; i++) sum += losses[i];
    if (dhPacked) gemmWeight(k, false, m, C, V, 1, logits, 0, weight, 0, dhPacked, r0 * C); // dlogits · W
    if (dwOwn) k.gemm(true, false, V, C, m, 1, logits, 0, hc, 0, 1, dwOwn, 0, 1, 0, 0, 0); // (V, C) += dlogitsᵀ · h
  }
  for (const b of [hc, logits, losses]) releaseBuffer(b); // the chunk buffers are dead once the gradients are made
  const out = alloc(h, 1);
  out[0] = count > 0 ? sum / count : 0; // no targets: loss 0 and zero gradient, not 0/0
  const loss = new Tensor(out, [], grad);
  if (!grad) return loss;

  record(() => {
    const g = loss.grad ? loss.grad[0] : 0;
    // upstream ops still see a (zero) gradient when nothing is predicted
    const dh = hidden.requiresGrad ? hidden.ensureGrad() : null; // (B, T, C)
    const dw = weight.requiresGrad ? weight.ensureGrad() : null; // (V, C); null when the head is frozen (LoRA)
    if (g === 0) return;
    if (dh && dhPacked) {
      for (let i = 0; i < count; i++) {
        const o = tg.pos[i] * C, p = i * C;
        for (let c = 0; c < C; c++) dh[o + c] += g * dhPacked[p + c];
      }
    }
    if (dw && dwOwn) k.axpy(g, dwOwn, dw, dw.length);
  }, loss, [dhPacked, dwOwn].filter((b) => b !== null));
  return loss;
}

/** The positions with a target, in order, with their gold token, epsilon and teacher entries. */
function packTargets(targets: Int32Array, epsRows: Arr, count: number, like: Arr, teacher?: TeacherTargets): ChunkTargets {
  const pos = new Int32Array(count), gold = new Int32Array(count), eps = alloc(like, count);
  let j = 0;
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] < 0) continue;
    pos[j] = n;
    gold[j] = targets[n];
    eps[j] = epsRows[n];
    j++;
  }
  return { pos, gold, eps, q: teacher ? teacherRows(teacher, pos) : null };
}
