// attention: causal scaled-dot-product attention with grouped-query heads (H query heads share KV key/value
// heads). Tq < Tk is the KV-cache case: the queries are the last Tq positions of the Tk-long sequence.
import { Tensor, scratch, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';
import { checkDtypes, checkRank, describe, fail } from './util.js';

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
  // the softmax is kept only when backward will need it: (B, H, Tq, Tk) is the largest activation per layer
  const probs = grad ? allocOutput(q.data, B * H * Tq * Tk) : null;
  kern.attentionForward(q.data, k.data, v.data, out, probs, B, Tq, Tk, H, KV, hd);
  const y = new Tensor(out, [B, Tq, H, hd], grad);
  if (!probs) return y;

  record(() => {
    if (!y.grad) return;
    // the kernel writes all three; frozen inputs' gradients land in throwaway buffers
    const dq = q.requiresGrad ? q.ensureGrad() : scratch(q.data, q.size);
    const dk = k.requiresGrad ? k.ensureGrad() : scratch(q.data, k.size);
    const dv = v.requiresGrad ? v.ensureGrad() : scratch(q.data, v.size);
    kern.attentionBackward(y.grad, q.data, k.data, v.data, probs, dq, dk, dv, B, Tq, Tk, H, KV, hd);
  }, y, [probs]); // the softmax is read by this closure only
  return y;
}
