#!/usr/bin/python3
"""PyTorch reference for smoothing toward a teacher (issue 13; extends ../shared/reference/torch_ref.py, whose Model,
batches and checkpoint I/O it reuses). Run with /usr/bin/python3 (Debian's python3-torch).

  teacher_ref.py loss    --out FILE [--seed 0 --B 3 --T 9 --V 40 --k 5]
        random float32 logits (B, T, V), labels with -100s, per-row eps and a renormalised top-k teacher per position;
        writes JSON {B, T, V, k, logits, labels, eps, ids, probs, loss, dlogits} (flat, row-major; ids/probs (B*T*k)
        aligned with labels as engine TeacherTargets; loss and d loss / d logits computed in float64)
  teacher_ref.py distill --teacher DIR --data IN.jsonl --k 4 --out OUT.jsonl
        each row of IN (torch_ref.py data's format) plus "teacher_topk": {"k", "ids": [[k ints]...], "probs": [[k
        floats]...]}: one entry per target token (label != -100, in order), the teacher checkpoint's top-k softmax
        probabilities for that token (descending, raw: NOT renormalised), as `ual distill` writes them
  teacher_ref.py train   --model DIR --data OUT.jsonl --steps 8 --batch-size 4 --lr 1e-3 [--weight-decay 0 --clip 0
        --save DIR]   torch_ref.py train's loop (file order, AdamW over all parameters, constant lr, eps = each row's
        "epsilon") with the teacher loss; each row's top-k probs renormalised (float32) to sum 1 before use; prints
        {"step", "loss"} per step; --save writes the trained weights in the checkpoint's own layout

The loss (the contract, notes/teacher-contract.md): per target token of row i, target t = (1-eps_i)·onehot(gold) +
eps_i·q, q the renormalised teacher top-k at that position (zero elsewhere; the gold may be among its ids);
loss = mean over target tokens of -Σ_v t_v log p_v. Built densely here (scatter into a (B, T, V) target) so it is an
independent transcription of the formula the engine evaluates sparsely.
"""
import argparse, json, os, shutil, sys

sys.path.insert(0, os.environ.get("UAL_TORCH_REF_DIR", os.path.join(os.path.dirname(__file__), "../../shared/reference")))
import torch  # noqa: E402
import torch_ref as R  # noqa: E402


def teacher_ce(logits, labels, eps_rows, t_ids, t_probs):
    """Mean over non-ignored target tokens; labels, t_ids and t_probs (B, T, k) aligned with inputs (shifted here)."""
    logits, labels = logits[:, :-1], labels[:, 1:]
    ids, probs = t_ids[:, 1:], t_probs[:, 1:].to(logits.dtype)
    logp = logits.log_softmax(-1)
    mask = labels != -100
    eps = eps_rows.to(logits.dtype).view(-1, 1, 1)
    target = torch.zeros_like(logp).scatter_add_(-1, ids, eps * probs)
    target = target.scatter_add_(-1, labels.clamp(min=0).unsqueeze(-1), (1 - eps).expand(*labels.shape, 1))
    tok = -(target * logp).sum(-1)
    return tok[mask].sum() / mask.sum()


def cmd_loss(a):
    g = torch.Generator().manual_seed(a.seed)
    B, T, V, k = a.B, a.T, a.V, a.k
    logits = (torch.randn(B, T, V, generator=g) * 3).float()
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[torch.rand(B, T, generator=g) < 0.25] = -100  # scattered ignored tokens
    labels[0, :3] = -100  # a prompt
    labels[B - 1, T - 2:] = -100  # padding
    eps = torch.tensor([round(float(x), 4) for x in torch.rand(B, generator=g) * 0.5]).float()
    eps[0] = 0.0  # a row with no smoothing
    ids = torch.stack([torch.randperm(V, generator=g)[:k] for _ in range(B * T)]).view(B, T, k)
    # the gold among the teacher's ids at some positions (it then gets (1-eps) + eps*q_gold)
    gold_in = torch.rand(B, T, generator=g) < 0.5
    for b in range(B):
        for t in range(T):
            if gold_in[b, t] and labels[b, t] >= 0 and labels[b, t] not in ids[b, t]:
                ids[b, t, int(torch.randint(0, k, (1,), generator=g))] = labels[b, t]
    raw = torch.rand(B, T, k, generator=g) ** 3
    probs = (raw / raw.sum(-1, keepdim=True)).float()
    probs[labels < 0] = 0.0  # unused positions: prob 0 (ids stay in range)
    x = logits.double().requires_grad_(True)
    loss = teacher_ce(x, labels, eps, ids, probs)
    loss.backward()
    out = {"B": B, "T": T, "V": V, "k": k, "logits": logits.flatten().tolist(), "labels": labels.flatten().tolist(),
           "eps": eps.tolist(), "ids": ids.flatten().tolist(), "probs": probs.flatten().tolist(),
           "loss": loss.item(), "dlogits": x.grad.flatten().tolist()}
    with open(a.out, "w") as f:
        json.dump(out, f)


def cmd_distill(a):
    m = R.load(a.teacher)
    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    with open(a.out, "w") as f, torch.no_grad():
        for r in rows:
            labels = r.get("labels", r["input_ids"])
            p = m(torch.tensor([r["input_ids"]]))[0].softmax(-1)  # (T, V): position n-1 predicts token n
            ids, probs = [], []
            for n, lab in enumerate(labels):
                if lab == -100:
                    continue
                assert n > 0, "a target at position 0 has no preceding position"
                top = p[n - 1].topk(a.k)
                ids.append(top.indices.tolist())
                probs.append(top.values.tolist())
            f.write(json.dumps({**r, "teacher_topk": {"k": a.k, "ids": ids, "probs": probs}}) + "\n")


def teacher_batches(rows, B):
    """torch_ref.batches (file order, wrapping, right padding) plus the teacher's (B, T, k) ids and renormalised probs."""
    k = rows[0]["teacher_topk"]["k"]
    for step, (ids, lab, eps) in enumerate(R.batches(rows, B)):
        T = ids.shape[1]
        t_ids = torch.zeros(B, T, k, dtype=torch.long)
        t_probs = torch.zeros(B, T, k)
        for j in range(B):
            top = rows[(step * B + j) % len(rows)]["teacher_topk"]
            at = [n for n in range(T) if lab[j, n] != -100]
            assert len(at) == len(top["ids"]), "teacher_topk needs one entry per target token"
            for n, i, p in zip(at, top["ids"], top["probs"]):
                q = torch.tensor(p, dtype=torch.float32)
                t_ids[j, n] = torch.tensor(i)
                t_probs[j, n] = q / q.sum()
        yield ids, lab, eps, t_ids, t_probs


def cmd_train(a):
    torch.set_num_threads(1)
    m = R.load(a.model)
    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    opt = torch.optim.AdamW(m.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    it = teacher_batches(rows, a.batch_size)
    for step in range(a.steps):
        ids, lab, eps, t_ids, t_probs = next(it)
        loss = teacher_ce(m(ids), lab, eps, t_ids, t_probs)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), a.clip)
        opt.step()
        print(json.dumps({"step": step + 1, "loss": loss.item()}), flush=True)
    if a.save:
        os.makedirs(a.save, exist_ok=True)
        shutil.copy(f"{a.model}/config.json", f"{a.save}/config.json")
        trained = {}
        for name in R.read_safetensors(f"{a.model}/model.safetensors"):
            short = name
            for pre in ("transformer.", "model."):
                if short.startswith(pre):
                    short = short[len(pre):]
                    break
            if short in m.p:
                trained[name] = m.p[short].detach().clone()
        R.write_safetensors(f"{a.save}/model.safetensors", trained)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("loss")
    lo.add_argument("--out", required=True)
    for k, v in [("seed", 0), ("B", 3), ("T", 9), ("V", 40), ("k", 5)]:
        lo.add_argument("--" + k, type=int, default=v)
    d = sub.add_parser("distill")
    d.add_argument("--teacher", required=True)
    d.add_argument("--data", required=True)
    d.add_argument("--k", type=int, default=4)
    d.add_argument("--out", required=True)
    t = sub.add_parser("train")
    t.add_argument("--model", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--steps", type=int, default=8)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--clip", type=float, default=0.0)
    t.add_argument("--save", default="")
    a = ap.parse_args()
    {"loss": cmd_loss, "distill": cmd_distill, "train": cmd_train}[a.cmd](a)


if __name__ == "__main__":
    main()
