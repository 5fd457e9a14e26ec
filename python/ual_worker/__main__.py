"""`python -m ual_worker PLAN.json`, one process per rank under torch.distributed.run: train, or report why not
(one UAL_WORKER_ERROR line on stderr, exit status 1)."""
import os
import sys
import traceback

from .errors import WorkerError, report


def main(argv: list) -> int:
    rank = int(os.environ.get("RANK", "0"))
    if len(argv) != 1:
        report(rank, "UAL_USAGE", "usage: python -m ual_worker PLAN.json", "TypeScript writes the plan into <out>/engine/plan.json")
        return 1
    try:
        from .train import train  # torch is imported here, so a missing torch is reported like any other failure
        train(argv[0])
    except WorkerError as e:
        report(rank, e.code, e.message, e.hint)
        return 1
    except OSError as e:
        report(rank, "UAL_IO", f"{e.filename or ''}: {e.strerror or e}", "check that the run directory is writable and the disk has space")
        traceback.print_exc()
        return 1
    except Exception as e:  # a bug: say so in the protocol, then the traceback
        report(rank, "UAL_WORKER_INTERNAL", f"{type(e).__name__}: {e}", "this is a bug in python/ual_worker; the traceback follows")
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
