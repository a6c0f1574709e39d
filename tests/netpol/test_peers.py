"""Typed peers (issue 13 req 3): the engine's answers carry facts, `str()` gives netpol-analyzer's name.

Before, peers were printed names that every caller parsed back (`removesuffix("[External]")`, splitting at
`/`); these tests pin the typed answer of each result type and that no module parses a peer's text.
"""

from __future__ import annotations

import ast
import ipaddress
from typing import Any

from kubehipaa.engines.netpol import (
    ANY_PEER,
    INGRESS_CONTROLLER_PEER,
    Engine,
    ExternalPeer,
    IngressControllerPeer,
    IPBlockPeer,
    WorkloadPeer,
    build_topology,
    can_reach,
    diff,
    exposure,
)
from tests.netpol.helpers import deploy, ns, policy
from tests.test_import_rules import SRC, violations

WEB = WorkloadPeer("a", "Deployment", "web")
DB = WorkloadPeer("a", "Deployment", "db")


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def _ingress(namespace: str, service: str, port: int) -> list[dict[str, Any]]:
    """A Service selecting app=web and an Ingress routing to it."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": namespace},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": port, "targetPort": port}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "in", "namespace": namespace},
         "spec": {"defaultBackend": {"service": {"name": service, "port": {"number": port}}}}},
    ]


OBJECTS = [
    ns("a"),
    ns("b"),
    deploy("a", "web", {"app": "web"}, [{"name": "http", "containerPort": 8080}]),
    deploy("a", "db", {"app": "db"}),
    *_ingress("a", "web", 8080),
    policy("a", "db-in", {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                              {"namespaceSelector": {"matchLabels": {"team": "x"}}}]}],
    }),
    policy("a", "web-in", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}),
]


def test_connections_carry_typed_peers_whose_text_is_netpol_analyzers() -> None:
    rows = Engine(build_topology(OBJECTS)).connections()
    by_text = {(c.src.text, c.dst.text): c for c in rows}
    c = by_text[("a/db[Deployment]", "a/web[Deployment]")]
    assert (c.src, c.dst) == (DB, WEB) and (c.dst.namespace, c.dst.kind, c.dst.name) == ("a", "Deployment", "web")
    ext = by_text[("10.0.0.0-10.0.255.255[External]", "a/db[Deployment]")].src
    assert isinstance(ext, ExternalPeer) and (ext.first, ext.last) == (_ip("10.0.0.0"), _ip("10.0.255.255"))
    assert ext.namespace is None and ext.within(_ip("10.0.0.0"), _ip("10.255.255.255"))
    ic = by_text[("{ingress-controller}", "a/web[Deployment]")].src
    assert ic == INGRESS_CONTROLLER_PEER and isinstance(ic, IngressControllerPeer) and ic.namespace is None
    for row in rows:  # every peer is typed, and its str() is the text the connlist prints
        for peer in (row.src, row.dst):
            assert isinstance(peer, WorkloadPeer | ExternalPeer | IngressControllerPeer)
            assert str(peer) == peer.text
        assert row.line() == f"{row.src} => {row.dst} : {row.conn_str}"


def test_connlist_lists_the_workload_peers() -> None:
    result = Engine(build_topology(OBJECTS)).connlist()
    assert result.peers == [DB, WEB]
    assert result.connections == Engine(build_topology(OBJECTS)).connections()


def test_exposure_rules_carry_typed_rule_peers() -> None:
    e = exposure(Engine(build_topology(OBJECTS)), ["a"])
    peers = {(r.workload, str(r.peer)): r.peer for r in e.rules_in}
    block = peers[(DB, "ipBlock 10.0.0.0/8 except 10.1.0.0/16")]
    assert getattr(block, "block", None) == IPBlockPeer("10.0.0.0/8", ("10.1.0.0/16",))
    assert peers[(WEB, "any peer (every namespace and address)")] is ANY_PEER
    assert (DB, "namespaceSelector team=x") in peers
    assert [r.rule for r in e.rules_in if r.workload == DB] == ["Ingress rule #1", "Ingress rule #1"]
    assert all(r.ingress for r in e.rules_in)
    assert all(isinstance(c.src, ExternalPeer | IngressControllerPeer) for c in e.inbound)
    assert e.not_isolated_egress == [DB, WEB]


def test_can_reach_names_typed_endpoints() -> None:
    engine = Engine(build_topology(OBJECTS))
    v = can_reach(engine, "10.2.3.4", "a/db", "TCP", 5432)
    assert v.reachable and v.src.peer == ExternalPeer(_ip("10.2.3.4"), _ip("10.2.3.4"))
    assert v.egress.external and v.ingress.subject == DB
    assert can_reach(engine, "{ingress-controller}", "a/web").src.peer == INGRESS_CONTROLLER_PEER


def test_diff_rows_pair_typed_peers_and_name_new_workloads() -> None:
    before = Engine(build_topology(OBJECTS[:4])).connlist()
    after = Engine(build_topology(OBJECTS)).connlist()
    rows = diff(before.connections, before.peers, after.connections, after.peers)
    removed = [r for r in rows if r.diff_type == "removed" and r.dst == DB]
    assert removed and all(isinstance(r.src, ExternalPeer | WorkloadPeer) for r in removed)
    cut = {(r.src.first, r.src.last) for r in removed if isinstance(r.src, ExternalPeer)}
    assert (_ip("10.1.0.0"), _ip("10.1.255.255")) in cut  # External ranges compared as intervals
    grown = Engine(build_topology([*OBJECTS, deploy("b", "new", {"app": "n"})])).connlist()
    added = diff(after.connections, after.peers, grown.connections, grown.peers)
    new = WorkloadPeer("b", "Deployment", "new")
    assert any(r.workloads == (new,) and r.info == "workload b/new[Deployment] added" for r in added)


def test_no_module_parses_a_peer_text() -> None:
    """A peer's printed form is written in one place (`peers.py`, and `ipranges.atom_name` for the range):
    no other module of the package spells it, so none can test or split it (`endswith("[External]")`,
    `removesuffix("[External]")`, `== "{ingress-controller}"`)."""
    found = []
    for path in sorted((SRC / "kubehipaa").rglob("*.py")):
        if path.name in ("peers.py", "ipranges.py") and path.parent.name == "netpol":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings may name peers
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in docs and isinstance(node.value, str) and (
                "[External]" in node.value or "{ingress-controller}" in node.value
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


def test_netpol_modules_import_only_engine_fronts() -> None:
    """checks/network.py, cli/netpol.py and reports/netpol.py use the engine through its front only."""
    assert [v for v in violations() if "netpol" in v or "network" in v] == []


def test_network_checks_keep_no_cache_of_their_own() -> None:
    source = (SRC / "kubehipaa" / "checks" / "network.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in node.names}
    assert "weakref" not in imported and "_CACHE" not in source
    assert "inv.netpol" in source


def test_cli_netpol_reads_no_file_itself() -> None:
    """The sources layer is the only reader of manifests: cli/netpol.py neither parses YAML nor opens files."""
    tree = ast.parse((SRC / "kubehipaa" / "cli" / "netpol.py").read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in modules if m.split(".")[0] in ("yaml", "json", "orjson")}
    calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute)}
    assert not calls & {"read_text", "read_bytes", "open", "load_all", "safe_load"}


def test_ipblock_peer_text() -> None:
    assert str(IPBlockPeer("0.0.0.0/0")) == "ipBlock 0.0.0.0/0"
    assert str(IPBlockPeer("10.0.0.0/8", ("10.1.0.0/16", "10.2.0.0/16"))) == (
        "ipBlock 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16"
    )
