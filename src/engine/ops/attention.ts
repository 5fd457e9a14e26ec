// attention: causal scaled-dot-product attention with grouped-query heads (H query heads share KV key/value
// heads). Tq < Tk is the KV-cache case: the queries are the last Tq positions of the Tk-long sequence.
// attentionQkv: the same with H heads read straight out of a packed q | k | v projection (GPT-2's c_attn), so
// neither the forward split into three copies nor its backward's scatter back is needed.
import { Tensor, gradOrScratch, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';
import { checkDtypes, checkRank, describe, fail } from './util.js';

/**
 * Whether training keeps the softmax (B, H, Tq, Tk) for backward or backward recomputes it from q and k (bit for bit
 * the same values, as FlashAttention does): kept while it is at most twice the attention's output (Tk <= 2·hd), where
 * it is cheap and recomputing would cost a visible share of a small model's step; recomputed beyond, where it is the
 * largest activation of a layer (Qwen2.5-0.5B at T 512: 14.7 MB a layer, a fifth of its activations) and the extra
 * Q·Kᵀ costs about 1% of the step.
 */
export function keepsProbs(Tk: number, hd: number): boolean {
  return Tk <= 2 * hd;
}

export function attention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  checkDtypes('attention', q, k, v);
  checkRank('attention', 'q (B, Tq, H, hd)', q, 4);
  checkRank('attention', 'k (B, Tk, KV, hd)', k, 4);
  const [B, Tq, H, hd] = q.shape;
  const [Bk, Tk, KV, hdk] = k.shape;
  if (Bk !== B || hdk !== hd) fail('attention', `q ${describe(q)} and k ${describe(k)} disagree on batch or head dim`);
  if (v.shape.length !== 4 || v.shape.some((s, i) => s !== k.shape[i])) {
    fail('attention', `v must have k's shape [${k.shape}], got [${v.shape}]`);
  }
  if (H % KV !== 0) fail('attention', `${H} query heads cannot be grouped over ${KV} key/value heads`);
  if (Tq > Tk) fail('attention', `more queries (${Tq}) than keys (${Tk})`);

  const kern = kernelsFor(q.data);
  const out = allocOutput(q.data, q.size); // (B, Tq, H, hd)
  const grad = needsGrad(q, k, v);
  const probs = grad && keepsProbs(Tk, hd) ? allocOutput(q.data, B * H * Tq * Tk) : null;
  kern.attentionForward(q.data, k.data, v.data, out, probs, B, Tq, Tk, H, KV, hd);
  const y = new Tensor(out, [B, Tq, H, hd], grad);
  if (!grad) return y;
  saveForBackward(q, k, v);

  record(() => {
    if (!y.grad) return;
    // the kernel writes all three; frozen inputs' gradients land in throwaway buffers
    const dq = gradOrScratch(q);
    const dk = gradOrScratch(k, q.data);
    const dv = gradOrScratch(v, q.data);
    kern.attentionBackward(y.grad, q.data, k.data, v.data, probs, dq, dk, dv, B, Tq, Tk, H, KV, hd);
  }, y, probs ? [probs] : []); // the softmax is read by this closure only
  return y;
}

/** causal self-attention of qkv (B, T, 3C) packed q | k | v per position, C = H * hd; returns (B, T, H, hd) */
export function attentionQkv(qkv: Tensor, H: number): Tensor {
  checkRank('attentionQkv', 'qkv (B, T, 3C)', qkv, 3);
  const [B, T, C3] = qkv.shape;
  if (!Number.isInteger(H) || H < 1 || C3 % (3 * H) !== 0) {
    fail('attentionQkv', `the last dim of ${describe(qkv)} must be 3 * H * hd for H = ${H} heads`);
  }
  const hd = C3 / (3 * H);
  const kern = kernelsFor(qkv.data);
  const out = allocOutput(qkv.data, B * T * H * hd); // (B, T, H, hd)
  const grad = needsGrad(qkv);
  const probs = grad && keepsProbs(T, hd) ? allocOutput(qkv.data, B * H * T * T) : null; // (B, H, T, T)
  kern.attentionQkvForward(qkv.data, out, probs, B, T, H, hd);
  const y = new Tensor(out, [B, T, H, hd], grad);
  if (!grad) return y;
  saveForBackward(qkv);

  record(() => {
    if (y.grad) kern.attentionQkvBackward(y.grad, qkv.data, probs, qkv.ensureGrad(), B, T, H, hd);
  }, y, probs ? [probs] : []);
  return y;
}
