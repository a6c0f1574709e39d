"""`can-reach`: decide one flow and say which policies and rules decide it.

The verdict names, for each side, the policies that isolate the peer (source for egress, destination
for ingress) and the rules that allow the requested protocol/port, or states that no rule does. The
allowed set between the two peers is computed with the same per-class logic as the connlist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Engine
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.ipranges import Interval, parse_ip_or_cidr
from kubehipaa.engines.netpol.peers import INGRESS_CONTROLLER, INGRESS_CONTROLLER_PEER, ExternalPeer, Peer
from kubehipaa.engines.netpol.topology import NetpolError, Policy, Rule, Workload


@dataclass(slots=True)
class Endpoint:
    """A workload peer, the ingress controller or an external address range."""

    peer: Peer
    workload: Workload | None = None
    ip: Interval | None = None
    cls: int | None = None  # equivalence class (workloads and the ingress controller)

    @property
    def name(self) -> str:
        """The peer's printed name (for messages)."""
        return self.peer.text


@dataclass(slots=True)
class RuleMatch:
    policy: str
    rule: str  # "Egress rule #2"
    conn: ConnSet


@dataclass(slots=True)
class Side:
    """One direction's decision: egress at the source or ingress at the destination."""

    direction: str  # "Egress" | "Ingress"
    subject: Peer
    isolating: list[str] = field(default_factory=list)
    rules: list[RuleMatch] = field(default_factory=list)
    allowed: ConnSet = conns.ALL

    @property
    def isolated(self) -> bool:
        return bool(self.isolating)

    @property
    def external(self) -> bool:
        """Whether the subject is an address range outside the cluster (no policy governs it)."""
        return isinstance(self.subject, ExternalPeer)

    def rules_allowing(self, protocol: str | None, port: int | None) -> list[RuleMatch]:
        """The matching rules that allow `port`/`protocol` (all matching rules when no port is asked)."""
        if protocol is None or port is None:
            return list(self.rules)
        return [r for r in self.rules if conns.contains(r.conn, protocol, port)]


@dataclass(slots=True)
class Verdict:
    src: Endpoint
    dst: Endpoint
    protocol: str | None
    port: int | None
    egress: Side
    ingress: Side
    allowed: ConnSet

    @property
    def reachable(self) -> bool:
        if self.protocol is None or self.port is None:
            return not conns.is_empty(self.allowed)
        return conns.contains(self.allowed, self.protocol, self.port)


def resolve(engine: Engine, text: str) -> Endpoint:
    """`ns/name`, `ns/name[Kind]`, `{ingress-controller}` or an IPv4 address/CIDR."""
    if text == INGRESS_CONTROLLER:
        if engine.ic_class is None:
            raise NetpolError("no Ingress or Route in the input, so there is no ingress controller peer")
        return Endpoint(INGRESS_CONTROLLER_PEER, cls=engine.ic_class)
    if "/" not in text or text.replace(".", "").replace("/", "").isdigit():
        try:
            iv = parse_ip_or_cidr(text)
        except ValueError as exc:
            raise NetpolError(f"{text}: not a workload (ns/name) nor an address: {exc}") from None
        return Endpoint(ExternalPeer(*iv), ip=iv)
    matches = [w for w in engine.topo.workloads if w.key == text or f"{w.namespace}/{w.name}" == text]
    if not matches:
        raise NetpolError(
            f"{text}: no such workload in the input (use ns/name, optionally followed by the kind in brackets)"
        )
    if len(matches) > 1:
        raise NetpolError(f"{text}: ambiguous, matches {', '.join(w.key for w in matches)}")
    return Endpoint(matches[0].peer, workload=matches[0], cls=engine.class_of[matches[0].peer])


def _selects(engine: Engine, pol: Policy, rule: Rule, ingress: bool, peer: Endpoint) -> bool:
    if rule.peers is None:
        return True
    if peer.ip is not None:
        lo, hi = peer.ip
        return any(
            p.ipblock is not None and any(s <= lo and hi <= e for s, e in p.ipblock) for p in rule.peers
        )
    return peer.cls in set(engine.rule_members(pol, rule, ingress)[0])


def _side(engine: Engine, subject: Endpoint, other: Endpoint, dst: Endpoint, ingress: bool) -> Side:
    direction = "Ingress" if ingress else "Egress"
    side = Side(direction, subject.peer)
    if subject.cls is None:
        return side  # external addresses are not governed by NetworkPolicies
    ci = subject.cls
    pols = engine.in_pols[ci] if ingress else engine.eg_pols[ci]
    if not pols:
        return side
    allowed = conns.NONE
    for pi in pols:
        pol = engine.policies[pi]
        side.isolating.append(pol.key)
        for rule in pol.ingress_rules if ingress else pol.egress_rules:
            if not _selects(engine, pol, rule, ingress, other):
                continue
            c = rule.conn_for(dst.workload)
            if conns.is_empty(c):
                continue
            side.rules.append(RuleMatch(pol.key, f"{direction} rule #{rule.index + 1}", c))
            allowed = conns.union(allowed, c)
    side.allowed = allowed
    return side


def can_reach(
    engine: Engine, src: str, dst: str, protocol: str | None = None, port: int | None = None
) -> Verdict:
    """Whether `src` may open a connection to `dst` (on `protocol`/`port` if given), with the reasons."""
    s, d = resolve(engine, src), resolve(engine, dst)
    if s.ip is not None and d.ip is not None:
        raise NetpolError("at least one of source and destination must be a workload")
    if protocol is not None:
        protocol = protocol.upper()
        if protocol not in conns.PROTO_INDEX:
            raise NetpolError(f"protocol {protocol!r} is not one of SCTP, TCP, UDP")
    eg = _side(engine, s, d, d, ingress=False)
    ing = _side(engine, d, s, d, ingress=True)
    allowed = conns.intersect(eg.allowed, ing.allowed)
    if s.workload is not None and s.workload is d.workload:
        allowed = conns.ALL  # a pod may always talk to itself
    return Verdict(s, d, protocol, port, eg, ing, allowed)
