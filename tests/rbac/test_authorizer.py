"""Table-driven authorizer cases: binding scope, subjects, implicit groups, system:masters, aggregation."""

from __future__ import annotations

import pytest

from kubehipaa.engines.rbac import RbacIndex, authorize, request_attributes, user_info
from tests.rbac.helpers import crb, crole, group, rb, role, rule, sa, user

SECRETS_GET = rule(["get"], ["secrets"])
BIND_X = rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["x"])

# (case id, objects, user, groups, verb, target, namespace, name, expected)
CASES = [
    # RoleBinding -> Role
    ("rb role same ns", [role("r", "a", SECRETS_GET), rb("b", "a", "Role", "r", user("jane"))],
     "jane", [], "get", "secrets", "a", "", True),
    ("rb role other ns", [role("r", "a", SECRETS_GET), rb("b", "a", "Role", "r", user("jane"))],
     "jane", [], "get", "secrets", "b", "", False),
    ("rb role cluster-scoped request", [role("r", "a", SECRETS_GET), rb("b", "a", "Role", "r", user("jane"))],
     "jane", [], "get", "secrets", "", "", False),
    ("rb refers to a Role in its own namespace only",
     [role("r", "other", SECRETS_GET), rb("b", "a", "Role", "r", user("jane"))],
     "jane", [], "get", "secrets", "a", "", False),
    # RoleBinding -> ClusterRole
    ("rb clusterrole in binding ns", [crole("r", SECRETS_GET), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "secrets", "a", "", True),
    ("rb clusterrole other ns", [crole("r", SECRETS_GET), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "secrets", "b", "", False),
    ("rb clusterrole never cluster-wide",
     [crole("r", SECRETS_GET), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "list", "secrets", "", "", False),
    ("rb clusterrole never cluster-scoped resources asked without a namespace",
     [crole("r", rule(["get"], ["nodes"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "nodes", "", "", False),
    # The authorizer does not know scope: a question about a cluster-scoped resource asked in a namespace is
    # answered by that namespace's RoleBindings too (a plain `get nodes` has no namespace, so it stays "no").
    ("rb grants a cluster-scoped resource asked in its namespace",
     [crole("r", rule(["get"], ["nodes"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "nodes", "a", "", True),
    ("rb does not grant a cluster-scoped resource asked in another namespace",
     [crole("r", rule(["get"], ["nodes"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "nodes", "b", "", False),
    # ... which is how the API server checks `bind` for a RoleBinding in ops that refers to ClusterRole x
    ("rb in ops grants bind of ClusterRole x asked in ops",
     [role("r", "ops", BIND_X), rb("b", "ops", "Role", "r", user("jane"))],
     "jane", [], "bind", "clusterroles", "ops", "x", True),
    ("rb in ops does not grant bind of ClusterRole x cluster-wide (a ClusterRoleBinding)",
     [role("r", "ops", BIND_X), rb("b", "ops", "Role", "r", user("jane"))],
     "jane", [], "bind", "clusterroles", "", "x", False),
    ("rb in ops does not grant bind of ClusterRole x in another namespace",
     [role("r", "ops", BIND_X), rb("b", "ops", "Role", "r", user("jane"))],
     "jane", [], "bind", "clusterroles", "dev", "x", False),
    ("rb in ops does not grant bind of another ClusterRole",
     [role("r", "ops", BIND_X), rb("b", "ops", "Role", "r", user("jane"))],
     "jane", [], "bind", "clusterroles", "ops", "cluster-admin", False),
    ("rb to a ClusterRole grants bind in the binding's namespace",
     [crole("r", BIND_X), rb("b", "ops", "ClusterRole", "r", group("leads"))],
     "jane", ["leads"], "bind", "clusterroles", "ops", "x", True),
    ("crb grants bind of ClusterRole x in every namespace",
     [crole("r", BIND_X), crb("b", "r", user("jane"))],
     "jane", [], "bind", "clusterroles", "ops", "x", True),
    ("rb grants the namespace object asked in its namespace under another name",
     [crole("r", rule(["get"], ["namespaces"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "namespaces", "a", "b", True),
    ("rb clusterrole never nonResourceURLs",
     [crole("r", rule(["get"], urls=["/metrics"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "/metrics", "", "", False),
    ("rb grants the namespace object itself",
     [crole("r", rule(["get"], ["namespaces"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "namespaces", "", "a", True),
    ("rb does not grant another namespace object",
     [crole("r", rule(["get"], ["namespaces"])), rb("b", "a", "ClusterRole", "r", user("jane"))],
     "jane", [], "get", "namespaces", "", "b", False),
    # ClusterRoleBinding
    ("crb any namespace", [crole("r", SECRETS_GET), crb("b", "r", user("jane"))],
     "jane", [], "get", "secrets", "x", "", True),
    ("crb cluster-wide", [crole("r", SECRETS_GET), crb("b", "r", user("jane"))],
     "jane", [], "get", "secrets", "", "", True),
    ("crb nonResourceURL", [crole("r", rule(["get"], urls=["/metrics"])), crb("b", "r", user("jane"))],
     "jane", [], "get", "/metrics", "", "", True),
    ("crb missing role", [crb("b", "missing", user("jane"))], "jane", [], "get", "secrets", "x", "", False),
    # users and groups
    ("other user", [crole("r", SECRETS_GET), crb("b", "r", user("jane"))],
     "john", [], "get", "secrets", "x", "", False),
    ("user names are case-sensitive", [crole("r", SECRETS_GET), crb("b", "r", user("Jane"))],
     "jane", [], "get", "secrets", "x", "", False),
    ("group member", [crole("r", SECRETS_GET), crb("b", "r", group("ops"))],
     "jane", ["ops"], "get", "secrets", "x", "", True),
    ("not a group member", [crole("r", SECRETS_GET), crb("b", "r", group("ops"))],
     "jane", ["dev"], "get", "secrets", "x", "", False),
    ("User subject does not match a group name", [crole("r", SECRETS_GET), crb("b", "r", user("ops"))],
     "jane", ["ops"], "get", "secrets", "x", "", False),
    ("unknown subject kind never applies", [crole("r", SECRETS_GET), crb("b", "r", {"kind": "Robot", "name": "jane"})],
     "jane", [], "get", "secrets", "x", "", False),
    # service accounts
    ("sa explicit ns", [crole("r", SECRETS_GET), crb("b", "r", sa("app", "a"))],
     "system:serviceaccount:a:app", [], "get", "secrets", "a", "", True),
    ("sa other ns", [crole("r", SECRETS_GET), crb("b", "r", sa("app", "a"))],
     "system:serviceaccount:b:app", [], "get", "secrets", "a", "", False),
    ("sa ns defaulted in RoleBinding", [crole("r", SECRETS_GET), rb("b", "a", "ClusterRole", "r", sa("app"))],
     "system:serviceaccount:a:app", [], "get", "secrets", "a", "", True),
    ("sa without ns in ClusterRoleBinding matches nobody", [crole("r", SECRETS_GET), crb("b", "r", sa("app"))],
     "system:serviceaccount:a:app", [], "get", "secrets", "a", "", False),
    ("sa in RoleBinding from another ns",
     [crole("r", SECRETS_GET), rb("b", "a", "ClusterRole", "r", sa("app", "other"))],
     "system:serviceaccount:other:app", [], "get", "secrets", "a", "", True),
    ("User subject spelled as an SA user name matches the SA",
     [crole("r", SECRETS_GET), crb("b", "r", user("system:serviceaccount:a:app"))],
     "system:serviceaccount:a:app", [], "get", "secrets", "a", "", True),
    # implicit groups
    ("system:authenticated for users", [crole("r", SECRETS_GET), crb("b", "r", group("system:authenticated"))],
     "jane", [], "get", "secrets", "a", "", True),
    ("system:authenticated for service accounts",
     [crole("r", SECRETS_GET), crb("b", "r", group("system:authenticated"))],
     "system:serviceaccount:a:app", [], "get", "secrets", "a", "", True),
    ("anonymous is not authenticated", [crole("r", SECRETS_GET), crb("b", "r", group("system:authenticated"))],
     "system:anonymous", [], "get", "secrets", "a", "", False),
    ("anonymous is unauthenticated", [crole("r", SECRETS_GET), crb("b", "r", group("system:unauthenticated"))],
     "system:anonymous", [], "get", "secrets", "a", "", True),
    ("users are not unauthenticated", [crole("r", SECRETS_GET), crb("b", "r", group("system:unauthenticated"))],
     "jane", [], "get", "secrets", "a", "", False),
    ("anonymous user subject", [crole("r", SECRETS_GET), crb("b", "r", user("system:anonymous"))],
     "system:anonymous", [], "get", "secrets", "a", "", True),
    ("system:serviceaccounts", [crole("r", SECRETS_GET), crb("b", "r", group("system:serviceaccounts"))],
     "system:serviceaccount:x:y", [], "get", "secrets", "a", "", True),
    ("system:serviceaccounts not for users",
     [crole("r", SECRETS_GET), crb("b", "r", group("system:serviceaccounts"))],
     "jane", [], "get", "secrets", "a", "", False),
    ("system:serviceaccounts:<ns>", [crole("r", SECRETS_GET), crb("b", "r", group("system:serviceaccounts:x"))],
     "system:serviceaccount:x:y", [], "get", "secrets", "a", "", True),
    ("system:serviceaccounts:<other ns>",
     [crole("r", SECRETS_GET), crb("b", "r", group("system:serviceaccounts:z"))],
     "system:serviceaccount:x:y", [], "get", "secrets", "a", "", False),
    # system:masters
    ("system:masters allowed everything without bindings", [], "admin", ["system:masters"],
     "escalate", "clusterroles", "", "", True),
    ("system:masters allowed nonResourceURLs", [], "admin", ["system:masters"], "get", "/debug/pprof", "", "", True),
    # subresources end to end
    ("pods rule does not allow exec", [crole("r", rule(["*"], ["pods"])), crb("b", "r", user("jane"))],
     "jane", [], "create", "pods/exec", "a", "web", False),
    ("*/exec allows exec", [crole("r", rule(["create"], ["*/exec"])), crb("b", "r", user("jane"))],
     "jane", [], "create", "pods/exec", "a", "web", True),
    ("group of deployments resolved", [crole("r", rule(["get"], ["deployments"], ["apps"])), crb("b", "r", user("j"))],
     "j", [], "get", "deployments", "a", "", True),
    ("core group rule does not match apps", [crole("r", rule(["get"], ["deployments"])), crb("b", "r", user("j"))],
     "j", [], "get", "deployments", "a", "", False),
    ("create never matches resourceNames",
     [crole("r", rule(["create"], ["secrets"], names=["a"])), crb("b", "r", user("j"))],
     "j", [], "create", "secrets", "x", "a", False),
    ("role with aggregation rule gets selected rules",
     [crole("agg", aggregate=[{"matchLabels": {"x": "y"}}]), crole("part", SECRETS_GET, labels={"x": "y"}),
      crb("b", "agg", user("j"))], "j", [], "get", "secrets", "a", "", True),
    ("aggregation replaces declared rules",
     [crole("agg", rule(["get"], ["pods"]), aggregate=[{"matchLabels": {"x": "y"}}]),
      crole("part", SECRETS_GET, labels={"x": "y"}), crb("b", "agg", user("j"))],
     "j", [], "get", "pods", "a", "", False),
]


@pytest.mark.parametrize(
    ("objs", "username", "groups", "verb", "target", "ns", "name", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_authorize(objs, username, groups, verb, target, ns, name, expected) -> None:
    idx = RbacIndex.from_objects(objs)
    decision = authorize(idx, username, groups, request_attributes(verb, target, ns, name))
    assert decision.allowed is expected, decision.reason


def test_reason_names_binding_role_and_rule() -> None:
    idx = RbacIndex.from_objects([crole("reader", rule(["list"], ["pods"]), SECRETS_GET),
                                  rb("read", "a", "ClusterRole", "reader", user("x"), user("jane"))])
    d = idx.authorize(user_info("jane"), request_attributes("get", "secrets", "a"))
    assert d.allowed and d.grant is not None
    assert d.grant.binding is not None and d.grant.binding.name == "read"
    assert d.grant.subject is not None and d.grant.subject.name == "jane"
    assert (d.grant.role_kind, d.grant.role_name, d.grant.rule_index) == ("ClusterRole", "reader", 1)
    assert 'RoleBinding "a/read" of ClusterRole "reader" to User jane' in d.reason


def test_cluster_role_bindings_are_visited_first() -> None:
    idx = RbacIndex.from_objects([crole("r", SECRETS_GET), rb("ns-b", "a", "ClusterRole", "r", user("j")),
                                  crb("cl-b", "r", user("j"))])
    d = idx.authorize(user_info("j"), request_attributes("get", "secrets", "a"))
    assert d.grant is not None and d.grant.binding is not None and d.grant.binding.name == "cl-b"


def test_missing_role_is_reported_as_error_not_allow() -> None:
    idx = RbacIndex.from_objects([rb("b", "a", "Role", "nope", user("j"))])
    d = idx.authorize(user_info("j"), request_attributes("get", "secrets", "a"))
    assert not d.allowed and d.errors and "not found" in d.errors[0]


def test_implicit_groups() -> None:
    assert user_info("jane").groups == ("system:authenticated",)
    assert user_info("system:anonymous").groups == ("system:unauthenticated",)
    assert user_info("system:serviceaccount:ns:app").groups == (
        "system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated")


def test_who_can_lists_subjects_with_paths() -> None:
    idx = RbacIndex.from_objects([
        crole("r", SECRETS_GET), rb("b1", "a", "ClusterRole", "r", user("jane"), sa("app")),
        rb("b2", "other", "ClusterRole", "r", user("john")), crb("b3", "r", group("ops"), sa("nons")),
    ])
    entries = idx.who_can(request_attributes("get", "secrets", "a"))
    got = {(e.subject.kind, e.subject.namespace, e.subject.name) for e in entries}
    assert got == {("User", "", "jane"), ("ServiceAccount", "a", "app"), ("Group", "", "ops"),
                   ("Group", "", "system:masters")}
    cluster = idx.who_can(request_attributes("get", "secrets"), include_masters=False)
    assert {e.subject.name for e in cluster} == {"ops"}


def test_who_can_agrees_with_authorize() -> None:
    idx = RbacIndex.from_objects([
        crole("r", rule(["create"], ["*/exec"]), rule(["get"], ["secrets"], names=["tls"])),
        rb("b1", "a", "ClusterRole", "r", user("jane")), crb("b3", "r", group("ops")),
    ])
    for verb, target, name in [("create", "pods/exec", "web"), ("get", "secrets", "tls"), ("get", "secrets", "x")]:
        attrs = request_attributes(verb, target, "a", name)
        who = {e.subject.name for e in idx.who_can(attrs, include_masters=False)}
        for u, g in [("jane", []), ("bob", ["ops"]), ("eve", [])]:
            allowed = idx.authorize(user_info(u, g), attrs).allowed
            assert allowed == (u in who or bool(set(g) & who)), (verb, target, name, u)


def test_later_declaration_of_the_same_object_wins() -> None:
    idx = RbacIndex.from_objects([
        crole("r", SECRETS_GET), crole("r", rule(["get"], ["pods"])),
        crb("b", "r", user("jane")), crb("b", "r", user("john")),
    ])
    assert not idx.authorize(user_info("jane"), request_attributes("get", "pods", "a")).allowed
    assert idx.authorize(user_info("john"), request_attributes("get", "pods", "a")).allowed
    assert not idx.authorize(user_info("john"), request_attributes("get", "secrets", "a")).allowed
    assert len(idx.problems) == 2 and all("more than once" in p for p in idx.problems)


def test_who_can_bind_a_clusterrole_asked_in_a_namespace_counts_its_rolebindings() -> None:
    # `who-can bind clusterroles -n ops --name x`: the question the API server asks for a RoleBinding in ops
    # that refers to ClusterRole x. RoleBindings in ops answer it; asked cluster-wide (a ClusterRoleBinding),
    # only ClusterRoleBindings do.
    idx = RbacIndex.from_objects([
        role("r", "ops", BIND_X), rb("b", "ops", "Role", "r", user("jane"), sa("deployer")),
        rb("other", "dev", "Role", "r", user("dev-lead")), role("r", "dev", BIND_X),
        crole("cr", BIND_X), crb("c", "cr", group("platform")),
    ])
    in_ops = idx.who_can(request_attributes("bind", "clusterroles.rbac.authorization.k8s.io", "ops", "x"),
                         include_masters=False)
    assert {(e.subject.kind, e.subject.namespace, e.subject.name) for e in in_ops} == {
        ("User", "", "jane"), ("ServiceAccount", "ops", "deployer"), ("Group", "", "platform")}
    cluster = idx.who_can(request_attributes("bind", "clusterroles", "", "x"), include_masters=False)
    assert {e.subject.name for e in cluster} == {"platform"}
    for u, g, expected in [("jane", [], True), ("dev-lead", [], False), ("bob", ["platform"], True)]:
        attrs = request_attributes("bind", "clusterroles", "ops", "x")
        assert idx.authorize(user_info(u, g), attrs).allowed is expected, u
