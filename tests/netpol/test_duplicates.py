"""A NetworkPolicy name defined twice is not fatal to the engine (issue 11, req. 5).

The file source already keeps only the last definition; the engine does the same for callers that hand it
objects directly (the scan's network checks used to be disabled by the NetpolError), and says so.
"""

from __future__ import annotations

from kubehipaa.engines.netpol import Engine, build_topology


def _policy(types: list[str], source: str) -> tuple[dict, str]:
    return ({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "deny", "namespace": "shop"},
             "spec": {"podSelector": {}, "policyTypes": types}}, source)


def _deploy(name: str) -> tuple[dict, str]:
    return ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
             "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c"}]}}}},
            f"{name}.yaml:1")


def test_the_last_definition_is_used_with_a_warning() -> None:
    topo = build_topology([_deploy("a"), _deploy("b"), _policy(["Ingress", "Egress"], "v1/np.yaml:1"),
                           _policy(["Ingress"], "v2/np.yaml:1")])
    [policy] = topo.policies
    assert policy.source == "v2/np.yaml:1" and not policy.affects_egress
    [warning] = [w for w in topo.warnings if "deny" in w]
    assert "v1/np.yaml:1" in warning and "v2/np.yaml:1" in warning and "last definition" in warning
    rows = Engine(topo).connections()
    # ingress denied between the pods (v2 keeps ingress isolation), egress open: only outbound to the world
    assert not [r for r in rows if str(r.src).startswith("shop/") and str(r.dst).startswith("shop/")]
    assert [r for r in rows if str(r.src).startswith("shop/a")]
