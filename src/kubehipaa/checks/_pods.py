"""Shared, precomputed view of pod specs and containers for the workload, image and secret checks.

Why a helper: every container-level check needs the same three container lists, the same index-exact
evidence path (`spec.template.spec.containers[0]...`) and the same exemption for control-plane static
Pods, which the control-plane checks (KH-API/KH-KUB) judge by their own rules. Walking the specs once per
inventory, instead of once per check, keeps twenty container checks at one pass over 85k objects.

The exemption is decided by what a Pod is, never by labels or a name anyone can give it: the control-plane
engine's classifier (`kubehipaa.engines.controlplane.control_plane_verdict`) says what a control-plane static
Pod looks like, the same classifier that tells the KH-API checks which containers are API servers.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.controlplane import CONTROL_PLANE_NAMESPACE, is_static_control_plane
from kubehipaa.engines.controlplane import control_plane_verdict as control_plane_verdict  # for the checks
from kubehipaa.inventory import Inventory, PodSpecRef
from kubehipaa.model import K8sObject

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
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
    """A pod spec of a control-plane static Pod that is what it claims (`control_plane_verdict`); the same
    answer as `Inventory.control_plane.is_exempt`, from the same classifier."""
    return ps.owner.kind == "Pod" and is_static_control_plane(ps.owner)


def view(inv: Inventory) -> PodView:
    """The judged pod specs (control-plane static Pods excluded) and all their containers, built once."""
    cached = _VIEWS.get(inv)
    if cached is not None:
        return cached
    specs: list[PodSpecRef] = []
    ctrs: list[Container] = []
    for ps in inv.pod_specs:
        if ps.owner.kind == "Pod" and ps.owner.namespace == CONTROL_PLANE_NAMESPACE and is_control_plane_pod(ps):
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
