"""LoRA (Hu et al. 2021, arXiv 2106.09685) as src/train/lora.ts does it: frozen base, y = base(x) + (alpha/r)·B(A(dropout(x)))
on the chosen linear layers, PEFT's file layout and names, and the merge W += (alpha/r)·B·A.

Parameter names are the native engine's (`<stored module>.lora_A.weight`), so optimizer state moves between engines.
"""
import json
import os
from typing import Dict, List, Tuple

import torch
from torch import nn

from .atomic import write_files_atomic
from .errors import WorkerError
from .models import CausalLM, Proj
from .safetensors import SafetensorsFile, safetensors_writer

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# GPT-2 fuses q, k and v in c_attn, so a Llama-style target list maps onto GPT-2's modules (src/train/lora.ts)
GPT2_EQUIVALENT = {"q_proj": "attn.c_attn", "k_proj": "attn.c_attn", "v_proj": "attn.c_attn", "o_proj": "attn.c_proj",
                   "gate_proj": "mlp.c_fc", "up_proj": "mlp.c_fc", "down_proj": "mlp.c_proj"}


class LoraPath(nn.Module):
    """The trainable low-rank path one Proj adds to its output; A is [r, in] and B [out, r] for either layout."""

    def __init__(self, in_features: int, out_features: int, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.lora_A = nn.Linear(in_features, r, bias=False)
        self.lora_B = nn.Linear(r, out_features, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora_B(self.lora_A(self.dropout(x))) * self.scale


def select_modules(model: CausalLM, targets: List[str]) -> List[Tuple[str, Proj]]:
    """The linear layers the targets name (a key equal to the target or ending in "."+target), in target order."""
    modules = model.linear_modules()
    chosen: Dict[str, Proj] = {}
    for t0 in targets:
        t = GPT2_EQUIVALENT.get(t0, t0) if model.family == "gpt2" else t0
        hits = [(k, m) for k, m in modules if k == t or k.endswith("." + t)]
        if not hits:
            names = sorted({".".join(k.split(".")[-2:]) for k, _ in modules})
            raise WorkerError("UAL_USAGE", f'--lora-targets: no linear layer named "{t0}" in this {model.cfg.model_type} model',
                              f"choose from: {', '.join(names)}")
        for k, m in hits:
            chosen.setdefault(k, m)
    return list(chosen.items())


class Lora:
    """Adapters attached to a model; the base weights are frozen."""

    def __init__(self, model: CausalLM, r: int, alpha: float, dropout: float, targets: List[str]) -> None:
        self.model, self.r, self.alpha, self.dropout = model, r, alpha, dropout
        for p in model.parameters():
            p.requires_grad_(False)
        # (stored module name, module key, module) per adapter
        self.modules: List[Tuple[str, str, Proj]] = []
        for key, proj in select_modules(model, targets):
            proj.adapter = LoraPath(proj.in_features, proj.out_features, r, alpha, dropout)
            self.modules.append((model.stored[key + ".weight"][: -len(".weight")], key, proj))

    def named_parameters(self) -> List[Tuple[str, nn.Parameter]]:
        """The trainable tensors under the native engine's names."""
        return [(f"{stored}.{ab}.weight", getattr(proj.adapter, ab).weight)
                for stored, _, proj in self.modules for ab in ("lora_A", "lora_B")]

    def load(self, directory: str) -> None:
        """A and B from a PEFT adapter (TypeScript writes the run's starting adapter there)."""
        f = SafetensorsFile(os.path.join(directory, ADAPTER_WEIGHTS))
        try:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    peft = "base_model.model." + name
                    if peft not in f.entries:
                        raise WorkerError("UAL_CHECKPOINT", f"{f.file}: tensor {peft} is missing",
                                          "the adapter was made for a different model or target list")
                    t = f.read(peft)
                    if t.shape != p.shape:
                        raise WorkerError("UAL_CHECKPOINT", f"{f.file}: tensor {peft} has shape {list(t.shape)}, expected {list(p.shape)}",
                                          "the adapter was made for a different model size or rank")
                    p.copy_(t)
        finally:
            f.close()

    def save(self, directory: str, base_model: str) -> None:
        """PEFT layout, fp32, the same adapter_config.json keys the native engine writes."""
        tensors = [("base_model.model." + n, p) for n, p in self.named_parameters()]
        config = {
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model, "r": self.r,
            "lora_alpha": self.alpha, "lora_dropout": self.dropout,
            "target_modules": list(dict.fromkeys(key.split(".")[-1] for _, key, _ in self.modules)), "bias": "none",
            "fan_in_fan_out": self.model.family == "gpt2", "inference_mode": True, "init_lora_weights": True,
            "modules_to_save": None, "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {},
            "alpha_pattern": {}, "use_rslora": False, "use_dora": False, "revision": None,
        }
        text = json.dumps(config, indent=2) + "\n"
        write_files_atomic([(os.path.join(directory, ADAPTER_WEIGHTS), safetensors_writer(tensors, "F32", {"format": "pt"})),
                            (os.path.join(directory, ADAPTER_CONFIG), lambda f: f.write(text.encode("utf-8")))])

    def merge(self) -> None:
        """Fold the adapters into the base weights (transposed for GPT-2's [in, out] Conv1D) and detach them."""
        with torch.no_grad():
            for _, _, proj in self.modules:
                path = proj.adapter
                delta = path.scale * (path.lora_B.weight @ path.lora_A.weight)  # [out, in]
                proj.weight += delta.t() if proj.in_out else delta
                proj.adapter = None
