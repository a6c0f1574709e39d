"""Run-as identity (restricted): runAsNonRoot must be true, runAsUser must not be 0.

From v1.35 both are skipped for pods in a user namespace (`hostUsers: false`), where UID 0 in the
container maps to an unprivileged UID on the node.
"""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import join_quote, pluralize, user_namespaced

Result = tuple[str, str] | None
_NONE = Containers([], set())


def run_as_non_root_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    setters = []
    pod_ok = False
    psc = spec.get("securityContext")
    if psc:
        v = psc.get("runAsNonRoot")
        if v is not None:
            if v is False:
                setters.append("pod")
            else:
                pod_ok = True
    explicit = []
    implicit = []
    if pod_ok and "runAsNonRoot" not in ctrs.sc_keys:
        ctrs = _NONE  # the pod-level true covers every container and none overrides it
    for c, sc in ctrs:
        v = sc.get("runAsNonRoot") if sc else None
        if v is not None:
            if v is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(f"{pluralize('container', 'containers', len(explicit))} {join_quote(explicit)}")
    if setters:
        return (
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return "runAsNonRoot != true", (
            f"pod or {pluralize('container', 'containers', len(implicit))} {join_quote(implicit)} "
            "must set securityContext.runAsNonRoot=true"
        )
    return None


def run_as_non_root_1_35(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    if user_namespaced(spec):
        return None
    return run_as_non_root_1_0(meta, spec, ctrs)


def _is_root(v: Any) -> bool:
    return v is not None and v is not False and v == 0


def run_as_user_1_23(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    setters = []
    psc = spec.get("securityContext")
    if psc and _is_root(psc.get("runAsUser")):
        setters.append("pod")
    bad = []
    if "runAsUser" in ctrs.sc_keys:
        for c, sc in ctrs:
            if sc and _is_root(sc.get("runAsUser")):
                bad.append(c.get("name", ""))
    if bad:
        setters.append(f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)}")
    if setters:
        return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"
    return None


def run_as_user_1_35(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    if user_namespaced(spec):
        return None
    return run_as_user_1_23(meta, spec, ctrs)


CHECKS = (
    Check(
        "runAsNonRoot",
        Level.RESTRICTED,
        (VersionedCheck(0, run_as_non_root_1_0), VersionedCheck(35, run_as_non_root_1_35)),
        "pod or every container must set runAsNonRoot=true (v1.35+: not when hostUsers is false)",
    ),
    Check(
        "runAsUser",
        Level.RESTRICTED,
        (VersionedCheck(23, run_as_user_1_23), VersionedCheck(35, run_as_user_1_35)),
        "pod and containers must not set runAsUser=0 (v1.35+: not when hostUsers is false)",
    ),
)
