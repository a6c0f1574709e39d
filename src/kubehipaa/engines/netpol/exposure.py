"""Exposure of a set of namespaces: who can reach their workloads and where they can send.

Built on the connlist: every allowed connection that crosses the boundary of the namespace set is an
exposure, split into inbound (from other namespaces, external ranges, the ingress controller) and
outbound. Workloads that no policy isolates are listed separately, since they are open by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubehipaa.engines.netpol.analysis import Connection, Engine


def peer_namespace(name: str) -> str | None:
    """The namespace of a printed peer, or None for External ranges and the ingress controller."""
    if name.endswith("[External]") or name.startswith("{"):
        return None
    return name.split("/", 1)[0]


@dataclass(slots=True)
class Exposure:
    namespaces: list[str]
    inbound: list[Connection] = field(default_factory=list)
    outbound: list[Connection] = field(default_factory=list)
    not_isolated_ingress: list[str] = field(default_factory=list)
    not_isolated_egress: list[str] = field(default_factory=list)


def exposure(
    engine: Engine, namespaces: Iterable[str], connections: list[Connection] | None = None
) -> Exposure:
    nss = sorted(set(namespaces))
    inside = set(nss)
    rows = engine.connections() if connections is None else connections
    res = Exposure(nss)
    for c in rows:
        s_in = peer_namespace(c.src) in inside
        d_in = peer_namespace(c.dst) in inside
        if d_in and not s_in:
            res.inbound.append(c)
        elif s_in and not d_in:
            res.outbound.append(c)
    for w in engine.topo.workloads:
        if w.namespace not in inside:
            continue
        ci = engine.class_of[w.key]
        if not engine.in_pols[ci]:
            res.not_isolated_ingress.append(w.key)
        if not engine.eg_pols[ci]:
            res.not_isolated_egress.append(w.key)
    return res


def exposure_text(e: Exposure) -> str:
    lines = [
        f"Exposure of namespace(s): {', '.join(e.namespaces) or '(none)'}",
        "",
        "Inbound (from outside):",
    ]
    lines += [f"  {c.line()}" for c in e.inbound] or ["  (none)"]
    lines += ["", "Outbound (to outside):"]
    lines += [f"  {c.line()}" for c in e.outbound] or ["  (none)"]
    lines += ["", "Workloads not isolated for ingress (open to every source):"]
    lines += [f"  {k}" for k in e.not_isolated_ingress] or ["  (none)"]
    lines += ["", "Workloads not isolated for egress (may send anywhere):"]
    lines += [f"  {k}" for k in e.not_isolated_egress] or ["  (none)"]
    return "\n".join(lines) + "\n"


def exposure_dict(e: Exposure) -> dict[str, object]:
    def rows(cs: list[Connection]) -> list[dict[str, str]]:
        return [{"src": c.src, "dst": c.dst, "conn": c.conn_str} for c in cs]

    return {
        "namespaces": e.namespaces,
        "inbound": rows(e.inbound),
        "outbound": rows(e.outbound),
        "notIsolatedIngress": e.not_isolated_ingress,
        "notIsolatedEgress": e.not_isolated_egress,
    }
