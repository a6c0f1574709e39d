"""ClusterRole aggregation computed offline as the controller does."""

from __future__ import annotations

from kubehipaa.engines.rbac import RbacIndex
from tests.rbac.helpers import crole, rule

A = rule(["get"], ["pods"])
B = rule(["get"], ["secrets"])
C = rule(["list"], ["configmaps"])


def rules_of(idx: RbacIndex, name: str) -> list:
    return [r.to_dict() for r in idx.roles[("", name)].rules]


def test_union_sorted_by_name_deduplicated_self_skipped() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("agg", A, labels={"x": "1"}, aggregate=[{"matchLabels": {"x": "1"}}]),
        crole("zz", B, A, labels={"x": "1"}),
        crole("aa", A, labels={"x": "1"}),
    ])
    assert rules_of(idx, "agg") == [A, B]


def test_selectors_in_order_then_names() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("agg", aggregate=[{"matchLabels": {"s": "2"}}, {"matchLabels": {"s": "1"}}]),
        crole("a", A, labels={"s": "1"}),
        crole("b", B, labels={"s": "2"}),
    ])
    assert rules_of(idx, "agg") == [B, A]


def test_match_expressions() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("agg", aggregate=[{"matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]},
                                                      {"key": "skip", "operator": "DoesNotExist"}]}]),
        crole("a", A, labels={"t": "x"}),
        crole("b", B, labels={"t": "y", "skip": ""}),
        crole("c", C, labels={"t": "z"}),
    ])
    assert rules_of(idx, "agg") == [A]


def test_not_in_matches_missing_label() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("agg", aggregate=[{"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]}]),
        crole("a", A, labels={"t": "x"}),
        crole("b", B),
    ])
    assert rules_of(idx, "agg") == [B]


def test_chained_aggregation_reaches_fixpoint() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("top", aggregate=[{"matchLabels": {"to": "top"}}]),
        crole("mid", labels={"to": "top"}, aggregate=[{"matchLabels": {"to": "mid"}}]),
        crole("leaf", C, labels={"to": "mid"}),
    ])
    assert rules_of(idx, "mid") == [C]
    assert rules_of(idx, "top") == [C]


def test_empty_selector_matches_all_roles() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[crole("agg", aggregate=[{}]), crole("a", A), crole("b", B)])
    assert rules_of(idx, "agg") == [A, B]


def test_no_selectors_means_no_rules() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[crole("agg", A, aggregate=[]), crole("a", B)])
    assert rules_of(idx, "agg") == []


def test_invalid_selector_leaves_rules_and_reports() -> None:
    idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[
        crole("agg", A, aggregate=[{"matchExpressions": [{"key": "t", "operator": "Near"}]}]),
        crole("b", B),
    ])
    assert rules_of(idx, "agg") == [A]
    assert idx.problems and "agg" in idx.problems[0]


def test_invalid_expression_behind_a_non_matching_label_is_still_invalid() -> None:
    # LabelSelectorAsSelector validates the whole selector before matching: the controller fails the sync and
    # leaves the rules. Before, matchLabels failing first hid the bad expression and the rules were emptied.
    bad = {"matchLabels": {"t": "nope"}, "matchExpressions": [{"key": "t", "operator": "In"}]}
    for others in ([crole("b", B, labels={"t": "x"})], []):
        idx = RbacIndex.from_objects(builtin_cluster_admin=False, builtin_user_roles=False, objects=[crole("agg", A, aggregate=[bad]), *others])
        assert rules_of(idx, "agg") == [A]
        assert idx.problems and "invalid aggregationRule selector" in idx.problems[0]
