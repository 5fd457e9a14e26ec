"""How a rank reports a failure to TypeScript: one `UAL_WORKER_ERROR {json}` line on stderr, then exit status 1.

Codes are the project's own (src/errors.ts), so TypeScript can raise them as a UalError unchanged; a bug (any
other exception) is UAL_WORKER_INTERNAL and its traceback follows the line.
"""
import json
import sys


class WorkerError(Exception):
    """A failure the user can act on: a stable code, a message naming the file and field, and the fix."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def plan_error(message: str, hint: str = "") -> WorkerError:
    """plan.json or its arrays are not what TypeScript should have written."""
    return WorkerError("UAL_DATA_BAD_FILE", message, hint or "run `ual train --engine torch` again to rewrite <out>/engine/")


def report(rank: int, code: str, message: str, hint: str) -> None:
    """The one line TypeScript looks for on stderr."""
    line = json.dumps({"rank": rank, "code": code, "message": message, "hint": hint})
    sys.stderr.write(f"UAL_WORKER_ERROR {line}\n")
    sys.stderr.flush()
