"""`scan --cluster`: list a live cluster (sources.cluster), then the same scan as files, with honest coverage.

What the listing could not see is said, never read as a pass:
* a kind that answered 403/404/an error is an input problem (LOST: the run exits 2 after the report, like
  an unreadable file) and a `not-readable` warning naming the checks that could not be assessed;
* a managed control plane (EKS/GKE/AKS) marks the control-plane checks "not assessed (managed)" through the
  same marker `--managed` sets, plus a `managed-control-plane` warning;
* a cluster where nothing at all could be read is an input error (exit 2), never "0 findings".

Checks do not declare the kinds they read, so `KIND_CHECKS` is the documented map kind → check ids
(fnmatch patterns), written from the checks' `Inventory.of_kind` calls and the views they use.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import Config
from kubehipaa.errors import InputError
from kubehipaa.pipelines.scan import ControlPlaneFiles, ScanRun, ScanWarning, scan
from kubehipaa.sources.cluster import KINDS as CLUSTER_KINDS
from kubehipaa.sources.cluster import ClusterLoad, ClusterTarget, Progress, load_cluster
from kubehipaa.sources.files import LOST, InputProblem, LoadResult
from kubehipaa.workload_kinds import WORKLOAD_KINDS

__all__ = ["CLUSTER_KINDS", "KIND_CHECKS", "ClusterScan", "ClusterTarget", "Progress", "coverage", "scan_cluster",
           "snapshot_cluster"]

NOT_READABLE = "not-readable"
CONTROL_PLANE = "@control-plane"
"""In KIND_CHECKS: every check whose metadata says `scope="control-plane"`."""
MANAGED = "managed-control-plane"
_POD_CHECKS = ("KH-WL-*", "KH-PSS-*", "KH-IMG-*", "KH-SEC-001", "KH-SEC-003", "KH-SEC-004", "KH-SEC-005",
               "KH-NET-*", "KH-RBAC-010", "KH-RBAC-011")
KIND_CHECKS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(WORKLOAD_KINDS, _POD_CHECKS),
    "Pod": (*_POD_CHECKS, CONTROL_PLANE),  # the kube-system static pods carry the control-plane flags
    "Namespace": ("KH-NS-*", "KH-PSS-*", "PHI severities"),
    "ConfigMap": ("KH-SEC-002", "KH-SEC-006", "KH-SEC-007"),
    "Secret": ("KH-SEC-008", "KH-RBAC-012"),
    "Service": ("KH-NET-007", "KH-NET-008"),
    "Ingress": ("KH-NET-009",),
    "NetworkPolicy": ("KH-NET-*",),
    "ServiceAccount": ("KH-RBAC-*",),
    **dict.fromkeys(("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"), ("KH-RBAC-*",)),
}
"""Which checks judge objects of each kind: when the kind cannot be read, these are not assessed."""


@dataclass(slots=True)
class ClusterScan:
    run: ScanRun
    load: ClusterLoad


def affected_checks(kind: str, checks: Sequence[Check] | None = None) -> list[str]:
    """The selected check ids (and non-check effects) that read `kind`."""
    selected = list(checks) if checks is not None else all_checks()
    ids = [c.meta.id for c in selected]
    out: list[str] = []
    for pattern in KIND_CHECKS.get(kind, ()):
        if pattern == CONTROL_PLANE:
            out.extend(c.meta.id for c in selected if c.meta.scope == "control-plane" and c.meta.id not in out)
        elif pattern.startswith("KH-"):
            out.extend(i for i in ids if fnmatch.fnmatchcase(i, pattern) and i not in out)
        else:
            out.append(pattern)
    return out


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
    load = load_cluster(target, listing)
    if not load.objects:
        first = load.unreadable[0].reason if load.unreadable else "no objects"
        raise InputError(f"nothing could be read from cluster {load.context} ({first}); nothing was scanned")
    warnings, problems = coverage(load, checks)
    loaded = LoadResult(objects=load.objects, problems=problems)
    control_plane = ControlPlaneFiles(managed=load.managed) if load.managed else None
    run = scan(loaded, config, control_plane=control_plane, checks=checks, today=today, progress=progress)
    run.result.warnings[:0] = warnings
    return ClusterScan(run, load)


def snapshot_cluster(target: ClusterTarget, listing: Progress | None = None) -> ClusterLoad:
    """List the cluster for `snapshot`: read-only; nothing readable at all is an input error."""
    load = load_cluster(target, listing)
    if not load.objects:
        first = load.unreadable[0].reason if load.unreadable else "no objects"
        raise InputError(f"nothing could be read from cluster {load.context} ({first}); no snapshot written")
    return load
