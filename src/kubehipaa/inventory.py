"""The indexed set of scanned objects, and the views every check needs, derived once.

Checks must not re-walk the object list for pod specs or namespace labels: on 85k objects that would
multiply the scan time by the number of checks. The inventory builds these views lazily, once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kubehipaa.config import Config
from kubehipaa.model import K8sObject, ResourceRef
from kubehipaa.workload_kinds import POD_TEMPLATE_PATHS


@dataclass(frozen=True, slots=True)
class PodSpecRef:
    """A pod spec found in a Pod or a workload template.

    `path` is the dotted path of the spec inside the owner (for evidence), `template_meta` the template's
    metadata (labels and annotations the pods will carry).
    """

    owner: K8sObject
    spec: dict[str, Any]
    path: str
    template_meta: dict[str, Any]

    @property
    def namespace(self) -> str | None:
        return self.owner.namespace

    def containers(self, include_init: bool = True, include_ephemeral: bool = True) -> list[tuple[str, dict]]:
        """(field name, container) pairs across all container lists, e.g. ("initContainers", {...})."""
        out: list[tuple[str, dict]] = []
        fields = ["containers"]
        if include_init:
            fields.append("initContainers")
        if include_ephemeral:
            fields.append("ephemeralContainers")
        for name in fields:
            for c in self.spec.get(name) or ():
                if isinstance(c, dict):
                    out.append((name, c))
        return out


def pod_spec_of(obj: K8sObject) -> PodSpecRef | None:
    """The pod spec carried by `obj`, if it is a Pod or a workload with a pod template (`POD_TEMPLATE_PATHS`)."""
    keys = POD_TEMPLATE_PATHS.get(obj.kind)
    if keys is None:
        return None
    node: Any = obj.doc
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    if not isinstance(node, dict):
        return None
    spec = node.get("spec")
    if not isinstance(spec, dict):
        return None
    meta: dict[str, Any] = node["metadata"] if isinstance(node.get("metadata"), dict) else {}
    return PodSpecRef(obj, spec, ".".join((*keys, "spec")), meta)


class Inventory:
    """Objects indexed by kind/namespace/name, plus derived views."""

    def __init__(self, objects: list[K8sObject], config: Config | None = None) -> None:
        self.objects = objects
        self.config = config or Config()
        by_kind: dict[str, list[K8sObject]] = defaultdict(list)
        index: dict[tuple[str, str | None, str], K8sObject] = {}
        for obj in objects:
            by_kind[obj.kind].append(obj)
            index[(obj.kind, obj.namespace, obj.name)] = obj
        self._by_kind = dict(by_kind)
        self._index = index
        self._refs: dict[int, tuple[K8sObject, ResourceRef]] = {}

    def ref(self, obj: K8sObject) -> ResourceRef:
        """`obj.ref`, built once per object: an object with many findings shares one (immutable) ref."""
        entry = self._refs.get(id(obj))
        if entry is None or entry[0] is not obj:
            entry = self._refs[id(obj)] = (obj, obj.ref)  # holding obj keeps its id from being reused
        return entry[1]

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        out: list[K8sObject] = []
        for kind in kinds:
            out.extend(self._by_kind.get(kind, ()))
        return out

    @property
    def kinds(self) -> set[str]:
        return set(self._by_kind)

    def get(self, kind: str, namespace: str | None, name: str) -> K8sObject | None:
        return self._index.get((kind, namespace, name))

    @cached_property
    def pod_specs(self) -> list[PodSpecRef]:
        out = []
        for kind in POD_TEMPLATE_PATHS:
            for obj in self._by_kind.get(kind, ()):
                ref = pod_spec_of(obj)
                if ref is not None:
                    out.append(ref)
        return out

    @cached_property
    def namespaces(self) -> dict[str, K8sObject]:
        return {obj.name: obj for obj in self._by_kind.get("Namespace", ())}

    @cached_property
    def namespace_names(self) -> set[str]:
        """Every namespace mentioned: declared Namespace objects and namespaces of namespaced objects."""
        names = set(self.namespaces)
        names.update(obj.namespace for obj in self.objects if obj.namespace)
        return names

    def namespace_labels(self, namespace: str | None) -> dict[str, str]:
        if not namespace:
            return {}
        ns = self.namespaces.get(namespace)
        labels = dict(ns.labels) if ns is not None else {}
        labels.setdefault("kubernetes.io/metadata.name", namespace)
        return labels

    @cached_property
    def phi_namespaces(self) -> frozenset[str]:
        """Namespaces that hold PHI: named in the config, or labelled with the configured selector."""
        phi = set(self.config.phi.namespaces)
        selector = self.config.phi.selector
        if selector:
            for name, ns in self.namespaces.items():
                labels = ns.labels
                if all(str(labels.get(k)) == v for k, v in selector.items()):
                    phi.add(name)
        return frozenset(phi)

    def is_phi(self, namespace: str | None) -> bool:
        return bool(namespace) and namespace in self.phi_namespaces
