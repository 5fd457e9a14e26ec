"""`python -m torch.distributed.run`, made to start on Debian's torch 1.13 with Python 3.11.

There torch.distributed.run's Std.from_str("0") returns None (Python 3.11 no longer yields the zero flag when an
IntFlag is iterated), so the launcher dies in to_map() before any worker starts (meta-llama/llama#86). This module
replaces that one parser when it is broken and then runs torch.distributed.run unchanged, with the same arguments.
Use underscores in its flags (--nproc_per_node, --master_addr): torch 1.13 knows no hyphenated spellings.
"""
import re
from typing import Dict, Union

from torch.distributed.elastic.multiprocessing import Std
from torch.distributed.run import main


def _from_str(cls: type, vm: str) -> Union[Std, Dict[int, Std]]:
    """"3" -> Std.ALL for every local rank, "0:1,1:2" -> per local rank; run.py checked the syntax."""
    if re.fullmatch(r"[0123]", vm):
        return cls(int(vm))
    return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}


if __name__ == "__main__":
    if Std.from_str("0") is None:
        Std.from_str = classmethod(_from_str)
    main()
