#!/usr/bin/python3
"""PyTorch LoRA reference for the fixtures (extends ../shared/reference/torch_ref.py, whose Model and loss it reuses).

  lora_ref.py init  --model DIR --targets q_proj,v_proj --r 4 --alpha 8 --seed 0 --out ADIR
        a PEFT-layout adapter with random A and (unlike PEFT's zero init) random B, so both get gradients at step 1
  lora_ref.py train --model DIR --adapter ADIR --data FILE --steps 10 --batch-size 4 --lr 1e-3
        [--loss ual --epsilon 0.1 --eps-style paper --weight-decay 0 --clip 0 --save OUT --base-dtype fp32|bf16]
        prints {"step", "loss"} per step; --save writes the trained adapter (PEFT layout); --base-dtype bf16 rounds
        the base's matrices (linear weights, embeddings, head) to bf16 first: W.to(torch.bfloat16).float()
  lora_ref.py bench --model DIR --batch-size 1 --seq 512 --steps 5 [--threads 1 --targets q_proj,v_proj --r 8
        --warmup 3 --base-dtype fp32|bf16]  times LoRA training steps (torch_ref.py bench's method: warm-up, then
        the median step); prints {"engine", "threads", "tokens_per_s", "step_ms", "first_step_ms", "trainable_params"};
        bf16 keeps the base's matrices in bf16 (read tensor by tensor), upcast to fp32 a block of rows per matmul
The adapted weight is W + (alpha/r)·B·A ([out, in] layout; transposed for GPT-2's [in, out] Conv1D); dropout 0.
"""
import argparse, json, os, struct, sys, time

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


class LoraProduct:
    """The right operand of `h @ W` (torch_ref's forward) seen through an adapter, computed as PEFT does:
    h @ W + s·(h @ Aᵀ) @ Bᵀ. Forming W + s·B·A instead (cmd_train's way) would make autograd compute the full
    weight gradient of every adapted layer, a GEMM per layer that PEFT never runs. torch dispatches `h @ obj` to
    __torch_function__."""

    def __init__(self, W, A, B, s):
        self.W, self.A, self.B, self.s = W, A, B, s

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") not in ("__matmul__", "matmul") or len(args) != 2 or not isinstance(args[1], cls):
            raise TypeError(f"lora_ref bench: an adapted weight is used by {func}, only by h @ W")
        h, m = args
        return h @ m.W + m.s * ((h @ m.A.t()) @ m.B.t())


class LoraWeight:
    """A Llama-family [out, in] weight with an adapter: torch_ref computes `h @ p[name].t()`."""

    def __init__(self, W, A, B, s):
        self.right = LoraProduct(W.t(), A, B, s)

    def t(self):
        return self.right


BF16_BLOCK = 1 << 22  # weight elements upcast at a time (as ual's native gemmBf16)


def _blocks(n, per):
    step = max(1, min(n, per))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _mm_bf16(h, W, trans):
    """h @ (W.t() if trans else W) for a bf16 W, upcasting a block of W's rows at a time: h stays fp32 and only a
    block of fp32 weight exists at once."""
    if trans:  # W (N, K): a block of rows is a block of output columns
        out = h.new_empty(*h.shape[:-1], W.shape[0])
        for r0, r1 in _blocks(W.shape[0], BF16_BLOCK // W.shape[1]):
            out[..., r0:r1] = h @ W[r0:r1].float().t()
        return out
    out = None  # W (K, N): a block of rows is a block of the sum over K
    for r0, r1 in _blocks(W.shape[0], BF16_BLOCK // W.shape[1]):
        part = h[..., r0:r1] @ W[r0:r1].float()
        out = part if out is None else out.add_(part)
    return out


class Bf16Matmul(torch.autograd.Function):
    """y = h @ op(W) with W frozen in bf16; backward keeps only W (bf16) and h's gradient is upcast the same way."""

    @staticmethod
    def forward(ctx, h, W, trans):
        ctx.save_for_backward(W)
        ctx.trans = trans
        return _mm_bf16(h, W, trans)

    @staticmethod
    def backward(ctx, dy):
        (W,) = ctx.saved_tensors
        return _mm_bf16(dy, W, not ctx.trans), None, None


class Bf16Weight:
    """A base matrix kept in bf16 where torch_ref's forward reads p[name]: `h @ p[name].t()` (Llama, the head),
    `h @ p[name]` (GPT-2's Conv1D), `p[name][ids]` and `p[name][:T]` (embeddings, upcast rows)."""

    def __init__(self, W, trans=False):
        self.W, self.trans = W, trans

    @property
    def shape(self):
        return self.W.shape

    def dim(self):
        return self.W.dim()

    def t(self):
        return Bf16Weight(self.W, not self.trans)

    def __getitem__(self, idx):
        return self.W[idx].float()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") not in ("__matmul__", "matmul") or len(args) != 2 or not isinstance(args[1], cls):
            raise TypeError(f"lora_ref bench: a bf16 base weight is used by {func}, only by h @ W and indexing")
        return Bf16Matmul.apply(args[0], args[1].W, args[1].trans)


def load_bf16_base(dirname):
    """torch_ref's Model with its matrices stored bf16, read tensor by tensor (torch_ref.load reads the whole file
    and converts every tensor to fp32, so a bf16 base would pass through an fp32 copy of the model)."""
    cfg = json.load(open(f"{dirname}/config.json"))
    sd = {}
    with open(f"{dirname}/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            a, b = meta["data_offsets"]
            f.seek(8 + n + a)
            t = torch.frombuffer(bytearray(f.read(b - a)), dtype=R.DT[meta["dtype"]]).reshape(meta["shape"])
            sd[name] = t.to(torch.bfloat16) if t.dim() == 2 else t.float()
    m = R.Model(cfg, sd)
    for name in m.names:
        if m.p[name].dim() == 2:
            m.p[name] = Bf16Weight(m.p[name].detach())
    return m


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    m = load_bf16_base(a.model) if a.base_dtype == "bf16" else R.load(a.model)
    for p in m.parameters():
        p.requires_grad_(False)
    s = 2.0  # alpha = 2r: the scale does not change the work
    g = torch.Generator().manual_seed(0)
    params = []
    for name, _, i, o, gpt2 in modules(m, a.targets.split(",")):
        # PEFT's init: A uniform in +-1/sqrt(in), B zero
        A = torch.nn.Parameter((torch.rand(a.r, i, generator=g) * 2 - 1) / i ** 0.5)
        B = torch.nn.Parameter(torch.zeros(o, a.r))
        W = m.p[name]
        m.p[name] = LoraProduct(W, A, B, s) if gpt2 else LoraWeight(W, A, B, s)
        params += [A, B]
    V = m.cfg["vocab_size"]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, V, (a.batch_size, a.seq))
    eps = torch.full((a.batch_size,), 0.1)

    def step():
        loss = R.smoothed_ce(m(ids), ids, eps, "paper")
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    for _ in range(a.warmup - 1):
        step()
    ts = []
    for _ in range(a.steps):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
    ts.sort()
    med = ts[len(ts) // 2]
    how = (", bf16 base: matrices stored bf16 (read tensor by tensor), upcast to fp32 a block of rows per matmul"
           if a.base_dtype == "bf16" else "")
    print(json.dumps({"engine": f"torch {torch.__version__} + LoRA r {a.r} on {a.targets}{how}", "threads": a.threads,
                      "tokens_per_s": a.batch_size * a.seq / med, "step_ms": med * 1e3, "first_step_ms": first * 1e3,
                      "trainable_params": sum(p.numel() for p in params)}))


def cmd_train(a):
    torch.set_num_threads(1)
    m = R.load(a.model)
    for p in m.parameters():
        p.requires_grad_(False)
        if a.base_dtype == "bf16" and p.dim() == 2:
            p.data = p.data.to(torch.bfloat16).float()  # the base's matrices rounded to bf16, computed in fp32
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
    t.add_argument("--base-dtype", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the base's matrices (linear weights, embeddings, head) rounded with W.to(torch.bfloat16).float()")
    b = sub.add_parser("bench")
    b.add_argument("--model", required=True)
    b.add_argument("--batch-size", type=int, default=1)
    b.add_argument("--seq", type=int, default=512)
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--warmup", type=int, default=3, help="untimed steps first (torch_ref.py bench: 3)")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--targets", default="q_proj,v_proj")
    b.add_argument("--r", type=int, default=8)
    b.add_argument("--base-dtype", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: the base's matrices stored bf16, upcast to fp32 a block of rows per matmul")
    a = ap.parse_args()
    {"init": cmd_init, "train": cmd_train, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
