"""Shared, precomputed view of pod specs and containers for the workload, image and secret checks.

Why a helper: every container-level check needs the same three container lists, the same index-exact
evidence path (`spec.template.spec.containers[0]...`) and the same exemption for control-plane static
Pods, which the control-plane checks (KH-API/KH-KUB) judge by their own rules. Walking the specs once per
inventory, instead of once per check, keeps twenty container checks at one pass over 85k objects.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from kubehipaa.inventory import Inventory, PodSpecRef
from kubehipaa.model import K8sObject

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")
CONTROL_PLANE_COMPONENTS = frozenset({"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"})
_EMPTY: dict[str, Any] = {}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


@dataclass(slots=True)
class Container:
    """One container of one pod spec, with what nearly every check reads already looked up."""

    owner: K8sObject
    spec: PodSpecRef
    field: str  # containers | initContainers | ephemeralContainers
    path: str  # evidence path of the container, e.g. spec.template.spec.containers[0]
    c: dict[str, Any]
    sc: dict[str, Any]  # the container's securityContext ({} when unset)
    pod_sc: dict[str, Any]  # the pod's securityContext ({} when unset)
    windows: bool  # spec.os.name == windows: Linux-only fields are invalid, PSS skips their checks
    user_ns: bool  # spec.hostUsers == false: UID 0 maps to an unprivileged host UID (PSS >= v1.35)

    @property
    def name(self) -> str:
        return str(self.c.get("name") or "?")


@dataclass(slots=True)
class PodView:
    specs: list[PodSpecRef]
    containers: list[Container]


_VIEWS: weakref.WeakKeyDictionary[Inventory, PodView] = weakref.WeakKeyDictionary()


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


def view(inv: Inventory) -> PodView:
    """The judged pod specs (control-plane static Pods excluded) and all their containers, built once."""
    cached = _VIEWS.get(inv)
    if cached is not None:
        return cached
    specs: list[PodSpecRef] = []
    ctrs: list[Container] = []
    for ps in inv.pod_specs:
        if ps.owner.kind == "Pod" and ps.owner.namespace == "kube-system" and is_control_plane_pod(ps):
            continue
        specs.append(ps)
        spec = ps.spec
        pod_sc = as_dict(spec.get("securityContext"))
        windows = as_dict(spec.get("os")).get("name") == "windows"
        user_ns = spec.get("hostUsers") is False
        for field in CONTAINER_FIELDS:
            items = spec.get(field)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    ctrs.append(Container(ps.owner, ps, field, f"{ps.path}.{field}[{i}]", c,
                                          as_dict(c.get("securityContext")), pod_sc, windows, user_ns))
    result = PodView(specs, ctrs)
    _VIEWS[inv] = result
    return result


def workload_specs(inv: Inventory) -> list[PodSpecRef]:
    """Pod specs the workload checks judge: every Pod and template except control-plane static Pods."""
    return view(inv).specs


def all_containers(inv: Inventory) -> list[Container]:
    return view(inv).containers
