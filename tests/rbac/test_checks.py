"""Behaviour of individual KH-RBAC checks beyond their fire/pass cases."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubehipaa.checks.rbac import parse_expiry
from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity
from tests.rbac.helpers import crb, crole, group, rb, rule, sa

CHECKS = {c.meta.id: c for c in all_checks()}
PHI_NS = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}}}


def run(check_id: str, docs: list[dict[str, Any]], config: Config | None = None) -> list:
    objs = [K8sObject(d, "test.yaml", i + 1) for i, d in enumerate(docs)]
    return CHECKS[check_id].run(Inventory(objs, config or Config()))


def test_exec_via_cluster_role_binding_reaches_phi_namespaces() -> None:
    docs = [PHI_NS, crole("x", rule(["get"], ["pods/exec"])), crb("x", "x", group("g"))]
    found = run("KH-RBAC-007", docs)
    assert len(found) == 1 and "PHI ones included" in found[0].message
    assert not run("KH-RBAC-007", docs[1:])  # no PHI namespace, nothing to protect here


def test_secret_read_cluster_wide_is_high_outside_phi() -> None:
    found = run("KH-RBAC-005", [crole("x", rule(["watch"], ["secrets"])), crb("x", "x", group("g"))])
    assert found[0].severity == Severity.HIGH
    found = run("KH-RBAC-005", [crole("x", rule(["get"], ["secrets"])), rb("x", "web", "ClusterRole", "x", sa("a"))])
    assert found[0].severity == Severity.MEDIUM
    found = run("KH-RBAC-005", [PHI_NS, crole("x", rule(["get"], ["secrets"])),
                                rb("x", "clinical", "ClusterRole", "x", sa("a"))])
    assert found[0].severity == Severity.HIGH


def test_break_glass_from_config_and_marker() -> None:
    cfg = Config.model_validate({"breakGlass": {"groups": [], "users": ["root@clinic"]}})
    user_binding = crb("x", "admin", {"kind": "User", "name": "root@clinic"})
    assert run("KH-RBAC-009", [user_binding], cfg)
    assert not run("KH-RBAC-009", [crb("x", "admin", group("incident-responders"))], cfg)
    marked = crb("y", "admin", group("g"), annotations={"kubehipaa.io/break-glass": "true"})
    assert run("KH-RBAC-009", [marked])
    bad = crb("z", "admin", group("g"), annotations={"kubehipaa.io/expires": "next tuesday"})
    assert "not a date" in run("KH-RBAC-009", [bad])[0].message


def test_parse_expiry() -> None:
    assert parse_expiry("2026-12-31") == dt.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    assert parse_expiry("2026-12-31T10:00:00Z") == dt.datetime(2026, 12, 31, 10, tzinfo=dt.UTC)
    assert parse_expiry("soon") is None


def _pod(automount: bool | None, sa_name: str = "app") -> dict[str, Any]:
    spec: dict[str, Any] = {"serviceAccountName": sa_name, "containers": [{"name": "c", "image": "x"}]}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "clinical"}, "spec": spec}


def _sa(automount: bool | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount",
                           "metadata": {"name": "app", "namespace": "clinical"}}
    if automount is not None:
        doc["automountServiceAccountToken"] = automount
    return doc


def test_pod_automount_precedence() -> None:
    assert run("KH-RBAC-011", [_pod(True), _sa(False)])       # pod field wins
    assert not run("KH-RBAC-011", [_pod(False), _sa(True)])   # pod field wins
    assert not run("KH-RBAC-011", [_pod(None), _sa(False)])   # inherits the SA's
    assert run("KH-RBAC-011", [_pod(None), _sa(None)])        # both unset: mounted
    assert run("KH-RBAC-011", [_pod(None)])                   # SA unknown: default is to mount


def test_bootstrap_objects_are_recognised_by_content_not_label() -> None:
    # the built-in system:basic-user binding is a platform default with or without its label
    boot = crb("system:basic-user", "system:basic-user", group("system:authenticated"))
    boot["metadata"]["labels"] = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    assert not run("KH-RBAC-003", [boot])
    boot["metadata"]["labels"] = {}
    assert not run("KH-RBAC-003", [boot])
    # the label on anything else buys nothing (see tests/rbac/test_builtin_defaults.py for the full story)
    fake = crb("defaults", "cluster-admin", group("system:authenticated"))
    fake["metadata"]["labels"] = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    assert run("KH-RBAC-003", [fake])


def test_risk_findings_grouped_per_binding_with_max_severity() -> None:
    docs = [crole("x", rule(["create"], ["pods", "serviceaccounts/token"]), rule(["get"], ["nodes/proxy"])),
            crb("x", "x", group("g"))]
    found = run("KH-RBAC-013", docs)
    assert len(found) == 1
    assert "RR-006" in found[0].message and "RR-007" in found[0].message and "RR-008" in found[0].message
    assert found[0].severity == Severity.CRITICAL


def test_unlabelled_static_control_plane_pods_are_not_token_findings() -> None:
    # A kube-apiserver or etcd manifest without kubeadm's tier label is still a static pod (no token).
    for binary in ("kube-apiserver", "etcd"):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": binary, "namespace": "kube-system"},
               "spec": {"containers": [{"name": binary, "image": f"registry.k8s.io/{binary}:v1.30.4",
                                        "command": [binary, "--v=2"]}]}}
        assert not run("KH-RBAC-011", [pod]), binary


def test_control_plane_labels_do_not_exempt_a_pod_from_the_token_check() -> None:
    # kube-system Pod labelled like kubeadm's, but running another image with a service account: it is not a
    # static Pod, the ServiceAccount admission mounts its token (failed on the label-based exemption)
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                        "labels": {"tier": "control-plane", "component": "kube-apiserver"}},
           "spec": {"serviceAccountName": "builder",
                    "containers": [{"name": "shell", "image": "registry.example.org/tools:1"}]}}
    found = run("KH-RBAC-011", [pod])
    assert found and "builder" in found[0].message
    # a kubelet-made mirror Pod never has a token, whatever it runs; other kubernetes.io/config.* keys do not
    # make a mirror Pod (failed before: any kubernetes.io/config.* annotation exempted the Pod)
    pod["spec"].pop("serviceAccountName")
    pod["metadata"]["annotations"] = {"kubernetes.io/config.source": "file"}
    assert run("KH-RBAC-011", [pod])
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    assert not run("KH-RBAC-011", [pod])
