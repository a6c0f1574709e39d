"""Property tests: monotonicity of RBAC, and the indexed queries agreeing with brute-force evaluation."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubehipaa.engines.rbac import Attributes, RbacIndex, rule_allows, user_info
from kubehipaa.engines.rbac.subjects import applies_to_user

VERBS = ["get", "list", "create", "*"]
GROUPS = ["", "apps", "*"]
RESOURCES = ["pods", "pods/exec", "*/exec", "pods/*", "secrets", "deployments", "*"]
NAMES = ["a", "b"]
URLS = ["/metrics", "/healthz*", "*", "/api"]
NAMESPACES = ["a", "b"]

rules_st = st.one_of(
    st.builds(lambda v, g, r, n: {"verbs": v, "apiGroups": g, "resources": r, "resourceNames": n},
              st.lists(st.sampled_from(VERBS), min_size=1, max_size=2),
              st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2),
              st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2),
              st.one_of(st.just([]), st.lists(st.sampled_from(NAMES), min_size=1, max_size=1))),
    st.builds(lambda v, u: {"verbs": v, "nonResourceURLs": u},
              st.lists(st.sampled_from(VERBS), min_size=1, max_size=2),
              st.lists(st.sampled_from(URLS), min_size=1, max_size=2)),
)
subject_st = st.sampled_from([
    {"kind": "User", "name": "u1"}, {"kind": "User", "name": "u2"}, {"kind": "Group", "name": "g1"},
    {"kind": "Group", "name": "system:authenticated"}, {"kind": "ServiceAccount", "name": "s"},
    {"kind": "ServiceAccount", "name": "s", "namespace": "a"},
    {"kind": "User", "name": "system:serviceaccount:b:s"},
])


@st.composite
def objects_st(draw: Any) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        objs.append({"kind": "ClusterRole", "metadata": {"name": f"c{i}"},
                     "rules": draw(st.lists(rules_st, max_size=3))})
    for ns in NAMESPACES:
        objs.append({"kind": "Role", "metadata": {"name": "r", "namespace": ns},
                     "rules": [r for r in draw(st.lists(rules_st, max_size=3)) if "resources" in r]})
    for i in range(draw(st.integers(1, 5))):
        ns = draw(st.sampled_from(["", *NAMESPACES]))
        ref_kind = "ClusterRole" if not ns else draw(st.sampled_from(["Role", "ClusterRole"]))
        ref = {"kind": ref_kind, "name": "r" if ref_kind == "Role" else f"c{draw(st.integers(0, 3))}"}
        meta = {"name": f"b{i}", **({"namespace": ns} if ns else {})}
        objs.append({"kind": "RoleBinding" if ns else "ClusterRoleBinding", "metadata": meta, "roleRef": ref,
                     "subjects": draw(st.lists(subject_st, min_size=1, max_size=3))})
    return objs


attrs_st = st.one_of(
    st.builds(lambda v, g, r, s, n, ns: Attributes(verb=v, api_group=g, resource=r, subresource=s, name=n,
                                                    namespace=ns),
              st.sampled_from(["get", "list", "create", "delete"]), st.sampled_from(["", "apps"]),
              st.sampled_from(["pods", "secrets", "deployments"]), st.sampled_from(["", "exec", "log", "*"]),
              st.sampled_from(["", "a", "b"]), st.sampled_from(["", *NAMESPACES])),
    st.builds(lambda v, p: Attributes(verb=v, path=p, resource_request=False),
              st.sampled_from(["get", "post"]), st.sampled_from(["/metrics", "/healthz", "/healthz/etcd", "/api"])),
)
identities = [user_info("u1", ["g1"]), user_info("u2"), user_info("system:serviceaccount:a:s"),
              user_info("system:serviceaccount:b:s"), user_info("system:anonymous")]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(objects_st(), attrs_st, rules_st)
def test_adding_a_rule_never_removes_an_allow(objs, attrs, extra) -> None:  # type: ignore[no-untyped-def]
    before = RbacIndex.from_objects(objs)
    grown = [dict(o) for o in objs]
    grown[0] = {**grown[0], "rules": [*grown[0]["rules"], extra]}
    after = RbacIndex.from_objects(grown)
    for u in identities:
        if before.authorize(u, attrs).allowed:
            assert after.authorize(u, attrs).allowed


@SETTINGS
@given(objects_st(), attrs_st, subject_st)
def test_adding_a_subject_never_removes_an_allow(objs, attrs, subject) -> None:  # type: ignore[no-untyped-def]
    before = RbacIndex.from_objects(objs)
    grown = [({**o, "subjects": [*o["subjects"], subject]} if "subjects" in o else o) for o in objs]
    after = RbacIndex.from_objects(grown)
    for u in identities:
        if before.authorize(u, attrs).allowed:
            assert after.authorize(u, attrs).allowed


def brute_force_allows(idx: RbacIndex, user: Any, attrs: Attributes) -> bool:
    """Upstream's visiting loop written plainly, without any index."""
    for b in idx.bindings:
        if b.namespace and b.namespace != attrs.namespace:
            continue
        if not any(applies_to_user(user, s, b.namespace) for s in b.subjects):
            continue
        role = idx.role_for(b)
        if role is not None and any(rule_allows(attrs, r) for r in role.rules):
            return True
    return False


@SETTINGS
@given(objects_st(), attrs_st)
def test_indexed_authorize_and_who_can_match_brute_force(objs, attrs) -> None:  # type: ignore[no-untyped-def]
    idx = RbacIndex.from_objects(objs, builtin_cluster_admin=False)
    who = idx.who_can(attrs, include_masters=False)
    for u in identities:
        expected = brute_force_allows(idx, u, attrs)
        assert idx.authorize(u, attrs).allowed is expected
        in_who = any(
            (e.subject.kind == "Group" and e.subject.name in u.groups)
            or (e.subject.kind == "User" and e.subject.name == u.name)
            or (e.subject.kind == "ServiceAccount"
                and u.name == f"system:serviceaccount:{e.subject.namespace}:{e.subject.name}")
            for e in who
        )
        assert in_who is expected, (u, attrs)


@SETTINGS
@given(attrs_st)
def test_full_wildcard_rule_allows_every_resource_request(attrs) -> None:  # type: ignore[no-untyped-def]
    from kubehipaa.engines.rbac import PolicyRule

    rule = PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",))
    assert rule_allows(attrs, rule) is attrs.resource_request


@SETTINGS
@given(objects_st(), attrs_st)
def test_any_name_who_can_is_a_superset_and_exact_for_unlimited_rules(objs, attrs) -> None:  # type: ignore[no-untyped-def]
    idx = RbacIndex.from_objects(objs, builtin_cluster_admin=False)
    exact = {(e.subject, e.binding.name if e.binding else "") for e in idx.who_can(attrs, include_masters=False)}
    loose = idx.who_can(attrs, include_masters=False, any_name=True)
    assert exact <= {(e.subject, e.binding.name if e.binding else "") for e in loose}
    for e in loose:
        if e.rule is not None and not e.rule.resource_names:
            assert (e.subject, e.binding.name if e.binding else "") in exact
