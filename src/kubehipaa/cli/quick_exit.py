"""Ending the console script without freeing a large scan object by object.

After a scan of 90,040 objects has written its report, the process still spent 1.1 s before it ended: the
frames returning freed the findings, the inventory's views and every loaded document one reference at a
time, and the interpreter's shutdown then cleared the modules and collected once more. None of that is
needed when the process is about to end: the operating system takes the memory back at once.

So a command that made a large result hands it to `hold` (kept referenced, so returning frees nothing), and
the console script (`cli.main.run`) ends the process with `os._exit` once everything is written: stdout and
stderr flushed, and every `atexit` handler run (logging's flush, temporary directories), as a normal exit
would. Only the console script does this: `cli.main.main()` called in a test process, or a server, never
exits early and `hold` keeps nothing there.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any, NoReturn

_allowed = False
_held: list[Any] = []


def allow() -> None:
    """Called by the console script only: this process may end without freeing what was held."""
    global _allowed
    _allowed = True


def hold(value: Any) -> None:
    """Keep `value` referenced until the process ends, if it may end early (else nothing is kept)."""
    if _allowed:
        _held.append(value)


def holding() -> bool:
    """Whether something large was held, so ending early saves its freeing."""
    return bool(_held)


def end(code: int) -> NoReturn:
    """Flush stdout and stderr, run the `atexit` handlers, and end the process with `code` at once.

    A flush that fails raises (the caller reports it as a normal exit would); nothing is lost after that,
    since nothing is buffered any more."""
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
