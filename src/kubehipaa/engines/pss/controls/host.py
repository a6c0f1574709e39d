"""Host isolation: host namespaces, hostPath volumes, host ports, probe/lifecycle hosts (baseline)."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level
from kubehipaa.engines.pss.base import Check, Containers, VersionedCheck
from kubehipaa.engines.pss.helpers import join_quote, pluralize

Result = tuple[str, str] | None


def host_namespaces_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    found = []
    if spec.get("hostNetwork") is True:
        found.append("hostNetwork=true")
    if spec.get("hostPID") is True:
        found.append("hostPID=true")
    if spec.get("hostIPC") is True:
        found.append("hostIPC=true")
    if found:
        return "host namespaces", ", ".join(found)
    return None


def host_path_volumes_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    volumes = spec.get("volumes")
    if not volumes:
        return None
    bad = [v.get("name", "") for v in volumes if v.get("hostPath") is not None]
    if bad:
        return "hostPath volumes", f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)}"
    return None


def host_ports_1_0(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    bad: list[str] = []
    ports_seen: set[str] = set()
    for c, _sc in ctrs:
        ports = c.get("ports")
        if not ports:
            continue
        hit = False
        for p in ports:
            hp = p.get("hostPort")
            if hp is not None and hp != 0:
                hit = True
                ports_seen.add(str(hp))
        if hit:
            bad.append(c.get("name", ""))
    if bad:
        n = len(bad)
        return "hostPort", (
            f"{pluralize('container', 'containers', n)} {join_quote(bad)} {pluralize('uses', 'use', n)} "
            f"{pluralize('hostPort', 'hostPorts', len(ports_seen))} {', '.join(sorted(ports_seen))}"
        )
    return None


_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HOOKS = ("postStart", "preStop")


def _hosts(handler: Any, out: list[str]) -> None:
    """Append the non-empty httpGet.host / tcpSocket.host of a probe or lifecycle handler."""
    action = handler.get("httpGet")
    if action and action.get("host"):
        out.append(str(action["host"]))
    action = handler.get("tcpSocket")
    if action and action.get("host"):
        out.append(str(action["host"]))


def host_probes_1_34(meta: dict[str, Any], spec: dict[str, Any], ctrs: Containers) -> Result:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c, _sc in ctrs:
        found: list[str] = []
        for key in _PROBES:
            probe = c.get(key)
            if probe:
                _hosts(probe, found)
        lifecycle = c.get("lifecycle")
        if lifecycle:
            for key in _HOOKS:
                hook = lifecycle.get(key)
                if hook:
                    _hosts(hook, found)
        if found:
            bad.add(c.get("name", ""))
            hosts.update(found)
    if bad:
        n = len(bad)
        return "probe or lifecycle host", (
            f"{pluralize('container', 'containers', n)} {join_quote(sorted(bad))} {pluralize('uses', 'use', n)} "
            f"{pluralize('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
            f"{join_quote(sorted(hosts))}"
        )
    return None


CHECKS = (
    Check(
        "hostNamespaces",
        Level.BASELINE,
        (VersionedCheck(0, host_namespaces_1_0),),
        "spec.hostNetwork, hostPID and hostIPC must be unset or false",
    ),
    Check(
        "hostPathVolumes",
        Level.BASELINE,
        (VersionedCheck(0, host_path_volumes_1_0),),
        "spec.volumes[*].hostPath must be unset",
    ),
    Check(
        "hostPorts",
        Level.BASELINE,
        (VersionedCheck(0, host_ports_1_0),),
        "containers[*].ports[*].hostPort must be unset or 0",
    ),
    Check(
        "hostProbesAndHostLifecycle",
        Level.BASELINE,
        (VersionedCheck(34, host_probes_1_34),),
        "probes and lifecycle handlers must not set httpGet.host or tcpSocket.host",
    ),
)
