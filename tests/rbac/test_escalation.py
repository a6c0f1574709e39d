"""Escalation graph: each edge kind, admin detection, and shortest paths."""

from __future__ import annotations

from kubehipaa.engines.rbac import RbacIndex
from kubehipaa.engines.rbac.escalation import ADMIN, PHI_PREFIX, build_escalation_graph
from tests.rbac.helpers import crb, crole, group, rb, role, rule, sa, user


def sa_obj(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def paths(objs, phi=("clinical",)):  # type: ignore[no-untyped-def]
    g = build_escalation_graph(RbacIndex.from_objects(objs), set(phi))
    return g, {(p.identity, p.target): p for p in g.shortest_paths()}


BASE = [
    sa_obj("app", "clinical"),
    role("reader", "clinical", rule(["get", "list"], ["secrets"])),
    rb("reader", "clinical", "Role", "reader", sa("app")),
]


def test_direct_secret_read_is_one_hop() -> None:
    _, ps = paths(BASE)
    p = ps[("ServiceAccount:clinical/app", PHI_PREFIX + "clinical")]
    assert len(p.edges) == 1


def test_pod_creation_reaches_the_namespace_service_accounts() -> None:
    objs = [*BASE, role("deploy", "clinical", rule(["create"], ["deployments"], ["apps"])),
            rb("deploy", "clinical", "Role", "deploy", user("ci"))]
    _, ps = paths(objs)
    p = ps[("User:ci", PHI_PREFIX + "clinical")]
    assert [e.dst for e in p.edges] == ["via:pods:clinical", "ServiceAccount:clinical/app", PHI_PREFIX + "clinical"]
    assert "deployments.apps" in p.edges[0].how


def test_token_creation_edge() -> None:
    objs = [*BASE, role("tok", "clinical", rule(["create"], ["serviceaccounts/token"], names=["app"])),
            rb("tok", "clinical", "Role", "tok", user("t"))]
    _, ps = paths(objs)
    assert "serviceaccounts/token" in ps[("User:t", PHI_PREFIX + "clinical")].edges[0].how


def test_legacy_token_secret_read_edge() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
              "metadata": {"name": "app-token", "namespace": "clinical",
                           "annotations": {"kubernetes.io/service-account.name": "app"}}}
    objs = [*BASE, secret, role("one", "clinical", rule(["get"], ["secrets"], names=["app-token"])),
            rb("one", "clinical", "Role", "one", user("r"))]
    _, ps = paths(objs)
    assert "legacy token Secret app-token" in ps[("User:r", PHI_PREFIX + "clinical")].edges[0].how


def test_impersonating_system_masters_is_admin() -> None:
    objs = [crole("imp", rule(["impersonate"], ["groups"])), crb("imp", "imp", user("i"))]
    _, ps = paths(objs)
    assert ps[("User:i", ADMIN)].edges[0].how == "impersonate group system:masters"


def test_bind_cluster_admin_is_admin_and_admins_are_not_sources() -> None:
    objs = [crole("binder", rule(["create"], ["clusterrolebindings"], ["rbac.authorization.k8s.io"]),
                  rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["cluster-admin"])),
            crb("binder", "binder", group("platform")), crb("root", "cluster-admin", group("ops"))]
    g, ps = paths(objs)
    assert ("Group:platform", ADMIN) in ps
    assert "Group:ops" in g.admins and ("Group:ops", ADMIN) not in ps


def test_bind_without_create_bindings_is_no_edge() -> None:
    objs = [crole("binder", rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"])),
            crb("binder", "binder", group("platform"))]
    _, ps = paths(objs)
    assert ("Group:platform", ADMIN) not in ps


def test_shortest_path_through_impersonated_user() -> None:
    objs = [*BASE, crole("imp", rule(["impersonate"], ["users"], names=["jane"])), crb("imp", "imp", user("eve")),
            role("deploy", "clinical", rule(["create"], ["pods"])), rb("deploy", "clinical", "Role", "deploy",
                                                                       user("jane"))]
    _, ps = paths(objs)
    hops = [e.dst for e in ps[("User:eve", PHI_PREFIX + "clinical")].edges]
    assert hops == ["User:jane", "via:pods:clinical", "ServiceAccount:clinical/app", PHI_PREFIX + "clinical"]


def test_rolebinding_pod_creation_does_not_cross_namespaces() -> None:
    objs = [*BASE, role("deploy", "web", rule(["create"], ["pods"])), rb("deploy", "web", "Role", "deploy", user("w"))]
    _, ps = paths(objs)
    assert ("User:w", PHI_PREFIX + "clinical") not in ps


def test_nodes_proxy_reaches_any_service_account() -> None:
    objs = [*BASE, crole("np", rule(["get"], ["nodes/proxy"])), crb("np", "np", user("m"))]
    _, ps = paths(objs)
    hops = [e.dst for e in ps[("User:m", PHI_PREFIX + "clinical")].edges]
    assert hops == ["via:any-pod", "ServiceAccount:clinical/app", PHI_PREFIX + "clinical"]


def test_impersonating_any_user_reaches_every_known_user() -> None:
    objs = [crole("imp", rule(["impersonate"], ["users"])), crb("imp", "imp", user("eve")),
            rb("x", "a", "ClusterRole", "view", user("bob"), user("carol"))]
    g, _ = paths(objs, phi=())
    assert {e.dst for e in g.edges if e.src == "User:eve"} == {"User:bob", "User:carol"}


def test_rolebinding_bind_in_phi_namespace_reads_its_secrets() -> None:
    objs = [role("rbac", "clinical", rule(["create"], ["rolebindings"], ["rbac.authorization.k8s.io"]),
                 rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"])),
            rb("rbac", "clinical", "Role", "rbac", user("lead"))]
    g, ps = paths(objs)
    p = ps[("User:lead", PHI_PREFIX + "clinical")]
    assert len(p.edges) == 2 and p.edges[0].how.startswith("create a RoleBinding in clinical to ClusterRole ")
    assert ("User:lead", "via:all-in:clinical", "create a RoleBinding in clinical to ClusterRole cluster-admin "
            "(bind)") in {(e.src, e.dst, e.how) for e in g.edges}
    objs[0]["rules"] = objs[0]["rules"][:1]
    _, ps = paths(objs)
    assert ("User:lead", PHI_PREFIX + "clinical") not in ps


# ---------------------------------------------------------------- fast graph == per-identity reference
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kubehipaa.engines.rbac.escalation import build_escalation_graph_reference  # noqa: E402

POWER_RULES = [
    rule(["get", "list"], ["secrets"]), rule(["get"], ["secrets"], names=["app-token"]),
    rule(["create"], ["pods"]), rule(["create"], ["deployments"], ["apps"]),
    rule(["create"], ["serviceaccounts/token"]), rule(["create"], ["serviceaccounts/token"], names=["app"]),
    rule(["impersonate"], ["serviceaccounts"]), rule(["impersonate"], ["users"], names=["bob"]),
    rule(["impersonate"], ["users"]), rule(["impersonate"], ["groups"]),
    rule(["create"], ["clusterrolebindings", "rolebindings"], ["rbac.authorization.k8s.io"]),
    rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["cluster-admin"]),
    rule(["get"], ["nodes/proxy"]), rule(["*"], ["*"], ["*"]),
    rule(["create"], ["pods/exec"]), rule(["get"], ["pods/exec"], names=["emr-0"]),
    # RBAC writes: bind (named, any, Roles), escalate with update/patch, create a Role
    rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["c0"]),
    rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["edit"]),
    rule(["bind"], ["clusterroles", "roles"], ["rbac.authorization.k8s.io"]),
    rule(["escalate", "update"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["c1"]),
    rule(["escalate", "patch", "create"], ["roles"], ["rbac.authorization.k8s.io"]),
    rule(["bind"], ["roles"], ["rbac.authorization.k8s.io"], names=["r0"]),
]
SUBJECTS = [user("bob"), user("eve"), group("ops"), group("system:authenticated"), group("system:serviceaccounts"),
            sa("app"), sa("app", "clinical"), sa("worker", "web"), group("system:serviceaccounts:web")]


@st.composite
def world(draw):  # type: ignore[no-untyped-def]
    objs: list[dict] = [sa_obj("app", "clinical"), sa_obj("worker", "web"),
                        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                         "metadata": {"name": "app-token", "namespace": "clinical",
                                      "annotations": {"kubernetes.io/service-account.name": "app"}}},
                        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "emr-0", "namespace": "clinical"},
                         "spec": {"serviceAccountName": "app", "containers": [{"name": "c", "image": "x"}]}}]
    for i in range(draw(st.integers(1, 4))):
        rules = draw(st.lists(st.sampled_from(POWER_RULES), min_size=1, max_size=3))
        objs.append(crole(f"c{i}", *rules))
        ns = draw(st.sampled_from(["", "clinical", "web"]))
        subjects = draw(st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=3))
        if ns and draw(st.booleans()):
            objs.append(role(f"r{i}", ns, *rules))
            objs.append(rb(f"b{i}", ns, "Role", f"r{i}", *subjects))
        else:
            objs.append(crb(f"b{i}", f"c{i}", *subjects) if not ns
                        else rb(f"b{i}", ns, "ClusterRole", f"c{i}", *subjects))
    return objs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world())
def test_fast_graph_equals_reference(objs) -> None:  # type: ignore[no-untyped-def]
    idx = RbacIndex.from_objects(objs)
    fast = build_escalation_graph(idx, {"clinical"})
    ref = build_escalation_graph_reference(idx, {"clinical"})
    assert fast.admins == ref.admins
    assert set(fast.nodes) == set(ref.nodes)
    assert set(fast.edges) == set(ref.edges)
    lengths = lambda g: {(p.identity, p.target): len(p.edges) for p in g.shortest_paths()}  # noqa: E731
    assert lengths(fast) == lengths(ref)


# ---------------------------------------------------------------- review fixes (shortest paths, admin targets)


def test_impersonation_is_shorter_than_pod_creation_in_the_same_namespace() -> None:
    # Creating pods in clinical reaches app in two hops; impersonating app takes one: the shortest path wins.
    objs = [*BASE, crole("ci", rule(["create"], ["pods"]), rule(["impersonate"], ["serviceaccounts"])),
            crb("ci", "ci", user("ci"))]
    _, ps = paths(objs)
    hops = [e.dst for e in ps[("User:ci", PHI_PREFIX + "clinical")].edges]
    assert hops == ["ServiceAccount:clinical/app", PHI_PREFIX + "clinical"]


def test_token_creation_is_kept_next_to_pod_creation() -> None:
    objs = [*BASE, role("ci", "clinical", rule(["create"], ["pods"]), rule(["create"], ["serviceaccounts/token"])),
            rb("ci", "clinical", "Role", "ci", user("ci"))]
    g, ps = paths(objs)
    assert ("User:ci", "ServiceAccount:clinical/app", "create serviceaccounts/token for app") in {
        (e.src, e.dst, e.how) for e in g.edges}
    assert len(ps[("User:ci", PHI_PREFIX + "clinical")].edges) == 2


def test_impersonating_an_admin_user_or_group_reaches_admin_and_phi_secrets() -> None:
    objs = [crole("imp", rule(["impersonate"], ["users"], names=["alice"])), crb("imp", "imp", user("eve")),
            crole("impg", rule(["impersonate"], ["groups"], names=["ops"])), crb("impg", "impg", user("mallory")),
            crb("root", "cluster-admin", user("alice"), group("ops"))]
    _, ps = paths(objs)
    assert [e.dst for e in ps[("User:eve", ADMIN)].edges] == ["User:alice", ADMIN]
    assert [e.dst for e in ps[("User:mallory", ADMIN)].edges] == ["Group:ops", ADMIN]
    assert ps[("User:mallory", PHI_PREFIX + "clinical")].edges[-1].src == ADMIN


def test_impersonating_a_group_that_reads_phi_secrets() -> None:
    objs = [role("reader", "clinical", rule(["get", "list"], ["secrets"])),
            rb("reader", "clinical", "Role", "reader", group("support")),
            crole("impg", rule(["impersonate"], ["groups"], names=["support"])), crb("impg", "impg", user("eve"))]
    _, ps = paths(objs)
    assert [e.dst for e in ps[("User:eve", PHI_PREFIX + "clinical")].edges] == ["Group:support",
                                                                                PHI_PREFIX + "clinical"]


def test_exec_into_pods_reaches_the_service_accounts_they_run_as() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "emr-0", "namespace": "clinical"},
           "spec": {"serviceAccountName": "app", "containers": [{"name": "c", "image": "x"}]}}
    for verb in ("create", "get"):  # SPDY and WebSocket exec
        objs = [*BASE, pod, role("exec", "clinical", rule([verb], ["pods/exec"])),
                rb("exec", "clinical", "Role", "exec", user("oncall"))]
        _, ps = paths(objs)
        hops = [e.dst for e in ps[("User:oncall", PHI_PREFIX + "clinical")].edges]
        assert hops == ["via:exec:clinical", "ServiceAccount:clinical/app", PHI_PREFIX + "clinical"], verb
    # no scanned pod runs in the namespace: nothing known to exec into
    objs = [*BASE, role("exec", "clinical", rule(["create"], ["pods/exec"])),
            rb("exec", "clinical", "Role", "exec", user("oncall"))]
    _, ps = paths(objs)
    assert ("User:oncall", PHI_PREFIX + "clinical") not in ps


# ---------------------------------------------------------------- RBAC writes follow the authorizer's namespace rule

RBAC_API = ["rbac.authorization.k8s.io"]
CREATE_RB = rule(["create"], ["rolebindings"], RBAC_API)
CREATE_CRB = rule(["create"], ["clusterrolebindings"], RBAC_API)


def bind_rule(*names: str, resource: str = "clusterroles") -> dict:
    return rule(["bind"], [resource], RBAC_API, names=list(names) if names else None)


def edges_of(g) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return {(e.src, e.dst, e.how) for e in g.edges}


def test_rolebinding_granted_bind_of_a_named_clusterrole_holds_that_role_in_the_namespace() -> None:
    # The API server authorizes a RoleBinding in clinical to ClusterRole reader as `bind clusterroles reader`
    # asked in clinical, so a RoleBinding in clinical that allows it counts, and lead can hold reader there.
    objs = [crole("reader", rule(["get", "list"], ["secrets"])),
            role("delegate", "clinical", CREATE_RB, bind_rule("reader")),
            rb("delegate", "clinical", "Role", "delegate", user("lead"))]
    g, ps = paths(objs)
    p = ps[("User:lead", PHI_PREFIX + "clinical")]
    assert [e.dst for e in p.edges] == ["via:bound:clinical:ClusterRole/reader", PHI_PREFIX + "clinical"]
    assert p.edges[0].how == "create a RoleBinding in clinical to ClusterRole reader (bind)"
    assert "ClusterRole reader bound in clinical" in p.describe()
    # the RoleBinding's bind counts only in its own namespace, never for a ClusterRoleBinding
    assert not any(e.src == "User:lead" and e.dst == "via:bound::ClusterRole/reader" for e in g.edges)
    assert ("User:lead", ADMIN) not in ps


def test_bind_without_creating_rolebindings_or_in_another_namespace_is_no_path() -> None:
    base = [crole("reader", rule(["get", "list"], ["secrets"]))]
    no_create = [*base, role("d", "clinical", bind_rule("reader")), rb("d", "clinical", "Role", "d", user("lead"))]
    other_ns = [*base, role("d", "web", CREATE_RB, bind_rule("reader")), rb("d", "web", "Role", "d", user("lead"))]
    for objs in (no_create, other_ns):
        _, ps = paths(objs)
        assert ("User:lead", PHI_PREFIX + "clinical") not in ps


def test_delegated_binding_of_builtin_edit_reaches_service_accounts_and_secrets() -> None:
    # A common delegation: "team leads may grant edit in their namespace". edit (built-in, assumed) reads
    # Secrets and creates pods in the namespace it is bound in.
    objs = [*BASE, role("delegate", "clinical", CREATE_RB, bind_rule("edit")),
            rb("delegate", "clinical", "Role", "delegate", group("clinical-leads"))]
    g, ps = paths(objs)
    holder = "via:bound:clinical:ClusterRole/edit"
    assert [e.dst for e in ps[("Group:clinical-leads", PHI_PREFIX + "clinical")].edges] == [
        holder, PHI_PREFIX + "clinical"]
    assert (holder, "via:pods:clinical", "create pods in clinical") in edges_of(g)


def test_clusterrolebinding_of_a_secret_reader_reaches_every_phi_namespace() -> None:
    objs = [crole("reader", rule(["list"], ["secrets"])),
            crole("binder", CREATE_CRB, bind_rule("reader")), crb("binder", "binder", user("ops"))]
    g, ps = paths(objs, phi=("clinical", "billing"))
    holder = "via:bound::ClusterRole/reader"
    assert ("User:ops", holder, "create a ClusterRoleBinding to ClusterRole reader (bind)") in edges_of(g)
    assert {(e.src, e.dst) for e in g.edges if e.src == holder} == {
        (holder, PHI_PREFIX + "clinical"), (holder, PHI_PREFIX + "billing")}
    assert [e.dst for e in ps[("User:ops", PHI_PREFIX + "billing")].edges] == [holder, PHI_PREFIX + "billing"]
    assert ("User:ops", ADMIN) not in ps


def test_roles_that_grant_nothing_followed_leave_no_dead_end_nodes() -> None:
    objs = [crole("cm", rule(["get"], ["configmaps"])), role("d", "clinical", CREATE_RB, bind_rule("cm")),
            rb("d", "clinical", "Role", "d", user("lead"))]
    g, ps = paths(objs)
    assert not any(e.src == "User:lead" or e.dst.startswith("via:bound:") for e in g.edges)
    assert not any(p.identity == "User:lead" for p in ps.values())


def test_escalate_alone_does_not_bind_cluster_admin() -> None:
    # Binding is authorized by `bind` (or by already holding every rule of the role), never by `escalate`.
    objs = [crole("esc", CREATE_CRB, rule(["escalate"], ["clusterroles"], RBAC_API, names=["cluster-admin"])),
            crb("esc", "esc", user("eve"))]
    _, ps = paths(objs)
    assert ("User:eve", ADMIN) not in ps


def test_escalate_and_update_a_clusterrole_one_holds_is_admin() -> None:
    objs = [crole("self", rule(["escalate", "update"], ["clusterroles"], RBAC_API, names=["self"])),
            crb("self", "self", user("eve"))]
    _, ps = paths(objs)
    assert ps[("User:eve", ADMIN)].edges[0].how == "update ClusterRole self with any rules (escalate)"
    # the same ClusterRole held through a RoleBinding: every permission in that namespace only (the escalate
    # check for a ClusterRole carries no namespace, so the RoleBinding's rules do not allow it)
    objs = [crole("self", rule(["escalate", "update"], ["clusterroles"], RBAC_API, names=["self"])),
            rb("self", "clinical", "ClusterRole", "self", user("eve"))]
    _, ps = paths(objs)
    assert ("User:eve", ADMIN) not in ps and ("User:eve", PHI_PREFIX + "clinical") not in ps


def test_escalate_and_patch_a_role_held_in_a_phi_namespace() -> None:
    objs = [role("self", "clinical", rule(["escalate", "patch"], ["roles"], RBAC_API, names=["self"])),
            rb("self", "clinical", "Role", "self", user("eve"))]
    _, ps = paths(objs)
    assert [e.dst for e in ps[("User:eve", PHI_PREFIX + "clinical")].edges] == [
        "via:all-in:clinical", PHI_PREFIX + "clinical"]
    assert ("User:eve", ADMIN) not in ps


def test_create_a_role_with_any_rules_and_bind_it() -> None:
    make = [rule(["create", "escalate", "bind"], ["roles"], RBAC_API), CREATE_RB]
    objs = [role("maker", "clinical", *make), rb("maker", "clinical", "Role", "maker", user("eve"))]
    _, ps = paths(objs)
    assert ps[("User:eve", PHI_PREFIX + "clinical")].edges[0].how == (
        "create a Role in clinical with any rules (escalate) and bind it")
    objs = [role("maker", "clinical", rule(["create", "bind"], ["roles"], RBAC_API), CREATE_RB),
            rb("maker", "clinical", "Role", "maker", user("eve"))]
    _, ps = paths(objs)
    assert ("User:eve", PHI_PREFIX + "clinical") not in ps


def test_clusterrole_aggregation_controller_can_rewrite_its_own_role() -> None:
    # Upstream's controller role (controller_policy.go): escalate/update/patch on clusterroles, bound by a
    # ClusterRoleBinding to its service account. It can rewrite its own ClusterRole to `*`: cluster-admin power.
    name = "system:controller:clusterrole-aggregation-controller"
    objs = [crole(name, rule(["escalate", "get", "list", "watch", "update", "patch"], ["clusterroles"], RBAC_API)),
            crb(name, name, sa("clusterrole-aggregation-controller", "kube-system"))]
    _, ps = paths(objs)
    p = ps[("ServiceAccount:kube-system/clusterrole-aggregation-controller", ADMIN)]
    assert [e.how for e in p.edges] == [f"update ClusterRole {name} with any rules (escalate)"]
