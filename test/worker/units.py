"""Unit checks of the worker's pieces, run by units.test.ts (which asserts on the JSON this prints): the fused head +
loss against finite differences (float64) and against the unfused loss, the frozen-head (LoRA) case, no targets,
the bf16 autocast path on the CPU (the code path CUDA takes, on another device), and the cleanup of a killed
writer's temps. Usage: python3 units.py (with python/ on PYTHONPATH)."""
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

from ual_worker.atomic import write_dir_atomic, write_text_atomic
from ual_worker.loss import LinearCrossEntropy, fused_ce_sum, unfused_ce_sum

torch.manual_seed(0)
out = {}


def batch(dtype=torch.float32, B=2, T=6, C=8, V=11):
    """Hidden states, a head, labels with masked prompt positions and right padding (-100), per-row epsilon."""
    hidden = torch.randn(B, T, C, dtype=dtype, requires_grad=True)
    head = (0.3 * torch.randn(V, C, dtype=dtype)).requires_grad_()
    labels = torch.randint(0, V, (B, T))
    labels[0, :2] = -100  # a prompt
    labels[1, 4:] = -100  # padding
    return hidden, head, labels, torch.tensor([0.1, 0.35], dtype=dtype)


def grads(fn, hidden, head):
    """fn's loss and its gradients with respect to hidden and (when it trains) head."""
    loss = fn(hidden, head)
    g = torch.autograd.grad(loss, [t for t in (hidden, head) if t.requires_grad])
    return loss.detach(), g[0], g[1] if len(g) > 1 else None


def maxdiff(a, b):
    return float((a - b).abs().max())


for style in ("paper", "hf"):
    # finite differences in float64: 5 target positions in chunks of 2 (the last one short)
    h = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    gold, eps = torch.randint(0, 7, (5,)), torch.rand(5, dtype=torch.float64) * 0.5
    out[f"gradcheck_{style}"] = torch.autograd.gradcheck(lambda h, w: LinearCrossEntropy.apply(h, w, gold, eps, style, 2), (h, w))

    # fused (chunks of 3 positions) against the (B, T, V) logits, float32
    hidden, head, labels, e = batch()
    lf, hf_, wf = grads(lambda a, b: fused_ce_sum(a, b, labels, e, style, 3), hidden, head)
    lu, hu, wu = grads(lambda a, b: unfused_ce_sum(a, b, labels, e, style), hidden, head)
    out[f"fused_vs_unfused_{style}"] = {"loss_rel": float((lf - lu).abs() / lu.abs()), "d_hidden": maxdiff(hf_, hu), "d_head": maxdiff(wf, wu)}

    # a frozen head (LoRA): no head gradient is made, the hidden one is the same
    frozen = head.detach()
    lf2, hf2, wf2 = grads(lambda a, b: fused_ce_sum(a, b, labels, e, style, 3), hidden, frozen)
    out[f"frozen_head_{style}"] = {"head_grad": wf2 is not None, "d_hidden": maxdiff(hf2, hu)}

    # bf16 autocast on the CPU, the code path of --dtype bf16 on CUDA: the loss stays float32, the gradients take the
    # parameters' dtype, the values are fp32's to bf16 precision
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lb, hb, wb = grads(lambda a, b: fused_ce_sum(a, b, labels, e, style, 3), hidden, head)
        lub = unfused_ce_sum(hidden, head, labels, e, style).detach()
    out[f"bf16_autocast_{style}"] = {"loss_dtype": str(lb.dtype), "grad_dtypes": [str(hb.dtype), str(wb.dtype)],
                                     "loss_rel_vs_fp32": float((lb - lu).abs() / lu.abs()),
                                     "loss_rel_vs_unfused_bf16": float((lb - lub).abs() / lub.abs()),
                                     "d_hidden_rel": maxdiff(hb, hu) / float(hu.abs().max())}

# epsilon 0 is plain cross-entropy, summed over the target tokens
hidden, head, labels, _ = batch()
zero = torch.zeros(2)
ref = F.cross_entropy(F.linear(hidden, head)[:, :-1].reshape(-1, head.shape[0]), labels[:, 1:].reshape(-1), reduction="sum", ignore_index=-100)
out["eps0_vs_cross_entropy"] = float((fused_ce_sum(hidden, head, labels, zero, "paper") - ref).abs() / ref)

# no target at all: loss 0 and zero gradients (not 0/0)
none = torch.full_like(labels, -100)
l0, h0, w0 = grads(lambda a, b: fused_ce_sum(a, b, none, zero, "hf"), hidden, head)
out["no_targets"] = [float(l0), float(h0.abs().max()), float(w0.abs().max())]

# the teacher target: a renormalised top-k per position (ids may repeat the gold one); finite differences in float64,
# fused against unfused, and both against -Σ_v t_v·log p_v with the dense target t = (1-e)·onehot(gold) + e·q
k = 4
ti = torch.randint(0, 7, (5, k))
ti[0, 1] = gold[0]  # the gold token among the teacher's
tq = torch.rand(5, k, dtype=torch.float64)
tq = tq / tq.sum(-1, keepdim=True)
out["gradcheck_teacher"] = torch.autograd.gradcheck(lambda h, w: LinearCrossEntropy.apply(h, w, gold, eps, "paper", 2, ti, tq), (h, w))
hidden, head, labels, e = batch()
B, T, V = labels.shape[0], labels.shape[1], head.shape[0]
tids = torch.randint(0, V, (B, T, k))
tids[0, 3, 0] = labels[0, 3]
tprobs = torch.rand(B, T, k)
tprobs = tprobs / tprobs.sum(-1, keepdim=True)
lf, hf_, wf = grads(lambda a, b: fused_ce_sum(a, b, labels, e, "paper", 3, (tids, tprobs)), hidden, head)
lu, hu, wu = grads(lambda a, b: unfused_ce_sum(a, b, labels, e, "paper", (tids, tprobs)), hidden, head)
logp = F.linear(hidden, head)[:, :-1].log_softmax(-1)
dense = torch.zeros(B, T - 1, V).scatter_add_(-1, tids[:, 1:], e.view(-1, 1, 1) * tprobs[:, 1:])
dense.scatter_add_(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1), (1 - e).view(-1, 1, 1).expand(B, T - 1, 1))
ref = -((dense * logp).sum(-1))[labels[:, 1:] != -100].sum()
out["teacher"] = {"fused_vs_unfused": {"loss_rel": float((lf - lu).abs() / lu.abs()), "d_hidden": maxdiff(hf_, hu), "d_head": maxdiff(wf, wu)},
                  "unfused_vs_dense": float((lu - ref).abs() / ref.abs())}

# a killed writer's temps: those of the target being written whose process is gone are removed, a live process's,
# another target's and the writer's own are left
with tempfile.TemporaryDirectory() as d:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = os.getppid()
    names = [f".x.json.tmp-{dead.pid}-0", f".x.json.tmp-{live}-1", f".y.json.tmp-{dead.pid}-2", f".step-4.tmp-{dead.pid}-3",
             f".step-4.tmp-{dead.pid}-4-old", f".step-4.tmp-{live}-5"]
    for n in names:
        if n.startswith(".step"):
            os.makedirs(os.path.join(d, n, "inner"))
        else:
            open(os.path.join(d, n), "w").close()
    write_text_atomic(os.path.join(d, "x.json"), "{}\n")
    write_dir_atomic(os.path.join(d, "step-4"), lambda tmp: write_text_atomic(os.path.join(tmp, "trainer_state.json"), "{}\n"))
    out["temps_left"] = sorted(f for f in os.listdir(d) if ".tmp-" in f)
    out["temps_expected"] = sorted([f".x.json.tmp-{live}-1", f".y.json.tmp-{dead.pid}-2", f".step-4.tmp-{live}-5"])

print(json.dumps(out))
