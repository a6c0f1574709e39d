"""AdmissionReview bodies as the API server sends them (admission.k8s.io/v1)."""

from __future__ import annotations

import copy
from typing import Any

DIGEST = "registry.example.org/ehr/api:1.4.2@sha256:" + "a" * 64
LABELS = {"app.kubernetes.io/name": "ehr-api"}


def review(obj: dict[str, Any] | None, *, operation: str = "CREATE", namespace: str = "clinical",
           old: dict[str, Any] | None = None, dry_run: bool = False, sub: str = "",
           uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002") -> dict[str, Any]:
    kind = (obj or old or {}).get("kind", "Pod")
    req: dict[str, Any] = {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": kind.lower() + "s"},
        "requestKind": {"group": "", "version": "v1", "kind": kind},
        "name": ((obj or old or {}).get("metadata") or {}).get("name", ""), "namespace": namespace,
        "operation": operation, "userInfo": {"username": "admin", "groups": ["system:authenticated"]},
        "object": obj, "oldObject": old, "dryRun": dry_run, "options": None,
    }
    if sub:
        req["subResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def restricted_spec(image: str = DIGEST) -> dict[str, Any]:
    """A pod spec that passes Pod Security `restricted` and every deny rule."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "api", "image": image,
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
        }],
    }


def pod(name: str = "ehr-api-0", *, privileged: bool = False, labels: dict[str, str] | None = None,
        namespace: str | None = None) -> dict[str, Any]:
    spec = restricted_spec()
    if privileged:
        spec["containers"][0]["securityContext"]["privileged"] = True
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS if labels is None else labels)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def deployment(*, privileged: bool = False) -> dict[str, Any]:
    p = pod(privileged=privileged)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ehr-api", "labels": dict(LABELS)},
            "spec": {"replicas": 2, "selector": {"matchLabels": dict(LABELS)},
                     "template": {"metadata": {"labels": dict(LABELS)}, "spec": p["spec"]}}}


def cronjob(*, host_pid: bool = False) -> dict[str, Any]:
    spec = copy.deepcopy(restricted_spec())
    spec["restartPolicy"] = "OnFailure"
    if host_pid:
        spec["hostPID"] = True
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly-export", "labels": dict(LABELS)},
            "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": dict(LABELS)}, "spec": spec}}}}}
