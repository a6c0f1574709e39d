"""What a cluster would hold after `kubectl apply` of some manifests: the live objects, with each manifest
object replacing the live one of the same identity (API group, kind, namespace, name) or added.

Used by `netpol diff --cluster FILES` (the connections an apply would add or remove). It models apply's
effect on *which* objects exist and what they say, not a field-level three-way merge: a manifest is taken
as the whole desired object, which is what the NetworkPolicy engine reads (spec.podSelector, rules, labels).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kubehipaa.model import K8sObject


def identity(obj: K8sObject) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name): the version is not part of an object's identity."""
    api_version = str(obj.doc.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    return group, obj.kind, obj.namespace or "", obj.name


def overlay(live: Sequence[K8sObject], manifests: Iterable[K8sObject]) -> list[K8sObject]:
    """`live` with `manifests` applied (replace by identity, else add), in live order then new ones."""
    changes = {identity(o): o for o in manifests}
    out = [changes.pop(identity(o), o) for o in live]
    out.extend(changes.values())
    return out
