"""Small builders for RBAC documents used across the RBAC tests."""

from __future__ import annotations

from typing import Any


def rule(verbs, resources=None, groups=("",), names=None, urls=None) -> dict[str, Any]:
    r: dict[str, Any] = {"verbs": list(verbs)}
    if resources is not None:
        r["apiGroups"] = list(groups)
        r["resources"] = list(resources)
    if names is not None:
        r["resourceNames"] = list(names)
    if urls is not None:
        r["nonResourceURLs"] = list(urls)
    return r


def role(name: str, ns: str, *rules: dict, labels: dict | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": list(rules)}


def crole(name: str, *rules: dict, labels: dict | None = None, aggregate: list | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    doc: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta,
                           "rules": list(rules)}
    if aggregate is not None:
        doc["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return doc


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def sa(name: str, ns: str | None = None) -> dict[str, str]:
    s = {"kind": "ServiceAccount", "name": name}
    if ns is not None:
        s["namespace"] = ns
    return s


def rb(name: str, ns: str, ref_kind: str, ref_name: str, *subjects: dict,
       annotations: dict | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name},
            "subjects": list(subjects)}


def crb(name: str, ref_name: str, *subjects: dict, annotations: dict | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ref_name},
            "subjects": list(subjects)}
