"""safetensors I/O of our own (the format is a little-endian u64 header length, a JSON header, raw tensor bytes):
read F32/F16/BF16/F64 as float32 from single files and sharded checkpoints, write F32/F16/BF16 byte-for-byte as
src/models/safetensors.ts does, and save a model's weights sharded as transformers' save_pretrained splits them.
"""
import ctypes
import json
import mmap
import os
import re
import sys
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple

import torch

from .atomic import write_files_atomic
from .errors import WorkerError

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
READ_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
WIDTH = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
# --save-dtype: the stored dtype, torch's dtype, and config.json's torch_dtype name (src/models/shards.ts SAVE_DTYPES)
SAVE_DTYPES = {"fp32": ("F32", torch.float32, "float32"), "bf16": ("BF16", torch.bfloat16, "bfloat16"),
               "fp16": ("F16", torch.float16, "float16")}
_CHUNK = 1 << 24  # bytes per write call: a tensor goes out without a second copy of itself in memory


def _bad(file: str, problem: str) -> WorkerError:
    return WorkerError("UAL_CHECKPOINT", f"{file}: not a valid safetensors file: {problem}",
                       "the file is corrupt or not safetensors; re-download it or save the checkpoint again")


class SafetensorsFile:
    """One .safetensors file, memory-mapped (copy-on-write, so torch.frombuffer gets a writable buffer); tensors
    are read one at a time as float32 copies, so loading never holds a file's bytes twice."""

    def __init__(self, file: str) -> None:
        if sys.byteorder != "little":
            raise WorkerError("UAL_CHECKPOINT", "safetensors I/O needs a little-endian machine")
        self.file = file
        try:
            with open(file, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < 8:
                    raise _bad(file, f"only {size} bytes")
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except OSError as e:
            raise WorkerError("UAL_CHECKPOINT", f"{file}: cannot open ({e.strerror})", "check the checkpoint directory path")
        n = int.from_bytes(self._map[:8], "little")
        if n < 2 or n > size - 8:
            raise _bad(file, f"header length {n} does not fit a {size}-byte file")
        try:
            header = json.loads(self._map[8:8 + n])
        except ValueError as e:
            raise _bad(file, f"header is not JSON ({e})")
        if not isinstance(header, dict):
            raise _bad(file, "header is not a JSON object")
        self.metadata: Dict[str, str] = header.pop("__metadata__", None) or {}
        start, data = 8 + n, size - 8 - n
        self.entries: Dict[str, Tuple[str, List[int], int, int]] = {}
        for name, e in header.items():
            meta = e if isinstance(e, dict) else {}
            dtype, shape, off = meta.get("dtype"), meta.get("shape"), meta.get("data_offsets")
            if dtype not in WIDTH or not isinstance(shape, list) or not isinstance(off, list) or len(off) != 2:
                raise _bad(file, f'tensor "{name}": bad entry {json.dumps(e)}')
            numel = 1
            for s in shape:
                numel *= s
            if not 0 <= off[0] <= off[1] <= data or off[1] - off[0] != numel * WIDTH[dtype]:
                raise _bad(file, f'tensor "{name}": data_offsets {off} do not hold shape {shape} of {dtype} '
                                 f"in {data} bytes of data (truncated?)")
            self.entries[name] = (dtype, shape, start + off[0], numel)

    def read(self, name: str) -> torch.Tensor:
        """The tensor as a float32 copy it owns."""
        dtype, shape, begin, numel = self.entries[name]
        if dtype not in READ_DTYPES:
            raise WorkerError("UAL_CHECKPOINT", f'{self.file}: tensor "{name}" has dtype {dtype}; only '
                              f"{'/'.join(READ_DTYPES)} are read as weights", "convert the checkpoint to float32, float16 or bfloat16")
        if numel == 0:
            return torch.zeros(shape)
        view = torch.frombuffer(self._map, dtype=READ_DTYPES[dtype], count=numel, offset=begin)
        return view.to(torch.float32, copy=True).reshape(shape)

    def close(self) -> None:
        self._map.close()


class CheckpointTensors:
    """The tensors of a checkpoint directory: model.safetensors, or the shards model.safetensors.index.json names."""

    def __init__(self, directory: str) -> None:
        single, index = os.path.join(directory, SAFETENSORS_FILE), os.path.join(directory, SAFETENSORS_INDEX)
        self.files: List[SafetensorsFile] = []
        self.where: Dict[str, SafetensorsFile] = {}
        if os.path.exists(single):
            self.source = single
            self._add(SafetensorsFile(single), None)
        elif os.path.exists(index):
            self.source = index
            try:
                with open(index, encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
                assert isinstance(weight_map, dict)
            except (ValueError, KeyError, TypeError, AssertionError) as e:
                raise WorkerError("UAL_CHECKPOINT", f"{index}: no valid \"weight_map\" ({e})", "re-download or re-save the checkpoint")
            by_shard: Dict[str, List[str]] = {}
            for name, shard in weight_map.items():
                by_shard.setdefault(shard, []).append(name)
            for shard, names in by_shard.items():
                path = os.path.join(directory, os.path.basename(shard))
                if not os.path.exists(path):
                    raise WorkerError("UAL_CHECKPOINT", f'{index}: shard {shard} (holding "{names[0]}") is missing from {directory}',
                                      "download every shard listed in the index")
                self._add(SafetensorsFile(path), names)
        else:
            raise WorkerError("UAL_CHECKPOINT", f"{directory}: no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX}",
                              "point --model at a Hugging Face checkpoint directory, or create one with \"ual init\"")

    def _add(self, f: SafetensorsFile, names: Optional[List[str]]) -> None:
        self.files.append(f)
        for name in names if names is not None else f.entries:
            if name not in f.entries:
                raise WorkerError("UAL_CHECKPOINT", f'{self.source}: tensor "{name}" is listed for {f.file}, which does not hold it',
                                  "re-download the shard; the index and the shard disagree")
            self.where[name] = f

    def shape(self, name: str) -> List[int]:
        return self.where[name].entries[name][1]

    def read(self, name: str) -> torch.Tensor:
        return self.where[name].read(name)

    def close(self) -> None:
        for f in self.files:
            f.close()


def safetensors_writer(tensors: Sequence[Tuple[str, torch.Tensor]], dtype: str = "F32",
                       metadata: Optional[Dict[str, str]] = None):
    """A function writing one .safetensors file: names sorted, __metadata__ first, header space-padded to a
    multiple of 8 (json.dumps' spacing is the native writer's, so the same tensors give the same bytes)."""
    tdtype = READ_DTYPES[dtype]
    ordered = sorted(tensors, key=lambda nt: nt[0])
    header: Dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, t in ordered:
        n = t.numel() * WIDTH[dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-len(raw) % 8)

    def fill(f: BinaryIO) -> None:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for _, t in ordered:
            c = t.detach().to("cpu", tdtype).contiguous()
            ptr, n = c.data_ptr(), c.numel() * WIDTH[dtype]
            for i in range(0, n, _CHUNK):
                f.write(ctypes.string_at(ptr + i, min(_CHUNK, n - i)))

    return fill


def plan_shards(sizes: Sequence[Tuple[str, int]], max_bytes: int) -> List[List[str]]:
    """transformers' split (src/models/shards.ts planShards): a shard closes when the next tensor would take it past
    max_bytes; a tensor larger than max_bytes gets a shard of its own where it occurs."""
    shards: List[List[str]] = []
    cur: List[str] = []
    size = 0
    for name, n in sizes:
        if n > max_bytes:
            shards.append([name])
            continue
        if size + n > max_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(name)
        size += n
    if cur:
        shards.append(cur)
    return shards


def _is_weight_file(f: str) -> bool:
    return f in (SAFETENSORS_FILE, SAFETENSORS_INDEX) or re.fullmatch(r"model-\d{5}-of-\d{5}\.safetensors", f) is not None


def save_weights(directory: str, tensors: List[Tuple[str, torch.Tensor]], save_dtype: str, max_shard_size: int,
                 config: Dict[str, object]) -> None:
    """A model's weights in HF layout (state-dict order decides the shards) plus config.json whose torch_dtype
    follows the saved dtype; the set is renamed into place together (index last), then the weight files of an
    earlier save that the new set does not replace are removed."""
    stored, _, torch_name = SAVE_DTYPES[save_dtype]
    width = WIDTH[stored]
    shards = plan_shards([(n, t.numel() * width) for n, t in tensors], max_shard_size)
    meta = {"format": "pt"}
    by_name = dict(tensors)
    files = []
    if len(shards) <= 1:
        files.append((SAFETENSORS_FILE, safetensors_writer(tensors, stored, meta)))
    else:
        names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
        files += [(names[i], safetensors_writer([(n, by_name[n]) for n in s], stored, meta)) for i, s in enumerate(shards)]
        shard_of = {n: names[i] for i, s in enumerate(shards) for n in s}
        index = {"metadata": {"total_parameters": sum(t.numel() for _, t in tensors),
                              "total_size": sum(t.numel() * width for _, t in tensors)},
                 "weight_map": {n: shard_of[n] for n in sorted(shard_of)}}
        text = json.dumps(index, indent=2) + "\n"  # transformers' and the native engine's bytes
        files.append((SAFETENSORS_INDEX, lambda f: f.write(text.encode("utf-8"))))
    cfg = dict(config)
    keys = [k for k in ("torch_dtype", "dtype") if k in cfg] or ([] if save_dtype == "fp32" else ["torch_dtype"])
    for k in keys:
        cfg[k] = torch_name
    cfg_text = json.dumps(cfg, indent=2) + "\n"
    files.append(("config.json", lambda f: f.write(cfg_text.encode("utf-8"))))
    write_files_atomic([(os.path.join(directory, name), fill) for name, fill in files])
    written = {name for name, _ in files}
    for f in os.listdir(directory):
        if _is_weight_file(f) and f not in written:
            os.remove(os.path.join(directory, f))
