"""Run a `kubehipaa` command in-process and hold it to the wrong-types contract.

The contract (issue 12 req. 6; exit codes in BRIEF): a command over hostile input ends with 0, 1 or 2, never
with an internal error (exit 3, a traceback, an exception escaping the command); when it ends with 2, stderr
names where the bad input is (`file:line`, `<stdin>:line`, or an audit log's `-:line`; the file alone when
the whole file is unusable), so the user can find it.

Commands run through typer's CliRunner: tens of milliseconds each instead of ~0.5 s for a subprocess. An
`InputError` (any `KubehipaaError`) escaping the command is what `main()` prints as one `error:` line with
exit 2, so it is treated exactly so; any other exception is what `main()` would report as exit 3.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import KubehipaaError
from tests.fuzz.schema import EXAMPLES

runner = CliRunner()
LOCATION = re.compile(r"(?:<stdin>|[^\s:'\"(]+):\d+\b")
"""`file:line` (a path, `<stdin>`, or `-` for an audit log read from stdin)."""
WHOLE_FILE = re.compile(r"(/[^\s:,;()'\"]+)")
"""An absolute path in an `error:` line: a whole file is unusable ("does not contain a KubeletConfiguration",
"no audit Policy ... found in FILE")."""


def names_location(err: str) -> bool:
    """Whether stderr points at the bad input: a file:line, or, for a problem of a whole file, that file."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    return bool(LOCATION.search(err)) or any(Path(p).is_file() for line in errors for p in WHOLE_FILE.findall(line))


class Crash(AssertionError):
    """The command broke the contract: the message holds the command, the exit and what it printed."""


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    out: str
    err: str
    refused: str | None
    """The message of a KubehipaaError that ended the command (main() prints it as `error: ...`, exit 2)."""


def fuzz_settings(examples: int) -> Any:
    """Derandomized (the same examples in CI every run), no example database, no deadline (a command's first
    run imports its modules); KUBEHIPAA_FUZZ_EXAMPLES=N runs N examples per test instead."""
    return settings(max_examples=EXAMPLES or examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


def run(argv: list[str], stdin: str | bytes | None = None, *, what: str = "") -> Outcome:
    """`kubehipaa ARGV` over `stdin`; raises `Crash` when it breaks the contract. `what` describes the input
    in the failure message (the generated documents, or the mutated paths)."""
    res = runner.invoke(app, argv, input=stdin)
    exc = res.exception
    refused = None
    code = res.exit_code
    err = res.stderr
    if isinstance(exc, KubehipaaError):
        refused, code = str(exc), 2
        err += f"error: {exc}\n"
    elif exc is not None and not isinstance(exc, SystemExit):
        raise Crash(f"kubehipaa {' '.join(argv)} raised {type(exc).__name__}: {exc}\n{what}") from exc
    shown = f"kubehipaa {' '.join(argv)} -> exit {code}\nstderr:\n{err[-3000:]}\n{what}"
    if code not in (0, 1, 2):
        raise Crash(f"exit {code} (0, 1 or 2 expected): {shown}")
    if "Traceback" in res.stdout + err or "internal error" in err:
        raise Crash(f"traceback or internal error printed: {shown}")
    if code == 2 and not names_location(err):
        raise Crash(f"exit 2 without a file:line on stderr: {shown}")
    return Outcome(code, res.stdout, err, refused)


@cache
def workdir() -> Path:
    """A directory for the files a command reads (one per process, rewritten by every example)."""
    return Path(tempfile.mkdtemp(prefix="kubehipaa-fuzz-"))


def write(name: str, text: str | bytes) -> str:
    path = workdir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)
