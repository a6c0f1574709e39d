"""Hostile Kubernetes manifests for the fuzz tests: valid base objects of every kind the engines read, and
mutants guided by Kubernetes' published schemas (`tests/fuzz/schema.py`).

Every engine reads some of these kinds (NetworkPolicy rules and peers, Service ports, pod templates, Role
rules, binding subjects, ConfigMap and Secret data, Namespace labels...). The API server refuses an object
whose field has the wrong type, so the engines must never crash on one: they leave the object out, name it,
and answer for the rest. A mutant is a base object with one to three fields, drawn from every field path its
kind's schema defines (those the base already has first), set to a value of a JSON type the schema does not
allow there, or, for the valid variant, to a value it does allow.

Building blocks:

    mutated(kind, valid=False)    one object of `kind` with wrong-typed (or schema-valid) fields
    manifest_set(kinds)           the valid base objects of `kinds` plus 1-3 mutated ones
    to_yaml(docs)                 a multi-document YAML stream (JSON per document: exactly these types)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.schema import EXAMPLES, Target, kind_fields, kind_schema, mutate

__all__ = ["BASE", "EXAMPLES", "NETPOL_KINDS", "NS", "PSS_KINDS", "RBAC_KINDS", "SCAN_KINDS", "manifest_set",
           "mutated", "target", "to_yaml"]

NS = "fz"
RBAC_API = "rbac.authorization.k8s.io/v1"


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

def _workload(kind: str, name: str, port: int, **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": _pod_spec(name, port)}
    if kind in ("Job", "CronJob"):
        template["spec"]["restartPolicy"] = "OnFailure"
    body: dict[str, Any] = {"template": template, **spec}
    if kind != "Job":
        body["selector"] = {"matchLabels": {"app": name}}
    if kind == "CronJob":
        body = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": "batch/v1" if kind in ("Job", "CronJob") else "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": NS}, "spec": body}


BASE.update({
    "StatefulSet": _workload("StatefulSet", "cache", 6379, serviceName="cache", replicas=1),
    "DaemonSet": _workload("DaemonSet", "agent", 9100),
    "ReplicaSet": _workload("ReplicaSet", "legacy", 8081, replicas=1),
    "Job": _workload("Job", "migrate", 8082),
    "CronJob": _workload("CronJob", "backup", 8083),
    "ConfigMap": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
                  "data": {"LOG_LEVEL": "info", "patients.csv": "id,name\n1,A\n"},
                  "binaryData": {"logo": "aGVsbG8="}},
    "Secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds", "namespace": NS},
               "type": "Opaque", "data": {"password": "c2VjcmV0"}, "stringData": {"user": "app"}},
})
BASE["Service"]["spec"].update({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"],
                                "externalTrafficPolicy": "Local"})
BASE["Ingress"]["spec"]["tls"] = [{"hosts": ["web.example"], "secretName": "web-tls"}]
BASE["Ingress"]["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "true"}

NETPOL_KINDS = ("Namespace", "Deployment", "Pod", "Service", "Ingress", "NetworkPolicy", "StatefulSet",
                "DaemonSet", "Job", "CronJob", "ReplicaSet")
RBAC_KINDS = ("Namespace", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount",
              "Deployment", "Pod", "CronJob")
PSS_KINDS = ("Namespace", "Deployment", "Pod", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet")
SCAN_KINDS = tuple(BASE)
"""All 18 kinds."""


@cache
def target(kind: str) -> Target:
    """Every schema field of `kind`, those the base object has first."""
    return Target.of(kind_schema(kind), kind_fields(kind), BASE[kind])


@st.composite
def mutated(draw: st.DrawFn, kind: str, valid: bool = False) -> dict[str, Any]:
    """The base object of `kind` with one to three fields set to values of a wrong JSON type (with `valid`:
    to values the schema allows; unusual, but what the API server would store)."""
    doc = copy.deepcopy(BASE[kind])
    mutate(draw, doc, target(kind), valid=valid)
    return doc


@st.composite
def manifest_set(draw: st.DrawFn, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The valid base objects of `kinds`, plus one to three mutated objects (wrong-typed, or one in four
    schema-valid), renamed apart when they share a name so each is analysed rather than de-duplicated away."""
    docs = [copy.deepcopy(BASE[k]) for k in kinds]
    for i in range(draw(st.integers(1, 3))):
        bad = draw(mutated(draw(st.sampled_from(list(kinds))), valid=draw(st.integers(0, 3)) == 0))
        meta = bad.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            meta["name"] = f"{meta['name']}-bad{i}"
        docs.append(bad)
    return docs


_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\ufffe\uffff]")
"""Characters YAML allows only escaped (JSON writes them raw with `ensure_ascii=False`)."""


def to_yaml(docs: Sequence[Any]) -> str:
    """A multi-document stream, one JSON document each: valid YAML that keeps exactly the generated types.
    Characters stay literal (YAML refuses the surrogate-pair escapes JSON uses for non-BMP characters),
    except those YAML only takes escaped."""
    text = "".join(f"---\n{json.dumps(d, ensure_ascii=False)}\n" for d in docs)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
