"""Sysctls: only the namespaced, isolated "safe" set; the set grows with the policy version."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, CheckFn, Containers, VersionedCheck

Result = tuple[str, str] | None

SAFE_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
SAFE_1_27 = SAFE_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SAFE_1_29 = SAFE_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SAFE_1_32 = SAFE_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SAFE_1_37 = SAFE_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _make(allowed: frozenset[str]) -> CheckFn:
    def check(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
        psc = spec.get("securityContext")
        if not psc:
            return None
        sysctls = psc.get("sysctls")
        if not sysctls:
            return None
        bad = [str(s.get("name", "")) for s in sysctls if s.get("name", "") not in allowed]
        if bad:
            return "forbidden sysctls", ", ".join(bad)
        return None

    return check


CHECKS = (
    Check(
        "sysctls",
        Level.BASELINE,
        (
            VersionedCheck(0, _make(SAFE_1_0)),
            VersionedCheck(27, _make(SAFE_1_27)),
            VersionedCheck(29, _make(SAFE_1_29)),
            VersionedCheck(32, _make(SAFE_1_32)),
            VersionedCheck(37, _make(SAFE_1_37)),
        ),
        "spec.securityContext.sysctls limited to the safe set of the policy version",
    ),
)
