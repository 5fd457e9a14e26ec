#!/usr/bin/python3
"""PyTorch LoRA reference for the fixtures (extends ../shared/reference/torch_ref.py, whose Model and loss it reuses).

  lora_ref.py init  --model DIR --targets q_proj,v_proj --r 4 --alpha 8 --seed 0 --out ADIR
        a PEFT-layout adapter with random A and (unlike PEFT's zero init) random B, so both get gradients at step 1
  lora_ref.py train --model DIR --adapter ADIR --data FILE --steps 10 --batch-size 4 --lr 1e-3
        [--loss ual --epsilon 0.1 --eps-style paper --weight-decay 0 --clip 0 --save OUT]
        prints {"step", "loss"} per step; --save writes the trained adapter (PEFT layout)
The adapted weight is W + (alpha/r)·B·A ([out, in] layout; transposed for GPT-2's [in, out] Conv1D); dropout 0.
"""
import argparse, json, os, sys

sys.path.insert(0, os.environ.get("UAL_TORCH_REF_DIR", os.path.join(os.path.dirname(__file__), "../../shared/reference")))
import torch  # noqa: E402
import torch_ref as R  # noqa: E402

GPT2_EQ = {"q_proj": "attn.c_attn", "k_proj": "attn.c_attn", "v_proj": "attn.c_attn", "o_proj": "attn.c_proj",
           "gate_proj": "mlp.c_fc", "up_proj": "mlp.c_fc", "down_proj": "mlp.c_proj"}


def modules(m, targets):
    """(key without prefix, stored name, in, out, gpt2?) of each targeted linear layer"""
    gpt2 = m.arch == "gpt2"
    prefix = "transformer." if gpt2 else "model."
    out = []
    for name in m.names:
        if not name.endswith(".weight") or m.p[name].dim() != 2:
            continue
        key = name[: -len(".weight")]
        if any(s in key for s in ("wte", "wpe", "embed_tokens", "lm_head")):
            continue
        for t in targets:
            t = GPT2_EQ.get(t, t) if gpt2 else t
            if key == t or key.endswith("." + t):
                w = m.p[name]
                i, o = (w.shape[0], w.shape[1]) if gpt2 else (w.shape[1], w.shape[0])
                out.append((name, prefix + key, i, o, gpt2))
                break
    return out


def cmd_init(a):
    m = R.load(a.model)
    g = torch.Generator().manual_seed(a.seed)
    sd, targets = {}, a.targets.split(",")
    for name, stored, i, o, _ in modules(m, targets):
        sd[f"base_model.model.{stored}.lora_A.weight"] = (torch.rand(a.r, i, generator=g) * 2 - 1) / i ** 0.5
        sd[f"base_model.model.{stored}.lora_B.weight"] = torch.randn(o, a.r, generator=g) * 0.05
    os.makedirs(a.out, exist_ok=True)
    R.write_safetensors(f"{a.out}/adapter_model.safetensors", sd)
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": a.r, "lora_alpha": a.alpha, "lora_dropout": 0.0,
               "target_modules": targets, "bias": "none", "fan_in_fan_out": m.arch == "gpt2"},
              open(f"{a.out}/adapter_config.json", "w"), indent=2)


def cmd_train(a):
    torch.set_num_threads(1)
    m = R.load(a.model)
    for p in m.parameters():
        p.requires_grad_(False)
    cfg = json.load(open(f"{a.adapter}/adapter_config.json"))
    ad = R.read_safetensors(f"{a.adapter}/adapter_model.safetensors")
    s = cfg["lora_alpha"] / cfg["r"]
    lora = []
    for name, stored, i, o, gpt2 in modules(m, cfg["target_modules"]):
        A = torch.nn.Parameter(ad[f"base_model.model.{stored}.lora_A.weight"].clone())
        B = torch.nn.Parameter(ad[f"base_model.model.{stored}.lora_B.weight"].clone())
        lora.append((name, stored, A, B, gpt2))
    params = [t for (_, _, A, B, _) in lora for t in (A, B)]
    base_forward = m.forward

    def forward(ids):
        saved = {}
        for name, _, A, B, gpt2 in lora:
            saved[name] = m.p[name]
            delta = s * (B @ A)
            m.p[name] = m.p[name] + (delta.t() if gpt2 else delta)
        try:
            return base_forward(ids)
        finally:
            m.p.update(saved)

    rows = [json.loads(l) for l in open(a.data) if l.strip()]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    it = R.batches(rows, a.batch_size)
    for step in range(a.steps):
        ids, lab, eps = next(it)
        if a.loss == "sft":
            eps = torch.zeros_like(eps)
        elif a.loss == "ls":
            eps = torch.full_like(eps, a.epsilon)
        loss = R.smoothed_ce(forward(ids), lab, eps, a.eps_style)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        print(json.dumps({"step": step + 1, "loss": loss.item()}), flush=True)
    if a.save:
        os.makedirs(a.save, exist_ok=True)
        sd = {}
        for _, stored, A, B, _ in lora:
            sd[f"base_model.model.{stored}.lora_A.weight"] = A.detach().clone()
            sd[f"base_model.model.{stored}.lora_B.weight"] = B.detach().clone()
        R.write_safetensors(f"{a.save}/adapter_model.safetensors", sd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init")
    i.add_argument("--model", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--targets", default="q_proj,v_proj")
    i.add_argument("--r", type=int, default=4)
    i.add_argument("--alpha", type=float, default=8)
    i.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("--model", required=True)
    t.add_argument("--adapter", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--loss", choices=["ual", "ls", "sft"], default="ual")
    t.add_argument("--epsilon", type=float, default=0.1)
    t.add_argument("--eps-style", choices=["paper", "hf"], default="paper")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--clip", type=float, default=0.0)
    t.add_argument("--save", default="")
    a = ap.parse_args()
    {"init": cmd_init, "train": cmd_train}[a.cmd](a)


if __name__ == "__main__":
    main()
