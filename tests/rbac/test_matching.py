"""Table-driven cases for single-rule matching, written from the upstream RBAC semantics."""

from __future__ import annotations

import pytest

from kubehipaa.engines.rbac import Attributes, PolicyRule, request_attributes, rule_allows
from kubehipaa.engines.rbac.resources import request_namespace


def R(verbs=(), groups=("",), resources=(), names=(), urls=()) -> PolicyRule:
    return PolicyRule(tuple(verbs), tuple(groups) if resources else (), tuple(resources), tuple(names), tuple(urls))


def res(verb, resource, group="", sub="", name="", ns="") -> Attributes:
    return Attributes(verb=verb, resource=resource, api_group=group, subresource=sub, name=name, namespace=ns)


def url(verb, path) -> Attributes:
    return Attributes(verb=verb, path=path, resource_request=False)


CASES = [
    # verbs
    ("exact verb", R(["get"], resources=["pods"]), res("get", "pods"), True),
    ("other verb", R(["get"], resources=["pods"]), res("list", "pods"), False),
    ("verb wildcard", R(["*"], resources=["pods"]), res("deletecollection", "pods"), True),
    ("verbs are case-sensitive", R(["GET"], resources=["pods"]), res("get", "pods"), False),
    ("no verbs matches nothing", R([], resources=["pods"]), res("get", "pods"), False),
    # apiGroups
    ("core group is the empty string", R(["get"], [""], ["pods"]), res("get", "pods"), True),
    ("wrong group", R(["get"], ["apps"], ["pods"]), res("get", "pods"), False),
    ("group wildcard", R(["get"], ["*"], ["deployments"]), res("get", "deployments", "apps"), True),
    ("no group entry matches nothing", PolicyRule(("get",), (), ("pods",)), res("get", "pods"), False),
    ("group must match exactly", R(["get"], ["apps"], ["deployments"]), res("get", "deployments", "extensions"), False),
    # resources and subresources
    ("pods does not cover pods/exec", R(["create"], resources=["pods"]), res("create", "pods", sub="exec"), False),
    ("pods/exec exact", R(["create"], resources=["pods/exec"]), res("create", "pods", sub="exec"), True),
    ("pods/exec does not cover pods", R(["get"], resources=["pods/exec"]), res("get", "pods"), False),
    ("*/exec covers pods/exec", R(["create"], resources=["*/exec"]), res("create", "pods", sub="exec"), True),
    ("*/exec does not cover pods", R(["create"], resources=["*/exec"]), res("create", "pods"), False),
    ("*/exec does not cover pods/attach", R(["create"], resources=["*/exec"]), res("create", "pods", sub="attach"), False),
    ("*/exec does not cover pods/xexec", R(["create"], resources=["*/exec"]), res("create", "pods", sub="xexec"), False),
    ("pods/* is not a wildcard", R(["create"], resources=["pods/*"]), res("create", "pods", sub="exec"), False),
    ("pods/* does not cover pods", R(["get"], resources=["pods/*"]), res("get", "pods"), False),
    ("* covers subresources", R(["create"], resources=["*"]), res("create", "pods", sub="exec"), True),
    ("* covers any resource", R(["get"], resources=["*"]), res("get", "anything"), True),
    ("*/* is not a wildcard", R(["get"], resources=["*/*"]), res("get", "pods", sub="log"), False),
    ("resource prefix is not a match", R(["get"], resources=["pod"]), res("get", "pods"), False),
    # resourceNames
    ("name listed", R(["get"], resources=["secrets"], names=["a"]), res("get", "secrets", name="a"), True),
    ("name not listed", R(["get"], resources=["secrets"], names=["a"]), res("get", "secrets", name="b"), False),
    ("no names = every name", R(["get"], resources=["secrets"]), res("get", "secrets", name="b"), True),
    ("list without name never matches names", R(["list"], resources=["secrets"], names=["a"]),
     res("list", "secrets"), False),
    ("create never matches names", R(["create"], resources=["secrets"], names=["a"]),
     request_attributes("create", "secrets", "ns", name="a"), False),
    ("deletecollection never matches names", R(["deletecollection"], resources=["secrets"], names=["a"]),
     request_attributes("deletecollection", "secrets", "ns", name="a"), False),
    ("create on a named subresource matches names", R(["create"], resources=["pods/exec"], names=["web"]),
     request_attributes("create", "pods/exec", "ns", name="web"), True),
    ("resourceNames are not globs", R(["get"], resources=["secrets"], names=["app-*"]),
     res("get", "secrets", name="app-tls"), False),
    # non-resource URLs
    ("url exact", R(["get"], urls=["/metrics"]), url("get", "/metrics"), True),
    ("url exact is not a prefix", R(["get"], urls=["/metrics"]), url("get", "/metrics/cadvisor"), False),
    ("url trailing star is a prefix", R(["get"], urls=["/healthz*"]), url("get", "/healthz/etcd"), True),
    ("url trailing star matches the bare prefix", R(["get"], urls=["/healthz*"]), url("get", "/healthz"), True),
    ("url prefix is literal", R(["get"], urls=["/healthz/*"]), url("get", "/healthz"), False),
    ("url star alone matches all", R(["get"], urls=["*"]), url("get", "/anything"), True),
    ("url middle star is literal", R(["get"], urls=["/api/*/x"]), url("get", "/api/v1/x"), False),
    ("url verb must match", R(["get"], urls=["/metrics"]), url("post", "/metrics"), False),
    ("resource rule never matches a url", R(["get"], ["*"], ["*"]), url("get", "/metrics"), False),
    ("url rule never matches a resource", R(["get"], urls=["*"]), res("get", "pods"), False),
]


@pytest.mark.parametrize(("rule", "attrs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_allows(rule: PolicyRule, attrs: Attributes, expected: bool) -> None:
    assert rule_allows(attrs, rule) is expected


REQUESTS = [
    ("pods/exec", "", "pods", "", "exec"),
    ("deployments.apps", "", "deployments", "apps", ""),
    ("deployments", "", "deployments", "apps", ""),
    ("deploy", "", "deployments", "apps", ""),
    ("clusterroles.rbac.authorization.k8s.io", "", "clusterroles", "rbac.authorization.k8s.io", ""),
    ("deployments.apps/scale", "", "deployments", "apps", "scale"),
    ("deployments.v1.apps", "", "deployments", "apps", ""),
    ("cronjobs.v1beta1.batch", "", "cronjobs", "batch", ""),
    ("widgets.v1.example.com", "", "widgets", "example.com", ""),
    ("widgets.vendor.example.com", "", "widgets", "vendor.example.com", ""),
    ("serviceaccounts/token", "", "serviceaccounts", "", "token"),
    ("widgets.example.com", "", "widgets", "example.com", ""),
    ("widgets", "", "widgets", "", ""),
    ("pod", "", "pods", "", ""),
]


@pytest.mark.parametrize(("text", "ns", "resource", "group", "sub"), REQUESTS)
def test_request_names(text: str, ns: str, resource: str, group: str, sub: str) -> None:
    a = request_attributes("get", text, ns)
    assert (a.resource, a.api_group, a.subresource) == (resource, group, sub)


def test_non_resource_request() -> None:
    a = request_attributes("get", "/metrics")
    assert not a.resource_request and a.path == "/metrics" and a.namespace == ""


def test_namespace_object_is_requested_in_its_own_namespace() -> None:
    a = request_attributes("get", "namespaces", name="clinical")
    assert a.namespace == "clinical"


def test_requests_keep_the_namespace_they_are_asked_in_whatever_the_scope() -> None:
    # The authorizer does not know scope: `bind clusterroles X` asked in ops is the API server's own check for a
    # RoleBinding in ops, and RoleBindings of ops decide it. `request_namespace` says what a plain request carries.
    assert request_attributes("bind", "clusterroles", "ops", "x").namespace == "ops"
    assert request_attributes("get", "nodes", "clinical").namespace == "clinical"
    assert request_attributes("list", "namespaces", "clinical").namespace == "clinical"
    assert request_attributes("get", "namespaces", "ops", "clinical").namespace == "ops"
    assert request_attributes("get", "namespaces", name="clinical").namespace == "clinical"
    assert request_attributes("get", "pods", "clinical").namespace == "clinical"
    assert request_attributes("get", "/metrics", "clinical").namespace == ""
    assert request_namespace("nodes", "") == "" and request_namespace("clusterroles", "rbac.authorization.k8s.io") == ""
    assert request_namespace("namespaces", "", "clinical") == "clinical"
    assert request_namespace("pods", "") is None and request_namespace("widgets", "example.com") is None
