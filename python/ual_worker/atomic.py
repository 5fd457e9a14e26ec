"""Writing files and directories so that a crash never leaves a half-written result: write beside, fsync, rename.

Temp names follow src/util/atomic.ts (`.<name>.tmp-<pid>-<n>`, `-old` for a replaced directory), and so does the
cleanup: a write of a target first removes the temps an earlier, killed writer of the same target left (a SIGKILL
gives no chance to clean up), but only those whose process no longer runs, so a live writer's are never touched.
"""
import os
import re
import shutil
from itertools import count
from typing import BinaryIO, Callable, List, Tuple

_counter = count()


def _tmp_name(target: str) -> str:
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.tmp-{os.getpid()}-{next(_counter)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove_stale_temps(target: str) -> None:
    """Remove the temp files and directories of `target` left by writers that no longer run on this machine."""
    directory, name = os.path.split(target)
    stale = re.compile(r"\." + re.escape(name) + r"\.tmp-(\d+)-\d+(-old)?")
    for f in os.listdir(directory) if os.path.isdir(directory) else []:
        m = stale.fullmatch(f)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            path = os.path.join(directory, f)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except FileNotFoundError:  # another writer's cleanup was first
                    pass


def write_files_atomic(files: List[Tuple[str, Callable[[BinaryIO], None]]]) -> None:
    """Write a set of files that belong together: all to temp names first, then renamed in the order given (put
    the file that makes the set visible, e.g. an index, last). An error leaves the targets as they were."""
    tmps: List[str] = []
    try:
        for target, fill in files:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            _remove_stale_temps(target)
            tmp = _tmp_name(target)
            tmps.append(tmp)
            with open(tmp, "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
        raise
    for (target, _), tmp in zip(files, tmps):
        os.replace(tmp, target)


def write_text_atomic(target: str, text: str) -> None:
    write_files_atomic([(target, lambda f: f.write(text.encode("utf-8")))])


def write_dir_atomic(target: str, fill: Callable[[str], None]) -> None:
    """Build a directory in a temp directory beside `target`, then rename it into place (an old `target` is moved
    aside and removed only after the rename): a checkpoint is either complete or absent."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _remove_stale_temps(target)
    tmp = _tmp_name(target)
    os.makedirs(tmp)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if os.path.exists(target):
        old = _tmp_name(target) + "-old"
        os.replace(target, old)
    os.replace(tmp, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)
