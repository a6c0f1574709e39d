"""One object per kind, namespace and name: the same object defined twice is analysed once.

Real trees hold the same object more than once: a Kustomize base beside its overlays, two variants of one
app, a file copied into two folders. A cluster holds only one of them, and engines that key objects by
name (NetworkPolicies, RBAC roles) cannot answer for two at once, so a duplicate used to disable whole
checks. Here each duplicate is reported (one line naming both places) and the LAST definition is kept:
that is what `kubectl apply -f` of the same paths leaves in the cluster, since each apply of a later copy
replaces what the earlier one set. Paths are walked in sorted order, so the choice is deterministic; the
dropped copy is named, so a user who deploys it can scan its folder on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubehipaa.model import K8sObject
from kubehipaa.sources.api_scopes import BUILTIN_SCOPES
from kubehipaa.sources.namespaces import api_group, scope_of

REDEFINES = "redefines"
"""`K8sObject.extra` key of a kept object: the earlier definitions it replaced, in order."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """`dropped` is not analysed: `kept`, defined later with the same identity, is."""

    dropped: K8sObject
    kept: K8sObject

    @property
    def message(self) -> str:
        ns = f"{self.kept.namespace}/" if self.kept.namespace else ""
        same = "an identical copy" if self.dropped.doc == self.kept.doc else "a different definition"
        return (f"{self.kept.kind} {ns}{self.kept.name} is defined again at {self.kept.file}:{self.kept.line} "
                f"({same}); only that later one is analysed, as `kubectl apply` of both would leave it")


def object_key(obj: K8sObject) -> tuple[str, str, str | None, str] | None:
    """The identity the API server gives `obj`: (group, kind, namespace, name), or None if it has none.

    Built-in kinds are identified by kind alone (`extensions/v1beta1` and `apps/v1` Deployments are the
    same resource), other kinds by group and kind. Objects with only `generateName` get a fresh name on
    each create, and configuration files are not API objects: neither can collide.
    """
    meta = obj.doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    group = api_group(obj.api_version)
    if (group, obj.kind) in BUILTIN_SCOPES:
        group = ""
    elif scope_of(group, obj.kind, {}) is None:
        return None
    return (group, obj.kind, obj.namespace, obj.name)


def deduplicate(objects: Sequence[K8sObject]) -> tuple[list[K8sObject], list[Duplicate]]:
    """`objects` without earlier definitions of the same object (order kept), and what was dropped."""
    last: dict[tuple[str, str, str | None, str], int] = {}
    keys: list[tuple[str, str, str | None, str] | None] = []
    for i, obj in enumerate(objects):
        key = object_key(obj)
        keys.append(key)
        if key is not None:
            last[key] = i
    if len(last) == sum(k is not None for k in keys):
        return list(objects), []
    kept: list[K8sObject] = []
    dropped: list[Duplicate] = []
    for i, (obj, key) in enumerate(zip(objects, keys, strict=True)):
        if key is None or last[key] == i:
            kept.append(obj)
        else:
            winner = objects[last[key]]
            dropped.append(Duplicate(obj, winner))
            # Checks that explain an effect of the redefinition (labels the earlier copy set) can see it.
            winner.extra.setdefault(REDEFINES, []).append(obj)
    return kept, dropped
