"""Audit policy simulation matches the API server's first-match checker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubehipaa.engines.controlplane import (
    LEVELS,
    PolicyError,
    Request,
    coverage,
    evaluate,
    hiding_catch_all,
    parse_policy,
    rule_matches,
)


def pol(*rules: dict, omit: list[str] | None = None) -> object:
    doc: dict = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": list(rules)}
    if omit:
        doc["omitStages"] = omit
    return parse_policy(doc)


SECRET_GET = Request(verb="get", resource="secrets", namespace="clinical", name="db")


def test_first_match_wins_and_default_is_none() -> None:
    p = pol(
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "RequestResponse"},
    )
    d = evaluate(p, SECRET_GET)  # type: ignore[arg-type]
    assert (d.level, d.rule_index) == ("Metadata", 0)
    assert evaluate(pol(), SECRET_GET).level == "None"  # type: ignore[arg-type]


def test_group_omitted_means_core_not_any() -> None:
    rule = {"level": "None", "resources": [{"resources": ["secrets"]}]}
    assert rule_matches(rule, SECRET_GET)
    assert not rule_matches(rule, Request(verb="get", resource="secrets", api_group="example.com"))


@pytest.mark.parametrize(
    ("spec", "resource", "sub", "expected"),
    [
        ("pods/exec", "pods", "exec", True),
        ("pods", "pods", "exec", False),
        ("*", "pods", "exec", True),
        ("*/exec", "pods", "exec", True),
        ("*/exec", "pods", "", False),
        ("pods/*", "pods", "log", True),
        ("pods/*", "pods", "", True),  # upstream checker: "res/*" also matches the resource itself
    ],
)
def test_subresource_matching(spec: str, resource: str, sub: str, expected: bool) -> None:
    rule = {"level": "Request", "resources": [{"group": "", "resources": [spec]}]}
    assert (
        rule_matches(rule, Request(verb="create", resource=resource, subresource=sub, namespace="a"))
        is expected
    )


def test_resource_names_and_namespaces() -> None:
    rule = {
        "level": "None",
        "namespaces": ["kube-system"],
        "resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["lock"]}],
    }
    assert rule_matches(
        rule, Request(verb="get", resource="configmaps", namespace="kube-system", name="lock")
    )
    assert not rule_matches(
        rule, Request(verb="get", resource="configmaps", namespace="kube-system", name="x")
    )
    assert not rule_matches(
        rule, Request(verb="get", resource="configmaps", namespace="clinical", name="lock")
    )


def test_non_resource_urls() -> None:
    rule = {"level": "None", "nonResourceURLs": ["/healthz*"]}
    assert rule_matches(rule, Request(verb="get", path="/healthz/etcd", is_resource=False))
    assert not rule_matches(rule, Request(verb="get", path="/api", is_resource=False))
    assert not rule_matches(rule, SECRET_GET)  # resource requests never match nonResourceURLs rules


def test_unauthenticated_requests_never_match_user_rules() -> None:
    anon = Request(verb="get", user=None, groups=(), resource="pods", namespace="a")
    assert not rule_matches({"level": "Metadata", "userGroups": ["system:unauthenticated"]}, anon)
    assert not rule_matches({"level": "Metadata", "users": ["x"]}, anon)
    assert rule_matches({"level": "Metadata"}, anon)


def test_policy_omit_stages_union() -> None:
    p = pol({"level": "Metadata", "omitStages": ["ResponseStarted"]}, omit=["RequestReceived"])
    d = evaluate(p, SECRET_GET)  # type: ignore[arg-type]
    assert d.omit_stages == {"RequestReceived", "ResponseStarted"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": [{"level": "Everything"}]}, "rules[0].level"),
        ({"rules": [{"level": "None", "verbs": "get"}]}, "rules[0].verbs"),
        ({"omitStages": ["Nope"]}, "omitStages"),
        (
            {"rules": [{"level": "None", "resources": [{"group": ""}], "nonResourceURLs": ["/x"]}]},
            "non-resource",
        ),
    ],
)
def test_invalid_policies(doc: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(doc)


def test_coverage_of_good_and_bad_policies() -> None:
    good = pol(
        {
            "level": "Metadata",
            "resources": [
                {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
            ],
        },
        {
            "level": "Request",
            "resources": [{"group": "", "resources": ["pods/exec", "pods/attach", "pods/portforward"]}],
        },
        {"level": "RequestResponse", "resources": [{"group": "rbac.authorization.k8s.io"}]},
        {"level": "Metadata"},
        omit=["RequestReceived"],
    )
    cov = {c.cls.key: c for c in coverage(good, ["clinical"])}  # type: ignore[arg-type]
    assert all(c.ok for c in cov.values()), {k: c.problems for k, c in cov.items() if not c.ok}

    bad = pol({"level": "RequestResponse"})
    cov = {c.cls.key: c for c in coverage(bad, ["clinical"])}  # type: ignore[arg-type]
    assert not cov["secrets"].ok and "must not exceed Metadata" in cov["secrets"].problems[0]
    assert cov["pods/exec"].ok and cov["rbac-writes"].ok and cov["authn-failures"].ok


def test_catch_all_none_is_blamed() -> None:
    p = pol({"level": "None"}, {"level": "Metadata"})
    cov = coverage(p)  # type: ignore[arg-type]
    hidden = hiding_catch_all(p, cov)  # type: ignore[arg-type]
    assert list(hidden) == [0] and "secrets" in hidden[0] and "authn-failures" in hidden[0]


def test_auth_failures_need_response_started() -> None:
    p = pol({"level": "Metadata"}, omit=["ResponseStarted"])
    cov = {c.cls.key: c for c in coverage(p)}  # type: ignore[arg-type]
    assert not cov["authn-failures"].ok and "ResponseStarted omitted" in cov["authn-failures"].problems[0]


_rule = st.fixed_dictionaries(
    {"level": st.sampled_from(LEVELS)},
    optional={
        "verbs": st.lists(st.sampled_from(["get", "list", "create"]), min_size=1, max_size=2),
        "resources": st.lists(
            st.fixed_dictionaries(
                {
                    "group": st.sampled_from(["", "rbac.authorization.k8s.io"]),
                    "resources": st.lists(
                        st.sampled_from(["secrets", "pods/exec", "*", "roles"]), max_size=2
                    ),
                }
            ),
            min_size=1,
            max_size=2,
        ),
    },
)


@given(st.lists(_rule, max_size=6))
def test_decision_is_first_matching_rule(rules: list[dict]) -> None:
    p = parse_policy({"rules": rules})
    for req in (SECRET_GET, Request(verb="create", resource="pods", subresource="exec", namespace="a")):
        d = evaluate(p, req)
        first = next((i for i, r in enumerate(rules) if rule_matches(r, req)), None)
        assert d.rule_index == first
        assert d.level == (rules[first]["level"] if first is not None else "None")
