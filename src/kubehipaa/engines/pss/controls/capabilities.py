"""Linux capabilities: baseline limits `add` to the container runtime's default set; restricted requires
`drop: ["ALL"]` and allows only NET_BIND_SERVICE to be added (and overrides the baseline check)."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import is_windows, join_quote, pluralize

Result = tuple[str, str] | None

DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def _cap_list(value: Any, field: str) -> Any:
    """`add`/`drop` must be lists: a YAML string would otherwise be read one character at a time."""
    if value and not isinstance(value, list):
        raise TypeError(f"securityContext.capabilities.{field} must be a list, not {type(value).__name__}")
    return value


def capabilities_baseline_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    if "capabilities" not in ctrs.sc_keys:
        return None
    bad = []
    extra: set[str] = set()
    for c, sc in ctrs:
        if not sc:
            continue
        caps = sc.get("capabilities")
        if not caps:
            continue
        added = _cap_list(caps.get("add"), "add")
        if not added:
            continue
        hit = False
        for cap in added:
            if cap not in DEFAULT_CAPABILITIES:
                hit = True
                extra.add(str(cap))
        if hit:
            bad.append(c.get("name", ""))
    if bad:
        return "non-default capabilities", (
            f"{pluralize('container', 'containers', len(bad))} {join_quote(bad)} "
            f"must not include {join_quote(sorted(extra))} in securityContext.capabilities.add"
        )
    return None


def capabilities_restricted_1_22(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    missing_drop = []
    adding = []
    forbidden: set[str] = set()
    for c, sc in ctrs:
        caps = sc.get("capabilities") if sc else None
        if caps is None:
            missing_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (_cap_list(caps.get("drop"), "drop") or ()):
            missing_drop.append(c.get("name", ""))
        added = _cap_list(caps.get("add"), "add")
        if added:
            hit = False
            for cap in added:
                if cap != "NET_BIND_SERVICE":
                    hit = True
                    forbidden.add(str(cap))
            if hit:
                adding.append(c.get("name", ""))
    details = []
    if missing_drop:
        details.append(
            f"{pluralize('container', 'containers', len(missing_drop))} {join_quote(missing_drop)} "
            'must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{pluralize('container', 'containers', len(adding))} {join_quote(adding)} "
            f"must not include {join_quote(sorted(forbidden))} in securityContext.capabilities.add"
        )
    if details:
        return "unrestricted capabilities", "; ".join(details)
    return None


def capabilities_restricted_1_25(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    """From v1.25 Windows pods are exempt (capabilities are invalid for them)."""
    if is_windows(spec):
        return None
    return capabilities_restricted_1_22(meta, spec, ctrs)


CHECKS = (
    Check(
        "capabilities_baseline",
        Level.BASELINE,
        (VersionedCheck(0, capabilities_baseline_1_0),),
        "capabilities.add limited to the runtime default set (no NET_RAW, SYS_ADMIN, ...)",
    ),
    Check(
        "capabilities_restricted",
        Level.RESTRICTED,
        (
            VersionedCheck(22, capabilities_restricted_1_22, overrides=("capabilities_baseline",)),
            VersionedCheck(25, capabilities_restricted_1_25, overrides=("capabilities_baseline",)),
        ),
        'containers must drop ["ALL"] and may add only NET_BIND_SERVICE (v1.25+: not Windows pods)',
    ),
)
