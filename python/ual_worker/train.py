"""The worker's training loop: one process per rank under torch.distributed.run, DDP over gloo (CPU) or NCCL (CUDA),
with the native engine's semantics (src/train/trainer.ts): the plan's step -> rows order, token-weighted smoothed
cross-entropy over all ranks and micro-steps, AdamW with the decay rule, global-norm clipping, the lr of each step,
checkpoints and final weights in the run-directory layout of src/train/checkpoint.ts. Rank 0 alone writes files
and the JSON progress lines on stdout.
"""
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .atomic import write_dir_atomic, write_files_atomic
from .errors import WorkerError
from .lora import Lora
from .loss import fused_ce_sum, unfused_ce_sum
from .models import CausalLM, load_model
from .plan import Plan, load_plan
from .safetensors import SafetensorsFile, safetensors_writer, save_weights

Named = List[Tuple[str, torch.nn.Parameter]]


def emit(event: str, **fields: object) -> None:
    """One progress line; only rank 0 calls it. Flushed per line: TypeScript turns each into a metric as it comes."""
    print(json.dumps({"event": event, **fields}), flush=True)


def pick_device(plan: Plan, local_rank: int) -> Tuple[torch.device, str]:
    """--device auto|cpu|cuda and --dtype, checked before any process group exists; CUDA is the same code path with
    another device and backend."""
    has_cuda = torch.cuda.is_available()
    if plan.device == "cuda" and not has_cuda:
        raise WorkerError("UAL_USAGE", f"--device cuda: torch {torch.__version__} sees no CUDA device here (torch.cuda.is_available() is false)",
                          "use --device cpu (or auto), or run on a machine with a GPU and a CUDA build of torch")
    cuda = plan.device == "cuda" or (plan.device == "auto" and has_cuda)
    if plan.dtype == "bf16" and not cuda:
        raise WorkerError("UAL_USAGE", "--dtype bf16 is autocast on CUDA; on the CPU the worker trains in fp32 only",
                          "use --dtype fp32, or --device cuda on a GPU machine")
    if not cuda:
        return torch.device("cpu"), "gloo"
    if local_rank >= torch.cuda.device_count():
        raise WorkerError("UAL_USAGE", f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}",
                          "set --nproc-per-node to at most the number of GPUs per node")
    if plan.dtype == "bf16" and not torch.cuda.is_bf16_supported():
        raise WorkerError("UAL_USAGE", f"--dtype bf16: {torch.cuda.get_device_name(local_rank)} has no bfloat16 support", "use --dtype fp32")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank), "nccl"


@dataclass
class Batch:
    ids: torch.Tensor  # (b, T) int64, right-padded with pad_id
    labels: torch.Tensor  # (b, T) int64, -100 on padding
    eps: torch.Tensor  # (b,)
    targets: int  # target tokens after the causal shift
    tokens: int  # real (non-pad) input tokens
    teacher: Optional[Tuple[torch.Tensor, torch.Tensor]]  # ids (b, T, k) int64, probs (b, T, k); zeros on padding


def collate(plan: Plan, rows: List[int]) -> Batch:
    """src/data/collate.ts: pad each row to the longest of this rank's slice with pad_id and label -100 (and, with a
    teacher target, its per-position top-k)."""
    starts = [int(plan.offsets[i]) for i in rows]
    lens = [int(plan.offsets[i + 1]) - s for i, s in zip(rows, starts)]
    T, k = max(lens), plan.teacher_k
    ids = torch.full((len(rows), T), plan.pad_id, dtype=torch.int64)
    labels = torch.full((len(rows), T), -100, dtype=torch.int64)
    teacher = (torch.zeros((len(rows), T, k), dtype=torch.int64), torch.zeros((len(rows), T, k))) if k else None
    for j, (s, n) in enumerate(zip(starts, lens)):
        ids[j, :n] = plan.tokens[s:s + n]
        labels[j, :n] = plan.labels[s:s + n]
        if teacher:
            teacher[0][j, :n] = plan.teacher_ids[s * k:(s + n) * k].view(n, k)
            teacher[1][j, :n] = plan.teacher_probs[s * k:(s + n) * k].view(n, k)
    return Batch(ids, labels, plan.eps[rows], int((labels[:, 1:] != -100).sum()), sum(lens), teacher)


def build(plan: Plan, device: torch.device) -> Tuple[CausalLM, Optional[Lora], Named]:
    """The model (a full fine-tune resumes from plan.model, the checkpoint), LoRA from plan.lora.init (TypeScript
    writes the run's starting adapter there, the resumed one included), and the trainable tensors by name."""
    model = load_model(plan.model, device)
    if model.cfg.vocab_size != plan.vocab_size:
        raise WorkerError("UAL_DATA_BAD_FILE", f"{plan.file}: vocab_size {plan.vocab_size}, but {plan.model} has {model.cfg.vocab_size}",
                          "run `ual train --engine torch` again: the plan was written for another model")
    longest = int((plan.offsets[1:] - plan.offsets[:-1]).max())
    if model.family == "gpt2" and longest > model.cfg.max_positions:
        raise WorkerError("UAL_USAGE", f"a row of {longest} tokens is longer than the model's {model.cfg.max_positions} positions (n_positions)",
                          f"use --max-length {model.cfg.max_positions} or less")
    model.gradient_checkpointing = plan.gradient_checkpointing
    lora = None
    if plan.lora:
        lora = Lora(model, plan.lora.r, plan.lora.alpha, plan.lora.dropout, plan.lora.targets)
        lora.load(plan.lora.init)
        named = lora.named_parameters()
    else:
        named = [(model.stored[k], p) for k, p in model.named_parameters()]
    model.to(device).train()  # the adapters; the base is there already
    return model, lora, named


class Objective(torch.nn.Module):
    """What DDP runs per micro-step: the model's final hidden states through the head and the smoothed loss, summed
    over the target tokens; the loss is part of the forward DDP wraps, so autocast covers forward and loss alike."""

    def __init__(self, model: CausalLM, style: str, fused: bool) -> None:
        super().__init__()
        self.model, self.style, self.loss = model, style, fused_ce_sum if fused else unfused_ce_sum

    def forward(self, ids: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor,
                teacher_ids: Optional[torch.Tensor] = None, teacher_probs: Optional[torch.Tensor] = None) -> torch.Tensor:
        hidden, head = self.model(ids)
        teacher = (teacher_ids, teacher_probs) if teacher_ids is not None else None
        return self.loss(hidden, head, labels, eps, self.style, teacher=teacher)


def make_optimizer(plan: Plan, named: Named) -> torch.optim.AdamW:
    """torch's AdamW; no decay on 1-D tensors (biases, norm weights) unless decay_all (decayFor in trainer.ts)."""
    decay = [p for _, p in named if plan.decay_all or p.dim() > 1]
    rest = [p for _, p in named if not (plan.decay_all or p.dim() > 1)]
    groups = [{"params": decay, "weight_decay": plan.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=plan.lr[plan.first], betas=plan.betas, eps=plan.adam_eps)


def load_optimizer(opt: torch.optim.AdamW, named: Named, directory: str) -> None:
    """The moments by parameter name and the Adam step from a checkpoint either engine wrote."""
    f = SafetensorsFile(os.path.join(directory, "optimizer.safetensors"))
    try:
        step = f.metadata.get("step", "")
        if not step.isdigit():
            raise WorkerError("UAL_CHECKPOINT", f"{f.file}: no Adam step in the metadata", "resume from a checkpoint written by `ual train`")
        for name, p in named:
            moments = {}
            for key in (f"exp_avg.{name}", f"exp_avg_sq.{name}"):
                if key not in f.entries or f.entries[key][1] != list(p.shape):
                    raise WorkerError("UAL_CHECKPOINT", f"{f.file}: no optimizer state {key} of shape {list(p.shape)}",
                                      "resume with the same model and LoRA settings the checkpoint was made with")
                moments[key.split(".")[0]] = f.read(key).to(p.device)
            opt.state[p] = {"step": torch.tensor(float(step)), **moments}
    finally:
        f.close()


class Trainer:
    """One rank's training: the model wrapped in DDP, its trainable tensors under their native names, AdamW."""

    def __init__(self, plan: Plan, rank: int, world: int, device: torch.device) -> None:
        self.plan, self.rank, self.world, self.device = plan, rank, world, device
        self.model, self.lora, self.named = build(plan, device)
        objective = Objective(self.model, plan.eps_style, plan.fused_loss)
        self.ddp = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
        self.opt = make_optimizer(plan, self.named)
        if plan.resume:
            load_optimizer(self.opt, self.named, plan.resume)
        # bf16: autocast around forward and loss on the rank's device (pick_device allows it on CUDA only)
        self.autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=plan.dtype == "bf16")

    def step(self, k: int) -> Tuple[float, float, int]:
        """Optimizer step k (0-based): returns the step's loss and gradient norm (both over all ranks) and its tokens."""
        plan, world = self.plan, self.world
        ga, mb, b = plan.grad_accum, plan.micro_batch, plan.micro_batch // world
        # LoRA dropout masks of step k on this rank come from (seed, k, rank): a resumed run draws the same ones
        torch.manual_seed((plan.seed * 7919 + k + 1) * 4099 + self.rank)
        lo, hi = self.rank * b, (self.rank + 1) * b
        batches = [collate(plan, plan.order[s * mb + lo: s * mb + hi].tolist()) for s in range(k * ga, (k + 1) * ga)]
        # the step's target count over all ranks and micro-steps, known before the first backward: each micro-step's
        # summed loss is divided by it, and multiplied by the world size to undo DDP's averaging of gradients
        counts = torch.tensor([sum(x.targets for x in batches), sum(x.tokens for x in batches)], dtype=torch.float64, device=self.device)
        dist.all_reduce(counts)
        targets, tokens = counts.tolist()
        scale = world / targets if targets > 0 else 0.0
        self.opt.zero_grad(set_to_none=True)
        local = 0.0
        for a, batch in enumerate(batches):
            with self.ddp.no_sync() if a < ga - 1 else nullcontext():
                with self.autocast():
                    teacher = [t.to(self.device) for t in batch.teacher] if batch.teacher else []
                    loss = self.ddp(batch.ids.to(self.device), batch.labels.to(self.device), batch.eps.to(self.device), *teacher)
                (loss * scale).backward()
            local += loss.item()
        total = torch.tensor([local], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        loss_value = total.item() / targets if targets > 0 else 0.0
        params = [p for _, p in self.named]
        norm = float(torch.nn.utils.clip_grad_norm_(params, plan.max_grad_norm if plan.max_grad_norm > 0 else math.inf))
        if not (math.isfinite(loss_value) and math.isfinite(norm)):
            what = f"loss is {loss_value}" if not math.isfinite(loss_value) else f"gradient norm is {norm}"
            raise WorkerError("UAL_TRAIN_NONFINITE", f"step {k + 1}: {what}; stopped before the update, no model was written",
                              "lower --lr, set --max-grad-norm 1.0, or look for extreme rows in the data; metrics.jsonl has the steps before it")
        for g in self.opt.param_groups:
            g["lr"] = plan.lr[k]
        self.opt.step()
        return loss_value, norm, int(tokens)

    def save(self, directory: str) -> None:
        """The trained weights: the PEFT adapter with LoRA, else the model in HF layout."""
        if self.lora:
            self.lora.save(directory, self.plan.model)
        else:
            save_weights(directory, self.model.base_state(), self.plan.save_dtype, self.plan.max_shard_size, self.model.cfg.raw)

    def checkpoint(self, step: int) -> str:
        """checkpoints/step-N: the weights, optimizer.safetensors (exp_avg.<name>, exp_avg_sq.<name>, metadata step)
        and trainer_state.json, built in a temp directory and renamed: complete or absent."""
        target = os.path.join(self.plan.out, "checkpoints", f"step-{step}")
        states = [self.opt.state[p] for _, p in self.named]
        moments = [(f"exp_avg.{n}", s["exp_avg"]) for (n, _), s in zip(self.named, states)]
        moments += [(f"exp_avg_sq.{n}", s["exp_avg_sq"]) for (n, _), s in zip(self.named, states)]
        adam = {"step": str(int(states[0]["step"]))}
        state = json.dumps({"step": step, "config": self.plan.config}, indent=2) + "\n"

        def fill(tmp: str) -> None:
            self.save(tmp)
            write_files_atomic([(os.path.join(tmp, "optimizer.safetensors"), safetensors_writer(moments, "F32", adam)),
                                (os.path.join(tmp, "trainer_state.json"), lambda f: f.write(state.encode("utf-8")))])

        write_dir_atomic(target, fill)
        return target

    def finish(self) -> None:
        """The final weights into the run directory; with LoRA and merge, the merged full model beside the adapter."""
        self.save(self.plan.out)
        if self.lora and self.plan.merge:
            self.lora.merge()
            save_weights(self.plan.out, self.model.base_state(), self.plan.save_dtype, self.plan.max_shard_size, self.model.cfg.raw)


def train(plan_file: str) -> None:
    """Everything one rank does; rank 0 alone writes files and progress."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise WorkerError("UAL_USAGE", "the worker runs under torch.distributed.run, which sets RANK and WORLD_SIZE",
                          f"python -m ual_worker.launch --standalone --nproc_per_node 1 -m ual_worker {plan_file}")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    plan = load_plan(plan_file, world)
    if plan.threads > 0:
        torch.set_num_threads(plan.threads)
    device, backend = pick_device(plan, int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    trainer = Trainer(plan, rank, world, device)
    if rank == 0:
        emit("start", world_size=world, device=device.type, dtype=plan.dtype, torch=torch.__version__, backend=backend,
             threads=torch.get_num_threads())
    t0 = time.perf_counter()
    for k in range(plan.first, plan.steps):
        ts = time.perf_counter()
        loss, norm, tokens = trainer.step(k)
        if rank == 0:
            now = time.perf_counter()
            emit("step", step=k + 1, loss=loss, lr=plan.lr[k], grad_norm=norm, tokens=tokens,
                 tokens_per_s=tokens / (now - ts), elapsed_s=now - t0)
            if plan.save_every > 0 and (k + 1) % plan.save_every == 0 and k + 1 < plan.steps:
                emit("checkpoint", step=k + 1, dir=trainer.checkpoint(k + 1))
    if rank == 0:
        trainer.finish()
        emit("saved", dir=plan.out)
        emit("done")
    # every rank waits here for rank 0's save, so the ranks tear gloo down together: a rank that destroyed its group
    # while rank 0 was still writing, and then lost rank 0, could hang in torch 1.13 (seen in CI: rank 1 blocked after
    # rank 0 had exited, the job never ending)
    dist.barrier()
    dist.destroy_process_group()
