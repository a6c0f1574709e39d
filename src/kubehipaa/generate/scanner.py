"""The scanning identity's manifests: `generate scanner-rbac` and `generate cronjob`.

The ClusterRole is DERIVED from what the live source reads (`sources.cluster.KINDS`, `VERBS`, `NODES`,
`NODE_VERBS`), so adding a kind to the scan adds it here and the two cannot drift. It grants get/list and
nothing else: no write verb, no wildcard, no `watch`. Discovery (`/api`, `/apis/...`) and `/version` are
not in it: the default `system:discovery` and `system:public-info-viewer` ClusterRoles grant them to every
authenticated identity.

`list secrets` returns Secret values to the caller (the API has no metadata-only list for Secrets): the
scanner masks them on arrival (sources/cluster.py), but the identity can read them. `include_secrets=False`
leaves Secrets out; the scan then reports them `not-readable` (KH-SEC-008, KH-RBAC-012 not assessed).

The CronJob runs the scanner in the cluster it scans (the in-cluster service account) under the Pod
Security "restricted" profile: non-root, RuntimeDefault seccomp, no privilege escalation, every capability
dropped, read-only root filesystem (a memory-backed /tmp for Python). It mounts the service-account token
(it is the scanner's credential) and nothing else of the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubehipaa.generate.restricted import container_security_context, pod_security_context
from kubehipaa.sources.cluster import IN_CLUSTER_NAME_ENV, KINDS, NODE_VERBS, NODES, VERBS

DEFAULT_NAME = "kubehipaa-scanner"
DEFAULT_NAMESPACE = "kubehipaa"
DEFAULT_SCHEDULE = "17 3 * * *"
"""Daily at 03:17: off the hour, so many clusters' scanners do not all start on the same minute."""
HISTORY_ENV = "KUBEHIPAA_HISTORY_URL"
REPORTS_DIR = "/history"
LABELS = {"app.kubernetes.io/name": "kubehipaa", "app.kubernetes.io/component": "scanner"}
RBAC_API = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who the ClusterRoleBinding grants the role to: a ServiceAccount (namespace/name), a User or a Group."""

    kind: str
    name: str
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "ServiceAccount":
            return {"kind": "ServiceAccount", "name": self.name, "namespace": self.namespace}
        return {"apiGroup": RBAC_API, "kind": self.kind, "name": self.name}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(LABELS)
    return meta


def scanner_rules(include_secrets: bool = True) -> list[dict[str, Any]]:
    """get/list on every kind the scan lists, one rule per API group in KINDS order; list on nodes."""
    by_group: dict[str, list[str]] = {}
    for spec in KINDS:
        if spec.kind == "Secret" and not include_secrets:
            continue
        by_group.setdefault(spec.group, []).append(spec.plural)
    rules = [{"apiGroups": [group], "resources": plurals, "verbs": list(VERBS)} for group, plurals in by_group.items()]
    rules.insert(1 if rules and rules[0]["apiGroups"] == [NODES.group] else 0,
                 {"apiGroups": [NODES.group], "resources": [NODES.plural], "verbs": list(NODE_VERBS)})
    return rules


def scanner_cluster_role(name: str = DEFAULT_NAME, include_secrets: bool = True) -> dict[str, Any]:
    """The least-privilege ClusterRole of the scanning identity (module docstring)."""
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRole", "metadata": _meta(name),
            "rules": scanner_rules(include_secrets)}


def scanner_binding(subjects: list[Subject], name: str = DEFAULT_NAME) -> dict[str, Any]:
    """A ClusterRoleBinding of the ClusterRole `name` to `subjects` (at least one)."""
    if not subjects:
        raise ValueError("a ClusterRoleBinding needs at least one subject")
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": name},
            "subjects": [s.to_dict() for s in subjects]}


def scanner_rbac(subjects: list[Subject] | None = None, name: str = DEFAULT_NAME,
                 include_secrets: bool = True) -> list[dict[str, Any]]:
    """The ClusterRole, plus its ClusterRoleBinding when subjects are given."""
    docs = [scanner_cluster_role(name, include_secrets)]
    if subjects:
        docs.append(scanner_binding(subjects, name))
    return docs


@dataclass(frozen=True, slots=True)
class HistoryTarget:
    """Where each run is saved (`scan --save --history-url`, docs/history.md): the URL comes from a Secret's key
    (`secret`), or is given as `url` when it holds no credential (the CLI refuses one with a password)."""

    secret: str | None = None
    key: str = "url"
    url: str | None = None

    def env(self) -> dict[str, Any]:
        if self.secret is not None:
            return {"name": HISTORY_ENV, "valueFrom": {"secretKeyRef": {"name": self.secret, "key": self.key}}}
        return {"name": HISTORY_ENV, "value": self.url or ""}


@dataclass(frozen=True, slots=True)
class CronJobOptions:
    image: str
    namespace: str = DEFAULT_NAMESPACE
    name: str = DEFAULT_NAME
    schedule: str = DEFAULT_SCHEDULE
    cluster_name: str | None = None
    """The name locations carry (`cluster:<name>/...`); without it, `in-cluster`."""
    create_namespace: bool = False
    history: HistoryTarget | None = None
    pvc: str = "kubehipaa-reports"
    pvc_size: str | None = "1Gi"
    """Without `history`: the JSON reports go to this claim; a size emits the claim too (None: it exists)."""
    include_secrets: bool = True


def scanner_cronjob(opts: CronJobOptions) -> list[dict[str, Any]]:
    """Namespace (optional), ServiceAccount, ClusterRole, ClusterRoleBinding, PVC (no history) and CronJob."""
    docs: list[dict[str, Any]] = []
    if opts.create_namespace:
        meta = _meta(opts.namespace)
        meta["labels"].update({f"pod-security.kubernetes.io/{mode}": "restricted"
                               for mode in ("enforce", "audit", "warn")})
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(opts.name, opts.namespace),
                 "automountServiceAccountToken": False})
    docs.extend(scanner_rbac([Subject("ServiceAccount", opts.name, opts.namespace)], opts.name, opts.include_secrets))
    if opts.history is None and opts.pvc_size:
        docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(opts.pvc, opts.namespace),
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": opts.pvc_size}}}})
    docs.append(_cronjob(opts))
    return docs


def _cronjob(opts: CronJobOptions) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    if opts.cluster_name:
        env.append({"name": IN_CLUSTER_NAME_ENV, "value": opts.cluster_name})
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    # --fail-on never: findings are the run's result, not a failed Job (a failed Job is retried and alerts as
    # a broken scanner); lost input (a kind the role cannot list, exit 2) still fails the Job.
    args = ["scan", "--cluster", "--fail-on", "never", "--format", "json"]
    if opts.history is not None:
        env.append(opts.history.env())
        # $(VAR) is expanded by the kubelet from the container's env: the URL stays in the Secret.
        args += ["--save", "--history-url", f"$({HISTORY_ENV})", "--output", "/tmp/report.json"]
    else:
        volumes.append({"name": "history", "persistentVolumeClaim": {"claimName": opts.pvc}})
        mounts.append({"name": "history", "mountPath": REPORTS_DIR})
        # The Job's pod name is unique per run (<cronjob>-<scheduled minute>-<suffix>): one report file per run.
        args += ["--output", f"{REPORTS_DIR}/$(POD_NAME).json"]
    container = {
        "name": "scanner",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["kubehipaa"],
        "args": args,
        "env": env,
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    pod_spec = {
        "serviceAccountName": opts.name,
        # The scanner's credential: the projected, expiring service-account token (the ServiceAccount
        # itself does not automount it into other pods).
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": volumes,
    }
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(opts.name, opts.namespace),
        "spec": {
            "schedule": opts.schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": dict(LABELS)}, "spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": 3600,
                "template": {"metadata": {"labels": dict(LABELS)}, "spec": pod_spec},
            }},
        },
    }
