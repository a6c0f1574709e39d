"""Property test: the class-based engine agrees with a naive pod-pair evaluation written from the spec.

The reference below evaluates every (source, destination) pair directly from the NetworkPolicy API rules,
without equivalence classes, caching or key-view tricks, on random small topologies; both must produce the
same connection list. External peers use the engine's address partition, but membership of each range in
an ipBlock is decided independently with `ipaddress`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubehipaa.engines.netpol import Engine, build_topology, conns
from kubehipaa.engines.netpol.ipranges import atom_name
from tests.netpol.helpers import deploy, ns, policy

LABEL_KEYS = ["app", "tier"]
LABEL_VALUES = ["a", "b", "c"]
CIDRS = [
    ("10.0.0.0/8", ["10.1.0.0/16"]),
    ("10.1.2.0/24", []),
    ("0.0.0.0/0", ["192.168.0.0/16"]),
    ("172.16.0.0/12", []),
]

labels_st = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=2)
expr_st = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.sampled_from(LABEL_KEYS),
            "operator": st.sampled_from(["In", "NotIn"]),
            "values": st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2),
        }
    ),
    st.fixed_dictionaries(
        {"key": st.sampled_from(LABEL_KEYS), "operator": st.sampled_from(["Exists", "DoesNotExist"])}
    ),
)
selector_st = st.one_of(
    st.just({}),
    st.builds(lambda m: {"matchLabels": m}, labels_st),
    st.builds(lambda e: {"matchExpressions": e}, st.lists(expr_st, min_size=1, max_size=2)),
)
ns_selector_st = st.one_of(
    st.just({}), st.builds(lambda v: {"matchLabels": {"zone": v}}, st.sampled_from(["p", "q"]))
)
pod_peer_st = st.one_of(
    st.builds(lambda p: {"podSelector": p}, selector_st),
    st.builds(lambda n: {"namespaceSelector": n}, ns_selector_st),
    st.builds(lambda p, n: {"podSelector": p, "namespaceSelector": n}, selector_st, ns_selector_st),
)
ip_peer_st = st.builds(lambda c: {"ipBlock": {"cidr": c[0], "except": c[1]}}, st.sampled_from(CIDRS))
port_st = st.one_of(
    st.builds(
        lambda p, pr: {"port": p, "protocol": pr},
        st.sampled_from([80, 443, 5432]),
        st.sampled_from(["TCP", "UDP"]),
    ),
    st.builds(lambda p: {"port": p, "endPort": p + 10}, st.sampled_from([80, 8000])),
    st.builds(lambda pr: {"protocol": pr}, st.sampled_from(["TCP", "UDP", "SCTP"])),
)
named_port_st = st.builds(
    lambda n, pr: {"port": n, "protocol": pr},
    st.sampled_from(["http", "db"]),
    st.sampled_from(["TCP", "UDP"]),
)


def rule_st(egress: bool) -> st.SearchStrategy[dict[str, Any]]:
    peers = st.one_of(st.none(), st.lists(st.one_of(pod_peer_st, ip_peer_st), min_size=1, max_size=2))
    ports = st.one_of(st.none(), st.lists(port_st, min_size=1, max_size=2))
    pod_only = st.lists(pod_peer_st, min_size=1, max_size=2)
    named = st.lists(st.one_of(port_st, named_port_st), min_size=1, max_size=2)
    key = "to" if egress else "from"

    def build(p: Any, q: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if p is not None:
            out[key] = p
        if q is not None:
            out["ports"] = q
        return out

    # egress rules may only use named ports towards pod peers (netpol-analyzer refuses the rest)
    return st.one_of(
        st.builds(build, peers, ports),
        st.builds(build, pod_only, named) if egress else st.builds(build, peers, st.one_of(st.none(), named)),
    )


policy_st = st.builds(
    lambda sel, types, ing, eg: {
        k: v
        for k, v in {"podSelector": sel, "policyTypes": types, "ingress": ing, "egress": eg}.items()
        if v is not None
    },
    selector_st,
    st.one_of(st.none(), st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]])),
    st.one_of(st.none(), st.lists(rule_st(False), max_size=2)),
    st.one_of(st.none(), st.lists(rule_st(True), max_size=2)),
)
workload_st = st.tuples(st.sampled_from(["n1", "n2"]), labels_st, st.booleans(), st.booleans())


def build_objects(workloads: list[Any], policies: list[Any]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [ns("n1", zone="p"), ns("n2", zone="q")]
    for i, (namespace, labels, http, db) in enumerate(workloads):
        ports = []
        if http:
            ports.append({"name": "http", "containerPort": 8080})
        if db:
            ports.append({"name": "db", "containerPort": 5432, "protocol": "UDP" if i % 2 else "TCP"})
        objs.append(deploy(namespace, f"w{i}", labels, ports))
    for j, (namespace, spec) in enumerate(policies):
        objs.append(policy(namespace, f"p{j}", spec))
    return objs


# --- the reference: straight from the API documentation, one pair at a time -------------------------------


def sel_matches(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        ok = {
            "In": k in labels and labels[k] in vals,
            "NotIn": k not in labels or labels[k] not in vals,
            "Exists": k in labels,
            "DoesNotExist": k not in labels,
        }[op]
        if not ok:
            return False
    return True


def peer_selects(
    peer: dict[str, Any], pol_ns: str, target: Any, ns_labels: dict[str, dict[str, str]]
) -> bool:
    if "ipBlock" in peer:
        if target[0] != "ip":
            return False
        ip = ipaddress.IPv4Address(target[1])
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(x) for x in block.get("except") or []
        )
    if target[0] != "pod":
        return False
    w = target[1]
    if "namespaceSelector" in peer:
        if not sel_matches(peer["namespaceSelector"], ns_labels[w.namespace]):
            return False
    elif w.namespace != pol_ns:
        return False
    return "podSelector" not in peer or sel_matches(peer["podSelector"], w.labels)


def rule_conn(rule: dict[str, Any], dst: Any) -> conns.ConnSet:
    if not rule.get("ports"):
        return conns.ALL
    out = conns.NONE
    for p in rule["ports"]:
        proto = p.get("protocol", "TCP")
        if "port" not in p:
            out = conns.union(out, conns.make(proto))
        elif isinstance(p["port"], str):
            for cp in dst.ports if dst is not None else ():
                if cp.name == p["port"] and cp.protocol == proto:
                    out = conns.union(out, conns.make(proto, cp.number, cp.number))
        else:
            out = conns.union(out, conns.make(proto, p["port"], p.get("endPort", p["port"])))
    return out


def direction(spec: dict[str, Any], ingress: bool) -> bool:
    types = spec.get("policyTypes")
    if types:
        return ("Ingress" if ingress else "Egress") in types
    return ingress or bool(spec.get("egress"))


def side(
    pols: list[Any], subject: Any, other: Any, dst_w: Any, ingress: bool, ns_labels: Any
) -> conns.ConnSet:
    if subject[0] != "pod":
        return conns.ALL
    w = subject[1]
    selecting = [
        (n, s)
        for n, s in pols
        if n == w.namespace and direction(s, ingress) and sel_matches(s.get("podSelector") or {}, w.labels)
    ]
    if not selecting:
        return conns.ALL
    out = conns.NONE
    for pol_ns, spec in selecting:
        for rule in spec.get("ingress" if ingress else "egress") or []:
            peers = rule.get("from" if ingress else "to")
            if not peers or any(peer_selects(p, pol_ns, other, ns_labels) for p in peers):
                out = conns.union(out, rule_conn(rule, dst_w))
    return out


def reference(objs: list[dict[str, Any]], pols: list[Any], engine: Engine) -> list[str]:
    ns_labels = engine.topo.namespaces
    ws = engine.topo.workloads
    lines = []
    for s in ws:
        for d in ws:
            if s is d:
                continue
            c = conns.intersect(
                side(pols, ("pod", s), ("pod", d), d, False, ns_labels),
                side(pols, ("pod", d), ("pod", s), d, True, ns_labels),
            )
            if not conns.is_empty(c):
                lines.append(f"{s.key} => {d.key} : {conns.to_str(c)}")
    for atom in engine.src_atoms:
        ip = ("ip", str(ipaddress.IPv4Address(atom[0])))
        for d in ws:
            c = side(pols, ("pod", d), ip, d, True, ns_labels)
            if not conns.is_empty(c):
                lines.append(f"{atom_name(atom)} => {d.key} : {conns.to_str(c)}")
    for atom in engine.dst_atoms:
        ip = ("ip", str(ipaddress.IPv4Address(atom[0])))
        for s in ws:
            c = side(pols, ("pod", s), ip, None, False, ns_labels)
            if not conns.is_empty(c):
                lines.append(f"{s.key} => {atom_name(atom)} : {conns.to_str(c)}")
    return sorted(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workloads=st.lists(workload_st, min_size=2, max_size=5),
    policies=st.lists(st.tuples(st.sampled_from(["n1", "n2"]), policy_st), min_size=1, max_size=4),
)
def test_engine_matches_naive_reference(workloads: list[Any], policies: list[Any]) -> None:
    objs = build_objects(workloads, policies)
    engine = Engine(build_topology(objs))
    got = sorted(c.line() for c in engine.connections())
    assert got == reference(objs, policies, engine)
