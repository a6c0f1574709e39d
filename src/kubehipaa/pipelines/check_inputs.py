"""Which input each check needs, and so which checks a scan really assessed.

A check over no object of its kinds yields no finding, and silence there is not a pass: a scan of RBAC
manifests alone says nothing about encryption at rest. The coverage report (frameworks.coverage) therefore
needs, per check, "assessed" or "not assessed, because ...". Checks do not declare the kinds they read, so
`KIND_CHECKS` is the documented map kind → check ids (fnmatch patterns), written from the checks'
`Inventory.of_kind` calls and the views they use; a test keeps every registered check mapped. Control-plane
checks are assessed per area (API server, encryption, audit, kubelet) when the input holds that area's
evidence (checks.apiserver.area_has_evidence), and never from files on a managed control plane.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from functools import cache

from kubehipaa.checks.apiserver import area_has_evidence
from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.inventory import Inventory
from kubehipaa.workload_kinds import WORKLOAD_KINDS

CONTROL_PLANE = "@control-plane"
"""In KIND_CHECKS: every check whose metadata says `scope="control-plane"`."""
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
"""Which checks judge objects of each kind: when the kind is absent or cannot be read, these are not assessed."""

AREA_EVIDENCE: dict[str, tuple[str, ...]] = {
    "apiserver": ("apiserver",),
    # the API server's flags alone assess these too: no --encryption-provider-config / --audit-policy-file
    # is itself a finding
    "encryption": ("encryption", "apiserver"),
    "audit": ("audit", "apiserver"),
    "kubelet": ("kubelet",),
}
"""Control-plane check area → the evidence areas any one of which makes its checks assessed."""

GAP_CHECKS = frozenset({"KH-API-020", "KH-ENC-008", "KH-AUD-009", "KH-KUB-009"})
"""The "<area> not assessed" checks: their findings say an area could not be assessed; they are not failures
of the paragraphs they cite, and coverage reads them as "not assessed"."""


AREA_MISSING = {
    "apiserver": "no kube-apiserver configuration in the input (its static Pod manifest or flags, or a visible "
                 "kube-system static Pod)",
    "encryption": "no EncryptionConfiguration or kube-apiserver flags in the input",
    "audit": "no audit Policy or kube-apiserver flags in the input",
    "kubelet": "no kubelet configuration or flags in the input",
}


def kinds_of(check_id: str) -> list[str]:
    """The kinds whose objects `check_id` judges (manifest-scope checks): the kinds that name it exactly when
    there are any (KH-NET-009 judges Ingresses, though every KH-NET check also reads the workloads), else the
    kinds whose wildcard matches it."""
    return list(_kinds_of(check_id))


@cache
def _kinds_of(check_id: str) -> tuple[str, ...]:
    """Cached: `assessment` asks for every check on every scan, and the admission webhook scans per request."""
    exact = tuple(kind for kind, patterns in KIND_CHECKS.items() if check_id in patterns)
    if exact:
        return exact
    return tuple(kind for kind, patterns in KIND_CHECKS.items()
                 if any(p.startswith("KH-") and fnmatch.fnmatchcase(check_id, p) for p in patterns))


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


def managed_provider(inv: Inventory) -> str:
    """The managed provider a ControlPlaneScan marker names (eks, gke, aks), else ""."""
    for marker in inv.control_plane.markers:
        spec = marker.doc.get("spec")
        if isinstance(spec, dict) and spec.get("managed"):
            return str(spec["managed"])
    return ""


def assessment(inv: Inventory, checks: Sequence[Check]) -> tuple[set[str], dict[str, list[str]]]:
    """(ids of the checks that had input to judge, {id: why not} for the others)."""
    assessed: set[str] = set()
    not_assessed: dict[str, list[str]] = {}
    present = {kind for kind in KIND_CHECKS if inv.of_kind(kind)}
    managed = managed_provider(inv)
    evidence = {area: area_has_evidence(inv, area) for area in ("apiserver", "encryption", "audit", "kubelet")}
    for chk in checks:
        meta = chk.meta
        if meta.id in GAP_CHECKS:
            continue  # says what was not assessed; not an assessment of its own
        if meta.scope == "control-plane":
            areas = AREA_EVIDENCE.get(meta.area, ())
            if any(evidence.get(a) for a in areas):
                assessed.add(meta.id)  # what was given is judged, managed or not
            elif managed and meta.area != "kubelet":
                not_assessed[meta.id] = [f"managed control plane ({managed.upper()}): the provider operates it; "
                                         "keep its attestation as the evidence"]
            else:
                not_assessed[meta.id] = [AREA_MISSING.get(meta.area, f"no {meta.area} configuration in the input")]
            continue
        kinds = kinds_of(meta.id)
        if any(k in present for k in kinds):
            assessed.add(meta.id)
        else:
            shown = sorted(set(kinds) - set(WORKLOAD_KINDS)) + (["workloads"] if set(kinds) & set(WORKLOAD_KINDS)
                                                                else [])
            not_assessed[meta.id] = [f"no input of kind {', '.join(shown) or 'any'}"]
    return assessed, not_assessed
