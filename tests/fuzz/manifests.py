"""Reusable Hypothesis generators for hostile Kubernetes manifests: valid base objects with wrong-typed fields.

Every engine reads a known set of fields (NetworkPolicy rules and peers, Service ports, pod templates,
Role rules, binding subjects...). The API server refuses an object whose field has the wrong type, so the
engines must never crash on one: they leave the object out, name it, and answer for the rest. These
strategies take a valid object of each kind and replace one to three of those fields (or any field the
object already has) with a value of another type, so a test can feed the result to an engine or a command.

Building blocks (issue 12's schema-guided fuzz extends `FIELDS` per engine):

    wrong_values()            any JSON value, biased to the types a field is NOT: 5, "x", [..], {..}, null, true
    mutated(kind)             one object of `kind` with wrong-typed fields
    manifest_set(kinds)       the valid base objects of `kinds` plus 1-3 mutated ones
    to_yaml(docs)             a multi-document YAML stream (JSON per document: exactly these types, no YAML tags)
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

NS = "fz"
RBAC_API = "rbac.authorization.k8s.io/v1"
EXAMPLES = int(os.environ.get("KUBEHIPAA_FUZZ_EXAMPLES", "0")) or None
"""Examples per fuzz test from the environment (deeper local runs); None = each test's own default."""


def _pod_spec(app: str, port: int) -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": app, "image": f"registry.example/{app}@sha256:" + "a" * 64,
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        }],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def _deployment(name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": _pod_spec(name, port)}}}


BASE: dict[str, dict[str, Any]] = {
    "Namespace": {"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": NS, "labels": {"kubehipaa.io/phi": "true",
                                                      "pod-security.kubernetes.io/enforce": "restricted"}}},
    "Deployment": _deployment("web", 8080),
    "Pod": {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "db-0", "namespace": NS, "labels": {"app": "db"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                              "uid": "1", "controller": True}]},
            "spec": _pod_spec("db", 5432)},
    "Service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
                "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    "Ingress": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": NS},
                "spec": {"rules": [{"host": "web.example", "http": {"paths": [{
                    "path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
    "NetworkPolicy": {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "db", "namespace": NS},
        "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web"]}]}}],
                "ports": [{"protocol": "TCP", "port": 5432}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                               {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53, "endPort": 54}]}],
        },
    },
    "Role": {"apiVersion": RBAC_API, "kind": "Role", "metadata": {"name": "reader", "namespace": NS},
             "rules": [{"apiGroups": [""], "resources": ["secrets", "pods/exec"], "verbs": ["get", "create"],
                        "resourceNames": ["db"]}]},
    "ClusterRole": {"apiVersion": RBAC_API, "kind": "ClusterRole",
                    "metadata": {"name": "fz-agg", "labels": {"rbac.example/aggregate": "true"}},
                    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example/x": "true"}}]},
                    "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]},
    "RoleBinding": {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": NS},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                    "subjects": [{"kind": "ServiceAccount", "name": "app"},
                                 {"kind": "Group", "name": "support", "apiGroup": "rbac.authorization.k8s.io"}]},
    "ClusterRoleBinding": {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": {"name": "fz-admin"},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                       "name": "cluster-admin"},
                           "subjects": [{"kind": "User", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}]},
    "ServiceAccount": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": NS}},
}

_POD = ("spec", "spec.containers", "spec.containers.0", "spec.containers.0.ports", "spec.containers.0.ports.0",
        "spec.containers.0.ports.0.containerPort", "spec.containers.0.ports.0.name",
        "spec.containers.0.securityContext", "spec.containers.0.securityContext.capabilities",
        "spec.containers.0.securityContext.capabilities.drop", "spec.securityContext",
        "spec.securityContext.seccompProfile", "spec.volumes", "spec.volumes.0", "spec.initContainers",
        "spec.hostNetwork", "spec.os")
_META = ("metadata", "metadata.name", "metadata.namespace", "metadata.labels", "metadata.labels.app")

FIELDS: dict[str, tuple[str, ...]] = {
    "Namespace": ("metadata", "metadata.labels", "metadata.labels.pod-security.kubernetes.io/enforce"),
    "Deployment": (*_META, "spec", "spec.template", "spec.template.metadata", "spec.template.metadata.labels",
                   *("spec.template." + p for p in _POD)),
    "Pod": (*_META, "metadata.ownerReferences", "metadata.ownerReferences.0", "metadata.ownerReferences.0.kind",
            *_POD),
    "Service": (*_META, "spec", "spec.selector", "spec.selector.app", "spec.ports", "spec.ports.0",
                "spec.ports.0.port", "spec.ports.0.targetPort", "spec.ports.0.name"),
    "Ingress": (*_META, "spec", "spec.rules", "spec.rules.0", "spec.rules.0.http", "spec.rules.0.http.paths",
                "spec.rules.0.http.paths.0", "spec.rules.0.http.paths.0.backend",
                "spec.rules.0.http.paths.0.backend.service", "spec.rules.0.http.paths.0.backend.service.port",
                "spec.rules.0.http.paths.0.backend.service.port.number", "spec.defaultBackend"),
    "NetworkPolicy": (*_META, "spec", "spec.podSelector", "spec.podSelector.matchLabels",
                      "spec.podSelector.matchLabels.app", "spec.policyTypes", "spec.policyTypes.0", "spec.ingress",
                      "spec.ingress.0", "spec.ingress.0.from", "spec.ingress.0.from.0",
                      "spec.ingress.0.from.0.podSelector", "spec.ingress.0.from.0.podSelector.matchExpressions",
                      "spec.ingress.0.from.0.podSelector.matchExpressions.0",
                      "spec.ingress.0.from.0.podSelector.matchExpressions.0.values", "spec.ingress.0.ports",
                      "spec.ingress.0.ports.0", "spec.ingress.0.ports.0.port", "spec.ingress.0.ports.0.protocol",
                      "spec.egress", "spec.egress.0.to", "spec.egress.0.to.0.ipBlock", "spec.egress.0.to.0.ipBlock.cidr",
                      "spec.egress.0.to.0.ipBlock.except", "spec.egress.0.to.1.namespaceSelector",
                      "spec.egress.0.ports.0.endPort"),
    "Role": (*_META, "rules", "rules.0", "rules.0.apiGroups", "rules.0.resources", "rules.0.resources.0",
             "rules.0.verbs", "rules.0.verbs.0", "rules.0.resourceNames"),
    "ClusterRole": ("metadata", "metadata.name", "metadata.labels", "aggregationRule",
                    "aggregationRule.clusterRoleSelectors", "aggregationRule.clusterRoleSelectors.0",
                    "rules", "rules.0", "rules.0.nonResourceURLs", "rules.0.verbs"),
    "RoleBinding": (*_META, "roleRef", "roleRef.kind", "roleRef.name", "roleRef.apiGroup", "subjects", "subjects.0",
                    "subjects.0.kind", "subjects.0.name", "subjects.0.namespace", "subjects.1.apiGroup"),
    "ClusterRoleBinding": ("metadata", "metadata.name", "roleRef", "roleRef.name", "subjects", "subjects.0",
                           "subjects.0.kind", "subjects.0.name"),
    "ServiceAccount": ("metadata", "metadata.name", "automountServiceAccountToken"),
}

NETPOL_KINDS = ("Namespace", "Deployment", "Pod", "Service", "Ingress", "NetworkPolicy")
RBAC_KINDS = ("Namespace", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount",
              "Deployment", "Pod")
PSS_KINDS = ("Namespace", "Deployment", "Pod")

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 70000), st.floats(-1e3, 1e3, allow_nan=False),
                     st.text(max_size=6), st.sampled_from(["", "TCP", "Ingress", "*", "10.0.0.0/8", "app", "a b"]))


def wrong_values() -> st.SearchStrategy[Any]:
    """Any JSON value: scalars of every type, and small lists and mappings (possibly nested)."""
    return st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=6)


def _paths(node: Any, prefix: str = "") -> list[str]:
    """Every path inside `node` (mapping keys and list indexes, dotted)."""
    out: list[str] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        path = f"{prefix}{key}"
        out.append(path)
        out.extend(_paths(child, path + "."))
    return out


def set_path(doc: dict[str, Any], path: str, value: Any) -> bool:
    """Set `path` (dotted; list indexes as numbers) in `doc` to `value`; False when a parent is missing or of
    another type. Label keys with dots (`pod-security.kubernetes.io/enforce`) are matched whole."""
    node: Any = doc
    rest = path
    while True:
        if isinstance(node, dict) and rest in node:
            node[rest] = value
            return True
        head, _, rest = rest.partition(".")
        if isinstance(node, list):
            if not head.isdigit() or int(head) >= len(node):
                return False
            if not rest:
                node[int(head)] = value
                return True
            node = node[int(head)]
        elif isinstance(node, dict):
            if not rest:
                node[head] = value
                return True
            if head not in node:
                return False
            node = node[head]
        else:
            return False


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """The base object of `kind` with one to three fields (known ones or any it has) set to other types."""
    doc = copy.deepcopy(BASE[kind])
    candidates = sorted(set(FIELDS[kind]) | set(_paths(doc)))
    for _ in range(draw(st.integers(1, 3))):
        set_path(doc, draw(st.sampled_from(candidates)), draw(wrong_values()))
    return doc


@st.composite
def manifest_set(draw: st.DrawFn, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The valid base objects of `kinds`, plus one to three mutated objects (renamed apart when they share
    a name, so each is analysed rather than de-duplicated away)."""
    docs = [copy.deepcopy(BASE[k]) for k in kinds]
    for i in range(draw(st.integers(1, 3))):
        bad = draw(mutated(draw(st.sampled_from(list(kinds)))))
        meta = bad.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            meta["name"] = f"{meta['name']}-bad{i}"
        docs.append(bad)
    return docs


def to_yaml(docs: Sequence[Any]) -> str:
    """A multi-document stream, one JSON document each: valid YAML that keeps exactly the generated types."""
    return "".join(f"---\n{json.dumps(d)}\n" for d in docs)
