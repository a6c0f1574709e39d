"""Built-in RBAC objects are recognised by name AND content, never by the bootstrapping label (issue 11, req. 1),
and the built-in namespaced Roles are known (req. 6).

Data: engines/rbac/bootstrap_policy.yaml (upstream's bootstrap-policy golden files); semantics:
engines/rbac/defaults.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.engines.rbac import RbacIndex, request_attributes, user_info
from kubehipaa.engines.rbac.defaults import BOOTSTRAP_LABEL, bootstrap_policy, judge_binding, judge_role
from kubehipaa.engines.rbac.loader import parse_binding, parse_role
from kubehipaa.engines.rbac.review import build_review
from kubehipaa.engines.rbac.risk import evaluate_risks
from kubehipaa.engines.rbac.types import Origin
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan
from tests.rbac.helpers import crb, crole, group, rb, role, rule, sa, user

CHECKS = {c.meta.id: c for c in all_checks()}
LABEL = {BOOTSTRAP_LABEL[0]: BOOTSTRAP_LABEL[1]}


def labelled(doc: dict[str, Any], **extra: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["metadata"]["labels"] = {**LABEL, **extra}
    return doc


def scan(docs: list[dict[str, Any]]) -> list:
    objs = [K8sObject(d, "test.yaml", i + 1) for i, d in enumerate(docs)]
    return run_scan(Inventory(objs, Config()), Config()).findings


def ids(findings: list) -> set[str]:
    return {f.check_id for f in findings}


def _as_role(doc: dict[str, Any]):
    return parse_role(doc, Origin())


def _as_binding(doc: dict[str, Any]):
    return parse_binding(doc, Origin(), 0)


# ------------------------------------------------------------------ the issue's example and its class
def test_labelled_cluster_admin_binding_to_anonymous_and_authenticated_is_reported() -> None:
    # Issue 11: with the label this produced no finding at all; without it, two highs.
    evil = labelled(crb("system:kube-defaults", "cluster-admin", user("system:anonymous"),
                        group("system:authenticated")))
    found = scan([evil])
    assert {"KH-RBAC-002", "KH-RBAC-003", "KH-RBAC-014"} <= ids(found)
    anon = [f for f in found if f.check_id == "KH-RBAC-003"]
    assert len(anon) == 2 and all("modified built-in" in f.message for f in anon)
    look_alike = [f for f in found if f.check_id == "KH-RBAC-014"]
    assert "modified built-in" in look_alike[0].message and "look-alike" in look_alike[0].message


def test_a_builtin_name_does_not_hide_a_changed_binding() -> None:
    # The real name of a built-in binding, with the label, but its roleRef and subjects swapped.
    evil = labelled(crb("system:basic-user", "cluster-admin", group("system:authenticated")))
    found = scan([evil])
    assert {"KH-RBAC-002", "KH-RBAC-003", "KH-RBAC-014"} <= ids(found)
    msg = next(f.message for f in found if f.check_id == "KH-RBAC-014")
    assert "refers to ClusterRole cluster-admin" in msg
    # an extra subject on an otherwise exact built-in binding
    extra = labelled(crb("system:discovery", "system:discovery", group("system:authenticated"),
                         user("system:anonymous")))
    found = scan([extra])
    assert "KH-RBAC-014" in ids(found)
    assert any(f.check_id == "KH-RBAC-003" and "system:anonymous" in f.message for f in found)


def test_modified_basic_user_is_flagged_and_its_builtin_binding_loses_its_exemption() -> None:
    policy = bootstrap_policy()
    rules = [r.to_dict() for r in policy.cluster_roles["system:basic-user"].rules]
    modified = labelled(crole("system:basic-user", *rules, rule(["get", "list"], ["secrets"])))
    binding = labelled(crb("system:basic-user", "system:basic-user", group("system:authenticated")))
    found = scan([modified, binding])
    role_finding = [f for f in found if f.check_id == "KH-RBAC-014" and f.resource.kind == "ClusterRole"]
    assert role_finding and "modified built-in" in role_finding[0].message
    assert "rules[2]" in role_finding[0].message
    # the untouched built-in binding now hands the extra rule to every authenticated user
    secrets = [f for f in found if f.check_id == "KH-RBAC-005"]
    assert secrets and secrets[0].resource.kind == "ClusterRoleBinding"
    assert "modified built-in" in secrets[0].message
    assert any(f.check_id == "KH-RBAC-014" and f.resource.kind == "ClusterRoleBinding" for f in found)


def test_an_aggregate_label_on_a_builtin_is_a_modification() -> None:
    # system:controller:generic-garbage-collector labelled aggregate-to-view would pour delete-everything
    # into the built-in view role.
    gc = bootstrap_policy().cluster_roles["system:controller:generic-garbage-collector"]
    doc = crole(gc.name, *[r.to_dict() for r in gc.rules])
    doc = labelled(doc, **{"rbac.authorization.k8s.io/aggregate-to-view": "true"})
    found = scan([doc])
    assert any(f.check_id == "KH-RBAC-014" and "aggregate-to-view" in f.message for f in found)
    assert any(f.check_id == "KH-RBAC-013" and "RR-013" in f.message for f in found)  # aggregate-label risk


# ------------------------------------------------------------------ unmodified defaults stay quiet
def _policy_as_dump(with_labels: bool) -> list[dict[str, Any]]:
    """Every object of the covered bootstrap policy as `kubectl get -o yaml` would show it."""
    policy = bootstrap_policy()
    docs: list[dict[str, Any]] = []
    for r in [*policy.cluster_roles.values(), *policy.roles.values()]:
        meta: dict[str, Any] = {"name": r.name, "labels": dict(r.labels) if with_labels else {},
                                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
                                "resourceVersion": "91", "uid": "0c1f4b3e-5f1a-4c11-9b1e-0d7b1a2b3c4d"}
        if r.namespace:
            meta["namespace"] = r.namespace
        doc: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": r.kind, "metadata": meta,
                               "rules": [x.to_dict() for x in r.rules]}
        if r.aggregation_selectors is not None:
            doc["aggregationRule"] = {"clusterRoleSelectors": list(r.aggregation_selectors)}
        docs.append(doc)
    for b in [*policy.cluster_role_bindings.values(), *policy.role_bindings.values()]:
        meta = {"name": b.name, "labels": dict(b.labels) if with_labels else {}}
        if b.namespace:
            meta["namespace"] = b.namespace
        docs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": b.kind, "metadata": meta,
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": b.role_ref.kind,
                                 "name": b.role_ref.name},
                     "subjects": [s.to_dict() | ({"apiGroup": "rbac.authorization.k8s.io"}
                                                 if s.kind != "ServiceAccount" else {}) for s in b.subjects]})
    return docs


@pytest.mark.parametrize("with_labels", [True, False])
def test_the_upstream_default_set_produces_no_rbac_finding(with_labels: bool) -> None:
    found = [f for f in scan(_policy_as_dump(with_labels)) if f.check_id.startswith("KH-RBAC-")]
    assert not found, "\n".join(f"{f.check_id} {f.resource.display}: {f.message}" for f in found[:10])


# A `kubectl get -o yaml` dump of a cluster upgraded from v1.28 (hand-written in that shape): admin/edit show the
# rules the aggregation controller filled in, including a CRD's; controllers keep the v1.28 rules reconciliation
# never removes; the leader-election Role keeps its pre-v1.33 configmap rules.
CLUSTER_DUMP = """
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: edit
    labels: {kubernetes.io/bootstrapping: rbac-defaults, rbac.authorization.k8s.io/aggregate-to-admin: "true"}
    annotations: {rbac.authorization.kubernetes.io/autoupdate: "true"}
    resourceVersion: "412"
    uid: 5e0d0b0e-1a52-4c5e-9a57-0a1f2b3c4d5e
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
  rules:
  - apiGroups: [""]
    resources: [pods/attach, pods/exec, pods/portforward, pods/proxy, secrets, services/proxy]
    verbs: [get, list, watch]
  - apiGroups: [widgets.example.com]
    resources: [widgets]
    verbs: [create, delete, get, list, patch, update, watch]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata:
    name: system:controller:expand-controller
    labels: {kubernetes.io/bootstrapping: rbac-defaults}
  rules:
  - {apiGroups: [""], resources: [persistentvolumes], verbs: [get, list, patch, update, watch]}
  - {apiGroups: [""], resources: [persistentvolumeclaims/status], verbs: [patch, update]}
  - {apiGroups: [""], resources: [persistentvolumeclaims], verbs: [get, list, watch]}
  - {apiGroups: [storage.k8s.io], resources: [storageclasses], verbs: [get, list, watch]}
  - {apiGroups: [""], resources: [endpoints, services], verbs: [get]}
  - {apiGroups: [""], resources: [secrets], verbs: [get]}
  - {apiGroups: ["", events.k8s.io], resources: [events], verbs: [create, patch, update]}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: "system:controller:expand-controller", labels: {kubernetes.io/bootstrapping: rbac-defaults}}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:controller:expand-controller"}
  subjects:
  - {kind: ServiceAccount, name: expand-controller, namespace: kube-system}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata:
    name: system::leader-locking-kube-scheduler
    namespace: kube-system
    labels: {kubernetes.io/bootstrapping: rbac-defaults}
  rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [watch]
  - apiGroups: [""]
    resourceNames: [kube-scheduler]
    resources: [configmaps]
    verbs: [get, update]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create, get, list, update, watch]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata:
    name: system::leader-locking-kube-scheduler
    namespace: kube-system
    labels: {kubernetes.io/bootstrapping: rbac-defaults}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "system::leader-locking-kube-scheduler"}
  subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-scheduler"}
  - {kind: ServiceAccount, name: kube-scheduler, namespace: kube-system}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: "system:node", labels: {kubernetes.io/bootstrapping: rbac-defaults}}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node"}
"""


def test_an_upgraded_clusters_dump_of_defaults_is_clean() -> None:
    docs = yaml.safe_load(CLUSTER_DUMP)["items"]
    found = [f for f in scan(docs) if f.check_id.startswith("KH-RBAC-")]
    assert not found, "\n".join(f"{f.check_id} {f.resource.display}: {f.message}" for f in found)


# ------------------------------------------------------------------ what "matches" means, rule by rule
def _judge(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None,
           aggregate: list | None = None) -> bool:
    return judge_role(_as_role(crole(name, *rules, labels=labels, aggregate=aggregate))).matches


def test_rules_match_by_what_they_grant_not_by_layout() -> None:
    # system:kube-dns is [{"" [endpoints, services] [list, watch]}]
    assert _judge("system:kube-dns", rule(["list", "watch"], ["endpoints", "services"]))
    assert _judge("system:kube-dns", rule(["watch", "list"], ["services"]), rule(["list", "watch"], ["endpoints"]))
    assert _judge("system:kube-dns", rule(["list"], ["services"]))  # narrower: grants less
    assert _judge("system:kube-dns")  # no rules at all: grants nothing
    assert not _judge("system:kube-dns", rule(["list", "watch", "get"], ["endpoints", "services"]))
    assert not _judge("system:kube-dns", rule(["list"], ["services", "secrets"]))
    assert not _judge("system:kube-dns", rule(["list"], ["*"]))
    assert not _judge("system:kube-dns", rule(["*"], ["services"]))
    assert not _judge("system:kube-dns", rule(["list"], ["services"], groups=["*"]))


def test_resource_names_and_urls_are_compared_as_the_authorizer_matches_them() -> None:
    name = "extension-apiserver-authentication"
    reader = "extension-apiserver-authentication-reader"

    def judge(*rules: dict[str, Any]) -> bool:
        return judge_role(_as_role(role(reader, "kube-system", *rules))).matches

    assert judge(rule(["get", "list", "watch"], ["configmaps"], names=[name]))
    assert not judge(rule(["get"], ["configmaps"]))  # the resourceNames limit dropped
    assert not judge(rule(["get"], ["configmaps"], names=[name, "kubeadm-config"]))
    # a namespaced built-in is only a built-in in its namespace
    assert not judge_role(_as_role(role(reader, "default", rule(["get"], ["secrets"])))).claimed
    # non-resource URLs: a prefix pattern covers the paths under it, never the other way round
    assert _judge("system:discovery", rule(["get"], urls=["/apis/apps/v1"]))
    assert not _judge("system:discovery", rule(["get"], urls=["/metrics"]))
    assert not _judge("system:public-info-viewer", rule(["get"], urls=["/*"]))
    # subresource wildcards: '*/scale' is granted by '*/scale' or '*', never by 'deployments/scale'
    hpa = "system:controller:horizontal-pod-autoscaler"
    assert _judge(hpa, rule(["get"], ["deployments/scale"], groups=["apps"]))
    assert not _judge(hpa, rule(["get"], ["deployments/status"], groups=["apps"]))


def test_aggregated_roles_match_on_their_selectors_and_labels_are_content_only_for_aggregation() -> None:
    sel = [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]
    # rules are the controller's to fill in
    assert _judge("admin", rule(["*"], ["*"], groups=["*"]), aggregate=sel)
    assert not _judge("admin", aggregate=[{"matchLabels": {}}])
    assert not _judge("admin", aggregate=[*sel, {"matchLabels": {"team": "ops"}}])
    assert not _judge("admin", rule(["get"], ["pods"]))  # aggregationRule removed
    assert not _judge("system:kube-dns", rule(["list"], ["services"]), aggregate=sel)
    # other labels are free
    assert _judge("system:kube-dns", rule(["list"], ["services"]), labels={"team": "platform", **LABEL})


def test_bindings_match_on_roleref_and_subjects() -> None:
    def judge(doc: dict[str, Any]) -> bool:
        return judge_binding(_as_binding(doc)).matches

    assert judge(crb("system:public-info-viewer", "system:public-info-viewer", group("system:unauthenticated"),
                     group("system:authenticated")))
    assert judge(crb("system:public-info-viewer", "system:public-info-viewer"))  # subjects removed
    assert not judge(crb("system:public-info-viewer", "system:discovery", group("system:authenticated")))
    assert not judge(crb("system:node", "system:node", group("system:nodes")))  # the pre-1.8 subject
    ctl = "system:controller:job-controller"
    assert judge(crb(ctl, ctl, sa("job-controller", "kube-system")))
    assert not judge(crb(ctl, ctl, sa("job-controller", "default")))
    # a RoleBinding's ServiceAccount without a namespace is in the binding's namespace
    assert judge(rb("system:controller:token-cleaner", "kube-system", "Role", "system:controller:token-cleaner",
                    sa("token-cleaner")))


def test_the_bootstrapping_label_is_no_exemption_on_anything() -> None:
    custom = labelled(role("app-admin", "clinical", rule(["*"], ["*"], groups=["*"])))
    found = scan([custom])
    assert {"KH-RBAC-001", "KH-RBAC-014"} <= ids(found)


@pytest.mark.parametrize("name", ["system:admin", "system:kube-defaults", "system:nodes", "system:serviceaccount:x"])
def test_a_system_prefix_does_not_make_a_user_a_kubernetes_component(name: str) -> None:
    # `system:` is reserved by convention only: a client certificate or token may carry any such name, and a
    # binding naming one is a person's (or a shared) account like any other, judged as such by KH-RBAC-004.
    found = scan([rb("ops-admin", "clinical", "ClusterRole", "edit", user(name))])
    assert [f.message for f in found if f.check_id == "KH-RBAC-004"] == [
        f'RoleBinding "clinical/ops-admin" binds user(s) {name} directly']


@pytest.mark.parametrize("name", ["system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy",
                                  "system:apiserver", "system:node:worker-1",
                                  "system:serviceaccount:clinical:app"])
def test_the_users_kubernetes_itself_authenticates_are_not_individual_users(name: str) -> None:
    found = scan([rb("components", "clinical", "ClusterRole", "view", user(name))])
    assert "KH-RBAC-004" not in ids(found)


# ------------------------------------------------------------------ requirement 6: built-in namespaced Roles
def test_referencing_builtin_namespaced_roles_is_not_role_not_found() -> None:
    docs = [
        rb("metrics-server-auth-reader", "kube-system", "Role", "extension-apiserver-authentication-reader",
           sa("metrics-server", "kube-system")),
        rb("signer", "kube-public", "Role", "system:controller:bootstrap-signer", sa("signer", "kube-system")),
        crb("nodes", "system:node", group("system:nodes")),
    ]
    assert not [f for f in scan(docs) if "RR-014" in f.message]
    idx = RbacIndex.from_objects(docs)
    assert not [h for h in evaluate_risks(idx) if h.rule.kind == "missing-role"]


def test_missing_roles_that_are_not_builtins_are_still_reported() -> None:
    # a system: prefix is a name anyone can use; a Role is a built-in only in its own namespace
    docs = [crb("agent", "system:metrics-agent", sa("agent", "ops")),
            rb("auth-reader", "clinical", "Role", "extension-apiserver-authentication-reader", sa("app", "clinical"))]
    missing = [f for f in scan(docs) if "RR-014" in f.message]
    assert {f.resource.name for f in missing} == {"agent", "auth-reader"}


def test_who_can_assumes_builtin_namespaced_roles_and_says_so() -> None:
    docs = [rb("metrics-server-auth-reader", "kube-system", "Role", "extension-apiserver-authentication-reader",
               sa("metrics-server", "kube-system"))]
    idx = RbacIndex.from_objects(docs)
    assert ("kube-system", "extension-apiserver-authentication-reader") in idx.assumed_role_keys
    attrs = request_attributes("get", "configmaps", "kube-system", "extension-apiserver-authentication")
    entries = [e for e in idx.who_can(attrs, include_masters=False)]
    assert [e.subject.name for e in entries] == ["metrics-server"]
    assert entries[0].assumed_role and "built-in, assumed" in entries[0].grant.describe()
    sa_user = user_info("system:serviceaccount:kube-system:metrics-server")
    decision = idx.authorize(sa_user, attrs)
    assert decision.allowed and decision.grant is not None and decision.grant.assumed_role
    assert not idx.authorize(sa_user, request_attributes("get", "configmaps", "kube-system", "other")).allowed
    notes = build_review(idx, ["kube-system"]).notes
    assert any("Role kube-system/extension-apiserver-authentication-reader is not in the input" in n for n in notes)


def test_who_can_assumes_builtin_system_cluster_roles_a_binding_names() -> None:
    idx = RbacIndex.from_objects([crb("nodes", "system:node", group("system:nodes"))])
    assert "system:node" in idx.assumed_roles
    entries = idx.who_can(request_attributes("get", "secrets", "clinical", "db"), include_masters=False)
    assert [e.subject.name for e in entries] == ["system:nodes"] and entries[0].assumed_role
    # a role the input defines always wins over the built-in
    own = crole("system:node", rule(["get"], ["nodes"]))
    idx = RbacIndex.from_objects([own, crb("nodes", "system:node", group("system:nodes"))])
    assert "system:node" not in idx.assumed_roles
    assert not idx.who_can(request_attributes("get", "secrets", "clinical", "db"), include_masters=False)


# ------------------------------------------------------------------ the data file itself
def test_bootstrap_policy_data_is_consistent() -> None:
    policy = bootstrap_policy()
    for b in [*policy.cluster_role_bindings.values(), *policy.role_bindings.values()]:
        assert policy.referenced_role(b) is not None, f"{b.display} refers to a role the data lacks"
    for r in [*policy.cluster_roles.values(), *policy.roles.values()]:
        assert BOOTSTRAP_LABEL in r.labels
        assert r.rules or r.aggregation_selectors is not None, r.display
        for x in r.rules:
            assert x.verbs and (x.resources or x.non_resource_urls), (r.display, x)
            assert bool(x.resources) == bool(x.api_groups), (r.display, x)
    # the objects the issue names, and upstream's controller-role bindings
    assert ("kube-system", "extension-apiserver-authentication-reader") in policy.roles
    assert ("kube-system", "system::leader-locking-kube-controller-manager") in policy.roles
    assert ("kube-public", "system:controller:bootstrap-signer") in policy.roles
    job = policy.cluster_role_bindings["system:controller:job-controller"]
    assert [(s.kind, s.namespace, s.name) for s in job.subjects] == [
        ("ServiceAccount", "kube-system", "job-controller")]
