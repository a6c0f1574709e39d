"""Network checks (KH-NET-*): default deny, PHI exposure and egress, policy hygiene, exposed Services.

The connectivity checks read the Inventory's NetworkPolicy engine (`inv.netpol`, built once per inventory)
and judge what the policies actually allow, not what they look like: a PHI workload counts as reachable from
outside its namespace only if some allowed connection from another namespace, an external range or the
ingress controller reaches it. Only the connections touching PHI namespaces are expanded, and only by the
check that needs them (KH-NET-001 needs the policies alone): a cluster without policies has a quadratic
number of connections, which the checks never need.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator

from kubehipaa.checks.registry import Hit, Needs, check
from kubehipaa.engines.netpol import (
    INGRESS_CONTROLLER,
    MAX_IP,
    Connection,
    Engine,
    ExternalPeer,
    IngressControllerPeer,
    PeerSpec,
    Policy,
    WorkloadPeer,
    intersect_conns,
    make_conns,
    union_conns,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

HIPAA_NET = ("164.312(a)(1)", "164.312(e)(1)", "164.308(a)(1)(ii)(B)")
HIPAA_TRANSMISSION = ("164.312(e)(1)", "164.312(e)(2)(ii)")
DNS_ONLY = union_conns(make_conns("TCP", 53, 53), make_conns("UDP", 53, 53))
QUARANTINE_LABELS = {"quarantine": "true"}
MAX_LISTED = 5


def _engine(inv: Inventory) -> Engine:
    """`inv.netpol`, with the objects it left out reported as skipped input.

    An object the engine cannot use (an invalid NetworkPolicy, a workload or Service with a wrong-typed
    field) is left out of every answer and reported as skipped input (the scan then exits 2); the checks
    judge the rest instead of all failing on it. Every check reports them: `skipped` keeps each once.
    """
    engine = inv.netpol
    for problem in engine.topo.problems:
        inv.skip(problem.file, problem.line, problem.message)
    return engine


def _left_out(inv: Inventory) -> set[int]:
    """Ids of the objects the engine left out (reported as skipped input already): a check reading objects
    directly passes them over."""
    return {id(p.obj) for p in _engine(inv).topo.problems if p.obj is not None}


def _unchecked(inv: Inventory, obj: K8sObject, why: str, what: str) -> None:
    """Report a field only a direct check reads (never the engine) that has the wrong type: skipped input,
    so the scan exits 2 instead of passing the object over."""
    inv.skip(obj.file, obj.line, f"{obj.kind} {obj.namespace}/{obj.name}: {why}; {what} not checked")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _ns_anchor(inv: Inventory, ns: str) -> K8sObject | None:
    """The object a namespace-level finding is reported on: the Namespace, else any object in it."""
    obj = inv.namespaces.get(ns)
    if obj is not None:
        return obj
    return next((o for o in inv.objects if o.namespace == ns), None)


def _is_default_deny(pol: Policy, ingress: bool) -> bool:
    if not pol.pod_selector.is_empty:
        return False
    if ingress:
        return pol.affects_ingress and not pol.ingress_rules
    return pol.affects_egress and not pol.egress_rules


@check(
    id="KH-NET-001",
    title="PHI namespace without default-deny ingress and egress",
    area="network",
    severity=Severity.HIGH,  # only ever reported in PHI namespaces
    hipaa=HIPAA_NET,
    relation="supports",
    nsa=("Network separation: default-deny NetworkPolicy",),
    remediation=(
        "Add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Ingress, Egress]` and no rules to the "
        "namespace, then allow only the flows each service needs."
    ),
    description=(
        "Without a default deny, every pod not selected by some policy accepts and sends any traffic, so a "
        "compromised pod can reach PHI services and exfiltrate data."
    ),
    needs=Needs(("NetworkPolicy",), "needs every NetworkPolicy of the namespace (default-deny coverage)"),
)
def phi_namespace_default_deny(inv: Inventory) -> Iterator[Hit]:
    policies = _engine(inv).policies
    for ns in sorted(inv.phi_namespaces):
        in_ns = [p for p in policies if p.namespace == ns]
        missing = []
        if not any(_is_default_deny(p, True) for p in in_ns):
            missing.append("ingress")
        if not any(_is_default_deny(p, False) for p in in_ns):
            missing.append("egress")
        anchor = _ns_anchor(inv, ns)
        if missing and anchor is not None:
            yield Hit(
                anchor,
                f"PHI namespace {ns} has no default-deny {' and '.join(missing)} NetworkPolicy",
                path="metadata.name",
                value=ns,
                namespace=ns,
            )


def _ingress_allowed(inv: Inventory, c: Connection, dst_ns: str, dst_name: str) -> bool:
    """Whether `network.allowed_ingress` declares this connection into a PHI workload."""
    src = c.src
    for rule in inv.config.network.allowed_ingress:
        if rule.to_namespace != dst_ns or (rule.to_workload and rule.to_workload != dst_name):
            continue
        if rule.from_namespace and (
            rule.from_namespace == src.namespace
            or (
                isinstance(src, IngressControllerPeer)
                and rule.from_namespace in (INGRESS_CONTROLLER, "ingress-controller")
            )
        ):
            return True
        if rule.from_cidr and isinstance(src, ExternalPeer):
            net = ipaddress.ip_network(rule.from_cidr, strict=False)
            if net.version == 4 and src.within(int(net.network_address), int(net.broadcast_address)):
                return True
    return False


@check(
    id="KH-NET-002",
    title="PHI workload reachable from outside its namespace",
    area="network",
    severity=Severity.HIGH,  # only ever reported in PHI namespaces
    hipaa=HIPAA_NET,
    relation="supports",
    remediation=(
        "Restrict the workload's ingress to the namespaces and address ranges that need it, or declare the "
        "flow in .kubehipaa.yaml under network.allowed_ingress (to_namespace, from_namespace/from_cidr)."
    ),
    description=(
        "Computed from what the NetworkPolicies actually allow: some pod in another namespace, an external "
        "address range or the ingress controller can open a connection to this PHI workload."
    ),
    needs=Needs(("NetworkPolicy", "workloads"), "needs the NetworkPolicies selecting the workload and the "
                "workloads of other namespaces (reachability)"),
)
def phi_reachable_from_outside(inv: Inventory) -> Iterator[Hit]:
    phi = inv.phi_namespaces
    if not phi:
        return
    engine = _engine(inv)
    by_dst: dict[WorkloadPeer, list[Connection]] = defaultdict(list)
    for c in engine.connections(dst_namespaces=set(phi)):
        dst = c.dst
        if isinstance(dst, WorkloadPeer) and dst.namespace in phi and c.src.namespace != dst.namespace:
            by_dst[dst].append(c)
    for w in engine.topo.workloads:
        found = [c for c in by_dst.get(w.peer, ()) if not _ingress_allowed(inv, c, w.namespace, w.name)]
        if not found or w.obj is None:
            continue
        sources = [f"{c.src} ({c.conn_str})" for c in found[:MAX_LISTED]]
        more = f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
        yield Hit(
            w.obj,
            f"{w.key} in PHI namespace {w.namespace} is reachable from {', '.join(sources)}{more}",
            path="metadata.labels",
            value=sorted(c.src.text for c in found)[:20],
            namespace=w.namespace,
        )


def _allowed_egress_ranges(inv: Inventory) -> list[tuple[int, int]]:
    out = []
    for cidr in inv.config.egress.allowed_cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4:
            out.append((int(net.network_address), int(net.broadcast_address)))
    return out


@check(
    id="KH-NET-003",
    title="PHI workload may send traffic outside the cluster beyond DNS and allowed egress",
    area="network",
    severity=Severity.HIGH,  # only ever reported in PHI namespaces
    hipaa=HIPAA_NET,
    relation="supports",
    remediation=(
        "Give the workload an egress policy that allows only in-cluster destinations, DNS (port 53) and the "
        "external ranges it needs; list those ranges in .kubehipaa.yaml under egress.allowed_cidrs."
    ),
    description=(
        "Egress to arbitrary external addresses is the exfiltration path for PHI. In-cluster destinations "
        "and DNS are tolerated; any other external range must be declared."
    ),
    needs=Needs(("NetworkPolicy",), "needs the NetworkPolicies selecting the workload (egress reachability)"),
)
def phi_open_egress(inv: Inventory) -> Iterator[Hit]:
    phi = inv.phi_namespaces
    if not phi:
        return
    allowed = _allowed_egress_ranges(inv)
    engine = _engine(inv)
    by_src: dict[WorkloadPeer, list[Connection]] = defaultdict(list)
    for c in engine.connections(src_namespaces=set(phi)):
        src, dst = c.src, c.dst
        if isinstance(src, WorkloadPeer) and src.namespace in phi and isinstance(dst, ExternalPeer):
            if any(dst.within(a, b) for a, b in allowed):
                continue
            if intersect_conns(c.conn, DNS_ONLY) == c.conn:
                continue  # DNS only
            by_src[src].append(c)
    for w in engine.topo.workloads:
        found = by_src.get(w.peer)
        if not found or w.obj is None:
            continue
        dests = [f"{c.dst} ({c.conn_str})" for c in found[:MAX_LISTED]]
        more = f" and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
        yield Hit(
            w.obj,
            f"{w.key} in PHI namespace {w.namespace} may send to {', '.join(dests)}{more}",
            path="spec",
            value=sorted(c.dst.text for c in found)[:20],
            namespace=w.namespace,
        )


@check(
    id="KH-NET-004",
    title="NetworkPolicy selects no workload",
    area="network",
    severity=Severity.LOW,
    hipaa=("164.308(a)(1)(ii)(B)", "164.312(a)(1)"),
    relation="supports",
    remediation="Fix the policy's podSelector (a label typo is the usual cause) or delete the policy.",
    description=(
        "A policy whose podSelector matches no pod protects nothing; it usually hides a label typo and gives "
        "a false sense of isolation."
    ),
    needs=Needs(("workloads",), "needs the workloads of the namespace (does the policy select any)"),
)
def policy_selects_nothing(inv: Inventory) -> Iterator[Hit]:
    engine = _engine(inv)
    populated = {w.namespace for w in engine.topo.workloads}
    for pol in engine.policies:
        if pol.obj is None or pol.pod_selector.is_empty or pol.namespace not in populated:
            continue
        if _is_quarantine_policy(pol):  # selects nothing until a responder labels a pod
            continue
        if not engine.selected_classes(pol):
            yield Hit(
                pol.obj,
                f"NetworkPolicy {pol.key} selects no workload in namespace {pol.namespace} "
                f"(podSelector {pol.pod_selector})",
                path="spec.podSelector",
                value=str(pol.pod_selector),
            )


def _is_quarantine_policy(pol: Policy) -> bool:
    sel = pol.pod_selector
    return (
        not sel.is_empty
        and sel.matches(QUARANTINE_LABELS)
        and any(r.key == "quarantine" for r in sel.requirements)
        and pol.affects_ingress
        and pol.affects_egress
        and not pol.ingress_rules
        and not pol.egress_rules
    )


@check(
    id="KH-NET-005",
    title="PHI namespace not ready for quarantine",
    area="network",
    severity=Severity.MEDIUM,  # only ever reported in PHI namespaces
    hipaa=("164.308(a)(6)(ii)", "164.312(a)(1)"),
    relation="supports",
    remediation=(
        'Add a deny-all NetworkPolicy selecting `quarantine: "true"` with policyTypes [Ingress, Egress] and '
        "no rules, so incident responders can isolate a pod by labelling it."
    ),
    description=(
        "Incident response (164.308(a)(6)) needs a way to cut a compromised PHI pod off the network at once; "
        "a pre-installed quarantine policy makes that one `kubectl label` away."
    ),
    needs=Needs(("NetworkPolicy",), "needs the namespace's NetworkPolicies (quarantine readiness)"),
)
def quarantine_readiness(inv: Inventory) -> Iterator[Hit]:
    policies = _engine(inv).policies
    for ns in sorted(inv.phi_namespaces):
        if any(p.namespace == ns and _is_quarantine_policy(p) for p in policies):
            continue
        anchor = _ns_anchor(inv, ns)
        if anchor is not None:
            yield Hit(
                anchor,
                f"PHI namespace {ns} has no deny-all NetworkPolicy for pods labelled quarantine=true",
                path="metadata.name",
                value=ns,
                namespace=ns,
            )


@check(
    id="KH-NET-006",
    title="NetworkPolicy allows egress to 0.0.0.0/0",
    area="network",
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    relation="supports",
    remediation="Replace the 0.0.0.0/0 (or ::/0) ipBlock with the specific external ranges the workload needs.",
    description="An egress rule to the whole Internet defeats egress control and opens an exfiltration path.",
)
def egress_to_world(inv: Inventory) -> Iterator[Hit]:
    for pol in _engine(inv).policies:
        if pol.obj is None or not pol.affects_egress:
            continue
        for rule in pol.egress_rules:
            for peer in rule.peers or ():
                if _to_world(peer):
                    yield Hit(
                        pol.obj,
                        f"NetworkPolicy {pol.key} egress rule #{rule.index + 1} allows {peer}",
                        path=f"spec.egress[{rule.index}].to",
                        value=str(peer),
                    )
                    break


def _to_world(peer: PeerSpec) -> bool:
    """An ipBlock whose cidr is a whole address family (`0.0.0.0/0`, `::/0`, any /0), or that leaves more than
    half of the IPv4 space once its excepts are taken out."""
    if peer.block is None or peer.ipblock is None:
        return False
    if peer.block.prefix_length == 0:
        return True
    return sum(e - s + 1 for s, e in peer.ipblock) > (MAX_IP + 1) // 2


@check(
    id="KH-NET-007",
    title="Service of type NodePort",
    area="network",
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    relation="supports",
    cis=("5.7.4",),
    remediation="Use a ClusterIP Service behind an Ingress with TLS, or a LoadBalancer restricted by source ranges.",
    description="A NodePort opens the service on every node's address, bypassing ingress TLS and allow-lists.",
)
def nodeport_service(inv: Inventory) -> Iterator[Hit]:
    left_out = _left_out(inv)
    for svc in inv.of_kind("Service"):
        if id(svc) in left_out:
            continue
        spec = svc.doc.get("spec") or {}
        if spec.get("type") == "NodePort":
            yield Hit(
                svc,
                f"Service {svc.namespace}/{svc.name} is of type NodePort",
                path="spec.type",
                value="NodePort",
            )


@check(
    id="KH-NET-008",
    title="LoadBalancer Service without loadBalancerSourceRanges",
    area="network",
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(a)(1)"),
    relation="supports",
    remediation="Set spec.loadBalancerSourceRanges to the client ranges that need the service.",
    description="Without source ranges a LoadBalancer accepts connections from the whole Internet.",
)
def loadbalancer_without_source_ranges(inv: Inventory) -> Iterator[Hit]:
    left_out = _left_out(inv)
    for svc in inv.of_kind("Service"):
        if id(svc) in left_out:
            continue
        spec = svc.doc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        ranges = spec.get("loadBalancerSourceRanges") or []
        if not _strings(ranges):
            # a string would be read per character and look restricted
            _unchecked(inv, svc, "spec.loadBalancerSourceRanges must be a list of strings", "source ranges")
            continue
        if not ranges or any(r in ("0.0.0.0/0", "::/0") for r in ranges):
            yield Hit(
                svc,
                f"LoadBalancer Service {svc.namespace}/{svc.name} accepts connections from any address",
                path="spec.loadBalancerSourceRanges",
                value=ranges or None,
            )


@check(
    id="KH-NET-009",
    title="Ingress without TLS",
    area="network",
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(e)(1)", "164.312(e)(2)(ii)"),
    relation="supports",
    remediation="Add spec.tls with a certificate Secret covering every host the Ingress serves.",
    description="Traffic to an Ingress without TLS crosses the network in clear text (164.312(e)(2)(ii)).",
)
def ingress_without_tls(inv: Inventory) -> Iterator[Hit]:
    left_out = _left_out(inv)
    for ing in inv.of_kind("Ingress"):
        if id(ing) in left_out:
            continue
        spec = ing.doc.get("spec") or {}  # a mapping, rules a list of mappings: the engine checked them
        tls = spec.get("tls") or []
        if not isinstance(tls, list) or not all(
            isinstance(t, dict) and _strings(t.get("hosts") or []) for t in tls
        ) or not all(isinstance(r.get("host") or "", str) for r in spec.get("rules") or ()):
            _unchecked(inv, ing, "spec.tls must be a list of mappings whose hosts are strings, and each "
                       "rule's host a string", "TLS")
            continue
        hosts = {r.get("host") for r in spec.get("rules") or () if isinstance(r, dict) and r.get("host")}
        covered = {h for t in tls if isinstance(t, dict) for h in t.get("hosts") or ()}
        if not tls:
            yield Hit(
                ing, f"Ingress {ing.namespace}/{ing.name} serves without TLS", path="spec.tls", value=None
            )
        elif hosts - covered and any(t.get("hosts") for t in tls if isinstance(t, dict)):
            missing = sorted(h for h in hosts - covered if isinstance(h, str))
            yield Hit(
                ing,
                f"Ingress {ing.namespace}/{ing.name} serves {', '.join(missing)} without TLS",
                path="spec.tls",
                value=missing,
            )
