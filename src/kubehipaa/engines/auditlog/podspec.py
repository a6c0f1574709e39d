"""Facts about Pods and RBAC rules read from audit request bodies (requestObject).

Only what the detections need, tolerant of partial bodies (hand-written test events, trimmed exports):
every accessor returns an empty answer rather than raising on an unexpected shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubehipaa.workload_kinds import POD_SPEC_PATHS, pod_spec_path

SENSITIVE_HOST_PATHS = (
    "/",
    "/proc",
    "/sys",
    "/etc",
    "/root",
    "/home",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/crio/crio.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/var/lib/kubelet",
    "/var/lib/kubelet/pki",
    "/etc/kubernetes",
    "/etc/kubernetes/manifests",
    "/var/lib/etcd",
    "/var/log",
)
"""Host paths whose mount gives node-level credentials or control (Falco's list plus etcd data and logs)."""

DANGEROUS_CAPABILITIES = frozenset(
    {"ALL", "SYS_ADMIN", "NET_ADMIN", "BPF", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH",
     "SYS_BOOT", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE"}
)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _at(node: Any, path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        node = _d(node).get(key)
    return _d(node)


def pod_spec(body: Any) -> dict[str, Any]:
    """The pod spec of a request body, where `kubehipaa.workload_kinds` says its kind keeps it (a Pod's
    `spec`, a Deployment's `spec.template.spec`, a CronJob's `spec.jobTemplate.spec.template.spec`).

    A body without a kind we know (trimmed exports, hand-written events) is read at the first pod template
    it holds, else at `spec`. A Pod is never read through a `spec.template` it cannot have: the API server
    runs its `spec`, and a decoy template must not hide a privileged container."""
    body = _d(body)
    kind = body.get("kind")
    path = pod_spec_path(kind) if isinstance(kind, str) else None
    if path is not None:
        return _at(body, path)
    for path in POD_SPEC_PATHS:
        template = _at(body, path[:-1]) if len(path) > 1 else None
        if template:
            return _d(template.get("spec"))
    return _d(body.get("spec"))


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, container) for containers, initContainers and ephemeralContainers."""
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for i, c in enumerate(_l(spec.get(key))):
            if isinstance(c, dict):
                yield f"spec.{key}[{i}]", c


def host_namespaces(spec: dict[str, Any]) -> list[str]:
    return [f"spec.{k}" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]


def host_paths(spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for v in _l(spec.get("volumes")):
        hp = _d(_d(v).get("hostPath"))
        if hp:
            out.append(str(hp.get("path") or ""))
    return out


def is_sensitive_host_path(path: str) -> bool:
    norm = path.rstrip("/") or "/"
    return any(norm == s or (s != "/" and norm.startswith(s + "/")) for s in SENSITIVE_HOST_PATHS)


def images(spec: dict[str, Any]) -> list[str]:
    return [str(c.get("image") or "") for _p, c in containers(spec)]


# -- RBAC bodies -------------------------------------------------------------------------------------------


RULE_LISTS = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
"""The `[]string` fields of an RBAC PolicyRule."""


def role_rules(body: Any) -> list[dict[str, list[str]]]:
    """The `rules` of a Role/ClusterRole body, typed once here so no rule has to: each rule a mapping of
    `RULE_LISTS` to lists of strings. A field of another type reads as empty and a non-string item is
    dropped (the API server refuses such a body, so it granted nothing)."""
    out: list[dict[str, list[str]]] = []
    for r in _l(_d(body).get("rules")):
        if isinstance(r, dict):
            out.append({key: [x for x in _l(r.get(key)) if isinstance(x, str)] for key in RULE_LISTS})
    return out


def rule_grants(rules: list[dict[str, list[str]]], resource: str, verbs: set[str]) -> bool:
    """Whether any rule grants one of `verbs` on `resource` (wildcards honoured, API group not checked)."""
    for r in rules:
        res = set(r["resources"])
        vs = set(r["verbs"])
        base = resource.split("/")[0]
        res_ok = "*" in res or resource in res or (("/" in resource) and f"{base}/*" in res)
        if res_ok and ("*" in vs or vs & verbs):
            return True
    return False


def role_ref_name(body: Any) -> str:
    return str(_d(_d(body).get("roleRef")).get("name") or "")
