"""The smoothed cross-entropy of DESIGN.md applied to the model's final hidden states and head weight, summed (not
averaged) over a micro-batch's target tokens: the trainer divides by the target count of the whole optimizer step over
all ranks (token-weighted reduction). Two ways, chosen by plan.fused_loss as the native engine's --no-fused-loss:

- fused (the default): the head and the loss chunked over target positions (src/engine/ops/linear_cross_entropy.ts),
  with their gradients computed in forward while a chunk's logits exist and scaled by the upstream gradient in
  backward; no (B, T, V) logits or float32 log-probs are ever held;
- unfused: the (B, T, V) logits, then log_softmax.

Per target token of a row with epsilon e (src/engine/ops/cross_entropy.ts, torch_ref.py smoothed_ce):
  paper:   -(1-e)·log p_gold - e/(V-1)·Σ_{j≠gold} log p_j     (the UAL reference code)
  hf:      -(1-e)·log p_gold - e/V·Σ_j log p_j                 (transformers' label_smoothing_factor)
  teacher: -(1-e)·log p_gold - e·Σ_i q_i·log p_{id_i}          (q: the teacher's renormalised top-k at that position,
           ids/probs (B, T, k) aligned with labels; scripts/teacher_ref.py)
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

# bytes of one chunk's float32 logits (CE_CHUNK_BYTES of linear_cross_entropy.ts): ~110 positions at a 152k vocabulary
CHUNK_BYTES = 64 * 1024 * 1024


def default_chunk_rows(V: int) -> int:
    return max(1, CHUNK_BYTES // (4 * V))


Teacher = Optional[Tuple[torch.Tensor, torch.Tensor]]  # ids (B, T, k) int64, probs (B, T, k) float32, aligned with labels


def _targets(hidden: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor, teacher: Teacher = None):
    """The causal shift, as in transformers (position t-1 predicts labels[t]), packed to the positions that have a
    target: hidden (M, C), gold (M,), each one's row epsilon (M,), and the teacher's ids and probs (M, k) or None."""
    labels = labels[:, 1:]
    mask = labels != -100
    e = eps.view(-1, 1).expand_as(labels)
    q = (teacher[0][:, 1:][mask], teacher[1][:, 1:][mask]) if teacher is not None else None
    return hidden[:, :-1][mask], labels[mask], e[mask], q


def unfused_ce_sum(hidden: torch.Tensor, head: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor, style: str,
                   teacher: Teacher = None) -> torch.Tensor:
    """hidden (B, T, C), head (V, C), labels (B, T) aligned with the inputs (-100 = no loss), eps (B,), the teacher's
    (ids, probs) when it is the target: the (B, T, V) logits, their float32 log-probs, the loss summed over target tokens."""
    logits = F.linear(hidden, head)  # (B, T, V)
    logp = logits[:, :-1].float().log_softmax(-1)  # float32 even under bf16 autocast
    labels = labels[:, 1:]
    mask = labels != -100
    gold = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    e = eps.view(-1, 1)
    V = logits.shape[-1]
    if teacher is not None:
        ids, probs = teacher[0][:, 1:], teacher[1][:, 1:]  # (B, T-1, k): the distribution of the token each position predicts
        tok = -((1 - e) * gold + e * (logp.gather(-1, ids) * probs).sum(-1))
    elif style == "paper":
        tok = -((1 - e) * gold + e / (V - 1) * (logp.sum(-1) - gold))
    else:
        tok = -(1 - e) * gold - e * logp.mean(-1)
    return tok[mask].sum()


class LinearCrossEntropy(torch.autograd.Function):
    """Σ over M packed target positions of the smoothed CE of the logits h·Wᵀ, a chunk of positions at a time.

    Per chunk: logits (m, V) = h_chunk·Wᵀ in float32; loss_i = lse - (1-e)·x_gold - e·w·(Σ_j x_j - [paper] x_gold)
    (w = 1/(V-1) paper, 1/V hf), or with a teacher lse - (1-e)·x_gold - e·Σ_i q_i·x_{id_i}; dlogits = softmax - target;
    dh_chunk = dlogits·W and, when the head trains,
    dW += dlogitsᵀ·h_chunk. Backward multiplies both by the upstream gradient g: the loss is linear in its seed, so
    computing at g = 1 and scaling later is exact up to one rounding, as in the native op."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, gold: torch.Tensor, eps: torch.Tensor, style: str,
                chunk_rows: int, tids: Optional[torch.Tensor] = None, tprobs: Optional[torch.Tensor] = None) -> torch.Tensor:
        V = weight.shape[0]
        w = 1.0 / (V - 1) if style == "paper" else 1.0 / V  # q's mass on each non-gold token, per unit of e
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        acc = torch.promote_types(h.dtype, torch.float32)  # the logits' dtype: float32 even under bf16 autocast
        dh = torch.empty_like(h) if need_h else None  # (M, C)
        dw = torch.zeros_like(weight) if need_w else None  # (V, C)
        total = torch.zeros((), dtype=acc, device=h.device)
        for r0 in range(0, h.shape[0], chunk_rows):
            hc = h[r0:r0 + chunk_rows]  # (m, C)
            g, e = gold[r0:r0 + chunk_rows].unsqueeze(1), eps[r0:r0 + chunk_rows].to(acc)
            logits = (hc @ weight.t()).to(acc)  # (m, V): the only logits that exist
            lse = torch.logsumexp(logits, -1)
            x_gold = logits.gather(1, g).squeeze(1)
            if tids is not None:
                ti, tq = tids[r0:r0 + chunk_rows], tprobs[r0:r0 + chunk_rows].to(acc)  # (m, k)
                total += (lse - (1 - e) * x_gold - e * (logits.gather(1, ti) * tq).sum(-1)).sum()
            else:
                others = logits.sum(-1) - x_gold if style == "paper" else logits.sum(-1)
                total += (lse - (1 - e) * x_gold - e * w * others).sum()
            if not (need_h or need_w):
                continue
            if tids is not None:
                # dlogits = softmax - target: the gold token loses 1-e, each teacher token e·q_i (the gold may be one)
                d = logits.sub_(lse.unsqueeze(1)).exp_()
                d.scatter_add_(1, g, (-(1 - e)).unsqueeze(1))
                d.scatter_add_(1, ti, -e.unsqueeze(1) * tq)
            else:
                # dlogits = softmax - q, in place of the logits: every token loses e·w, the gold token the rest of its q
                d = logits.sub_(lse.unsqueeze(1)).exp_().sub_((e * w).unsqueeze(1))
                d.scatter_add_(1, g, (-(1 - e) + (e * w if style == "paper" else 0)).unsqueeze(1))
            if need_h:
                dh[r0:r0 + chunk_rows] = d @ weight  # (m, C); under autocast in the unfused backward's dtype
            if need_w:
                dw += (d.t() @ hc).to(dw.dtype)  # (V, C)
        ctx.save_for_backward(*(t for t in (dh, dw) if t is not None))
        ctx.has = (need_h, need_w)
        return total

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        saved = list(ctx.saved_tensors)
        dh = saved.pop(0) * g if ctx.has[0] else None
        dw = saved.pop(0) * g if ctx.has[1] else None
        return dh, dw, None, None, None, None, None, None


def fused_ce_sum(hidden: torch.Tensor, head: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor, style: str,
                 chunk_rows: Optional[int] = None, teacher: Teacher = None) -> torch.Tensor:
    """unfused_ce_sum's value and gradients without the (B, T, V) logits: only positions with a target go through the
    head, chunk_rows of them at a time (default: 64 MB of float32 logits)."""
    h, gold, e, q = _targets(hidden, labels, eps, teacher)
    tids, tprobs = q if q is not None else (None, None)
    return LinearCrossEntropy.apply(h, head, gold, e, style, chunk_rows or default_chunk_rows(head.shape[0]), tids, tprobs)
