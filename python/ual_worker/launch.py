"""`python -m torch.distributed.run` with two fixes for Debian's torch 1.13 (harmless on newer torch):

- On Python 3.11 its Std.from_str("0") returns None (3.11 no longer yields the zero flag when an IntFlag is
  iterated), so the launcher dies in to_map() before any worker starts (meta-llama/llama#86): that one parser is
  replaced when it is broken.
- Its --standalone rendezvous always listens on port 29400, so two runs on one machine collide (or, worse, merge
  into one job): here --standalone takes a free port instead, as torch >= 2.0 does.
Everything else is torch.distributed.run unchanged. Spell its flags with underscores (--nproc_per_node,
--master_addr): torch 1.13 knows no hyphenated spellings.
"""
import re
import sys
import uuid
from typing import Dict, Union

from torch.distributed.elastic.multiprocessing import Std
from torch.distributed.run import parse_args, run


def _from_str(cls: type, vm: str) -> Union[Std, Dict[int, Std]]:
    """"3" -> Std.ALL for every local rank, "0:1,1:2" -> per local rank; run.py checked the syntax."""
    if re.fullmatch(r"[0123]", vm):
        return cls(int(vm))
    return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}


if __name__ == "__main__":
    if Std.from_str("0") is None:
        Std.from_str = classmethod(_from_str)
    args = parse_args(sys.argv[1:])
    if args.standalone:
        args.standalone = False
        args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id = "c10d", "localhost:0", str(uuid.uuid4())
    run(args)
