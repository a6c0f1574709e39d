"""Connectivity computation over equivalence classes.

Pods whose namespace, labels and named container ports are identical cannot be told apart by any
NetworkPolicy, so the engine evaluates policies once per *class* and only expands classes back into
workload peers when it writes the result. External addresses are handled the same way through the
atoms of `ipranges` (one per direction: ingress ipBlocks yield source atoms, egress ipBlocks destination
atoms, as netpol-analyzer does).

Per direction the upstream semantics apply: a pod is isolated for ingress (egress) iff some policy in its
namespace selects it and has that policy type; an isolated pod admits the union of what the rules of its
selecting policies allow; a connection needs both the source's egress and the destination's ingress.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.ipranges import Interval, atoms, atoms_inside
from kubehipaa.engines.netpol.peers import INGRESS_CONTROLLER_PEER, ExternalPeer, Peer, WorkloadPeer
from kubehipaa.engines.netpol.selectors import Selector
from kubehipaa.engines.netpol.topology import (
    INGRESS_CONTROLLER_NS,
    NS_NAME_LABEL,
    PeerSpec,
    Policy,
    Rule,
    Topology,
    Workload,
)


@dataclass(frozen=True, slots=True)
class Connection:
    """One allowed (src, dst) pair of typed peers (`peers`) and the connections allowed between them."""

    src: Peer
    dst: Peer
    conn: ConnSet

    @property
    def conn_str(self) -> str:
        """`All Connections` or `TCP 80,UDP 53` (netpol-analyzer's text)."""
        return conns.to_str(self.conn)

    def line(self) -> str:
        """`src => dst : conns`: netpol-analyzer's line, the identity of a connection (the list is sorted by it
        and the `txt` format is these lines)."""
        return f"{self.src.text} => {self.dst.text} : {conns.to_str(self.conn)}"


@dataclass(frozen=True, slots=True)
class Connlist:
    """The answer to "which connections are allowed": the connections, sorted, and every workload peer of the
    input (the `dot` graph draws those without any connection too)."""

    connections: list[Connection]
    peers: list[WorkloadPeer]


@dataclass(slots=True)
class _Xgress:
    """What an isolated class may exchange: per peer class and per atom."""

    pods: dict[int, ConnSet]
    ips: dict[int, ConnSet]


class Engine:
    """Compiled view of a topology: classes, atoms, policy selections and rule members."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.policies = topo.policies
        self.namespaces = dict(topo.namespaces)
        self.class_labels: list[dict[str, str]] = []
        self.class_ns: list[str] = []
        self.class_rep: list[Workload | None] = []
        self.members: list[list[Workload]] = []
        self.class_of: dict[WorkloadPeer, int] = {}
        index: dict[tuple[Any, ...], int] = {}
        for w in topo.workloads:
            named = tuple(sorted((p.name, p.number, p.protocol) for p in w.ports if p.name))
            key = (w.namespace, tuple(sorted(w.labels.items())), named)
            ci = index.get(key)
            if ci is None:
                ci = index[key] = self._new_class(w.namespace, w.labels, w)
            self.members[ci].append(w)
            self.class_of[w.peer] = ci
        self.ic_class: int | None = None
        if topo.ingress_targets:
            self.namespaces.setdefault(INGRESS_CONTROLLER_NS, {NS_NAME_LABEL: INGRESS_CONTROLLER_NS})
            self.ic_class = self._new_class(INGRESS_CONTROLLER_NS, {}, None)
        self.ns_classes: dict[str, list[int]] = defaultdict(list)
        # (namespace, label key, label value) -> classes carrying that label, ascending: a selector with
        # an equality requirement is matched against those classes only, not every class of the namespace
        self._label_index: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for ci, ns in enumerate(self.class_ns):
            self.ns_classes[ns].append(ci)
            for k, v in self.class_labels[ci].items():
                self._label_index[(ns, k, v)].append(ci)
        self._selected: dict[int, list[int]] = {}
        self.src_atoms = atoms(self._blocks(ingress=True))
        self.dst_atoms = atoms(self._blocks(ingress=False))
        # which policies isolate each class, per direction (indices into self.policies)
        self.in_pols: list[tuple[int, ...]] = []
        self.eg_pols: list[tuple[int, ...]] = []
        self._select_policies()
        self._peer_cache: dict[tuple[Any, ...], list[int]] = {}
        self._members_cache: dict[tuple[int, bool], tuple[list[int], list[int]]] = {}
        self._in_cache: dict[tuple[Any, ...], _Xgress] = {}
        self._eg_cache: dict[tuple[int, ...], _Xgress] = {}
        self._in_of: dict[int, _Xgress | None] = {}
        self._eg_of: dict[int, _Xgress | None] = {}

    # -- construction ---------------------------------------------------------------------------------

    def _new_class(self, ns: str, labels: dict[str, str], rep: Workload | None) -> int:
        self.class_labels.append(labels)
        self.class_ns.append(ns)
        self.class_rep.append(rep)
        self.members.append([])
        return len(self.class_labels) - 1

    def _blocks(self, ingress: bool) -> list[tuple[Interval, ...]]:
        out = []
        for pol in self.policies:
            for rule in pol.ingress_rules if ingress else pol.egress_rules:
                for peer in rule.peers or ():
                    if peer.ipblock is not None:
                        out.append(peer.ipblock)
        return out

    def matching_classes(self, ns: str, sel: Selector, *, include_ic: bool = False) -> list[int]:
        """Classes of namespace `ns` (ascending) that `sel` matches; the ingress-controller class (no labels)
        only with `include_ic`."""
        candidates: list[int] | None = None
        for req in sel.requirements:
            if req.op != "In":
                continue
            if len(req.values) == 1:
                (value,) = req.values
                found = self._label_index.get((ns, req.key, value), [])
            else:
                found = sorted({ci for v in req.values for ci in self._label_index.get((ns, req.key, v), ())})
            if candidates is None or len(found) < len(candidates):
                candidates = found
            if not candidates:
                return []
        if candidates is None:
            candidates = self.ns_classes.get(ns, [])
        labels, ic = self.class_labels, None if include_ic else self.ic_class
        return [ci for ci in candidates if ci != ic and sel.matches(labels[ci])]

    def _select_policies(self) -> None:
        ins: list[list[int]] = [[] for _ in self.class_labels]
        egs: list[list[int]] = [[] for _ in self.class_labels]
        for pi, pol in enumerate(self.policies):
            if not (pol.affects_ingress or pol.affects_egress):
                continue
            for ci in self.selected_classes(pol):
                if pol.affects_ingress:
                    ins[ci].append(pi)
                if pol.affects_egress:
                    egs[ci].append(pi)
        self.in_pols = [tuple(x) for x in ins]
        self.eg_pols = [tuple(x) for x in egs]

    def selected_classes(self, pol: Policy) -> list[int]:
        """Classes a policy's podSelector picks in its namespace (regardless of policy types)."""
        hit = self._selected.get(id(pol))
        if hit is None:
            hit = self._selected[id(pol)] = self.matching_classes(pol.namespace, pol.pod_selector)
        return list(hit)

    def _peer_classes(self, peer: PeerSpec, policy_ns: str) -> list[int]:
        key = (policy_ns if peer.ns_selector is None else None, peer.ns_selector, peer.pod_selector)
        hit = self._peer_cache.get(key)
        if hit is not None:
            return hit
        if peer.ns_selector is None:
            nss = [policy_ns]
        else:
            sel: Selector = peer.ns_selector
            nss = [ns for ns, labels in self.namespaces.items() if sel.matches(labels)]
        out: list[int] = []
        pod_sel = peer.pod_selector
        for ns in nss:
            if pod_sel is None:
                out.extend(self.ns_classes.get(ns, ()))
            else:
                out.extend(self.matching_classes(ns, pod_sel, include_ic=True))
        self._peer_cache[key] = out
        return out

    def rule_members(self, pol: Policy, rule: Rule, ingress: bool) -> tuple[list[int], list[int]]:
        """(peer classes, atom indices) a rule's `from`/`to` selects."""
        key = (id(rule), ingress)
        hit = self._members_cache.get(key)
        if hit is not None:
            return hit
        atom_list = self.src_atoms if ingress else self.dst_atoms
        if rule.peers is None:
            res = (list(range(len(self.class_labels))), list(range(len(atom_list))))
        else:
            cls: set[int] = set()
            ats: set[int] = set()
            for peer in rule.peers:
                if peer.ipblock is not None:
                    ats.update(atoms_inside(atom_list, peer.ipblock))
                else:
                    cls.update(self._peer_classes(peer, pol.namespace))
            res = (list(cls), sorted(ats))
        self._members_cache[key] = res
        return res

    # -- per-class allowed sets ------------------------------------------------------------------------

    def ingress_of(self, d: int) -> _Xgress | None:
        """What isolated class `d` admits; None when no policy isolates it for ingress."""
        if d in self._in_of:
            return self._in_of[d]
        res = self._ingress_of(d)
        self._in_of[d] = res
        return res

    def _ingress_of(self, d: int) -> _Xgress | None:
        pols = self.in_pols[d]
        if not pols:
            return None
        named = any(r.named for pi in pols for r in self.policies[pi].ingress_rules)
        key = (pols, self.class_of_named(d) if named else None)
        hit = self._in_cache.get(key)
        if hit is not None:
            return hit
        rep = self.class_rep[d]
        pods: dict[int, ConnSet] = {}
        ips: dict[int, ConnSet] = {}
        union = conns.union
        for pi in pols:
            pol = self.policies[pi]
            for rule in pol.ingress_rules:
                c = rule.conn_for(rep)
                if conns.is_empty(c):
                    continue
                cls, ats = self.rule_members(pol, rule, True)
                for s in cls:
                    prev = pods.get(s)
                    pods[s] = c if prev is None else union(prev, c)
                for a in ats:
                    prev = ips.get(a)
                    ips[a] = c if prev is None else union(prev, c)
        res = _Xgress(pods, ips)
        self._in_cache[key] = res
        return res

    def class_of_named(self, ci: int) -> tuple[Any, ...]:
        rep = self.class_rep[ci]
        if rep is None:
            return ()
        return tuple(sorted((p.name, p.number, p.protocol) for p in rep.ports if p.name))

    def egress_of(self, s: int) -> _Xgress | None:
        """Where isolated class `s` may send; None when no policy isolates it for egress."""
        if s in self._eg_of:
            return self._eg_of[s]
        res = self._egress_of(s)
        self._eg_of[s] = res
        return res

    def _egress_of(self, s: int) -> _Xgress | None:
        pols = self.eg_pols[s]
        if not pols:
            return None
        hit = self._eg_cache.get(pols)
        if hit is not None:
            return hit
        pods: dict[int, ConnSet] = {}
        ips: dict[int, ConnSet] = {}
        union = conns.union
        for pi in pols:
            pol = self.policies[pi]
            for rule in pol.egress_rules:
                cls, ats = self.rule_members(pol, rule, False)
                if rule.const_conn is not None:
                    c = rule.const_conn
                    for d in cls:
                        prev = pods.get(d)
                        pods[d] = c if prev is None else union(prev, c)
                    for a in ats:
                        prev = ips.get(a)
                        ips[a] = c if prev is None else union(prev, c)
                    continue
                for d in cls:
                    c = rule.conn_for(self.class_rep[d])
                    if not conns.is_empty(c):
                        prev = pods.get(d)
                        pods[d] = c if prev is None else union(prev, c)
        res = _Xgress(pods, ips)
        self._eg_cache[pols] = res
        return res

    # -- class-level pairs -----------------------------------------------------------------------------

    def class_pairs(
        self, src_ok: list[bool] | None = None, dst_ok: list[bool] | None = None
    ) -> dict[tuple[int, int], ConnSet]:
        """Allowed connections between classes (the ingress-controller class excluded).

        `src_ok`/`dst_ok` (one flag per class) restrict the pairs computed, so a question about a few
        namespaces does not pay for the whole cluster.

        Output-sensitive: for a source isolated for egress only the destinations that both its egress
        allows and whose ingress admits it (or that are not isolated) are visited, found by a C-level
        intersection of dict key views instead of a Python loop over every destination.
        """
        n = len(self.class_labels)
        ic = self.ic_class
        ing = [self.ingress_of(d) for d in range(n)]
        open_dsts = {
            d: conns.ALL for d in range(n) if ing[d] is None and d != ic and (dst_ok is None or dst_ok[d])
        }
        ing_by_src: dict[int, dict[int, ConnSet]] = defaultdict(dict)
        for d in range(n):
            x = ing[d]
            if x is None or d == ic or (dst_ok is not None and not dst_ok[d]):
                continue
            for s, c in x.pods.items():
                ing_by_src[s][d] = c
        out: dict[tuple[int, int], ConnSet] = {}
        intersect, is_empty = conns.intersect, conns.is_empty
        for s in range(n):
            if s == ic or (src_ok is not None and not src_ok[s]):
                continue
            admitted = ing_by_src.get(s, {})
            eg = self.egress_of(s)
            if eg is None:
                for d in open_dsts:
                    out[(s, d)] = conns.ALL
                for d, c in admitted.items():
                    out[(s, d)] = c
                continue
            egp = eg.pods
            if dst_ok is not None:
                egp = {d: c for d, c in egp.items() if dst_ok[d]}
            for d in egp.keys() & open_dsts.keys():
                out[(s, d)] = egp[d]
            for d in egp.keys() & admitted.keys():
                c = intersect(egp[d], admitted[d])
                if not is_empty(c):
                    out[(s, d)] = c
        return out

    def connections(
        self, src_namespaces: set[str] | None = None, dst_namespaces: set[str] | None = None
    ) -> list[Connection]:
        """Every allowed connection between peers, sorted by line (netpol-analyzer's order).

        With `src_namespaces` (`dst_namespaces`) only connections whose source (destination) is a workload
        in those namespaces are returned; External and ingress-controller peers belong to no namespace.
        """
        if not self.topo.workloads:
            return []
        res: list[Connection] = []
        append = res.append
        members = self.members
        src_ok = None if src_namespaces is None else [ns in src_namespaces for ns in self.class_ns]
        dst_ok = None if dst_namespaces is None else [ns in dst_namespaces for ns in self.class_ns]
        for (s, d), c in self.class_pairs(src_ok, dst_ok).items():
            for p in members[s]:
                pk = p.peer
                for q in members[d]:
                    if q is not p:
                        append(Connection(pk, q.peer, c))
        src_names = [ExternalPeer(*a) for a in self.src_atoms]
        dst_names = [ExternalPeer(*a) for a in self.dst_atoms]
        for ci in range(len(self.class_labels)):
            if ci == self.ic_class:
                continue
            incoming: list[tuple[int, ConnSet]] = []
            outgoing: list[tuple[int, ConnSet]] = []
            if src_ok is None and (dst_ok is None or dst_ok[ci]):
                xi = self.ingress_of(ci)
                incoming = (
                    list(enumerate([conns.ALL] * len(src_names))) if xi is None else list(xi.ips.items())
                )
            if dst_ok is None and (src_ok is None or src_ok[ci]):
                xe = self.egress_of(ci)
                outgoing = (
                    list(enumerate([conns.ALL] * len(dst_names))) if xe is None else list(xe.ips.items())
                )
            for w in members[ci]:
                for a, c in incoming:
                    append(Connection(src_names[a], w.peer, c))
                for b, c in outgoing:
                    append(Connection(w.peer, dst_names[b], c))
        if src_ok is None:
            res.extend(
                c
                for c, d in self._ingress_controller_connections()
                if dst_ok is None or dst_ok[d]
            )
        res.sort(key=lambda x: (x.src.text, x.dst.text))
        return res

    def connlist(self) -> Connlist:
        """Every allowed connection, sorted, with the workload peers of the input."""
        return Connlist(self.connections(), [w.peer for w in self.topo.workloads])

    def ingress_controller_connections(self) -> list[Connection]:
        """What the ingress controller may open, per workload an Ingress or Route sends to; a target the policies
        block entirely is a warning instead."""
        return [c for c, _ in self._ingress_controller_connections()]

    def _ingress_controller_connections(self) -> list[tuple[Connection, int]]:
        """(connection, destination class) pairs of `ingress_controller_connections`."""
        out: list[tuple[Connection, int]] = []
        if self.ic_class is None:
            return out
        for peer, (c_ing, objs) in sorted(self.topo.ingress_targets.items(), key=lambda kv: kv[0].text):
            d = self.class_of[peer]
            xi = self.ingress_of(d)
            allowed = conns.ALL if xi is None else xi.pods.get(self.ic_class, conns.NONE)
            c = conns.intersect(c_ing, allowed)
            if conns.is_empty(c):
                self.topo.warnings.append(
                    f"{objs[0]} routes to {peer}, but network policies block the ingress controller"
                )
                continue
            out.append((Connection(INGRESS_CONTROLLER_PEER, peer, c), d))
        return out


def connlist(topo: Topology) -> Connlist:
    """Every allowed connection of a topology, sorted, with its workload peers."""
    return Engine(topo).connlist()
