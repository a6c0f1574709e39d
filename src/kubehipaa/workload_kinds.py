"""Where each kind keeps its pod template: the one table every layer reads.

The Inventory, the Pod Security, NetworkPolicy and RBAC engines, and the audit-log detections all need to
find the pod spec inside a workload. Written once per module, the copies drifted (one forgot PodTemplate,
one ReplicationController); a kind added here is now seen by all of them. A leaf module (it imports
nothing from kubehipaa) so engines, which must stay pure, and the Inventory can both import it.

The kinds are upstream's: pod-security-admission's `DefaultPodSpecExtractor` judges exactly these nine
(pods, podtemplates, replicationcontrollers, replicasets, deployments, statefulsets, daemonsets, jobs,
cronjobs), each with its template at the path below.
"""

from __future__ import annotations

POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}
"""kind -> keys from the object root to the {metadata, spec} of its pods; () for a Pod, which is its own.

The order is the Inventory's scan order (Pods first), so findings keep a stable order."""

WORKLOAD_KINDS: frozenset[str] = frozenset(POD_TEMPLATE_PATHS)
"""Every kind that carries a pod spec, as pod-security-admission judges them."""

RUNS_PODS: frozenset[str] = WORKLOAD_KINDS - {"PodTemplate"}
"""Kinds whose objects are, or make, running pods. A PodTemplate object only stores a template: no built-in
controller creates pods from it, so it is no network peer and no pod anyone can exec into."""

CONTROLLER_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    kind: path for kind, path in POD_TEMPLATE_PATHS.items() if kind in RUNS_PODS and kind != "Pod"
}
"""The controllers among them (Deployment, ..., CronJob): kinds that create pods from their template."""

POD_SPEC_PATHS: tuple[tuple[str, ...], ...] = tuple(
    dict.fromkeys((*path, "spec") for path in POD_TEMPLATE_PATHS.values())
)
"""The distinct paths to a pod spec, Pod's first: for bodies whose kind is not known (audit requestObjects
of hand-written or trimmed events)."""


def pod_spec_path(kind: str) -> tuple[str, ...] | None:
    """Keys from the object root to the pod spec of `kind`, or None when the kind carries none."""
    path = POD_TEMPLATE_PATHS.get(kind)
    return None if path is None else (*path, "spec")
