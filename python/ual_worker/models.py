"""GPT-2 and the Llama family (llama, mistral, qwen2) in plain PyTorch, with the semantics of src/models/gpt2.ts
and src/models/llama.ts (and the project's reference ../shared/reference/torch_ref.py), loaded from a Hugging Face
checkpoint directory.

Modules are named as in transformers without the body prefix, so parameter keys are HF keys ("h.0.attn.c_attn.weight",
"layers.0.self_attn.q_proj.weight"); `stored` maps each key to the name the checkpoint used, which is the name the
weights and the optimizer state are saved under (the native engine's Tensor.name), so --resume works across engines.
"""
import json
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .errors import WorkerError
from .safetensors import CheckpointTensors

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


@dataclass
class ModelConfig:
    """config.json as the models need it (src/models/config.ts ModelConfig)."""
    model_type: str
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    max_positions: int
    norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    sliding_window: Optional[int]
    raw: Dict[str, object]


def parse_config(raw: Dict[str, object], file: str) -> ModelConfig:
    """Checked at the boundary, with src/models/config.ts's defaults; TypeScript has validated it already, so this
    only refuses what the models below do not implement."""
    def get(key: str, default: object = None) -> object:
        v = raw.get(key)
        if v is None and default is None:
            raise WorkerError("UAL_CHECKPOINT", f'{file}: required key "{key}" is missing', f'add "{key}" to {file}')
        return default if v is None else v

    mt = raw.get("model_type")
    if mt == "gpt2":
        C, H = int(get("n_embd")), int(get("n_head"))
        if raw.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
            raise WorkerError("UAL_CHECKPOINT", f"{file}: activation_function {raw['activation_function']!r} is not supported",
                              "only the tanh-approximate GELU (gelu_new) of GPT-2 is implemented")
        return ModelConfig(
            model_type="gpt2", vocab_size=int(get("vocab_size")), hidden_size=C, num_layers=int(get("n_layer")),
            num_heads=H, num_kv_heads=H, head_dim=C // H, intermediate_size=int(get("n_inner", 4 * C)),
            max_positions=int(get("n_positions", 1024)), norm_eps=float(get("layer_norm_epsilon", 1e-5)), rope_theta=0.0,
            tie_word_embeddings=True, qkv_bias=True, o_bias=True, mlp_bias=True, sliding_window=None, raw=raw)
    if mt not in ("llama", "mistral", "qwen2"):
        raise WorkerError("UAL_CHECKPOINT", f"{file}: model_type {mt!r} is not supported; supported: gpt2, llama, mistral, qwen2",
                          "use a GPT-2, Llama, Mistral or Qwen2 checkpoint")
    rs = raw.get("rope_scaling")
    if isinstance(rs, dict) and rs.get("rope_type", rs.get("type")) != "default":
        raise WorkerError("UAL_CHECKPOINT", f"{file}: rope_scaling {json.dumps(rs)} is not supported",
                          "use a checkpoint without RoPE scaling (plain rope_theta)")
    if raw.get("hidden_act", "silu") != "silu":
        raise WorkerError("UAL_CHECKPOINT", f"{file}: hidden_act {raw['hidden_act']!r} is not supported",
                          "only SiLU (SwiGLU) MLPs are implemented")
    C, H = int(get("hidden_size")), int(get("num_attention_heads"))
    attn_bias = bool(raw.get("attention_bias", False))
    window = raw.get("sliding_window") if mt == "mistral" or (mt == "qwen2" and raw.get("use_sliding_window")) else None
    return ModelConfig(
        model_type=mt, vocab_size=int(get("vocab_size")), hidden_size=C, num_layers=int(get("num_hidden_layers")),
        num_heads=H, num_kv_heads=int(get("num_key_value_heads", H)), head_dim=int(get("head_dim", C // H)),
        intermediate_size=int(get("intermediate_size")), max_positions=int(get("max_position_embeddings", 2048)),
        norm_eps=float(get("rms_norm_eps", 1e-6)), rope_theta=float(get("rope_theta", 10000.0)),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        qkv_bias=mt == "qwen2" or attn_bias,  # Qwen2 always has q/k/v biases and no attention_bias key
        o_bias=mt == "llama" and attn_bias, mlp_bias=mt == "llama" and bool(raw.get("mlp_bias", False)),
        sliding_window=int(window) if window else None, raw=raw)


class Proj(nn.Module):
    """A linear layer stored [out, in] (nn.Linear) or [in, out] (GPT-2's Conv1D), to which an adapter (LoRA) can
    add its output: the model knows nothing about training, as BaseModel.adapters in src/models/model.ts."""

    def __init__(self, in_features: int, out_features: int, bias: bool, in_out: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features, self.in_out = in_features, out_features, in_out
        self.weight = nn.Parameter(torch.empty((in_features, out_features) if in_out else (out_features, in_features)))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.adapter: Optional[nn.Module] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight.t() if self.in_out else self.weight, self.bias)
        return y if self.adapter is None else y + self.adapter(x)


class Embedding(nn.Module):
    """A lookup table left uninitialised (nn.Embedding would fill it with random values only to overwrite them)."""

    def __init__(self, rows: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(rows, size))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: Optional[int]) -> torch.Tensor:
    """Causal attention over (B, H, T, hd); with a sliding window, query i sees keys j with i - j < window (as
    transformers' sliding_window_overlay). Right padding needs no mask: pads come after every real token."""
    T = q.shape[2]
    if HAS_SDPA and window is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    pos = torch.arange(T, device=q.device)
    seen = pos[None, :] <= pos[:, None]  # (T, T): key j visible from query i
    if window is not None:
        seen &= pos[:, None] - pos[None, :] < window
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=seen)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return att.masked_fill(~seen, float("-inf")).softmax(-1) @ v


class CausalLM(nn.Module):
    """What the trainer uses: forward(ids) -> (the final hidden states (B, T, C) after the last norm, the head weight
    (V, C)) for the loss to apply the head itself (fused and chunked, or not: src/models' forwardHidden), the linear
    layers adapters attach to, the base weights under their checkpoint names, and per-block gradient checkpointing."""

    family = ""
    prefix = ""  # the body prefix transformers adds ("transformer.", "model."); lm_head has none

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stored: Dict[str, str] = {}
        self.gradient_checkpointing = False

    def ignored(self, key: str) -> bool:
        """Stored tensors that are not parameters (mask buffers, rotary tables, a tied head's copy)."""
        raise NotImplementedError

    def run_block(self, block: nn.Module, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        """One transformer block; with gradient checkpointing only its input is kept and it reruns in backward."""
        if self.gradient_checkpointing and self.training:
            return checkpoint(block, x, *extra, use_reentrant=False)
        return block(x, *extra)

    def linear_modules(self) -> List[Tuple[str, Proj]]:
        """(key, module) of every linear layer but the head, in module order: LoRA's candidates."""
        return [(k, m) for k, m in self.named_modules() if isinstance(m, Proj) and k != "lm_head"]

    def base_state(self) -> List[Tuple[str, torch.Tensor]]:
        """The base weights under their checkpoint names, in state-dict order (which decides where shards split)."""
        return [(self.stored[k], p) for k, p in self.named_parameters() if ".adapter." not in k]


class Gpt2Block(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        C = c.hidden_size
        self.ln_1 = nn.LayerNorm(C, eps=c.norm_eps)
        self.attn = nn.Module()
        self.attn.c_attn = Proj(C, 3 * C, True, in_out=True)
        self.attn.c_proj = Proj(C, C, True, in_out=True)
        self.ln_2 = nn.LayerNorm(C, eps=c.norm_eps)
        self.mlp = nn.Module()
        self.mlp.c_fc = Proj(C, c.intermediate_size, True, in_out=True)
        self.mlp.c_proj = Proj(c.intermediate_size, C, True, in_out=True)
        self.heads = c.num_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.heads, -1).transpose(1, 2) for t in self.attn.c_attn(self.ln_1(x)).split(C, dim=2))
        x = x + self.attn.c_proj(attend(q, k, v, None).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(CausalLM):
    """Learned positions, pre-LayerNorm blocks, tanh GELU, Conv1D weights [in, out], head tied to wte."""

    family, prefix = "gpt2", "transformer."

    def __init__(self, c: ModelConfig) -> None:
        super().__init__(c)
        self.wte = Embedding(c.vocab_size, c.hidden_size)
        self.wpe = Embedding(c.max_positions, c.hidden_size)
        self.h = nn.ModuleList(Gpt2Block(c) for _ in range(c.num_layers))
        self.ln_f = nn.LayerNorm(c.hidden_size, eps=c.norm_eps)

    def ignored(self, key: str) -> bool:
        return key.endswith(".attn.bias") or key.endswith(".attn.masked_bias") or key == "lm_head.weight"

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for block in self.h:
            x = self.run_block(block, x)
        return self.ln_f(x), self.wte.weight  # (B, T, C), the tied head (V, C)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()  # under bf16 autocast the statistics stay in float32, as transformers keeps them
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE on (B, H, T, hd)."""
    half = t.shape[-1] // 2
    return t * cos + torch.cat([-t[..., half:], t[..., :half]], -1) * sin


class LlamaLayer(nn.Module):
    # registered in transformers' order (self_attn, mlp, norms): the state dict, and so the shards, follow it
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        C, H, KV, hd = c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim
        self.self_attn = nn.Module()
        self.self_attn.q_proj = Proj(C, H * hd, c.qkv_bias)
        self.self_attn.k_proj = Proj(C, KV * hd, c.qkv_bias)
        self.self_attn.v_proj = Proj(C, KV * hd, c.qkv_bias)
        self.self_attn.o_proj = Proj(H * hd, C, c.o_bias)
        self.mlp = nn.Module()
        self.mlp.gate_proj = Proj(C, c.intermediate_size, c.mlp_bias)
        self.mlp.up_proj = Proj(C, c.intermediate_size, c.mlp_bias)
        self.mlp.down_proj = Proj(c.intermediate_size, C, c.mlp_bias)
        self.input_layernorm = RMSNorm(C, c.norm_eps)
        self.post_attention_layernorm = RMSNorm(C, c.norm_eps)
        self.shape = (H, KV, hd)
        self.window = c.sliding_window

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        H, KV, hd = self.shape
        a = self.self_attn
        h = self.input_layernorm(x)
        q = rope(a.q_proj(h).view(B, T, H, hd).transpose(1, 2), cos, sin)
        k = rope(a.k_proj(h).view(B, T, KV, hd).transpose(1, 2), cos, sin).repeat_interleave(H // KV, 1)
        v = a.v_proj(h).view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, 1)
        x = x + a.o_proj(attend(q, k, v, self.window).transpose(1, 2).reshape(B, T, H * hd))
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


class Llama(CausalLM):
    """RMSNorm, RoPE (rope_theta), SwiGLU, grouped-query attention, optional q/k/v bias (qwen2), tied or own head."""

    family, prefix = "llama", "model."

    def __init__(self, c: ModelConfig) -> None:
        super().__init__(c)
        self.embed_tokens = Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(LlamaLayer(c) for _ in range(c.num_layers))
        self.norm = RMSNorm(c.hidden_size, c.norm_eps)
        self.lm_head = None if c.tie_word_embeddings else Proj(c.hidden_size, c.vocab_size, False)

    def ignored(self, key: str) -> bool:
        return key.endswith("rotary_emb.inv_freq") or (self.cfg.tie_word_embeddings and key == "lm_head.weight")

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        hd, T = self.cfg.head_dim, ids.shape[1]
        inv = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, hd, 2, device=ids.device).float() / hd))
        ang = torch.outer(torch.arange(T, device=ids.device).float(), inv)
        ang = torch.cat([ang, ang], -1)
        cos, sin = ang.cos(), ang.sin()
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = self.run_block(layer, x, cos, sin)
        head = self.lm_head.weight if self.lm_head is not None else self.embed_tokens.weight  # (V, C)
        return self.norm(x), head  # (B, T, C)


def load_model(directory: str, device: torch.device) -> CausalLM:
    """config.json + the checkpoint's tensors, every parameter checked for presence and shape, float32 on `device`.
    The model is built uninitialised (untouched host pages), moved to `device`, then filled one tensor at a time,
    so loading never holds the whole model in host memory (eight ranks of a 7B model would need 8 × 28 GB)."""
    file = os.path.join(directory, "config.json")
    try:
        with open(file, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise WorkerError("UAL_CHECKPOINT", f"{file}: cannot read ({e})", "point plan.model at a Hugging Face checkpoint directory")
    cfg = parse_config(raw, file)
    model: CausalLM = (Gpt2(cfg) if cfg.model_type == "gpt2" else Llama(cfg)).to(device)
    params = dict(model.named_parameters())
    ct = CheckpointTensors(directory)
    try:
        unexpected = []
        for name in ct.where:
            key = name[len(model.prefix):] if name.startswith(model.prefix) else name
            if model.ignored(key):
                continue
            if key not in params or key in model.stored:
                unexpected.append(name)
                continue
            if list(ct.shape(name)) != list(params[key].shape):
                raise WorkerError("UAL_CHECKPOINT", f'{ct.source}: tensor "{name}" has shape {ct.shape(name)}, expected '
                                  f"{list(params[key].shape)} from {file}", f"the weights and {file} disagree")
            model.stored[key] = name
        missing = [k for k in params if k not in model.stored]
        if missing or unexpected:
            problems = ([f"missing {missing[:4]}"] if missing else []) + ([f"unexpected {unexpected[:4]}"] if unexpected else [])
            raise WorkerError("UAL_CHECKPOINT", f"{ct.source}: tensors {', '.join(problems)} for a {cfg.model_type} model with this config",
                              f"{file} probably does not match these weights (layers, biases, tie_word_embeddings, model_type?)")
        with torch.no_grad():
            for key, name in model.stored.items():
                params[key].copy_(ct.read(name))
    finally:
        ct.close()
    return model
