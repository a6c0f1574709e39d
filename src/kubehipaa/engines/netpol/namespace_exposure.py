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
from kubehipaa.engines.netpol.peers import ANY_PEER, AnyPeer, WorkloadPeer
from kubehipaa.engines.netpol.topology import PeerSpec, Rule, Workload


@dataclass(frozen=True, slots=True)
class RuleExposure:
    """A rule that opens a workload to peers beyond its namespace, whether or not such peers exist yet."""

    workload: WorkloadPeer
    policy: str  # "ns/name"
    ingress: bool
    index: int  # 0-based position of the rule in the policy's ingress (egress) list
    peer: PeerSpec | AnyPeer  # a namespaceSelector or ipBlock peer, or any peer (a rule without peers)
    ports: str  # "TCP 8080", "All Connections"; an egress rule's ports as written ("TCP http")

    @property
    def rule(self) -> str:
        """`Ingress rule #1`, as the messages and reports name a rule."""
        return f"{'Ingress' if self.ingress else 'Egress'} rule #{self.index + 1}"


@dataclass(slots=True)
class Exposure:
    namespaces: list[str]
    inbound: list[Connection] = field(default_factory=list)
    outbound: list[Connection] = field(default_factory=list)
    not_isolated_ingress: list[WorkloadPeer] = field(default_factory=list)
    not_isolated_egress: list[WorkloadPeer] = field(default_factory=list)
    rules_in: list[RuleExposure] = field(default_factory=list)
    rules_out: list[RuleExposure] = field(default_factory=list)


def _rule_exposures(engine: Engine, w: Workload, ingress: bool) -> list[RuleExposure]:
    """Rules of the policies isolating `w` whose peers reach beyond its namespace."""
    ci = engine.class_of[w.peer]
    out: list[RuleExposure] = []
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
            if rule.peers is None:
                out.append(RuleExposure(w.peer, pol.key, ingress, rule.index, ANY_PEER, ports))
                continue
            for peer in rule.peers:
                if peer.ns_selector is not None or peer.is_ip:
                    out.append(RuleExposure(w.peer, pol.key, ingress, rule.index, peer, ports))
    return out


def exposure(
    engine: Engine, namespaces: Iterable[str], connections: list[Connection] | None = None
) -> Exposure:
    """What crosses the boundary of `namespaces` (module doc); `connections` is the engine's full list when
    the caller has it already."""
    nss = sorted(set(namespaces))
    inside = set(nss)
    rows = engine.connections() if connections is None else connections
    res = Exposure(nss)
    for c in rows:
        s_in = c.src.namespace in inside
        d_in = c.dst.namespace in inside
        if d_in and not s_in:
            res.inbound.append(c)
        elif s_in and not d_in:
            res.outbound.append(c)
    for w in engine.topo.workloads:
        if w.namespace not in inside:
            continue
        ci = engine.class_of[w.peer]
        if not engine.in_pols[ci]:
            res.not_isolated_ingress.append(w.peer)
        if not engine.eg_pols[ci]:
            res.not_isolated_egress.append(w.peer)
        res.rules_in.extend(_rule_exposures(engine, w, True))
        res.rules_out.extend(_rule_exposures(engine, w, False))
    return res
