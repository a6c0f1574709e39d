"""From plain Kubernetes object dicts to the engine's view: namespaces, workload peers and policies.

Parsing validates every NetworkPolicy up front (selectors, CIDRs, peers, ports) and raises
`NetpolError` naming the policy and where it was read, instead of failing midway through an analysis.
Peers follow netpol-analyzer: a workload (Deployment, StatefulSet, ...) is one peer whatever its replica
count; a Pod with a controller ownerReference is shown as its direct owner; a bare Pod is itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.ipranges import CidrError, Interval, ipblock_intervals
from kubehipaa.engines.netpol.selectors import Selector, SelectorError, matches_labels, parse_selector

NS_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_NS = "default"
INGRESS_CONTROLLER = "{ingress-controller}"
INGRESS_CONTROLLER_NS = "ingress-controller-ns"

WORKLOAD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
RELEVANT_KINDS = frozenset(WORKLOAD_TEMPLATES) | {
    "Pod",
    "Namespace",
    "NetworkPolicy",
    "Service",
    "Route",
    "Ingress",
}


class NetpolError(ValueError):
    """Input the engine cannot analyse; the message is one line and names the object and its source."""


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

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"

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
    """One entry of `from`/`to`: selectors (either may be None = absent) or an ipBlock."""

    pod_selector: Selector | None
    ns_selector: Selector | None
    ipblock: tuple[Interval, ...] | None
    text: str

    @property
    def is_ip(self) -> bool:
        return self.ipblock is not None


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
    # peer key -> TCP ports an Ingress/Route sends to it, and the objects that do
    ingress_targets: dict[str, tuple[ConnSet, list[str]]]
    warnings: list[str]

    def workload(self, key: str) -> Workload | None:
        for w in self.workloads:
            if w.key == key:
                return w
        return None


Doc = tuple[dict[str, Any], str, Any]


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    m = doc.get("metadata")
    return m if isinstance(m, dict) else {}


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _dig(doc: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(k)
    return doc


def _container_ports(spec: Any) -> tuple[ContainerPort, ...]:
    out: list[ContainerPort] = []
    if not isinstance(spec, dict):
        return ()
    for c in spec.get("containers") or ():
        if not isinstance(c, dict):
            continue
        for p in c.get("ports") or ():
            if not isinstance(p, dict):
                continue
            try:
                number = int(p.get("containerPort"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            out.append(
                ContainerPort(str(p.get("name") or ""), number, str(p.get("protocol") or "TCP").upper())
            )
    return tuple(out)


def _pod_owner(meta: dict[str, Any]) -> tuple[str, str] | None:
    for ref in meta.get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            if ref.get("kind") == "Node":
                return None
            return str(ref.get("name") or ""), str(ref.get("kind") or "Pod")
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
    the policy)."""
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
            try:
                block = ipblock_intervals(ip_raw.get("cidr"), list(excepts))
            except CidrError as exc:
                raise NetpolError(f"{pw}: CIDR error: {exc}") from None
            text = f"ipBlock {ip_raw.get('cidr')}" + (
                f" except {', '.join(map(str, excepts))}" if excepts else ""
            )
            out.append(PeerSpec(None, None, block, text))
            continue
        try:
            pod_sel = parse_selector(pod_raw) if pod_raw is not None else None
            ns_sel = parse_selector(ns_raw) if ns_raw is not None else None
        except SelectorError as exc:
            raise NetpolError(f"{pw}: selector error: {exc}") from None
        parts = []
        if ns_sel is not None:
            parts.append(f"namespaceSelector {ns_sel}")
        if pod_sel is not None:
            parts.append(f"podSelector {pod_sel}")
        out.append(PeerSpec(pod_sel, ns_sel, None, " and ".join(parts)))
    return tuple(out)


def _parse_rule(
    raw: Any,
    index: int,
    peers_key: str,
    where: str,
    egress: bool,
    strict: bool = True,
    warnings: list[str] | None = None,
) -> Rule:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise NetpolError(f"{where}: rule must be a mapping")
    peers = _parse_peers(raw.get(peers_key), where)
    ports = _parse_ports(raw.get("ports"), where)
    named = any(p.name for p in ports or ())
    if egress and named and (peers is None or any(p.is_ip for p in peers)):
        # netpol-analyzer refuses this: a named port cannot be resolved for an IP destination. The API
        # server accepts it and the port then matches no external address, which is what non-strict does.
        message = f"{where}: named port error: cannot convert named port for an IP destination"
        if strict:
            raise NetpolError(message)
        if warnings is not None:
            warnings.append(message + " (it matches no external address)")
    rule = Rule(index, peers, ports, named=named)
    if not named:
        rule.const_conn = rule.conn_for(None) if ports is not None else conns.ALL
    return rule


def parse_policy(
    doc: dict[str, Any], source: str = "", strict: bool = True, warnings: list[str] | None = None
) -> Policy:
    """Validate and compile one NetworkPolicy (strict: refuse what netpol-analyzer refuses)."""
    meta = _meta(doc)
    ns = str(meta.get("namespace") or DEFAULT_NS)
    name = str(meta.get("name") or "")
    label = f"NetworkPolicy {ns}/{name}" + (f" ({source})" if source else "")
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        raise NetpolError(f"{label}: spec must be a mapping")
    try:
        pod_sel = parse_selector(spec.get("podSelector"))
    except SelectorError as exc:
        raise NetpolError(f"{label}: selector error: {exc}") from None
    ingress_raw = spec.get("ingress") or []
    egress_raw = spec.get("egress") or []
    if not isinstance(ingress_raw, list) or not isinstance(egress_raw, list):
        raise NetpolError(f"{label}: ingress and egress must be lists")
    types = spec.get("policyTypes")
    if types:
        bad = [t for t in types if t not in ("Ingress", "Egress")]
        if bad:
            raise NetpolError(f"{label}: policyTypes may only hold Ingress and Egress, got {bad}")
        affects_in, affects_eg = "Ingress" in types, "Egress" in types
    else:
        # upstream defaulting: Ingress always; Egress only if the policy has egress rules
        affects_in, affects_eg = True, bool(egress_raw)
    ingress = [
        _parse_rule(r, i, "from", f"{label} Ingress rule #{i + 1}", False) for i, r in enumerate(ingress_raw)
    ]
    egress = [
        _parse_rule(r, i, "to", f"{label} Egress rule #{i + 1}", True, strict, warnings)
        for i, r in enumerate(egress_raw)
    ]
    return Policy(ns, name, pod_sel, affects_in, affects_eg, ingress, egress, source, doc)


def _as_docs(objects: Iterable[Any]) -> Iterable[Doc]:
    for obj in objects:
        if isinstance(obj, tuple):
            yield obj[0], obj[1], None
        elif isinstance(obj, dict):
            yield obj, "", None
        else:  # a kubehipaa.model.K8sObject (duck-typed to keep the engine free of core imports)
            yield obj.doc, f"{obj.file}:{obj.line}", obj


def build_topology(objects: Iterable[Any], *, strict: bool = True) -> Topology:
    """Build the engine's view from object dicts, (dict, source) pairs or K8sObjects.

    Kinds that play no part in connectivity are ignored. Raises NetpolError on an invalid policy; a policy
    name defined twice keeps the last definition, with a warning. `strict=False` accepts a named port towards IP peers (valid for the API
    server, refused by netpol-analyzer) and records a warning instead.
    """
    namespaces: dict[str, dict[str, str]] = {}
    workloads: dict[str, Workload] = {}
    policies: dict[str, Policy] = {}
    services: list[tuple[dict[str, Any], str]] = []
    ingress_objs: list[tuple[dict[str, Any], str]] = []
    warnings: list[str] = []
    label_gaps: list[tuple[Workload, Workload, str]] = []  # (owner's first pod, another pod, its name)
    for doc, source, kobj in _as_docs(objects):
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if kind not in RELEVANT_KINDS:
            continue
        meta = _meta(doc)
        name = str(meta.get("name") or "")
        ns = str(meta.get("namespace") or DEFAULT_NS)
        if kind == "Namespace":
            labels = _labels(meta.get("labels"))
            labels.setdefault(NS_NAME_LABEL, name)
            namespaces[name] = labels
        elif kind == "NetworkPolicy":
            pol = parse_policy(doc, source, strict, warnings)
            pol.obj = kobj
            earlier = policies.pop(pol.key, None)
            if earlier is not None:
                # netpol-analyzer refuses the input; a cluster simply holds the last one applied, and one
                # duplicate must not stop every answer (the file source already keeps only the last).
                warnings.append(
                    f'NetworkPolicy "{pol.key}" is defined again ({earlier.source or "first"}, then '
                    f'{source or "again"}); only the last definition is used, as `kubectl apply` would leave it'
                )
            policies[pol.key] = pol
        elif kind == "Pod":
            owner = _pod_owner(meta)
            wname, wkind = owner if owner else (name, "Pod")
            w = Workload(
                ns, wname, wkind, _labels(meta.get("labels")), _container_ports(doc.get("spec")), source, kobj
            )
            first = workloads.setdefault(w.key, w)  # the first pod of an owner stands for all of them
            if first is not w and first.labels != w.labels:
                label_gaps.append((first, w, name))
        elif kind in WORKLOAD_TEMPLATES:
            tmpl = _dig(doc, WORKLOAD_TEMPLATES[str(kind)]) or {}
            tmeta = _meta(tmpl) if isinstance(tmpl, dict) else {}
            spec = tmpl.get("spec") if isinstance(tmpl, dict) else None
            w = Workload(
                ns, name, str(kind), _labels(tmeta.get("labels")), _container_ports(spec), source, kobj
            )
            workloads.setdefault(w.key, w)
        elif kind == "Service":
            services.append((doc, ns))
        elif kind in ("Route", "Ingress"):
            ingress_objs.append((doc, ns))
    for w in workloads.values():
        if w.namespace not in namespaces:
            namespaces[w.namespace] = {NS_NAME_LABEL: w.namespace}
    for first, other, pod_name in label_gaps:
        _check_label_gap(first, other, pod_name, list(policies.values()))
    wl = sorted(workloads.values(), key=lambda w: w.key)
    targets = _ingress_targets(wl, services, ingress_objs, warnings)
    return Topology(namespaces, wl, list(policies.values()), targets, warnings)


def _check_label_gap(first: Workload, other: Workload, pod_name: str, policies: list[Policy]) -> None:
    """Refuse pods of one owner whose labels differ where some policy selector tells them apart.

    The owner is one peer, so its pods must be indistinguishable to the policies; netpol-analyzer refuses
    such input too. Differences no selector looks at are harmless.
    """
    for pol in policies:
        selectors = [pol.pod_selector] if pol.namespace == first.namespace else []
        for rule in (*pol.ingress_rules, *pol.egress_rules):
            selectors.extend(p.pod_selector for p in rule.peers or () if p.pod_selector is not None)
        for sel in selectors:
            if sel.matches(first.labels) != sel.matches(other.labels):
                raise NetpolError(
                    f"pods of the same owner {first.key} have different labels (pod {other.namespace}/{pod_name} "
                    f"has {other.labels}, the first pod has {first.labels}) and NetworkPolicy {pol.key} selector "
                    f"'{sel}' selects only some of them; connectivity per owner is undefined"
                )


# --- Ingress / Route: which workloads an ingress controller is sent to, on which TCP ports -----------------


def _access_ports(svc_ports: list[Any], required: Any) -> list[Any]:
    """The pod-side ports reached through a Service for a requested service port (None = every port)."""
    out: list[Any] = []
    for sp in svc_ports:
        if not isinstance(sp, dict):
            continue
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


def _backends(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(service name, requested port) pairs of a Route or an Ingress."""
    spec = doc.get("spec") or {}
    out: list[tuple[str, Any]] = []
    if doc.get("kind") == "Route":
        port = _dig(spec, ("port", "targetPort"))
        to = spec.get("to") or {}
        if isinstance(to, dict) and to.get("kind", "Service") in ("", "Service"):
            out.append((str(to.get("name") or ""), port))
        for b in spec.get("alternateBackends") or ():
            if isinstance(b, dict) and b.get("kind", "Service") in ("", "Service"):
                out.append((str(b.get("name") or ""), port))
        return out
    svc_backends = [_dig(spec, ("defaultBackend", "service"))]
    for rule in spec.get("rules") or ():
        for path in _dig(rule, ("http", "paths")) or ():
            svc_backends.append(_dig(path, ("backend", "service")))
    for b in svc_backends:
        if isinstance(b, dict):
            port = b.get("port") or {}
            out.append((str(b.get("name") or ""), port.get("name") or port.get("number")))
    return out


def _ingress_targets(
    workloads: list[Workload],
    services: list[tuple[dict[str, Any], str]],
    ingress_objs: list[tuple[dict[str, Any], str]],
    warnings: list[str],
) -> dict[str, tuple[ConnSet, list[str]]]:
    # (namespace, label key, label value) -> workloads carrying that label, in `workloads` order: a
    # Service's selector is matched against the workloads holding one of its labels, not against all.
    by_label: dict[tuple[str, str, str], list[Workload]] = {}
    if services:
        for w in workloads:
            for k, v in w.labels.items():
                by_label.setdefault((w.namespace, k, v), []).append(w)
    svc_map: dict[tuple[str, str], tuple[list[Workload], list[Any]]] = {}
    for doc, ns in services:
        spec = doc.get("spec") or {}
        selector = spec.get("selector")
        name = str(_meta(doc).get("name") or "")
        if not isinstance(selector, dict) or not selector:
            warnings.append(f"Service {ns}/{name}: a Service without selector is ignored")
            continue
        sel = {str(k): str(v) for k, v in selector.items()}
        candidates = min((by_label.get((ns, k, v), []) for k, v in sel.items()), key=len)
        peers = [w for w in candidates if matches_labels(sel, w.labels)]
        if peers:
            svc_map[(ns, name)] = (peers, list(spec.get("ports") or []))
    out: dict[str, tuple[ConnSet, list[str]]] = {}
    for doc, ns in ingress_objs:
        obj_name = f"{doc.get('kind')} {ns}/{_meta(doc).get('name')}"
        for svc_name, required in _backends(doc):
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
                prev, objs = out.get(w.key, (conns.NONE, []))
                out[w.key] = (conns.union(prev, c), [*objs, obj_name])
    return out
