"""The smoothed cross-entropy of DESIGN.md, summed (not averaged) over a micro-batch's target tokens: the trainer
divides by the target count of the whole optimizer step over all ranks (token-weighted reduction).

Per target token of a row with epsilon e (src/engine/ops/cross_entropy.ts, torch_ref.py smoothed_ce):
  paper: -(1-e)·log p_gold - e/(V-1)·Σ_{j≠gold} log p_j     (the UAL reference code)
  hf:    -(1-e)·log p_gold - e/V·Σ_j log p_j                 (transformers' label_smoothing_factor)
"""
import torch


def smoothed_ce_sum(logits: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor, style: str) -> torch.Tensor:
    """logits (B, T, V), labels (B, T) aligned with the inputs (-100 = no loss), eps (B,): the causal shift happens
    here, as in transformers: position t-1 predicts labels[t]."""
    logp = logits[:, :-1].float().log_softmax(-1)  # float32 even under bf16 autocast
    labels = labels[:, 1:]
    mask = labels != -100
    gold = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    e = eps.view(-1, 1)
    V = logits.shape[-1]
    if style == "paper":
        tok = -((1 - e) * gold + e / (V - 1) * (logp.sum(-1) - gold))
    else:
        tok = -(1 - e) * gold - e * logp.mean(-1)
    return tok[mask].sum()
