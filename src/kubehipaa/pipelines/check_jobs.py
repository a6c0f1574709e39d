"""Running the checks: in order in this process, or with the network checks in a forked second process.

Why the split is by family: a check's cost is mostly the shared view it reads, and the network checks alone
read the NetworkPolicy engine (`Inventory.netpol`), the largest view (1.2 s of CPU at 10,000 workloads, and
0.6 s more for the checks). A forked child inherits the inventory without copying or pickling it, builds that
view, runs the network checks and sends back only their findings (pickled: 0.1 s at 10,000 workloads), while
this process runs every other check. Measured at 10,000 workloads (bench/scan_bench.py corpus): the checks'
critical path went from 5.1-6.4 s of CPU to 3.8-4.0 s; the child used 2.1-2.5 s (copy-on-write of the pages
whose reference counts it touches costs it a few tenths). At 2,000 workloads (18,040 objects): 1.16-1.7 s
serial, 0.85-1.0 s in this process with the child using 0.47-0.6 s. It pays only with a free core, so it is
opt-in (`$KUBEHIPAA_CHECK_JOBS=2`) and used only on inputs large enough to repay a fork (`MIN_OBJECTS`).

The result is the serial one exactly: findings in check order, errors in check order, and the input left out
(`Inventory.skip`) in the order the serial run would first record it: each process notes what each check
added, and the lists are merged in check order (the first check that records a problem, in either process,
places it). A child that fails in any way is not trusted: its checks are run again here.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubehipaa.checks.registry import Check
    from kubehipaa.inventory import Inventory
    from kubehipaa.model import Finding

JOBS_ENV = "KUBEHIPAA_CHECK_JOBS"
MIN_OBJECTS = 10_000
"""Below this many objects the fork, the child's page copies and the pickling cost more than they save."""
OFFLOADED_AREA = "network"
"""The check family the child runs: the only readers of `Inventory.netpol`."""

Outcome = tuple[list["Finding"], str | None, list[tuple[Any, Any]]]
"""One check's result: its findings, its error (`Type: message`) or None, and the skips it recorded first."""


def check_jobs() -> int:
    """`$KUBEHIPAA_CHECK_JOBS` as a number of processes (1 when unset or not a positive number)."""
    raw = os.environ.get(JOBS_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def run_one(chk: Check, inv: Inventory) -> Outcome:
    """Run one check; a check bug becomes its error (it must not hide the other checks' findings)."""
    before = len(inv._skipped)
    try:
        findings, error = chk.run(inv), None
    except Exception as exc:
        findings, error = [], f"{type(exc).__name__}: {exc}"
    added = list(inv._skipped.items())[before:] if len(inv._skipped) > before else []
    return findings, error, added


def run_checks(
    inv: Inventory, selected: Sequence[Check], progress: Callable[[Check], None] | None = None, jobs: int = 1,
) -> list[Outcome]:
    """Each selected check's outcome, in the order of `selected`; `inv`'s skipped input in serial order.

    `progress` is called once per check; with a second process, the child's checks are reported when their
    results arrive (after this process's own)."""
    offload = [i for i, chk in enumerate(selected) if chk.meta.area == OFFLOADED_AREA]
    if jobs < 2 or not hasattr(os, "fork") or len(inv.objects) < MIN_OBJECTS or not offload \
            or len(offload) == len(selected):
        out = []
        for chk in selected:
            out.append(run_one(chk, inv))
            if progress is not None:
                progress(chk)
        return out
    return _run_split(inv, selected, set(offload), progress)


def _run_split(
    inv: Inventory, selected: Sequence[Check], offload: set[int], progress: Callable[[Check], None] | None,
) -> list[Outcome]:
    earlier = dict(inv._skipped)
    theirs = _start_child(inv, [selected[i] for i in sorted(offload)])
    outcomes: dict[int, Outcome] = {}
    for i, chk in enumerate(selected):
        if i not in offload:
            outcomes[i] = run_one(chk, inv)
            if progress is not None:
                progress(chk)
    received = _receive(*theirs) if theirs is not None else None
    for n, i in enumerate(sorted(offload)):
        if received is not None:
            outcomes[i] = received[n]
        else:  # no child, or a child that failed: its checks run here, as in the serial run
            outcomes[i] = run_one(selected[i], inv)
        if progress is not None:
            progress(selected[i])
    ordered = [outcomes[i] for i in range(len(selected))]
    merged = dict(earlier)
    for _findings, _error, added in ordered:
        for key, problem in added:
            merged.setdefault(key, problem)
    inv._skipped.clear()
    inv._skipped.update(merged)
    return ordered


def _start_child(inv: Inventory, checks: list[Check]) -> tuple[int, int] | None:
    """Fork a child that runs `checks` and writes their pickled outcomes to a pipe; (pid, read fd) or None."""
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: never returns, whatever happens
        code = 1
        try:
            os.close(r)
            data = pickle.dumps([run_one(chk, inv) for chk in checks], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as fh:
                fh.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _receive(pid: int, fd: int) -> list[Outcome] | None:
    """The child's outcomes, or None when it did not exit cleanly with a complete answer."""
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        outcomes: list[Outcome] = pickle.loads(data)
    except Exception:  # a truncated answer: the checks are run again here
        return None
    return outcomes
