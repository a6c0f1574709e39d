"""`Inventory.netpol`: the connectivity engine built once per inventory for every network check (issue 13 req 1).

Before, checks/network.py kept its own WeakKeyDictionary cache of engines; now the Inventory owns the view and
the checks read it.
"""

from __future__ import annotations

from typing import Any

import pytest

import kubehipaa.engines.netpol as netpol
from kubehipaa.checks.registry import all_checks
from kubehipaa.config import parse_config
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths
from tests.conftest import CASES
from tests.netpol.helpers import deploy, ns, policy

BAD_POLICY = policy("clinical", "broken", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "A"}}]}]})


def test_the_engine_is_built_once_for_every_network_check(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = netpol.build_topology

    def counting(objects: Any, **kwargs: Any) -> netpol.Topology:
        built.append(kwargs)
        return real(objects, **kwargs)

    monkeypatch.setattr(netpol, "build_topology", counting)
    inv = Inventory(load_paths([str(CASES / "KH-NET-002" / "fire.yaml")]).objects)
    network = [c for c in all_checks() if c.meta.id.startswith("KH-NET-")]
    assert len(network) == 9
    result = run_scan(inv, checks=network)
    assert "KH-NET-002" in {f.check_id for f in result.findings}
    assert built == [{"strict": False}]  # one engine, as the API server reads the input
    engine = inv.netpol
    assert inv.netpol is engine and isinstance(engine, netpol.Engine)
    run_scan(inv, checks=network)
    assert len(built) == 1 and inv.netpol is engine


def test_objects_the_engine_left_out_are_skipped_input_once() -> None:
    """Every network check reads the view; the invalid policy is still one skipped entry (the scan exits 2)."""
    from kubehipaa.model import K8sObject

    docs = [ns("clinical"), deploy("clinical", "db", {"app": "db"}), BAD_POLICY]
    objects = [K8sObject(d, "in.yaml", i + 1) for i, d in enumerate(docs)]
    inv = Inventory(objects, parse_config({"phi": {"namespaces": ["clinical"]}}))
    result = run_scan(inv, checks=[c for c in all_checks() if c.meta.id.startswith("KH-NET-")])
    [problem] = result.skipped
    assert (problem.file, problem.line) == ("in.yaml", 3) and "CIDR error" in problem.message
    assert [p.obj for p in inv.netpol.topo.problems] == [objects[2]]
    # the checks judged the rest: the PHI namespace has no default deny (the invalid policy is not one)
    assert "KH-NET-001" in {f.check_id for f in result.findings}


def test_inventories_do_not_share_an_engine() -> None:
    a = Inventory([])
    b = Inventory([])
    assert a.netpol is not b.netpol and a.netpol.topo.workloads == []


@pytest.mark.parametrize(("cidr", "excepts", "fires"), [
    ("0.0.0.0/0", [], True),
    ("0.0.0.0/0", ["10.0.0.0/8"], True),
    ("::/0", [], True),
    ("128.0.0.0/0", [], True),  # host bits set: still the whole IPv4 space, as the API server reads it
    ("0.0.0.0/1", [], False),  # exactly half
    ("10.0.0.0/8", [], False),
    ("2001:db8::/32", [], False),
])
def test_egress_to_world_judges_the_typed_ipblock(cidr: str, excepts: list[str], fires: bool) -> None:
    """KH-NET-006 reads the rule peer's cidr (`IPBlockPeer`), not a search in its printed text."""
    from kubehipaa.model import K8sObject

    block: dict[str, Any] = {"cidr": cidr, **({"except": excepts} if excepts else {})}
    pol = policy("n", "out", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": block}]}]})
    inv = Inventory([K8sObject(ns("n"), "in.yaml", 1), K8sObject(pol, "in.yaml", 2)])
    [check] = [c for c in all_checks() if c.meta.id == "KH-NET-006"]
    hits = list(check.run(inv))
    assert bool(hits) is fires
    if fires:
        expected = f"ipBlock {cidr}" + (f" except {', '.join(excepts)}" if excepts else "")
        assert hits[0].evidence[0].value == expected and hits[0].message.endswith(f"allows {expected}")
