"""The built-in user-facing ClusterRoles admin, edit and view (engines/rbac/bootstrap_policy.yaml).

The API server creates them (and the system:aggregate-to-* roles they aggregate) in every cluster, so a binding
to `edit` grants on a real cluster even when the scanned files do not contain the role. The engine assumes
upstream's definitions unless the input defines a ClusterRole of that name.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.engines.rbac import RbacIndex, request_attributes, user_info
from kubehipaa.engines.rbac.review import build_review
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from tests.rbac.helpers import crb, crole, group, rb, rule

JANE = user_info("jane")
CHECKS = {c.meta.id: c for c in all_checks()}
PHI_NS = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}}}


def jane() -> dict[str, str]:
    return {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}


def bound_to(role: str, ns: str = "clinical") -> RbacIndex:
    return RbacIndex.from_objects([rb("b", ns, "ClusterRole", role, jane())])


def can(idx: RbacIndex, verb: str, target: str, ns: str = "clinical", name: str = "") -> bool:
    return idx.authorize(JANE, request_attributes(verb, target, ns, name)).allowed


def test_edit_writes_workloads_and_reads_secrets_in_its_namespace_only() -> None:
    idx = bound_to("edit")
    assert can(idx, "create", "deployments")
    assert can(idx, "get", "secrets", name="db-password")
    assert can(idx, "list", "secrets")
    assert can(idx, "create", "pods/exec", name="web-0")
    assert can(idx, "impersonate", "serviceaccounts", name="app-sa")
    assert can(idx, "create", "serviceaccounts/token", name="app-sa")
    assert can(idx, "get", "pods")  # from view, which edit aggregates
    # only in the RoleBinding's namespace, never cluster-scoped
    assert not can(idx, "create", "deployments", ns="billing")
    assert not can(idx, "get", "secrets", ns="billing", name="db-password")
    assert not can(idx, "list", "nodes", ns="")
    # edit is not admin
    assert not can(idx, "create", "rolebindings")
    assert not can(idx, "create", "roles")


def test_view_lists_pods_but_no_secrets_or_exec() -> None:
    idx = bound_to("view")
    assert can(idx, "list", "pods")
    assert can(idx, "get", "deployments", name="web")
    assert can(idx, "get", "pods/log", name="web-0")
    assert not can(idx, "get", "secrets", name="db-password")
    assert not can(idx, "list", "secrets")
    assert not can(idx, "create", "pods/exec", name="web-0")
    assert not can(idx, "get", "pods/exec", name="web-0")
    assert not can(idx, "create", "pods")
    assert not can(idx, "update", "deployments", name="web")


def test_admin_manages_rbac_in_its_namespace() -> None:
    idx = bound_to("admin")
    assert can(idx, "create", "rolebindings")
    assert can(idx, "delete", "roles", name="x")
    assert can(idx, "create", "localsubjectaccessreviews.authorization.k8s.io")
    assert can(idx, "get", "secrets", name="db-password")  # everything edit has
    assert can(idx, "create", "deployments")
    assert not can(idx, "create", "rolebindings", ns="billing")
    assert not can(idx, "create", "clusterrolebindings", ns="")
    assert not can(idx, "bind", "clusterroles", ns="", name="cluster-admin")


def test_who_can_lists_the_edit_binding_and_says_the_role_was_assumed() -> None:
    idx = bound_to("edit")
    entries = [e for e in idx.who_can(request_attributes("get", "secrets", "clinical")) if e.binding is not None]
    assert [e.subject.name for e in entries] == ["jane"]
    grant = entries[0].grant
    assert "built-in, assumed" in grant.describe()
    assert grant.to_dict()["role"] == {"kind": "ClusterRole", "name": "edit", "assumedBuiltin": True}
    assert "built-in, assumed" in idx.authorize(JANE, request_attributes("list", "secrets", "clinical")).reason
    assert "edit" in idx.assumed_roles and "view" in idx.assumed_roles
    assert not idx.who_can(request_attributes("get", "secrets", "billing"), include_masters=False)


def test_review_counts_edit_and_notes_the_assumption() -> None:
    review = build_review(bound_to("edit"), ["clinical"])
    secrets = {g.verb for g in review.grants if g.resource == "secrets" and g.subject_name == "jane"}
    assert {"get", "list", "watch", "create", "delete"} <= secrets
    assert any("ClusterRole edit is not in the input" in n for n in review.notes)


def test_an_input_edit_role_overrides_the_builtin() -> None:
    own = crole("edit", rule(["get", "list"], ["configmaps"]))
    idx = RbacIndex.from_objects([own, rb("b", "clinical", "ClusterRole", "edit", jane())])
    assert can(idx, "list", "configmaps")
    assert not can(idx, "get", "secrets", name="db-password")
    assert not can(idx, "create", "deployments")
    assert "edit" not in idx.assumed_roles
    grant = idx.authorize(JANE, request_attributes("list", "configmaps", "clinical")).grant
    assert grant is not None and "assumed" not in grant.describe()
    # admin is still the built-in one, aggregating whatever is labelled aggregate-to-admin (here: nothing but
    # system:aggregate-to-admin, as the input's edit carries no label)
    admin = RbacIndex.from_objects([own, rb("b", "clinical", "ClusterRole", "admin", jane())])
    assert can(admin, "create", "rolebindings")
    assert not can(admin, "get", "secrets", name="db-password")


def test_builtins_can_be_switched_off() -> None:
    idx = RbacIndex.from_objects([rb("b", "clinical", "ClusterRole", "edit", jane())], builtin_user_roles=False)
    decision = idx.authorize(JANE, request_attributes("get", "secrets", "clinical", "x"))
    assert not decision.allowed and "not found" in decision.errors[0]
    assert idx.assumed_roles == {"cluster-admin"}


def test_input_roles_labelled_aggregate_to_edit_flow_into_edit_and_admin() -> None:
    crd_role = crole("widgets-edit", rule(["create"], ["widgets"], groups=["example.com"]),
                     labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"})
    for role in ("edit", "admin"):
        idx = RbacIndex.from_objects([crd_role, rb("b", "clinical", "ClusterRole", role, jane())])
        assert can(idx, "create", "widgets.example.com"), role
        assert can(idx, "get", "secrets", name="x"), role  # the built-in rules stay
    view = RbacIndex.from_objects([crd_role, rb("b", "clinical", "ClusterRole", "view", jane())])
    assert not can(view, "create", "widgets.example.com")


def test_a_customised_aggregate_role_in_the_input_wins() -> None:
    # A cluster dump whose system:aggregate-to-edit was edited (autoupdate off) to drop secrets.
    custom = crole("system:aggregate-to-edit", rule(["create"], ["pods"]),
                   labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"})
    idx = RbacIndex.from_objects([custom, rb("b", "clinical", "ClusterRole", "edit", jane())])
    assert can(idx, "create", "pods")
    assert can(idx, "list", "pods")  # view's rules, still aggregated
    assert not can(idx, "get", "secrets", name="x")


def run(check_id: str, docs: list[dict[str, Any]]) -> list:
    objs = [K8sObject(d, "test.yaml", i + 1) for i, d in enumerate(docs)]
    return CHECKS[check_id].run(Inventory(objs, Config()))


@pytest.mark.parametrize("check_id", ["KH-RBAC-005", "KH-RBAC-007", "KH-RBAC-013"])
def test_checks_fire_for_a_binding_to_edit_in_a_phi_namespace(check_id: str) -> None:
    found = run(check_id, [PHI_NS, rb("editors", "clinical", "ClusterRole", "edit", group("clinical-devs"))])
    assert found, check_id
    assert all(f.resource.name == "editors" for f in found)


def test_risk_catalog_reports_pod_creation_and_token_minting_for_edit() -> None:
    found = run("KH-RBAC-013", [PHI_NS, rb("editors", "clinical", "ClusterRole", "edit", group("clinical-devs"))])
    assert "RR-006" in found[0].message and "RR-008" in found[0].message


def resolved_role(docs: list[dict[str, Any]]) -> Any:
    inv = Inventory([K8sObject(d, "test.yaml", i + 1) for i, d in enumerate(docs)], Config())
    idx = inv.rbac
    return idx.role_for(idx.bindings[0])


@pytest.mark.parametrize("check_id", ["KH-RBAC-005", "KH-RBAC-007"])
def test_checks_stay_quiet_for_view(check_id: str) -> None:
    docs = [PHI_NS, rb("viewers", "clinical", "ClusterRole", "view", group("auditors"))]
    assert resolved_role(docs) is not None  # the checks see the built-in view, not a missing role
    assert not run(check_id, docs)


def test_cluster_role_binding_to_view_is_not_called_namespaced_only() -> None:
    # view grants get/list/watch on namespaces (cluster-scoped): a ClusterRoleBinding is not replaceable by
    # RoleBindings, so KH-RBAC-008 stays quiet.
    docs = [crb("all-view", "view", group("auditors"))]
    assert resolved_role(docs) is not None
    assert not run("KH-RBAC-008", docs)
