"""<out>/engine/plan.json and its binary arrays, read and checked before anything trains.

TypeScript writes them (the contract of issue 12): tokens.i32 / labels.i32 (rows concatenated), offsets.i64 (N+1
row starts), eps.f32 (each row's epsilon), order.i32 (the rows of every micro-step, all ranks together); with
smooth_target "teacher" also teacher_ids.i32 / teacher_probs.f32 (teacher_k entries per token of tokens.i32: the
renormalised top-k of the token at that position, zeros where it is not a target; issue 13). The arrays
are memory-mapped (torch.from_file), so a large dataset costs no copy; every value the training indexes with is
checked here, so the loop can trust them.
"""
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from .errors import WorkerError, plan_error

ARRAYS = {"tokens": ("tokens.i32", torch.int32), "labels": ("labels.i32", torch.int32),
          "offsets": ("offsets.i64", torch.int64), "eps": ("eps.f32", torch.float32), "order": ("order.i32", torch.int32),
          "teacher_ids": ("teacher_ids.i32", torch.int32), "teacher_probs": ("teacher_probs.f32", torch.float32)}


@dataclass
class LoraPlan:
    r: int
    alpha: float
    dropout: float
    targets: List[str]
    init: str


@dataclass
class Plan:
    file: str
    model: str
    out: str
    first: int
    steps: int
    grad_accum: int
    micro_batch: int
    eps_style: str
    teacher_k: int  # top-k entries per position of a teacher target; 0 = uniform
    lr: List[float]
    weight_decay: float
    decay_all: bool
    betas: Tuple[float, float]
    adam_eps: float
    max_grad_norm: float
    seed: int
    lora: Optional[LoraPlan]
    merge: bool
    save_every: int
    save_dtype: str
    max_shard_size: int
    gradient_checkpointing: bool
    fused_loss: bool
    threads: int
    device: str
    dtype: str
    resume: Optional[str]
    pad_id: int
    config: Dict[str, Any]
    rows: int
    vocab_size: int
    tokens: torch.Tensor
    labels: torch.Tensor
    offsets: torch.Tensor
    eps: torch.Tensor
    order: torch.Tensor
    teacher_ids: Optional[torch.Tensor]  # (total * teacher_k,) with smooth_target "teacher"
    teacher_probs: Optional[torch.Tensor]


class _Fields:
    """Typed access to one JSON object; every error names the file and the key."""

    def __init__(self, raw: Any, file: str, where: str = "") -> None:
        if not isinstance(raw, dict):
            raise plan_error(f'{file}: {json.dumps(where[:-1]) if where else "the plan"} is not a JSON object')
        self.raw, self.file, self.where = raw, file, where

    def _get(self, key: str, ok: bool, want: str) -> Any:
        if key not in self.raw:
            raise plan_error(f'{self.file}: required key "{self.where}{key}" is missing')
        if not ok:
            raise plan_error(f'{self.file}: "{self.where}{key}" must be {want}, got {json.dumps(self.raw[key])}')
        return self.raw[key]

    def int(self, key: str, lo: int = 0) -> int:
        v = self.raw.get(key)
        return self._get(key, type(v) is int and v >= lo, f"an integer >= {lo}")

    def num(self, key: str, lo: float = 0.0, hi: float = math.inf) -> float:
        v = self.raw.get(key)
        ok = type(v) in (int, float) and math.isfinite(v) and lo <= v < hi
        return float(self._get(key, ok, f"a number in [{lo}, {hi})"))

    def bool(self, key: str) -> bool:
        return self._get(key, type(self.raw.get(key)) is bool, "true or false")

    def choice(self, key: str, *values: str) -> str:
        return self._get(key, self.raw.get(key) in values, " or ".join(json.dumps(v) for v in values))

    def path(self, key: str, nullable: bool = False) -> Optional[str]:
        v = self.raw.get(key)
        if nullable and key in self.raw and v is None:
            return None
        return self._get(key, isinstance(v, str) and os.path.isabs(v), "an absolute path")


def _array(directory: str, name: str, count: int) -> torch.Tensor:
    """A little-endian array file of exactly `count` values, memory-mapped."""
    fname, dtype = ARRAYS[name]
    path = os.path.join(directory, fname)
    width = torch.empty(0, dtype=dtype).element_size()
    size = os.path.getsize(path) if os.path.exists(path) else -1
    if size != count * width:
        have = "is missing" if size < 0 else f"has {size} bytes"
        raise plan_error(f"{path} {have}; the plan needs {count} values ({count * width} bytes)")
    return torch.from_file(path, shared=False, size=count, dtype=dtype)


def load_plan(file: str, world_size: int) -> Plan:
    """Read plan.json and its arrays; everything the worker relies on is checked, with the key or file named."""
    try:
        with open(file, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise plan_error(f"{file}: cannot read ({e.strerror})")
    except ValueError as e:
        raise plan_error(f"{file}: not valid JSON ({e})")
    p = _Fields(raw, file)
    if raw.get("version") != 1:
        raise plan_error(f'{file}: "version" is {json.dumps(raw.get("version"))}; this worker reads version 1',
                         "use the worker of the same ual checkout as the TypeScript that wrote the plan")
    steps, grad_accum, micro_batch = p.int("steps", 1), p.int("grad_accum", 1), p.int("micro_batch", 1)
    if micro_batch % world_size:
        raise WorkerError("UAL_USAGE", f"--batch-size {micro_batch} is not divisible by the world size {world_size} "
                          "(rows per micro-step are split evenly among the ranks)",
                          f"use a --batch-size that is a multiple of {world_size}, or another number of processes")
    first = p.int("first")
    if first >= steps:
        raise plan_error(f'{file}: "first" {first} must be below "steps" {steps}')
    lr = raw.get("lr")
    if not (isinstance(lr, list) and len(lr) == steps and all(type(x) in (int, float) and math.isfinite(x) and x >= 0 for x in lr)):
        raise plan_error(f'{file}: "lr" must be {steps} finite numbers >= 0 (one per optimizer step)')
    teacher = "smooth_target" in raw and p.choice("smooth_target", "uniform", "teacher") == "teacher"
    teacher_k = p.int("teacher_k", 1) if teacher else 0
    adam = _Fields(raw.get("adam"), file, "adam.")
    lora = None
    if raw.get("lora") is not None:
        lf = _Fields(raw["lora"], file, "lora.")
        targets = raw["lora"].get("targets")
        if not (isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets)):
            raise plan_error(f'{file}: "lora.targets" must be a non-empty list of module names')
        lora = LoraPlan(lf.int("r", 1), lf.num("alpha"), lf.num("dropout", 0.0, 1.0), targets, lf.path("init"))
    config = raw.get("config")
    if not isinstance(config, dict):
        raise plan_error(f'{file}: "config" must be the TrainConfig object')
    rows, vocab = p.int("rows", 1), p.int("vocab_size", 1)
    directory = os.path.dirname(file)
    offsets = _array(directory, "offsets", rows + 1)
    total = int(offsets[-1])
    lengths = offsets[1:] - offsets[:-1]
    if int(offsets[0]) != 0 or bool((lengths < 1).any()):
        raise plan_error(f"{directory}/offsets.i64: row starts must begin at 0 and increase (every row has a token)")
    plan = Plan(
        file=file, model=p.path("model"), out=p.path("out"), first=first, steps=steps, grad_accum=grad_accum,
        micro_batch=micro_batch, eps_style=p.choice("eps_style", "paper", "hf"), teacher_k=teacher_k, lr=[float(x) for x in lr],
        weight_decay=p.num("weight_decay"), decay_all=p.bool("decay_all"),
        betas=(adam.num("beta1", 0.0, 1.0), adam.num("beta2", 0.0, 1.0)), adam_eps=adam.num("eps"),
        max_grad_norm=p.num("max_grad_norm"), seed=p.int("seed"), lora=lora, merge=p.bool("merge"),
        save_every=p.int("save_every"), save_dtype=p.choice("save_dtype", "fp32", "bf16", "fp16"),
        max_shard_size=p.int("max_shard_size", 1), gradient_checkpointing=p.bool("gradient_checkpointing"),
        fused_loss=p.bool("fused_loss"), threads=p.int("threads"),
        device=p.choice("device", "auto", "cpu", "cuda"), dtype=p.choice("dtype", "fp32", "bf16"),
        resume=p.path("resume", nullable=True), pad_id=p.int("pad_id"), config=config, rows=rows, vocab_size=vocab,
        tokens=_array(directory, "tokens", total), labels=_array(directory, "labels", total), offsets=offsets,
        eps=_array(directory, "eps", rows), order=_array(directory, "order", steps * grad_accum * micro_batch),
        teacher_ids=_array(directory, "teacher_ids", total * teacher_k) if teacher_k else None,
        teacher_probs=_array(directory, "teacher_probs", total * teacher_k) if teacher_k else None)
    _check_values(plan, directory)
    return plan


def _check_values(plan: Plan, directory: str) -> None:
    """Ids index the embedding and rows index the arrays unchecked in the loop: range-check them once here."""
    V = plan.vocab_size
    if plan.pad_id >= V or int(plan.tokens.min()) < 0 or int(plan.tokens.max()) >= V:
        raise plan_error(f"{directory}/tokens.i32: token ids (and pad_id) must be in [0, {V})")
    lab = plan.labels
    if bool(((lab != -100) & ((lab < 0) | (lab >= V))).any()):
        raise plan_error(f"{directory}/labels.i32: labels must be -100 or in [0, {V})")
    if not bool(((plan.eps >= 0) & (plan.eps < 1)).all()):
        raise plan_error(f"{directory}/eps.f32: every epsilon must be in [0, 1)")
    if int(plan.order.min()) < 0 or int(plan.order.max()) >= plan.rows:
        raise plan_error(f"{directory}/order.i32: row indices must be in [0, {plan.rows})")
    if plan.teacher_ids is not None and (int(plan.teacher_ids.min()) < 0 or int(plan.teacher_ids.max()) >= V):
        raise plan_error(f"{directory}/teacher_ids.i32: teacher token ids must be in [0, {V})")
    if plan.teacher_probs is not None and not bool((torch.isfinite(plan.teacher_probs) & (plan.teacher_probs >= 0)).all()):
        raise plan_error(f"{directory}/teacher_probs.f32: teacher probabilities must be finite and >= 0")
