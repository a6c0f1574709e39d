"""Exposure of a set of namespaces: who can reach their workloads and where they can send.

Built on the connlist: every allowed connection that crosses the boundary of the namespace set is an
exposure, split into inbound (from other namespaces, external ranges, the ingress controller) and
outbound. Because the connlist only knows the pods in the input, the rules that would admit pods or
namespaces created later (namespaceSelector, ipBlock, no peers at all) are listed too, and workloads that
no policy isolates are listed separately, since they are open by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Connection, Engine
from kubehipaa.engines.netpol.topology import Rule, Workload


def peer_namespace(name: str) -> str | None:
    """The namespace of a printed peer, or None for External ranges and the ingress controller."""
    if name.endswith("[External]") or name.startswith("{"):
        return None
    return name.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class RuleExposure:
    """A rule that opens a workload to peers beyond its namespace, whether or not such peers exist yet."""

    workload: str
    policy: str
    rule: str  # "Ingress rule #1"
    peer: str  # "any peer", "namespaceSelector {} and podSelector app=x", "ipBlock 0.0.0.0/0"
    ports: str

    def line(self) -> str:
        arrow = "<=" if self.rule.startswith("Ingress") else "=>"
        return f"{self.workload} {arrow} {self.peer} : {self.ports} ({self.policy} {self.rule})"


@dataclass(slots=True)
class Exposure:
    namespaces: list[str]
    inbound: list[Connection] = field(default_factory=list)
    outbound: list[Connection] = field(default_factory=list)
    not_isolated_ingress: list[str] = field(default_factory=list)
    not_isolated_egress: list[str] = field(default_factory=list)
    rules_in: list[RuleExposure] = field(default_factory=list)
    rules_out: list[RuleExposure] = field(default_factory=list)


def _rule_exposures(engine: Engine, w: Workload, ingress: bool) -> list[RuleExposure]:
    """Rules of the policies isolating `w` whose peers reach beyond its namespace."""
    ci = engine.class_of[w.key]
    out: list[RuleExposure] = []
    direction = "Ingress" if ingress else "Egress"
    for pi in engine.in_pols[ci] if ingress else engine.eg_pols[ci]:
        pol = engine.policies[pi]
        rules: list[Rule] = pol.ingress_rules if ingress else pol.egress_rules
        for rule in rules:
            if ingress:
                c = rule.conn_for(w)
                if conns.is_empty(c):
                    continue
                ports = conns.to_str(c)
            else:
                ports = ", ".join(str(p) for p in rule.ports) if rule.ports else conns.ALL_CONNECTIONS
            label = f"{direction} rule #{rule.index + 1}"
            if rule.peers is None:
                out.append(
                    RuleExposure(w.key, pol.key, label, "any peer (every namespace and address)", ports)
                )
                continue
            for peer in rule.peers:
                if peer.ns_selector is not None or peer.is_ip:
                    out.append(RuleExposure(w.key, pol.key, label, peer.text, ports))
    return out


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
        res.rules_in.extend(_rule_exposures(engine, w, True))
        res.rules_out.extend(_rule_exposures(engine, w, False))
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
    lines += [
        "",
        "Policy rules admitting peers beyond the namespace (also pods and namespaces created later):",
    ]
    lines += [f"  {r.line()}" for r in e.rules_in] or ["  (none)"]
    lines += ["", "Policy rules letting workloads send beyond the namespace:"]
    lines += [f"  {r.line()}" for r in e.rules_out] or ["  (none)"]
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
        "ingressRules": [
            {"workload": r.workload, "policy": r.policy, "rule": r.rule, "peer": r.peer, "ports": r.ports}
            for r in e.rules_in
        ],
        "egressRules": [
            {"workload": r.workload, "policy": r.policy, "rule": r.rule, "peer": r.peer, "ports": r.ports}
            for r in e.rules_out
        ],
    }
