"""Shared, precomputed view of pod specs and containers for the workload, image and secret checks.

Why a helper: every container-level check needs the same three container lists, the same index-exact
evidence path (`spec.template.spec.containers[0]...`) and the same exemption for control-plane static
Pods, which the control-plane checks (KH-API/KH-KUB) judge by their own rules. The walk over the specs is
the Inventory's `pod_view`, built once, so twenty container checks cost one pass over 85k objects.

The exemption is decided by what a Pod is, never by labels or a name anyone can give it: the control-plane
engine's classifier (`kubehipaa.engines.controlplane.control_plane_verdict`) says what a control-plane static
Pod looks like, the same classifier that tells the KH-API checks which containers are API servers; the
Inventory's `control_plane.is_exempt` is its answer.
"""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.controlplane import CONTROL_PLANE_NAMESPACE as CONTROL_PLANE_NAMESPACE
from kubehipaa.inventory import Container, Inventory, PodSpecRef, PodView

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
_EMPTY: dict[str, Any] = {}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def view(inv: Inventory) -> PodView:
    """The judged pod specs (control-plane static Pods excluded) and all their containers: the Inventory's
    `pod_view`, built once."""
    return inv.pod_view


def workload_specs(inv: Inventory) -> list[PodSpecRef]:
    """Pod specs the workload checks judge: every Pod and template except control-plane static Pods."""
    return view(inv).specs


def all_containers(inv: Inventory) -> list[Container]:
    return view(inv).containers
