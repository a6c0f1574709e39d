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


def identity_group(api_version: str, kind: str) -> str | None:
    """The group part of the identity of objects of this apiVersion and kind, or None if they have none.

    Built-in kinds are identified by kind alone (`extensions/v1beta1` and `apps/v1` Deployments are the
    same resource), other kinds by group and kind; configuration files are not API objects.
    """
    group = api_group(api_version)
    if (group, kind) in BUILTIN_SCOPES:
        return ""
    return None if scope_of(group, kind, {}) is None else group


def object_key(obj: K8sObject) -> tuple[str, str, str | None, str] | None:
    """The identity the API server gives `obj`: (group, kind, namespace, name), or None if it has none
    (objects with only `generateName` get a fresh name on each create: they never collide)."""
    group = identity_group(obj.api_version, obj.kind)
    meta = obj.doc.get("metadata")
    if group is None or not isinstance(meta, dict) or not meta.get("name"):
        return None
    return (group, obj.kind, obj.namespace, obj.name)


def deduplicate(objects: Sequence[K8sObject]) -> tuple[list[K8sObject], list[Duplicate]]:
    """`objects` without earlier definitions of the same object (order kept), and what was dropped.

    One pass with a dict insert per object (the group of each apiVersion/kind is resolved once); a second
    pass, rebuilding the list, only when there is a duplicate. ~1.5 µs per object (bench corpus, 90k objects).
    """
    groups: dict[tuple[str, str], str | None] = {}
    last: dict[tuple[str, str, str | None, str], int] = {}
    named = 0
    for i, obj in enumerate(objects):
        gk = (obj.api_version, obj.kind)
        try:
            group = groups[gk]
        except KeyError:
            group = groups[gk] = identity_group(*gk)
        if group is not None:
            meta = obj.doc.get("metadata")
            if meta.__class__ is dict and meta.get("name"):
                last[(group, obj.kind, obj.namespace, obj.name)] = i
                named += 1
    if len(last) == named:
        return list(objects), []
    kept: list[K8sObject] = []
    dropped: list[Duplicate] = []
    for i, obj in enumerate(objects):
        key = object_key(obj)
        if key is None or last[key] == i:
            kept.append(obj)
        else:
            winner = objects[last[key]]
            dropped.append(Duplicate(obj, winner))
            # Checks that explain an effect of the redefinition (labels the earlier copy set) can see it.
            winner.extra.setdefault(REDEFINES, []).append(obj)
    return kept, dropped
