"""Running the checks: in order in this process, or shared with forked worker processes on large inputs.

Why units, claimed as they go: a check's cost is mostly the shared view it reads. The network checks read
the NetworkPolicy engine (`Inventory.netpol`) and the RBAC checks the RBAC index (`Inventory.rbac`), the two
largest views; every other check reads only cheap views. So the network family is one unit, the RBAC family
another, and every other check a unit of its own. The units, heaviest first, are written as one byte each
into a pipe; this process and each forked worker take the next byte when they are free (a one-byte read from
a pipe is atomic), so the work balances itself whatever the machine's other load. A worker inherits the
inventory without copying or pickling it and sends back only its checks' findings, one frame per unit as it
finishes it (`pack`: tuples, not pickled dataclasses), which this process loads between its own units.

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

import contextlib
import os
import pickle
import signal
import tempfile
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
    received: dict[int, Outcome] = {}

    try:
        while (unit := _claim(claims_r)) is not None:
            mine.add(unit)
            for i in units[unit]:
                outcomes[i] = run_one(selected[i], inv)
                if progress is not None:
                    progress(selected[i])
            for worker in started:  # what the workers finished meanwhile: loaded now, not all at the end
                worker.drain(received.update)
    except BaseException:  # Ctrl-C, or a progress callback that raised: the workers' answers are not wanted
        for worker in started:
            worker.kill()
        raise
    finally:
        os.close(claims_r)
    trusted = True
    for worker in started:
        trusted = worker.finish(received.update) and trusted
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


_HEADER = 8
"""Each answer frame starts with its length (8 bytes, little-endian); a zero length ends the worker's answer."""


class _Worker:
    """A forked worker and its answer file: one frame (`pack`) per unit it finished, then an end frame.

    A file rather than a pipe, so the worker never waits for this process to read (a pipe holds 64 KiB; one
    unit's findings can be megabytes), and this process loads what is there between its own units."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd, self.offset, self.ended, self.broken = pid, fd, 0, False, False

    def drain(self, take: Callable[[dict[int, Outcome]], None]) -> None:
        """Load every complete frame written since the last call."""
        size = os.fstat(self.fd).st_size
        while not self.ended and not self.broken and self.offset + _HEADER <= size:
            length = int.from_bytes(os.pread(self.fd, _HEADER, self.offset), "little")
            if length == 0:
                self.ended = True
                return
            if self.offset + _HEADER + length > size:
                return  # still being written
            blob = _pread_all(self.fd, length, self.offset + _HEADER)
            try:
                answer = unpack(blob)
            except Exception:  # a garbled frame: this worker's answer is not trusted
                self.broken = True
                return
            self.offset += _HEADER + length
            take(answer)

    def kill(self) -> None:
        """Stop the worker and reap it (its answer is no longer wanted)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.fd)

    def finish(self, take: Callable[[dict[int, Outcome]], None]) -> bool:
        """Wait for the worker; True when it exited cleanly and its whole answer was read."""
        try:
            _pid, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code == 0:
                self.drain(take)
            return code == 0 and self.ended and not self.broken
        finally:
            os.close(self.fd)


def _pread_all(fd: int, length: int, offset: int) -> bytes:
    parts = []
    while length > 0:
        got = os.pread(fd, length, offset)
        if not got:
            raise OSError("answer file shorter than its frame")
        parts.append(got)
        length -= len(got)
        offset += len(got)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _start_worker(inv: Inventory, selected: Sequence[Check], units: list[list[int]], claims: int) -> _Worker | None:
    """Fork a worker that claims units until none is left, writing each unit's outcomes (keyed by check index)
    as a frame to an unlinked temporary file; the worker, or None when it cannot be started."""
    try:
        fd, path = tempfile.mkstemp(prefix="kubehipaa-checks-")
        os.unlink(path)
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(fd)
        return None
    if pid == 0:  # the worker: never returns, whatever happens
        code = 1
        try:
            while (unit := _claim(claims)) is not None:
                blob = pack({i: run_one(selected[i], inv) for i in units[unit]})
                _write_all(fd, len(blob).to_bytes(_HEADER, "little"))
                _write_all(fd, blob)
            _write_all(fd, bytes(_HEADER))
            code = 0
        finally:
            os._exit(code)
    return _Worker(pid, fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def pack(outcomes: dict[int, Outcome]) -> bytes:
    """`outcomes` as bytes for the parent, findings flattened to tuples and each ResourceRef sent once.

    Pickling the dataclasses themselves took 1.7 s at 93,392 findings (10,000 workloads) and 0.85 s to load
    back: pickle goes through `__reduce_ex__` for every slotted instance and every `Redacted` message. Tuples of
    builtins are pickled and loaded in C."""
    from kubehipaa.redaction import Redacted

    ref_index: dict[int, int] = {}
    refs: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    for i, (findings, error, reported) in outcomes.items():
        flat = []
        for f in findings:
            r = f.resource
            k = ref_index.get(id(r))
            if k is None:
                k = ref_index[id(r)] = len(refs)
                refs.append((r.api_version, r.kind, r.namespace, r.name, r.file, r.line, r.namespace_assumed))
            message = f.message
            flat.append((f.check_id, f.title, int(f.severity), k, str(message), type(message) is Redacted,
                         [(e.path, e.value, e.redacted) for e in f.evidence], f.remediation, f.hipaa, f.suppressed,
                         f.suppression))
        rows.append((i, flat, error, reported))
    return pickle.dumps((refs, rows), protocol=pickle.HIGHEST_PROTOCOL)


def unpack(data: bytes) -> dict[int, Outcome]:
    """What `pack` made, as the outcomes again (equal findings; one ResourceRef object per resource)."""
    from kubehipaa.model import Evidence, Finding, ResourceRef, Severity
    from kubehipaa.redaction import Redacted

    refs_data, rows = pickle.loads(data)
    refs = [ResourceRef(*r) for r in refs_data]
    severity = {int(s): s for s in Severity}
    out: dict[int, Outcome] = {}
    for i, flat, error, reported in rows:
        out[i] = ([Finding(check_id, title, severity[sev], refs[k], Redacted(message) if marked else message,
                           [Evidence(*e) for e in evidence], remediation, hipaa, suppressed, suppression)
                   for (check_id, title, sev, k, message, marked, evidence, remediation, hipaa, suppressed,
                        suppression) in flat], error, reported)
    return out
