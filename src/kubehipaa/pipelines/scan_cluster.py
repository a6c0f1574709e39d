"""`scan --cluster`: list a live cluster (sources.cluster), then the same scan as files, with honest coverage.

What the listing could not see is said, never read as a pass:
* a kind that answered 403/404/an error is an input problem (LOST: the run exits 2 after the report, like
  an unreadable file) and a `not-readable` warning naming the checks that could not be assessed;
* a managed control plane (EKS/GKE/AKS) marks the control-plane checks "not assessed (managed)" through the
  same marker `--managed` sets, plus a `managed-control-plane` warning;
* a cluster where nothing at all could be read is an input error (exit 2), never "0 findings".

Which checks read which kind (to name what an unreadable kind leaves unassessed): `check_inputs.KIND_CHECKS`.

Fleets (`scan_fleet`, several contexts): each cluster is listed and checked with its OWN Inventory (two
clusters' `clinical` namespaces, service accounts or policies must never meet in one check), then the
per-cluster runs are merged into one report. Listing runs in a bounded thread pool (FLEET_WORKERS); the
checks run in the calling thread as each listing completes. A cluster that cannot be scanned is lost input
for that cluster (a `cluster-not-scanned` warning naming the context, exit 2 after the report); the other
clusters' findings are still reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import orjson

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import Config
from kubehipaa.errors import InputError
from kubehipaa.pipelines.check_inputs import KIND_CHECKS, affected_checks
from kubehipaa.pipelines.scan import ControlPlaneFiles, ScanResult, ScanRun, ScanWarning, scan
from kubehipaa.sources.cluster import KINDS as CLUSTER_KINDS
from kubehipaa.sources.cluster import ClusterLoad, ClusterTarget, Progress, load_cluster
from kubehipaa.sources.files import LOST, InputProblem, InputRecord, LoadResult

__all__ = ["CLUSTER_KINDS", "FLEET_WORKERS", "KIND_CHECKS", "ClusterScan", "ClusterTarget", "FleetScan", "Progress",
           "coverage", "scan_cluster", "scan_fleet", "snapshot_cluster"]

NOT_READABLE = "not-readable"
MANAGED = "managed-control-plane"
NOT_SCANNED = "cluster-not-scanned"
FLEET_WORKERS = 4
"""How many clusters are listed at once. Listing is network-bound, so threads overlap the waits; each listed
cluster's objects stay in memory until its checks have run, so the bound also bounds memory (about this many
clusters' inventories), and it keeps the number of open API connections per run small."""
@dataclass(slots=True)
class ClusterScan:
    run: ScanRun
    load: ClusterLoad


def coverage(load: ClusterLoad, checks: Sequence[Check] | None = None) -> tuple[list[ScanWarning], list[InputProblem]]:
    """One `not-readable` warning and one lost-input problem per kind that could not be listed."""
    warnings: list[ScanWarning] = []
    problems: list[InputProblem] = []
    for item in load.unreadable:
        affected = affected_checks(item.kind, checks)
        what = ", ".join(affected) if affected else "no selected check"
        warnings.append(ScanWarning(
            NOT_READABLE,
            f"{item.kind} could not be read from cluster {load.context} ({item.reason}); not assessed: {what}",
        ))
        problems.append(InputProblem(load.location(item.kind) + "/*", None,
                                     f"could not be listed ({item.reason})", LOST))
    if load.managed:
        warnings.append(ScanWarning(
            MANAGED,
            f"managed control plane ({load.managed}, from {load.managed_evidence}): control-plane checks "
            "(scope control-plane: KH-API, KH-ENC, KH-AUD, KH-KUB) not assessed (managed); the provider "
            "operates them: keep its attestation as the evidence",
        ))
    return warnings, problems


def listing_record(load: ClusterLoad) -> InputRecord:
    """The listed objects as one input: `cluster:<context>` and the SHA-256 of their canonical JSON (sorted
    keys, in listing order; Secret values are masked on arrival, so they are not what is hashed)."""
    data = orjson.dumps([o.doc for o in load.objects], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return InputRecord(f"cluster:{load.context}", hashlib.sha256(data).hexdigest(), len(data))


def scan_cluster(
    target: ClusterTarget,
    config: Config,
    *,
    checks: Sequence[Check] | None = None,
    today: dt.date | None = None,
    listing: Progress | None = None,
    progress: Callable[[Check], None] | None = None,
) -> ClusterScan:
    """List the cluster, then run the scan pipeline over what was listed; coverage gaps become warnings."""
    return _scan_load(load_cluster(target, listing), config, checks=checks, today=today, progress=progress)


def _scan_load(load: ClusterLoad, config: Config, *, checks: Sequence[Check] | None, today: dt.date | None,
               progress: Callable[[Check], None] | None = None) -> ClusterScan:
    """The scan of one listed cluster (its own Inventory); nothing listed at all is an input error."""
    if not load.objects:
        first = load.unreadable[0].reason if load.unreadable else "no objects"
        raise InputError(f"nothing could be read from cluster {load.context} ({first}); nothing was scanned")
    warnings, problems = coverage(load, checks)
    loaded = LoadResult(objects=load.objects, problems=problems, inputs=[listing_record(load)])
    control_plane = ControlPlaneFiles(managed=load.managed) if load.managed else None
    run = scan(loaded, config, control_plane=control_plane, checks=checks, today=today, progress=progress)
    run.result.warnings[:0] = warnings
    for item in load.unreadable:  # permission denied is a reason of its own, even when other kinds were read
        for check_id in affected_checks(item.kind, checks):
            if check_id.startswith("KH-"):
                run.result.not_assessed.setdefault(check_id, []).append(
                    f"{item.kind} could not be read from cluster {load.context} ({item.reason})")
    return ClusterScan(run, load)


@dataclass(slots=True)
class FleetScan:
    """One merged run over several clusters; `loads` (objects released once checked) and `failed`
    (context, reason) in the order the contexts were given."""

    run: ScanRun
    loads: list[ClusterLoad] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def scan_fleet(
    targets: Sequence[ClusterTarget],
    config: Config,
    *,
    checks: Sequence[Check] | None = None,
    today: dt.date | None = None,
    listing: Progress | None = None,
    workers: int = FLEET_WORKERS,
) -> FleetScan:
    """Scan every target cluster, each with its own Inventory, into one run.

    One target is exactly `scan_cluster` (its errors included). With several, clusters are listed in a pool
    of at most `workers` threads and checked in this thread as their listings complete; a cluster that cannot
    be listed (or where nothing is readable) becomes a `cluster-not-scanned` warning and a lost-input problem;
    if no cluster can be scanned, InputError. `listing` gets ("<context>: <kind>", kinds listed, objects)
    summed over all clusters.
    """
    if len(targets) == 1:
        done = scan_cluster(targets[0], config, checks=checks, today=today, listing=listing)
        return FleetScan(done.run, [done.load])
    selected = list(checks) if checks is not None else all_checks()
    today = today or dt.date.today()
    totals = _ListingTotals(listing)
    scans: dict[int, ClusterScan] = {}
    failed: dict[int, tuple[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets))),
                            thread_name_prefix="kubehipaa-list") as pool:
        futures = {pool.submit(load_cluster, t, totals.for_cluster(t.context or "")): i
                   for i, t in enumerate(targets)}
        for future in as_completed(futures):
            i = futures[future]
            name = targets[i].context or "(current context)"
            try:
                done = _scan_load(future.result(), config, checks=selected, today=today)
            except InputError as exc:
                failed[i] = (name, str(exc).removeprefix(f"cluster {name}: "))
                continue
            done.load.objects = []  # checked: the findings keep what the report needs, the objects can go
            done.run.loaded.objects = []
            scans[i] = done
    if not scans:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in (failed[i] for i in sorted(failed)))
        raise InputError(f"no cluster could be scanned ({reasons})")
    order = sorted(scans)
    run = merge_runs([scans[i] for i in order], [failed[i] for i in sorted(failed)])
    return FleetScan(run, [scans[i].load for i in order], [failed[i] for i in sorted(failed)])


class _ListingTotals:
    """Sums the per-cluster listing progress (called from the listing threads) into one callback."""

    def __init__(self, listing: Progress | None) -> None:
        self.listing = listing
        self.lock = threading.Lock()
        self.kinds: dict[str, int] = {}
        self.objects: dict[str, int] = {}

    def for_cluster(self, context: str) -> Progress | None:
        if self.listing is None:
            return None

        def step(kind: str, done: int, objects: int) -> None:
            with self.lock:
                self.kinds[context], self.objects[context] = done, objects
                total_kinds, total_objects = sum(self.kinds.values()), sum(self.objects.values())
                if self.listing is not None:
                    self.listing(f"{context}: {kind}", total_kinds, total_objects)

        return step


def _in_cluster(context: str, message: str) -> str:
    """`message` naming its cluster (most already do: `... from cluster <context> ...`)."""
    return message if f"cluster {context}" in message else f"cluster {context}: {message}"


def merge_runs(scans: Sequence[ClusterScan], failed: Sequence[tuple[str, str]] = ()) -> ScanRun:
    """One run from several clusters' runs, every per-cluster line naming its cluster.

    Findings are already located by context (`cluster:<context>/...`). Config-level facts are the same in
    every run and said once: the expired exceptions, the broad-exception warnings; an exception is unused
    only if it suppressed nothing in any cluster. PHI namespaces are the union of the clusters' (a name PHI
    in one cluster is marked PHI in the table for all: never less than the truth).
    """
    first = scans[0].run.result
    findings = [f for s in scans for f in s.run.result.findings]
    findings.sort(key=lambda f: (-f.severity, f.check_id, f.resource.file, f.resource.line, f.resource.name))
    warnings = [ScanWarning(NOT_SCANNED, f"cluster {name} not scanned, its findings are missing from this "
                            f"report: {reason}") for name, reason in failed]
    problems = [InputProblem(f"cluster:{name}/*", None, f"not scanned ({reason})", LOST) for name, reason in failed]
    broad: list[ScanWarning] = []
    for s in scans:
        ctx = s.load.context
        for w in s.run.result.warnings:
            if w.exception is not None:
                if w not in broad:
                    broad.append(w)
            else:
                warnings.append(ScanWarning(w.code, _in_cluster(ctx, w.message)))
    result = ScanResult(
        findings,
        first.checks,
        sum(s.run.result.objects for s in scans),
        expired_exceptions=list(first.expired_exceptions),
        unused_exceptions=[r for r in first.unused_exceptions
                           if all(any(r is u for u in s.run.result.unused_exceptions) for s in scans)],
        errors=[type(e)(e.check_id, _in_cluster(s.load.context, e.message))
                for s in scans for e in s.run.result.errors],
        phi_namespaces=sorted({ns for s in scans for ns in s.run.result.phi_namespaces}),
        skipped=problems + [p for s in scans for p in s.run.result.skipped],
        warnings=broad + warnings,
        assessed={i for s in scans for i in s.run.result.assessed},
        inputs=[i for s in scans for i in s.run.result.inputs],
    )
    for s in scans:
        for check_id, reasons in s.run.result.not_assessed.items():
            result.not_assessed.setdefault(check_id, []).extend(_in_cluster(s.load.context, r) for r in reasons)
    loaded = LoadResult(problems=list(result.skipped))
    left_out = [p for s in scans for p in s.run.left_out]
    notes = [_in_cluster(s.load.context, n) for s in scans for n in s.run.notes]
    return ScanRun(result, loaded, left_out, notes)


def snapshot_cluster(target: ClusterTarget, listing: Progress | None = None) -> ClusterLoad:
    """List the cluster for `snapshot`: read-only; nothing readable at all is an input error."""
    load = load_cluster(target, listing)
    if not load.objects:
        first = load.unreadable[0].reason if load.unreadable else "no objects"
        raise InputError(f"nothing could be read from cluster {load.context} ({first}); no snapshot written")
    return load
