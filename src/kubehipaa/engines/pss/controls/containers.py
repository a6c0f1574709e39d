"""Per-container security context: privileged, Windows hostProcess, procMount, privilege escalation."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import is_windows, join_quote, pluralize, user_namespaced

Result = tuple[str, str] | None


def privileged_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    if "privileged" not in ctrs.sc_keys:
        return None
    bad = []
    for c, sc in ctrs:
        if sc and sc.get("privileged") is True:
            bad.append(c.get("name", ""))
    if bad:
        return "privileged", (
            f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} "
            "must not set securityContext.privileged=true"
        )
    return None


def _host_process(sc: Any) -> bool:
    if not sc:
        return False
    wo = sc.get("windowsOptions")
    return bool(wo) and wo.get("hostProcess") is True


def windows_host_process_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    bad = []
    if "windowsOptions" in ctrs.sc_keys:
        for c, sc in ctrs:
            if sc and _host_process(sc):
                bad.append(c.get("name", ""))
    setters = []
    if _host_process(spec.get("securityContext")):
        setters.append("pod")
    if bad:
        setters.append(f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)}")
    if setters:
        return "hostProcess", (
            f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"
        )
    return None


def proc_mount_strict(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """Only unset or "Default" is allowed, whatever the pod's user namespace."""
    if "procMount" not in ctrs.sc_keys:
        return None
    bad = []
    types: set[str] = set()
    for c, sc in ctrs:
        if not sc:
            continue
        pm = sc.get("procMount")
        if pm is not None and pm != "Default":
            bad.append(c.get("name", ""))
            types.add(str(pm))
    if bad:
        return "procMount", (
            f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} "
            f"must not set securityContext.procMount to {join_quote(sorted(types))}"
        )
    return None


def proc_mount_baseline_1_35(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """From v1.35 baseline lets a user-namespaced pod (hostUsers: false) pick any procMount."""
    if user_namespaced(spec):
        return None
    return proc_mount_strict(meta, spec, ctrs)


def allow_privilege_escalation_1_8(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    bad = []
    for c, sc in ctrs:
        if not sc or sc.get("allowPrivilegeEscalation") is not False:
            bad.append(c.get("name", ""))
    if bad:
        return "allowPrivilegeEscalation != false", (
            f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} "
            "must set securityContext.allowPrivilegeEscalation=false"
        )
    return None


def allow_privilege_escalation_1_25(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """From v1.25 Windows pods are exempt (the field is invalid for them)."""
    if is_windows(spec):
        return None
    return allow_privilege_escalation_1_8(meta, spec, ctrs)


CHECKS = (
    Check(
        "privileged",
        Level.BASELINE,
        (VersionedCheck(0, privileged_1_0),),
        "containers must not set securityContext.privileged=true",
    ),
    Check(
        "windowsHostProcess",
        Level.BASELINE,
        (VersionedCheck(0, windows_host_process_1_0),),
        "pod and containers must not set securityContext.windowsOptions.hostProcess=true",
    ),
    Check(
        "procMount",
        Level.BASELINE,
        (VersionedCheck(0, proc_mount_strict), VersionedCheck(35, proc_mount_baseline_1_35)),
        'securityContext.procMount must be unset or "Default" (v1.35+: any value when hostUsers is false)',
    ),
    Check(
        "procMount_restricted",
        Level.RESTRICTED,
        (VersionedCheck(35, proc_mount_strict, overrides=("procMount",)),),
        'securityContext.procMount must be unset or "Default", even in a user namespace',
    ),
    Check(
        "allowPrivilegeEscalation",
        Level.RESTRICTED,
        (
            VersionedCheck(8, allow_privilege_escalation_1_8),
            VersionedCheck(25, allow_privilege_escalation_1_25),
        ),
        "containers must set securityContext.allowPrivilegeEscalation=false (v1.25+: not Windows pods)",
    ),
)
