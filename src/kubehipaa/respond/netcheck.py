"""What one pod may exchange on the network, from the NetworkPolicy engine: the check behind quarantine.

`pod_network(objects, namespace, name)` answers, for exactly one pod: which policies isolate it for ingress
and for egress, which connections to and from it the policies allow (engine `Connection`s: other pods,
external address ranges, the ingress controller), which rules of its selecting policies still allow
something, and whether it runs in the node's network namespace (`hostNetwork`), where NetworkPolicy does not
isolate it. It is pure (objects in, answer out); `respond quarantine` runs it on what the server answers
after acting (and, under `--dry-run`, on the state its plan would produce), `respond evidence` on the pod it
preserves.

Why every pod is evaluated as its own peer: the engine follows netpol-analyzer, where a pod with a controller
ownerReference stands for its owner (`ns/app-5d9c[ReplicaSet]`) and the owner's FIRST pod's labels speak for
all of them. A quarantined pod differs from its siblings precisely by its labels, so asking about the owner
would answer for a sibling (and a sibling quarantined earlier would make the owner's pods disagree). The
pods' ownerReferences are therefore dropped on copies before the topology is built: each pod is the bare
peer `ns/name[Pod]` with its own labels and named ports, exact per pod. Workload templates (Deployments,
...) are left out: on a live cluster their pods are what exists, and a template would be a second,
hypothetical peer for the same pods.

Why rules as well as connections: connections are computed from the pods that exist now; a rule that still
admits traffic (a user's allow policy selecting the pod: NetworkPolicies are additive, a deny-all cannot
override it) admits pods that arrive later too. The pod is `contained` only when it is isolated in both
directions by policies none of whose rules allows anything, it is not on the host network, and therefore no
connection is allowed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.netpol import (
    NO_CONNECTIONS,
    Connection,
    ConnSet,
    Engine,
    ExternalPeer,
    WorkloadPeer,
    build_topology,
    conns_text,
    make_conns,
    union_conns,
)
from kubehipaa.errors import InputError

EVERY_PORT: ConnSet = union_conns(make_conns("TCP"), union_conns(make_conns("UDP"), make_conns("SCTP")))
"""Every protocol and port: what a side no policy isolates admits."""
CNI_CAVEAT = ("NetworkPolicy is enforced by the cluster's network plugin; the API cannot show whether it "
              "enforces policies, so this is what the policies allow, not a packet test")


@dataclass(frozen=True, slots=True)
class OpenRule:
    """A rule of a policy selecting the pod that still allows something: `NS/policy ingress rule #2`."""

    policy: str
    direction: str  # "ingress" | "egress"
    number: int  # 1-based, as `kubectl get -o yaml` lists the rules
    peers: str
    ports: str

    def __str__(self) -> str:
        return f"NetworkPolicy {self.policy} {self.direction} rule #{self.number} allows {self.ports} " \
               f"{'from' if self.direction == 'ingress' else 'to'} {self.peers}"


@dataclass(frozen=True, slots=True)
class PodNetwork:
    """The network reach of one pod; see the module docstring for why each part is there."""

    namespace: str
    name: str
    peer: WorkloadPeer
    """`ns/name[Pod]`: how the connections name this pod."""
    host_network: bool
    ingress_policies: tuple[str, ...]
    """`ns/name` of every policy that selects the pod and has policy type Ingress (it is then isolated)."""
    egress_policies: tuple[str, ...]
    ingress: tuple[Connection, ...]
    """Allowed connections whose destination is the pod (sorted by netpol-analyzer's line)."""
    egress: tuple[Connection, ...]
    """Allowed connections whose source is the pod."""
    open_rules: tuple[OpenRule, ...]
    problems: tuple[str, ...]
    """Objects the engine left out (each says what the answer then lacks)."""

    @property
    def contained(self) -> bool:
        """No ingress or egress connection allowed, now or for pods that arrive later."""
        return (not self.host_network and bool(self.ingress_policies) and bool(self.egress_policies)
                and not self.ingress and not self.egress and not self.open_rules)

    def rows(self) -> list[tuple[str, str, str]]:
        """(source, destination, connections) of every allowed connection, ingress first: printable rows."""
        return [(c.src.text, c.dst.text, c.conn_str) for c in (*self.ingress, *self.egress)]

    def statement(self) -> list[str]:
        """The verification as lines a responder (and the action log) reads."""
        who = f"pod {self.namespace}/{self.name}"
        lines: list[str] = []
        if self.host_network:
            lines.append(f"NOT CONTAINED: {who} uses hostNetwork: it shares its node's network namespace, which "
                         "NetworkPolicy does not isolate; cordon/drain the node or scale the workload down")
        elif self.contained:
            lines.append(f"verified: no ingress or egress connection to {who} remains allowed "
                         f"(isolated by {', '.join(sorted(set(self.ingress_policies) | set(self.egress_policies)))})")
        else:
            lines.append(f"NOT CONTAINED: connections to or from {who} remain allowed by the NetworkPolicies")
        if not self.ingress_policies:
            lines.append(f"  no NetworkPolicy isolates {who} for ingress: every source may connect")
        if not self.egress_policies:
            lines.append(f"  no NetworkPolicy isolates {who} for egress: it may connect anywhere")
        lines.extend(f"  {rule}" for rule in self.open_rules)
        shown = self.rows()
        lines.extend(f"  allowed: {src} => {dst} : {conn}" for src, dst, conn in shown[:50])
        if len(shown) > 50:
            lines.append(f"  ... and {len(shown) - 50} more allowed connections")
        lines.extend(f"  warning: {p}" for p in self.problems)
        lines.append(f"  ({CNI_CAVEAT})")
        return lines

    def as_record(self) -> dict[str, Any]:
        """The verification as the action log keeps it (`extra`)."""
        return {
            "pod": f"{self.namespace}/{self.name}", "contained": self.contained, "hostNetwork": self.host_network,
            "ingressPolicies": list(self.ingress_policies), "egressPolicies": list(self.egress_policies),
            "openRules": [str(r) for r in self.open_rules],
            "allowed": [f"{s} => {d} : {c}" for s, d, c in self.rows()],
            "problems": list(self.problems),
        }


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _is_pod(doc: Any, namespace: str, name: str) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") != "Pod":
        return False
    meta = _meta(doc)
    return meta.get("name") == name and (meta.get("namespace") or "default") == namespace


KINDS = frozenset({"Pod", "Namespace", "NetworkPolicy", "Service", "Ingress", "Route"})
"""What the verification reads (see the module docstring for why workload templates are not among them)."""


def _as_own_peer(doc: dict[str, Any]) -> dict[str, Any]:
    """A Pod without ownerReferences (a shallow copy), so the engine names it `ns/name[Pod]`."""
    if doc.get("kind") != "Pod" or "ownerReferences" not in _meta(doc):
        return doc
    out = dict(doc)
    out["metadata"] = {k: v for k, v in _meta(doc).items() if k != "ownerReferences"}
    return out


def pod_network(objects: list[dict[str, Any]], namespace: str, name: str) -> PodNetwork:
    """What pod `namespace/name` may exchange, given the Pods, Namespaces and NetworkPolicies in `objects`
    (Services, Ingresses and Routes add the ingress controller's connections; other kinds are ignored).
    Every pod is named `ns/name[Pod]` in the connections.

    Connections from pods in namespaces absent from `objects` are not listed; the open rules still show
    every rule that admits them. Raises InputError when the pod is not among the objects or the engine
    cannot use it.
    """
    pod = next((doc for doc in objects if _is_pod(doc, namespace, name)), None)
    if pod is None:
        raise InputError(f"pod {namespace}/{name} is not among the objects read")
    topo = build_topology([_as_own_peer(doc) for doc in objects
                           if isinstance(doc, dict) and doc.get("kind") in KINDS])
    peer = WorkloadPeer(namespace, "Pod", name)
    own = f"Pod {namespace}/{name}"
    for problem in topo.problems:
        if problem.what == own:
            raise InputError(f"pod {namespace}/{name} cannot be analysed: {problem.reason}")
    engine = Engine(topo)
    ci = engine.class_of.get(peer)
    if ci is None:  # pragma: no cover - a pod the topology accepted always has a class
        raise InputError(f"pod {namespace}/{name} is not in the NetworkPolicy topology")
    me = next(w for w in engine.members[ci] if w.peer == peer)
    n = len(engine.class_labels)

    ingress: list[Connection] = []
    egress: list[Connection] = []
    flags = [i == ci for i in range(n)]
    for (s, _d), c in engine.class_pairs(dst_ok=flags).items():
        ingress.extend(Connection(w.peer, peer, c) for w in engine.members[s] if w is not me)
    for (_s, d), c in engine.class_pairs(src_ok=flags).items():
        egress.extend(Connection(peer, w.peer, c) for w in engine.members[d] if w is not me)
    xi, xe = engine.ingress_of(ci), engine.egress_of(ci)
    src_items = list(enumerate([EVERY_PORT] * len(engine.src_atoms))) if xi is None else list(xi.ips.items())
    dst_items = list(enumerate([EVERY_PORT] * len(engine.dst_atoms))) if xe is None else list(xe.ips.items())
    ingress.extend(Connection(ExternalPeer(*engine.src_atoms[a]), peer, c) for a, c in src_items)
    egress.extend(Connection(peer, ExternalPeer(*engine.dst_atoms[b]), c) for b, c in dst_items)
    ingress.extend(c for c in engine.ingress_controller_connections() if c.dst == peer)
    ingress.sort(key=lambda x: (x.src.text, x.dst.text))
    egress.sort(key=lambda x: (x.src.text, x.dst.text))

    open_rules: list[OpenRule] = []
    for direction, indices in (("ingress", engine.in_pols[ci]), ("egress", engine.eg_pols[ci])):
        for pi in indices:
            pol = engine.policies[pi]
            for rule in pol.ingress_rules if direction == "ingress" else pol.egress_rules:
                # ingress ports resolve on this pod; egress named ports on each destination (may allow)
                conn = rule.conn_for(me) if direction == "ingress" or not rule.named else None
                if conn is not None and conns_text(conn) == NO_CONNECTIONS:
                    continue
                peers = "any peer (every namespace and address)" if rule.peers is None else \
                    "; ".join(str(p) for p in rule.peers)
                ports = "named ports " + ", ".join(str(p) for p in rule.ports or ()) if conn is None \
                    else conns_text(conn)
                open_rules.append(OpenRule(pol.key, direction, rule.index + 1, peers, ports))

    spec = pod.get("spec")
    host_network = isinstance(spec, dict) and spec.get("hostNetwork") is True
    return PodNetwork(
        namespace, name, peer, host_network,
        tuple(engine.policies[i].key for i in engine.in_pols[ci]),
        tuple(engine.policies[i].key for i in engine.eg_pols[ci]),
        tuple(ingress), tuple(egress), tuple(open_rules),
        tuple(str(p) for p in topo.problems),
    )


def with_changes(objects: list[dict[str, Any]], namespace: str, name: str, labels: dict[str, str | None],
                 new_objects: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """`objects` as they would be after a plan: pod `namespace/name` with `labels` applied (None removes a
    label, as a merge patch does) and `new_objects` added. For checking a `--dry-run` plan."""
    out: list[dict[str, Any]] = []
    for doc in objects:
        if _is_pod(doc, namespace, name):
            doc = copy.deepcopy(doc)
            meta = doc.setdefault("metadata", {})
            current = dict(meta.get("labels") or {})
            for key, value in labels.items():
                if value is None:
                    current.pop(key, None)
                else:
                    current[key] = value
            meta["labels"] = current
        out.append(doc)
    return [*out, *new_objects]


