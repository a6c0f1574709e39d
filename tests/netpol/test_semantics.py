"""NetworkPolicy semantics on small hand-made topologies (one behaviour per test)."""

from __future__ import annotations

from typing import Any

import pytest

from kubehipaa.engines.netpol import Engine, NetpolError, build_topology, can_reach, conns
from tests.netpol.helpers import deploy, ns, policy


def pairs(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(str(c.src), str(c.dst)): c.conn_str for c in Engine(build_topology(objects)).connections()}


BASE = [
    ns("a", team="x"),
    ns("b", team="y"),
    deploy("a", "web", {"app": "web"}, [{"name": "http", "containerPort": 8080}]),
    deploy("a", "db", {"app": "db"}, [{"name": "pg", "containerPort": 5432}]),
    deploy("b", "job", {"app": "job", "tier": "batch"}),
]
WEB, DB, JOB = "a/web[Deployment]", "a/db[Deployment]", "b/job[Deployment]"
ALL = "0.0.0.0-255.255.255.255[External]"


def test_no_policy_means_everything_is_open() -> None:
    p = pairs(BASE)
    assert p[(WEB, DB)] == p[(JOB, WEB)] == p[(ALL, DB)] == p[(DB, ALL)] == "All Connections"
    assert (WEB, WEB) not in p  # a workload to itself is not listed


def test_policy_types_default_is_ingress_only_without_egress_rules() -> None:
    p = pairs([*BASE, policy("a", "deny", {"podSelector": {}})])
    assert (WEB, DB) not in p and (JOB, DB) not in p and (ALL, DB) not in p
    assert p[(DB, JOB)] == "All Connections"  # egress untouched


def test_policy_types_default_includes_egress_when_egress_rules_exist() -> None:
    spec = {"podSelector": {"matchLabels": {"app": "web"}}, "egress": [{"to": [{"podSelector": {}}]}]}
    p = pairs([*BASE, policy("a", "p", spec)])
    assert p[(WEB, DB)] == "All Connections"
    assert (WEB, JOB) not in p and (WEB, ALL) not in p  # isolated for egress to other namespaces/IPs
    # without policyTypes the policy also isolates ingress, and it has no ingress rules
    assert (JOB, WEB) not in p and (DB, WEB) not in p


def test_egress_only_policy_type_leaves_ingress_open() -> None:
    spec = {"podSelector": {}, "policyTypes": ["Egress"]}
    p = pairs([*BASE, policy("a", "p", spec)])
    assert (WEB, DB) not in p  # egress of web denied
    assert p[(JOB, DB)] == "All Connections"


def test_connection_needs_both_egress_and_ingress() -> None:
    objs = [
        *BASE,
        policy(
            "a",
            "db-in",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                        "ports": [{"port": 5432}, {"port": 9000}],
                    }
                ],
            },
        ),
        policy(
            "a",
            "web-out",
            {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": 5432}, {"port": 6000, "endPort": 6010}]}],
            },
        ),
    ]
    p = pairs(objs)
    assert p[(WEB, DB)] == "TCP 5432"
    assert p[(WEB, ALL)] == "TCP 5432,6000-6010"


def test_namespace_selector_alone_and_with_pod_selector() -> None:
    only_ns = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "y"}}}]}],
    }
    both = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"team": "y"}},
                        "podSelector": {"matchLabels": {"tier": "web"}},
                    }
                ]
            }
        ],
    }
    p1 = pairs([*BASE, policy("a", "p", only_ns)])
    assert p1[(JOB, DB)] == "All Connections" and (WEB, DB) not in p1
    p2 = pairs([*BASE, policy("a", "p", both)])
    assert (JOB, DB) not in p2 and (WEB, DB) not in p2


def test_empty_namespace_selector_means_all_namespaces_absent_means_own() -> None:
    all_ns = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"namespaceSelector": {}}]}],
    }
    own_ns = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [{"podSelector": {}}]}]}
    p1 = pairs([*BASE, policy("a", "p", all_ns)])
    assert (JOB, DB) in p1 and (WEB, DB) in p1 and (ALL, DB) not in p1
    p2 = pairs([*BASE, policy("a", "p", own_ns)])
    assert (JOB, DB) not in p2 and (WEB, DB) in p2


def test_empty_rule_list_vs_rule_with_empty_from() -> None:
    deny = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": []}
    allow_all = {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]}
    assert (WEB, DB) not in pairs([*BASE, policy("a", "p", deny)])
    p = pairs([*BASE, policy("a", "p", allow_all)])
    assert p[(WEB, DB)] == p[(ALL, DB)] == "All Connections"


@pytest.mark.parametrize(
    ("expr", "web", "job"),
    [
        ({"key": "app", "operator": "In", "values": ["web", "x"]}, True, False),
        ({"key": "app", "operator": "NotIn", "values": ["web"]}, False, True),
        ({"key": "tier", "operator": "Exists"}, False, True),
        ({"key": "tier", "operator": "DoesNotExist"}, True, False),
    ],
)
def test_match_expressions(expr: dict[str, Any], web: bool, job: bool) -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchExpressions": [expr]}}]}],
    }
    p = pairs([*BASE, policy("a", "p", spec)])
    assert ((WEB, DB) in p) is web
    assert ((JOB, DB) in p) is job


def test_ipblock_except_splits_external_peers() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                "ports": [{"port": 5432}],
            }
        ],
    }
    p = pairs([*BASE, policy("a", "p", spec)])
    assert p[("10.0.0.0-10.0.255.255[External]", DB)] == "TCP 5432"
    assert p[("10.2.0.0-10.255.255.255[External]", DB)] == "TCP 5432"
    assert ("10.1.0.0-10.1.255.255[External]", DB) not in p
    assert ("0.0.0.0-9.255.255.255[External]", DB) not in p
    # unisolated pods admit every source atom, and egress (no egress ipBlocks) keeps one External peer
    assert p[("10.1.0.0-10.1.255.255[External]", WEB)] == "All Connections"
    assert p[(DB, ALL)] == "All Connections"


def test_named_ports_resolve_on_destination_and_protocol_must_match() -> None:
    objs = [
        *BASE,
        policy(
            "a",
            "p",
            {
                "podSelector": {},
                "ingress": [{"ports": [{"port": "http"}, {"port": "pg", "protocol": "UDP"}, {"port": "pg"}]}],
            },
        ),
    ]
    p = pairs(objs)
    assert p[(DB, WEB)] == "TCP 8080"
    assert p[(WEB, DB)] == "TCP 5432"  # the UDP entry does not match the TCP container port


def test_sctp_udp_and_protocol_without_port() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [
            {"ports": [{"protocol": "SCTP", "port": 7000}, {"protocol": "UDP"}, {"port": 80, "endPort": 81}]}
        ],
    }
    p = pairs([*BASE, policy("a", "p", spec)])
    assert p[(WEB, DB)] == "SCTP 7000,TCP 80-81,UDP 1-65535"


def test_union_of_several_policies() -> None:
    objs = [
        *BASE,
        policy(
            "a", "p1", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"ports": [{"port": 1}]}]}
        ),
        policy(
            "a", "p2", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"ports": [{"port": 2}]}]}
        ),
    ]
    assert pairs(objs)[(WEB, DB)] == "TCP 1-2"


def test_pods_grouped_by_owner_and_bare_pods() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p-1",
            "namespace": "a",
            "labels": {"app": "p"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "p-rs", "controller": True}],
        },
        "spec": {},
    }
    pod2 = {**pod, "metadata": {**pod["metadata"], "name": "p-2"}}
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "a"}, "spec": {}}
    topo = build_topology([ns("a"), pod, pod2, bare])
    assert [w.key for w in topo.workloads] == ["a/p-rs[ReplicaSet]", "a/solo[Pod]"]


def test_missing_namespace_object_gets_name_label() -> None:
    objs = [
        deploy("z", "w", {"app": "w"}),
        deploy("y", "v", {"app": "v"}),
        policy(
            "z",
            "p",
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}
                ],
            },
        ),
    ]
    p = pairs(objs)
    assert p[("y/v[Deployment]", "z/w[Deployment]")] == "All Connections"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"podSelector": {"matchLabels": {"a b": "x"}}}, "selector error"),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "values set can't be empty",
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}},
            "not a valid label selector operator",
        ),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]}]}, "CIDR error"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, "port range"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}, "protocol"),
        ({"podSelector": {}, "egress": [{"ports": [{"port": "dns"}]}]}, "named port error"),
    ],
)
def test_invalid_policies_are_left_out_with_a_one_line_problem(spec: dict[str, Any], needle: str) -> None:
    topo = build_topology([*BASE, policy("a", "bad", spec)])
    [problem] = topo.problems
    assert needle in str(problem)
    assert "NetworkPolicy a/bad" in str(problem) and "\n" not in str(problem)
    assert [p.name for p in topo.policies] == ([] if "named port" not in needle else ["bad"])


def test_non_strict_accepts_named_port_towards_ip() -> None:
    spec = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "pg"}]}]}
    topo = build_topology([*BASE, policy("a", "p", spec)], strict=False)
    assert topo.warnings
    p = {(str(c.src), str(c.dst)): c.conn_str for c in Engine(topo).connections()}
    assert p[(WEB, DB)] == "TCP 5432" and (WEB, ALL) not in p


def test_can_reach_explains_the_deciding_policy_and_rule() -> None:
    objs = [
        *BASE,
        policy(
            "a",
            "db-in",
            {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}
                ],
            },
        ),
    ]
    engine = Engine(build_topology(objs))
    yes = can_reach(engine, "a/web", "a/db", "TCP", 5432)
    assert yes.reachable
    assert yes.ingress.isolating == ["a/db-in"]
    assert [(r.policy, r.rule) for r in yes.ingress.rules] == [("a/db-in", "Ingress rule #1")]
    assert not yes.egress.isolated
    no = can_reach(engine, "a/web", "a/db", "TCP", 22)
    assert not no.reachable
    other = can_reach(engine, "b/job", "a/db", "TCP", 5432)
    assert not other.reachable and other.ingress.rules == []
    ext = can_reach(engine, "8.8.8.8", "a/db", "TCP", 5432)
    assert not ext.reachable and ext.src.name == "8.8.8.8-8.8.8.8[External]"
    assert conns.to_str(can_reach(engine, "a/db", "8.8.8.8").allowed) == "All Connections"
    with pytest.raises(NetpolError):
        can_reach(engine, "a/nope", "a/db")


@pytest.mark.parametrize(
    "case", ["acs-security-demos", "ipblockstest", "test_with_named_ports_changed_netpol_2"]
)
def test_namespace_filtered_connections_equal_filtered_full_list(case: str, shared_dir: Any) -> None:
    from kubehipaa.cli.netpol import load_netpol_objects

    folder = shared_dir("conformance/netpol") / "tests" / case
    engine = Engine(build_topology(load_netpol_objects([str(folder)], quiet=True)))
    full = engine.connections()
    for name in sorted({w.namespace for w in engine.topo.workloads}):
        into = [c for c in full if c.dst.namespace == name]
        out_of = [c for c in full if c.src.namespace == name]
        assert engine.connections(dst_namespaces={name}) == into
        assert engine.connections(src_namespaces={name}) == out_of


def _owned_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "a",
            "labels": labels,
            "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "controller": True}],
        },
        "spec": {},
    }


def test_pods_of_one_owner_with_labels_a_policy_tells_apart_are_a_problem() -> None:
    """netpol-analyzer refuses the input; kubehipaa names the pod and computes the owner from its first pod."""
    pods = [ns("a"), _owned_pod("p1", {"app": "x", "v": "1"}), _owned_pod("p2", {"app": "x", "v": "2"})]
    harmless = policy("a", "p", {"podSelector": {"matchLabels": {"app": "x"}}})
    topo = build_topology([*pods, harmless])
    assert len(topo.workloads) == 1 and not topo.problems
    splitting = policy(
        "a", "p", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"v": "1"}}}]}]}
    )
    topo = build_topology([*pods, splitting])
    [problem] = topo.problems
    assert problem.what == "Pod a/p2"
    assert "same owner a/rs[ReplicaSet] have different labels" in problem.message
    assert "computed from its first pod's labels" in problem.message
    [owner] = topo.workloads
    assert owner.labels == {"app": "x", "v": "1"}


def test_can_reach_from_the_ingress_controller(shared_dir: Any) -> None:
    from kubehipaa.cli.netpol import load_netpol_objects

    folder = shared_dir("conformance/netpol") / "tests" / "acs-security-demos"
    engine = Engine(build_topology(load_netpol_objects([str(folder)], quiet=True)))
    v = can_reach(engine, "{ingress-controller}", "frontend/webapp", "TCP", 8080)
    assert v.reachable and v.ingress.rules
    assert not can_reach(engine, "{ingress-controller}", "backend/catalog", "TCP", 8080).reachable
