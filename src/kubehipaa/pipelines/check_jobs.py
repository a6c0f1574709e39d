"""Running the checks: in order in this process, or shared with forked worker processes on large inputs.

Why units, claimed as they go: a check's cost is mostly the shared view it reads. The network checks read
the NetworkPolicy engine (`Inventory.netpol`) and the RBAC checks the RBAC index (`Inventory.rbac`), the two
largest views; every other check reads only cheap views. So the network family is one unit, the RBAC family
another, and every other check a unit of its own. The units, heaviest first, are written as one byte each
into a pipe; this process and each forked worker take the next byte when they are free (a one-byte read from
a pipe is atomic), so the work balances itself whatever the machine's other load. A worker inherits the
inventory without copying or pickling it and sends back only its checks' findings (pickled).

Measured at 2,000 workloads (bench/scan_bench.py corpus, 18,040 objects) on the 2-CPU VM: see docs/reports.md.
It is used when `parallel.jobs()` allows more than one process (the default on a machine with two CPUs or
more), forking is safe (`parallel.can_fork`) and the input has `MIN_OBJECTS` or more.

The result is the serial one exactly: findings in check order, errors in check order, and the input left out
(`Inventory.skip`) in the order the serial run records it. Each check's run notes every problem it reports
(`run_one`) and the lists are merged in check order; the one view that records problems while it is built
(`Inventory.rbac`) is read only by the RBAC family, which runs in check order inside its unit, as serially.
A worker that fails in any way is not trusted: every unit this process did not run itself runs here again.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kubehipaa import parallel

if TYPE_CHECKING:
    from kubehipaa.checks.registry import Check
    from kubehipaa.inventory import Inventory
    from kubehipaa.model import Finding

JOBS_ENV = "KUBEHIPAA_CHECK_JOBS"
"""The checks' own process count, before `$KUBEHIPAA_JOBS` (`parallel.jobs`)."""
MIN_OBJECTS = 5_000
"""Below this many objects the fork, the workers' page copies and the pickling cost more than they save."""
FAMILIES = ("network", "rbac")
"""Check areas that share a costly view: each family is one unit, run by one process in check order."""

Outcome = tuple[list["Finding"], str | None, list[tuple[Any, Any]]]
"""One check's result: its findings, its error (`Type: message`) or None, and every problem it reported."""


def check_jobs() -> int:
    """The processes the checks may use (`parallel.jobs`, with `$KUBEHIPAA_CHECK_JOBS` first)."""
    return parallel.jobs(JOBS_ENV)


def run_one(chk: Check, inv: Inventory) -> Outcome:
    """Run one check; a check bug becomes its error (it must not hide the other checks' findings).

    The problems the check reports (`Inventory.skip`) are collected on their own, those another check
    reported first included, and then added to the inventory's: merging the outcomes in check order then gives
    the serial order, whichever process ran which check."""
    outer = inv._skipped
    inv._skipped = {}
    try:
        findings, error = chk.run(inv), None
    except Exception as exc:
        findings, error = [], f"{type(exc).__name__}: {exc}"
    finally:
        reported = list(inv._skipped.items())
        inv._skipped = outer
    for key, problem in reported:
        outer.setdefault(key, problem)
    return findings, error, reported


def run_checks(
    inv: Inventory, selected: Sequence[Check], progress: Callable[[Check], None] | None = None, jobs: int = 1,
) -> list[Outcome]:
    """Each selected check's outcome, in the order of `selected`; `inv`'s skipped input in serial order.

    `progress` is called once per check; the workers' checks are reported when their results arrive."""
    units = _units(selected)
    workers = min(jobs, len(units)) - 1
    if workers < 1 or len(inv.objects) < MIN_OBJECTS or len(units) > 255 or not parallel.can_fork():
        out = []
        for chk in selected:
            out.append(run_one(chk, inv))
            if progress is not None:
                progress(chk)
        return out
    return _run_shared(inv, selected, units, workers, progress)


def _units(selected: Sequence[Check]) -> list[list[int]]:
    """Indexes of `selected` grouped into units: each family whole (in check order), then every other check
    alone, in catalog order."""
    families: dict[str, list[int]] = {}
    alone: list[list[int]] = []
    for i, chk in enumerate(selected):
        if chk.meta.area in FAMILIES:
            families.setdefault(chk.meta.area, []).append(i)
        else:
            alone.append([i])
    return [families[f] for f in FAMILIES if f in families] + alone


def _run_shared(
    inv: Inventory, selected: Sequence[Check], units: list[list[int]], workers: int,
    progress: Callable[[Check], None] | None,
) -> list[Outcome]:
    earlier = dict(inv._skipped)
    claims_r, claims_w = os.pipe()
    try:
        os.write(claims_w, bytes(range(len(units))))  # < 256 units: far below a pipe's buffer
    finally:
        os.close(claims_w)
    started = [w for w in (_start_worker(inv, selected, units, claims_r) for _ in range(workers)) if w is not None]
    outcomes: dict[int, Outcome] = {}
    mine: set[int] = set()
    try:
        while (unit := _claim(claims_r)) is not None:
            mine.add(unit)
            for i in units[unit]:
                outcomes[i] = run_one(selected[i], inv)
                if progress is not None:
                    progress(selected[i])
    finally:
        os.close(claims_r)
    received: dict[int, Outcome] = {}
    trusted = True
    for pid, fd in started:
        answer = _receive(pid, fd)
        if answer is None:
            trusted = False
        else:
            received.update(answer)
    for unit, indexes in enumerate(units):
        if unit in mine:
            continue
        for i in indexes:
            if trusted and i in received:
                outcomes[i] = received[i]
            else:  # a worker that failed: every unit this process did not run runs here, as serially
                outcomes[i] = run_one(selected[i], inv)
            if progress is not None:
                progress(selected[i])
    ordered = [outcomes[i] for i in range(len(selected))]
    merged = dict(earlier)
    for _findings, _error, reported in ordered:
        for key, problem in reported:
            merged.setdefault(key, problem)
    inv._skipped.clear()
    inv._skipped.update(merged)
    return ordered


def _claim(fd: int) -> int | None:
    """The next unit from the claims pipe, or None when every unit is taken."""
    got = os.read(fd, 1)
    return got[0] if got else None


def _start_worker(
    inv: Inventory, selected: Sequence[Check], units: list[list[int]], claims: int,
) -> tuple[int, int] | None:
    """Fork a worker that claims units until none is left and writes their pickled outcomes, keyed by check
    index, to a pipe; (pid, read fd) or None."""
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the worker: never returns, whatever happens
        code = 1
        try:
            os.close(r)
            done: dict[int, Outcome] = {}
            while (unit := _claim(claims)) is not None:
                for i in units[unit]:
                    done[i] = run_one(selected[i], inv)
            data = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as fh:
                fh.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _receive(pid: int, fd: int) -> dict[int, Outcome] | None:
    """The worker's outcomes, or None when it did not exit cleanly with a complete answer."""
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    _pid, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return None
    try:
        outcomes: dict[int, Outcome] = pickle.loads(data)
    except Exception:  # a truncated answer: its checks are run again here
        return None
    return outcomes
