"""Shared walking of pod specs for the workload, image and secret checks.

Why a helper: every container-level check needs the same three container lists, the same index-exact
evidence path (`spec.template.spec.containers[0]...`) and the same exemption for control-plane static
Pods, which the control-plane checks (KH-API/KH-KUB) judge by their own rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubehipaa.inventory import Inventory, PodSpecRef

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")
CONTROL_PLANE_COMPONENTS = frozenset({"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_control_plane_pod(ps: PodSpecRef) -> bool:
    """A kubeadm-style static Pod of a control-plane component in kube-system (host access is by design)."""
    owner = ps.owner
    if owner.kind != "Pod" or owner.namespace != "kube-system":
        return False
    labels = owner.labels
    if labels.get("tier") == "control-plane" or labels.get("component") in CONTROL_PLANE_COMPONENTS:
        return True
    for c in ps.spec.get("containers") or ():
        if isinstance(c, dict):
            cmd = c.get("command")
            first = str(cmd[0]) if isinstance(cmd, list) and cmd else ""
            if first.rsplit("/", 1)[-1] in CONTROL_PLANE_COMPONENTS:
                return True
    return False


def workload_specs(inv: Inventory) -> Iterator[PodSpecRef]:
    """Pod specs the workload checks judge: every Pod and template except control-plane static Pods."""
    for ps in inv.pod_specs:
        if not is_control_plane_pod(ps):
            yield ps


def containers(
    ps: PodSpecRef, fields: tuple[str, ...] = CONTAINER_FIELDS
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(evidence path of the container, container) for every container in `fields`."""
    spec = ps.spec
    for name in fields:
        items = spec.get(name)
        if not isinstance(items, list):
            continue
        for i, c in enumerate(items):
            if isinstance(c, dict):
                yield f"{ps.path}.{name}[{i}]", c


def security_context(c: dict[str, Any]) -> dict[str, Any]:
    return as_dict(c.get("securityContext"))


def cname(c: dict[str, Any]) -> str:
    return str(c.get("name") or "?")
