"""From plain Kubernetes object dicts to the engine's view: namespaces, workload peers and policies.

Parsing validates every NetworkPolicy up front (selectors, CIDRs, peers, ports) and the fields the engine
reads from the other kinds (`shapes`), instead of failing midway through an analysis. An object that fails
is left out and recorded as one `Problem` naming it, where it was read and why (with netpol-analyzer's
wording for policies); everything else is analysed, so one bad policy never hides the others' answers.
Peers follow netpol-analyzer: a workload (Deployment, StatefulSet, ...) is one peer whatever its replica
count; a Pod with a controller ownerReference is shown as its direct owner; a bare Pod is itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kubehipaa.engines.netpol import conns, shapes
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.errors import NetpolError, Problem
from kubehipaa.engines.netpol.ipranges import CidrError, Interval, ipblock_intervals
from kubehipaa.engines.netpol.peers import IPBlockPeer, WorkloadPeer
from kubehipaa.engines.netpol.selectors import Selector, SelectorError, matches_labels, parse_selector
from kubehipaa.workload_kinds import CONTROLLER_TEMPLATE_PATHS as WORKLOAD_TEMPLATES

NS_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_NS = "default"
INGRESS_CONTROLLER_NS = "ingress-controller-ns"

RELEVANT_KINDS = frozenset(WORKLOAD_TEMPLATES) | {
    "Pod",
    "Namespace",
    "NetworkPolicy",
    "Service",
    "Route",
    "Ingress",
}


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str
    number: int
    protocol: str


@dataclass(slots=True)
class Workload:
    """One peer: a workload, an owner of pods, or a bare pod."""

    namespace: str
    name: str
    kind: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]
    source: str = ""
    obj: Any = field(default=None, repr=False, compare=False)  # the K8sObject it came from, if any
    peer: WorkloadPeer = field(init=False, repr=False, compare=False)
    """How the answers name this workload (built once: every connection of it shares the one object)."""

    def __post_init__(self) -> None:
        self.peer = WorkloadPeer(self.namespace, self.kind, self.name)

    @property
    def key(self) -> str:
        """The printed name, `ns/name[Kind]` (for messages)."""
        return self.peer.text

    def named_port(self, name: str) -> ContainerPort | None:
        for p in self.ports:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One entry of a rule's `ports`; `name` is set for a named port (then start/end are 0)."""

    protocol: str
    start: int
    end: int
    name: str | None = None

    def __str__(self) -> str:
        if self.name:
            return f"{self.protocol} {self.name}"
        if self.start == conns.MIN_PORT and self.end == conns.MAX_PORT:
            return f"{self.protocol} (all ports)"
        return f"{self.protocol} {self.start}" + (f"-{self.end}" if self.end != self.start else "")


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """One entry of `from`/`to`: selectors (either may be None = absent), or an ipBlock (`block` as written,
    `ipblock` its IPv4 intervals: empty for an IPv6 block, which is not modelled)."""

    pod_selector: Selector | None
    ns_selector: Selector | None
    ipblock: tuple[Interval, ...] | None
    block: IPBlockPeer | None = None

    @property
    def is_ip(self) -> bool:
        return self.ipblock is not None

    def __str__(self) -> str:
        """`ipBlock CIDR[ except A, B]`, or `namespaceSelector S and podSelector P` (either part may be absent)."""
        if self.block is not None:
            return str(self.block)
        parts = []
        if self.ns_selector is not None:
            parts.append(f"namespaceSelector {self.ns_selector}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector}")
        return " and ".join(parts)


@dataclass(slots=True)
class Rule:
    """An ingress or egress rule. `peers is None` = all peers; `ports is None` = all ports."""

    index: int  # 0-based position in the policy's list
    peers: tuple[PeerSpec, ...] | None
    ports: tuple[PortSpec, ...] | None
    const_conn: ConnSet | None = None  # set when the rule has no named port
    named: bool = False

    def conn_for(self, dst: Workload | None) -> ConnSet:
        """The ports this rule allows towards `dst` (named ports resolved on the destination pod)."""
        if self.const_conn is not None:
            return self.const_conn
        result = conns.NONE
        for p in self.ports or ():
            if p.name is None:
                result = conns.union(result, conns.make(p.protocol, p.start, p.end))
                continue
            cp = dst.named_port(p.name) if dst is not None else None
            if cp is not None and cp.protocol == p.protocol:
                result = conns.union(result, conns.make(p.protocol, cp.number, cp.number))
        return result


@dataclass(slots=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    affects_ingress: bool
    affects_egress: bool
    ingress_rules: list[Rule]
    egress_rules: list[Rule]
    source: str = ""
    doc: dict[str, Any] = field(default_factory=dict, repr=False)
    obj: Any = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class Topology:
    namespaces: dict[str, dict[str, str]]
    workloads: list[Workload]
    policies: list[Policy]
    # peer -> TCP ports an Ingress/Route sends to it, and the objects that do
    ingress_targets: dict[WorkloadPeer, tuple[ConnSet, list[str]]]
    warnings: list[str]
    problems: list[Problem] = field(default_factory=list)
    """Objects left out of the analysis (or used only in part), one each, in input order."""

    def workload(self, peer: WorkloadPeer) -> Workload | None:
        """The workload a peer of the answers stands for."""
        for w in self.workloads:
            if w.peer == peer:
                return w
        return None


class _Source(NamedTuple):
    """Where an input object was read: `text` for Policy/Workload.source, file and line for problems.
    (A named tuple: one is made per input object.)"""

    text: str
    file: str
    line: int | None
    obj: Any


# What leaving an object of each kind out means for the answers (said with every problem).
_REFUSED = "skipped, as the API server would refuse it"
EFFECTS = {
    "NetworkPolicy": f"policy {_REFUSED}: connectivity is computed without it (pods only it selects look "
    "unisolated, connections only it allows are missing)",
    "Pod": f"{_REFUSED}: connectivity is computed without this pod",
    "Service": f"{_REFUSED}: Ingress/Route traffic through it is not computed",
    "Ingress": f"{_REFUSED}: ingress-controller connections through it are not computed",
    "Route": f"{_REFUSED}: ingress-controller connections through it are not computed",
    "Namespace": f"{_REFUSED}: namespace selectors see only its {NS_NAME_LABEL} label",
}
WORKLOAD_EFFECT = f"{_REFUSED}: connectivity is computed without this workload"
NAMED_PORT_EFFECT = (
    "kept as the API server reads it (the named port matches no external address); netpol-analyzer refuses "
    "this policy"
)


def _container_ports(spec: Any, path: str) -> tuple[ContainerPort, ...]:
    """The named and numbered container ports of a pod spec, every field type-checked. The per-pod hot path
    of `build_topology`: types are tested inline and the `shapes` helpers called only to word an error."""
    if spec is None:
        return ()
    if type(spec) is not dict:
        shapes.mapping(spec, path)  # raises
    containers = spec.get("containers")
    if containers is None:
        return ()
    if type(containers) is not list:
        shapes.mappings(containers, f"{path}.containers")  # raises
    out: list[ContainerPort] = []
    for ci, c in enumerate(containers):
        ports = c.get("ports") if type(c) is dict else shapes.mappings(containers, f"{path}.containers")
        if ports is None:
            continue
        if type(ports) is not list:
            shapes.mappings(ports, f"{path}.containers[{ci}].ports")  # raises
        for pi, p in enumerate(ports):
            if type(p) is not dict:
                shapes.mappings(ports, f"{path}.containers[{ci}].ports")  # raises
            number, name, protocol = p.get("containerPort"), p.get("name"), p.get("protocol")
            if type(number) is not int or (name is not None and type(name) is not str) or (
                protocol is not None and type(protocol) is not str
            ):
                where = f"{path}.containers[{ci}].ports[{pi}]"
                number = shapes.integer(number, f"{where}.containerPort")
                shapes.text(name, f"{where}.name")
                shapes.text(protocol, f"{where}.protocol")
                if number is None:
                    continue  # required by the API server; nothing a named port could resolve to
            out.append(ContainerPort(name or "", number, (protocol or "TCP").upper()))
    return tuple(out)


def _pod_owner(meta: dict[str, Any]) -> tuple[str, str] | None:
    refs = meta.get("ownerReferences")
    if refs is None:
        return None
    if type(refs) is not list:
        shapes.mappings(refs, "metadata.ownerReferences")  # raises
    for i, ref in enumerate(refs):
        if type(ref) is not dict:
            shapes.mappings(refs, "metadata.ownerReferences")  # raises
        if ref.get("controller") is True:
            kind, name = ref.get("kind"), ref.get("name")
            if not (type(kind) is str and type(name) is str):
                kind = shapes.text(kind, f"metadata.ownerReferences[{i}].kind")
                name = shapes.text(name, f"metadata.ownerReferences[{i}].name")
            if kind == "Node":
                return None
            return name or "", kind or "Pod"
    return None


def _port_number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return value


def _parse_ports(raw: Any, where: str) -> tuple[PortSpec, ...] | None:
    if not raw:
        return None
    if not isinstance(raw, list):
        raise NetpolError(f"{where}: ports must be a list")
    out: list[PortSpec] = []
    for p in raw:
        if not isinstance(p, dict):
            raise NetpolError(f"{where}: ports entries must be mappings")
        proto = str(p.get("protocol") or "TCP")
        if proto not in conns.PROTO_INDEX:
            raise NetpolError(f"{where}: protocol {proto!r} is not one of SCTP, TCP, UDP")
        port = p.get("port")
        end_port = p.get("endPort")
        if port is None:
            out.append(PortSpec(proto, conns.MIN_PORT, conns.MAX_PORT))
            continue
        if isinstance(port, str) and not port.isdigit():
            if end_port is not None:
                raise NetpolError(
                    f"{where}: named port error: endPort field cannot be defined if the port field is "
                    f"defined as a named (string) port ({port!r})"
                )
            out.append(PortSpec(proto, 0, 0, port))
            continue
        start = int(port) if isinstance(port, str) else port
        try:
            start = _port_number(start, "port")
            end = start if end_port is None else _port_number(end_port, "endPort")
        except ValueError as exc:
            raise NetpolError(f"{where}: {exc}") from None
        if start < conns.MIN_PORT or end > conns.MAX_PORT or end < start:
            raise NetpolError(
                f"{where}: port range {start}-{end} is illegal; start and end values of the port range "
                f"should be in {{{conns.MIN_PORT}-{conns.MAX_PORT}}} and end may not be less than start"
            )
        out.append(PortSpec(proto, start, end))
    return tuple(out)


_PEERS_CACHE: dict[str, tuple[PeerSpec, ...]] = {}
_PEERS_CACHE_MAX = 50_000


def _parse_peers(raw: Any, where: str) -> tuple[PeerSpec, ...] | None:
    """The compiled `from`/`to` list. Memoised on its text: thousands of policies repeat the same peers
    (`podSelector: {role: frontend}`), and the result is immutable. Errors are never memoised (they name
    the rule)."""
    if not raw:
        return None
    if not isinstance(raw, list):
        raise NetpolError(f"{where}: rule peers must be a list")
    key = repr(raw)
    hit = _PEERS_CACHE.get(key)
    if hit is None:
        hit = _compile_peers(raw, where)
        if len(_PEERS_CACHE) >= _PEERS_CACHE_MAX:
            _PEERS_CACHE.clear()
        _PEERS_CACHE[key] = hit
    return hit


def _compile_peers(raw: list[Any], where: str) -> tuple[PeerSpec, ...]:
    out: list[PeerSpec] = []
    for i, peer in enumerate(raw):
        pw = f"{where} peer #{i + 1}"
        if not isinstance(peer, dict):
            raise NetpolError(f"{pw}: rule NetworkPolicyPeer error: peer must be a mapping")
        pod_raw, ns_raw, ip_raw = peer.get("podSelector"), peer.get("namespaceSelector"), peer.get("ipBlock")
        if pod_raw is None and ns_raw is None and ip_raw is None:
            raise NetpolError(f"{pw}: rule NetworkPolicyPeer error: cannot have empty rule peer")
        if ip_raw is not None:
            if pod_raw is not None or ns_raw is not None:
                raise NetpolError(
                    f"{pw}: rule NetworkPolicyPeer error: cannot have both IPBlock and "
                    "PodSelector/NamespaceSelector set"
                )
            if not isinstance(ip_raw, dict):
                raise NetpolError(f"{pw}: ipBlock must be a mapping")
            excepts = ip_raw.get("except") or []
            if not isinstance(excepts, list):
                raise NetpolError(f"{pw}: ipBlock.except must be a list")
            try:
                block = ipblock_intervals(ip_raw.get("cidr"), excepts)
            except CidrError as exc:
                raise NetpolError(f"{pw}: CIDR error: {exc}") from None
            # valid now (ipblock_intervals parsed them): the cidr and every except entry are strings
            out.append(PeerSpec(None, None, block, IPBlockPeer(ip_raw["cidr"], tuple(excepts))))
            continue
        try:
            pod_sel = parse_selector(pod_raw) if pod_raw is not None else None
            ns_sel = parse_selector(ns_raw) if ns_raw is not None else None
        except SelectorError as exc:
            raise NetpolError(f"{pw}: selector error: {exc}") from None
        out.append(PeerSpec(pod_sel, ns_sel, None))
    return tuple(out)


def _parse_rule(raw: Any, index: int, peers_key: str, where: str, egress: bool, notes: list[str] | None) -> Rule:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise NetpolError(f"{where}: rule must be a mapping")
    peers = _parse_peers(raw.get(peers_key), where)
    ports = _parse_ports(raw.get("ports"), where)
    named = any(p.name for p in ports or ())
    if egress and named and (peers is None or any(p.is_ip for p in peers)):
        # netpol-analyzer refuses this: a named port cannot be resolved for an IP destination. The API
        # server accepts it and the port then matches no external address, which is what is computed.
        message = f"{where}: named port error: cannot convert named port for an IP destination"
        if notes is None:
            raise NetpolError(message)
        notes.append(message)
    rule = Rule(index, peers, ports, named=named)
    if not named:
        rule.const_conn = rule.conn_for(None) if ports is not None else conns.ALL
    return rule


def parse_policy(doc: dict[str, Any], source: str = "", notes: list[str] | None = None) -> Policy:
    """Validate and compile one NetworkPolicy; raises NetpolError (naming the rule, peer or field, not
    the policy: the caller knows which one it passed) for anything the API server or netpol-analyzer
    refuses. What only netpol-analyzer refuses (a named port towards IP peers) is appended to `notes` when
    given, and compiled as the API server reads it."""
    meta = shapes.metadata(doc)
    ns = str(meta.get("namespace") or DEFAULT_NS)
    name = str(meta.get("name") or "")
    spec = shapes.mapping(doc.get("spec"), "spec")
    try:
        pod_sel = parse_selector(spec.get("podSelector"))
    except SelectorError as exc:
        raise NetpolError(f"spec.podSelector: selector error: {exc}") from None
    ingress_raw = spec.get("ingress") or []
    egress_raw = spec.get("egress") or []
    if not isinstance(ingress_raw, list) or not isinstance(egress_raw, list):
        raise NetpolError("ingress and egress must be lists")
    types = spec.get("policyTypes")
    if types:
        if not isinstance(types, list):
            raise NetpolError(f"policyTypes must be a list, not {shapes.kind_of(types)}")
        bad = [t for t in types if t not in ("Ingress", "Egress")]
        if bad:
            raise NetpolError(f"policyTypes may only hold Ingress and Egress, got {bad}")
        affects_in, affects_eg = "Ingress" in types, "Egress" in types
    else:
        # upstream defaulting: Ingress always; Egress only if the policy has egress rules
        affects_in, affects_eg = True, bool(egress_raw)
    ingress = [_parse_rule(r, i, "from", f"Ingress rule #{i + 1}", False, None) for i, r in enumerate(ingress_raw)]
    egress = [_parse_rule(r, i, "to", f"Egress rule #{i + 1}", True, notes) for i, r in enumerate(egress_raw)]
    return Policy(ns, name, pod_sel, affects_in, affects_eg, ingress, egress, source, doc)


def _relevant_docs(objects: Iterable[Any]) -> Iterable[tuple[dict[str, Any], str, _Source]]:
    """(doc, kind, source) of each input object of a `RELEVANT_KINDS` kind, in input order. The source is made
    only for these: most of a manifest set (ConfigMaps, Secrets, RBAC) plays no part in connectivity."""
    for obj in objects:
        if isinstance(obj, tuple):
            doc = obj[0]
        elif isinstance(obj, dict):
            doc = obj
        else:  # a kubehipaa.model.K8sObject (duck-typed to keep the engine free of core imports)
            doc = obj.doc
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if kind not in RELEVANT_KINDS:
            continue
        if isinstance(obj, tuple):
            yield doc, str(kind), _Source(obj[1], obj[1], None, None)
        elif obj is doc:
            yield doc, str(kind), _Source("", "", None, None)
        else:
            yield doc, str(kind), _Source(f"{obj.file}:{obj.line}", obj.file, obj.line, obj)


def _what(kind: str, doc: dict[str, Any]) -> str:
    """`Kind ns/name` for a message, whatever shape the metadata has."""
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    name = name if isinstance(name, str) and name else "<unnamed>"
    if kind == "Namespace":
        return f"Namespace {name}"
    ns = meta.get("namespace")
    return f"{kind} {ns if isinstance(ns, str) and ns else DEFAULT_NS}/{name}"


@dataclass(slots=True)
class _Collected:
    """What the first pass over the input keeps, before selectors and Services are resolved."""

    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    # (namespace, name, selector, ports) of each Service
    services: list[tuple[str, str, dict[str, str], list[dict[str, Any]]]] = field(default_factory=list)
    # ("Kind ns/name", namespace, [(service name, requested port)]) of each Ingress and Route
    ingress_objs: list[tuple[str, str, list[tuple[str, Any]]]] = field(default_factory=list)
    label_gaps: list[tuple[Workload, Workload, str, _Source]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def build_topology(objects: Iterable[Any], *, strict: bool = True) -> Topology:
    """Build the engine's view from object dicts, (dict, source) pairs or K8sObjects.

    Kinds that play no part in connectivity are ignored. An object the engine cannot use (an invalid
    NetworkPolicy; a workload, Pod, Service, Ingress, Route or Namespace with a wrong-typed field) is left
    out and recorded in `Topology.problems`, one each, saying what the answers then lack; the rest is
    analysed. A policy name defined twice keeps the last definition, with a warning. A named port towards
    IP peers (valid for the API server, refused by netpol-analyzer) is compiled as the API server reads it
    and is a problem with `strict` (the default, netpol-analyzer's rules), only a warning without.
    """
    c = _Collected()
    for doc, kind, src in _relevant_docs(objects):
        try:
            _collect(c, kind, doc, src, strict)
        except NetpolError as exc:
            c.problems.append(_problem(kind, doc, str(exc), src))
        except (TypeError, AttributeError, ValueError) as exc:  # a wrong type no check above names
            c.problems.append(_problem(kind, doc, f"malformed: {exc}", src))
    for w in c.workloads.values():
        if w.namespace not in c.namespaces:
            c.namespaces[w.namespace] = {NS_NAME_LABEL: w.namespace}
    policies = list(c.policies.values())
    for first, other, pod_name, src in c.label_gaps:
        reason = _label_gap(first, other, pod_name, policies)
        if reason is not None:
            effect = f"connectivity of {first.key} is computed from its first pod's labels"
            c.problems.append(Problem(f"Pod {other.namespace}/{pod_name}", reason, effect, src.file, src.line,
                                      src.obj))
    wl = sorted(c.workloads.values(), key=lambda w: w.key)
    targets = _ingress_targets(wl, c.services, c.ingress_objs, c.warnings)
    return Topology(c.namespaces, wl, policies, targets, c.warnings, c.problems)


def _problem(kind: str, doc: dict[str, Any], reason: str, src: _Source) -> Problem:
    effect = EFFECTS.get(kind, WORKLOAD_EFFECT)
    return Problem(_what(kind, doc), reason, effect, src.file, src.line, src.obj)


def _collect(c: _Collected, kind: str, doc: dict[str, Any], src: _Source, strict: bool) -> None:
    """Validate one relevant object and add it to `c`; raises NetpolError naming the field that is wrong."""
    meta = shapes.metadata(doc)
    name = str(meta.get("name") or "")
    ns = str(meta.get("namespace") or DEFAULT_NS)
    if kind == "Namespace":
        labels = shapes.labels(meta.get("labels"), "metadata.labels")
        labels.setdefault(NS_NAME_LABEL, name)
        c.namespaces[name] = labels
    elif kind == "NetworkPolicy":
        notes: list[str] = []
        pol = parse_policy(doc, src.text, notes)
        pol.obj = src.obj
        for note in notes:
            if strict:
                c.problems.append(Problem(f"NetworkPolicy {pol.key}", note, NAMED_PORT_EFFECT, src.file, src.line,
                                          src.obj))
            else:
                c.warnings.append(f"NetworkPolicy {pol.key} {note} (it matches no external address)")
        earlier = c.policies.pop(pol.key, None)
        if earlier is not None:
            # netpol-analyzer refuses the input; a cluster simply holds the last one applied, and one
            # duplicate must not stop every answer (the file source already keeps only the last).
            c.warnings.append(
                f'NetworkPolicy "{pol.key}" is defined again ({earlier.source or "first"}, then '
                f'{src.text or "again"}); only the last definition is used, as `kubectl apply` would leave it'
            )
        c.policies[pol.key] = pol
    elif kind == "Pod":
        owner = _pod_owner(meta)
        labels = shapes.labels(meta.get("labels"), "metadata.labels")
        ports = _container_ports(doc.get("spec"), "spec")
        wname, wkind = owner if owner else (name, "Pod")
        key = f"{ns}/{wname}[{wkind}]"  # = Workload.key; the peer is built only for the first pod of an owner
        first = c.workloads.get(key)
        if first is None:  # the first pod of an owner stands for all of them
            c.workloads[key] = Workload(ns, wname, wkind, labels, ports, src.text, src.obj)
        elif first.labels != labels:
            c.label_gaps.append((first, Workload(ns, wname, wkind, labels, ports, src.text, src.obj), name, src))
    elif kind in WORKLOAD_TEMPLATES:
        node: dict[str, Any] = doc
        walked: list[str] = []
        for key in WORKLOAD_TEMPLATES[kind]:
            walked.append(key)
            node = shapes.mapping(node.get(key), ".".join(walked))
        path = ".".join(walked)
        tmeta = shapes.mapping(node.get("metadata"), f"{path}.metadata")
        labels = shapes.labels(tmeta.get("labels"), f"{path}.metadata.labels")
        w = Workload(ns, name, kind, labels, _container_ports(node.get("spec"), f"{path}.spec"), src.text, src.obj)
        c.workloads.setdefault(w.key, w)
    elif kind == "Service":
        spec = shapes.mapping(doc.get("spec"), "spec")
        selector = shapes.labels(spec.get("selector"), "spec.selector")
        svc_ports = shapes.mappings(spec.get("ports"), "spec.ports")
        for i, sp in enumerate(svc_ports):
            shapes.text(sp.get("name"), f"spec.ports[{i}].name")
            shapes.int_or_string(sp.get("port"), f"spec.ports[{i}].port")
            shapes.int_or_string(sp.get("targetPort"), f"spec.ports[{i}].targetPort")
        c.services.append((ns, name, selector, svc_ports))
    else:  # Route, Ingress
        c.ingress_objs.append((f"{kind} {ns}/{name}", ns, _backends(kind, doc)))


def _label_gap(first: Workload, other: Workload, pod_name: str, policies: list[Policy]) -> str | None:
    """Why pods of one owner whose labels differ cannot be one peer, or None when no selector tells them apart.

    The owner is one peer, so its pods must be indistinguishable to the policies; netpol-analyzer refuses
    such input. Differences no selector looks at are harmless.
    """
    for pol in policies:
        selectors = [pol.pod_selector] if pol.namespace == first.namespace else []
        for rule in (*pol.ingress_rules, *pol.egress_rules):
            selectors.extend(p.pod_selector for p in rule.peers or () if p.pod_selector is not None)
        for sel in selectors:
            if sel.matches(first.labels) != sel.matches(other.labels):
                return (
                    f"pods of the same owner {first.key} have different labels (pod {other.namespace}/{pod_name} "
                    f"has {other.labels}, the first pod has {first.labels}) and NetworkPolicy {pol.key} selector "
                    f"'{sel}' selects only some of them; connectivity per owner is undefined"
                )
    return None


# --- Ingress / Route: which workloads an ingress controller is sent to, on which TCP ports -----------------


def _access_ports(svc_ports: list[dict[str, Any]], required: Any) -> list[Any]:
    """The pod-side ports reached through a Service for a requested service port (None = every port)."""
    out: list[Any] = []
    for sp in svc_ports:
        target = sp.get("targetPort")
        access = target if target not in (None, "", 0) else sp.get("port")
        if required in (None, "", 0):
            out.append(access)
            continue
        if (
            (sp.get("name") and sp.get("name") == required)
            or sp.get("port") == required
            or target == required
        ):
            return [access]
    return out


def _backends(kind: str, doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(service name, requested port) pairs of a Route or an Ingress, every field type-checked."""
    spec = shapes.mapping(doc.get("spec"), "spec")
    out: list[tuple[str, Any]] = []
    if kind == "Route":
        target_port = shapes.int_or_string(shapes.mapping(spec.get("port"), "spec.port").get("targetPort"),
                                           "spec.port.targetPort")
        targets = [("spec.to", shapes.mapping(spec.get("to"), "spec.to"))]
        targets += [(f"spec.alternateBackends[{i}]", b)
                    for i, b in enumerate(shapes.mappings(spec.get("alternateBackends"), "spec.alternateBackends"))]
        for path, to in targets:
            if shapes.text(to.get("kind"), f"{path}.kind") in (None, "", "Service"):
                out.append((shapes.text(to.get("name"), f"{path}.name") or "", target_port))
        return out
    services = [("spec.defaultBackend", shapes.mapping(spec.get("defaultBackend"), "spec.defaultBackend"))]
    for ri, rule in enumerate(shapes.mappings(spec.get("rules"), "spec.rules")):
        http = shapes.mapping(rule.get("http"), f"spec.rules[{ri}].http")
        for pi, p in enumerate(shapes.mappings(http.get("paths"), f"spec.rules[{ri}].http.paths")):
            path = f"spec.rules[{ri}].http.paths[{pi}].backend"
            services.append((path, shapes.mapping(p.get("backend"), path)))
    for path, backend in services:
        svc = backend.get("service")
        if svc is None:
            continue
        svc = shapes.mapping(svc, f"{path}.service")
        svc_port = shapes.mapping(svc.get("port"), f"{path}.service.port")
        wanted = shapes.text(svc_port.get("name"), f"{path}.service.port.name") or shapes.integer(
            svc_port.get("number"), f"{path}.service.port.number")
        out.append((shapes.text(svc.get("name"), f"{path}.service.name") or "", wanted))
    return out


def _ingress_targets(
    workloads: list[Workload],
    services: list[tuple[str, str, dict[str, str], list[dict[str, Any]]]],
    ingress_objs: list[tuple[str, str, list[tuple[str, Any]]]],
    warnings: list[str],
) -> dict[WorkloadPeer, tuple[ConnSet, list[str]]]:
    # (namespace, label key, label value) -> workloads carrying that label, in `workloads` order: a
    # Service's selector is matched against the workloads holding one of its labels, not against all.
    by_label: dict[tuple[str, str, str], list[Workload]] = {}
    if services:
        for w in workloads:
            for k, v in w.labels.items():
                by_label.setdefault((w.namespace, k, v), []).append(w)
    svc_map: dict[tuple[str, str], tuple[list[Workload], list[dict[str, Any]]]] = {}
    for ns, name, sel, svc_ports in services:
        if not sel:
            warnings.append(f"Service {ns}/{name}: a Service without selector is ignored")
            continue
        candidates = min((by_label.get((ns, k, v), []) for k, v in sel.items()), key=len)
        peers = [w for w in candidates if matches_labels(sel, w.labels)]
        if peers:
            svc_map[(ns, name)] = (peers, svc_ports)
    out: dict[WorkloadPeer, tuple[ConnSet, list[str]]] = {}
    for obj_name, ns, backends in ingress_objs:
        for svc_name, required in backends:
            entry = svc_map.get((ns, svc_name))
            if entry is None:
                warnings.append(f"{obj_name}: target service {svc_name} not found")
                continue
            peers, svc_ports = entry
            for w in peers:
                c = conns.NONE
                for access in _access_ports(svc_ports, required):
                    number: int | None = access if isinstance(access, int) else None
                    if isinstance(access, str):
                        cp = w.named_port(access)
                        number = cp.number if cp is not None and cp.protocol == "TCP" else None
                    if number is not None and any(p.number == number for p in w.ports):
                        c = conns.union(c, conns.make("TCP", number, number))
                prev, objs = out.get(w.peer, (conns.NONE, []))
                out[w.peer] = (conns.union(prev, c), [*objs, obj_name])
    return out
