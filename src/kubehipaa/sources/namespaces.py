"""The namespace a manifest object will live in: one rule, applied once when files are loaded.

Upstream manifests usually omit `metadata.namespace` and rely on `kubectl apply -n NS` (or the context's
namespace, `default`). If each check and engine guessed on its own, one file gave different answers
depending on which code path read it (a PSS verdict in `default`, a NetworkPolicy in no namespace, a
message saying `None/frontend-external`). So the file source writes the namespace into every namespaced
object the way kubectl does before it sends the object, and everything downstream reads the same thing:

* a namespaced object without a namespace is placed in `--namespace NS` if given, else `default`, and is
  marked `namespace_assumed` so reports can say the file itself did not pin it down;
* with an explicit `--namespace NS`, a namespaced object that names another namespace is refused, as
  `kubectl apply -n NS` refuses it (cli-runtime's RequireNamespace); it is still analysed, in its own
  namespace, and the run ends with exit 2;
* a cluster-scoped object that names a namespace loses it, as the API server drops it on create
  (apiserver registry/rest BeforeCreate).

Which kinds are namespaced: built-in kinds from `api_scopes.BUILTIN_SCOPES` (derived from the Kubernetes
OpenAPI paths), custom resources from the `spec.scope` of a CustomResourceDefinition in the same input.
A kind known to neither is taken as namespaced: most custom resources are, kubectl would look the CRD up in
the cluster, and placing it keeps it in the same namespace as the workloads it ships with. Kinds of the
component-configuration groups (EncryptionConfiguration, audit Policy, KubeletConfiguration, Kustomization,
...) and unknown kinds of built-in groups (e.g. a kubeconfig's `v1 Config`) are files, not API objects,
and are left alone.

Engines keep their own `or "default"` fallbacks for callers that build objects by hand; for loaded
manifests those fallbacks never fire any more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubehipaa.model import K8sObject
from kubehipaa.sources.api_scopes import BUILTIN_SCOPES

DEFAULT_NAMESPACE = "default"

BUILTIN_GROUPS = frozenset(group for group, _ in BUILTIN_SCOPES)
# Configuration files read by Kubernetes components and tools: they have an apiVersion and a kind, but are
# never created through the API, so they have no namespace. Besides these, any `*.config.k8s.io` group.
CONFIG_GROUPS = frozenset({
    "apiserver.k8s.io",  # AdmissionConfiguration (v1alpha1)
    "audit.k8s.io",  # audit Policy, Event, EventList
    "kubeadm.k8s.io",  # InitConfiguration, ClusterConfiguration, JoinConfiguration
    "client.authentication.k8s.io",  # ExecCredential
    "eventratelimit.admission.k8s.io",
    "apidiscovery.k8s.io",
})
CRD_GROUP = "apiextensions.k8s.io"


_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def namespace_name_error(name: str) -> str | None:
    """Why `name` cannot be a namespace (the API server's DNS-1123 label rule), or None if it can."""
    if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
        return (f"{name!r} is not a valid namespace name (lowercase letters, digits and '-', starting and ending "
                "with a letter or digit, at most 63 characters)")
    return None


def api_group(api_version: str) -> str:
    """The API group of an apiVersion: `apps/v1` -> `apps`, `v1` -> `` (the core group)."""
    return api_version.rpartition("/")[0]


def crd_scopes(objects: Iterable[K8sObject]) -> dict[tuple[str, str], bool]:
    """(group, kind) -> namespaced, from the CustomResourceDefinitions among `objects`.

    A CRD without a valid `spec.scope` counts as namespaced (the v1beta1 default; v1 requires the field).
    """
    out: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if obj.kind != "CustomResourceDefinition" or api_group(obj.api_version) != CRD_GROUP:
            continue
        spec = obj.doc.get("spec")
        if not isinstance(spec, dict):
            continue
        names = spec.get("names")
        group, kind = spec.get("group"), names.get("kind") if isinstance(names, dict) else None
        if isinstance(group, str) and isinstance(kind, str) and kind:
            out[(group, kind)] = spec.get("scope") != "Cluster"
    return out


def scope_of(group: str, kind: str, crds: dict[tuple[str, str], bool]) -> bool | None:
    """True if objects of this kind are namespaced, False if cluster-scoped, None if not an API object."""
    key = (group, kind)
    known = crds.get(key)
    if known is None:
        known = BUILTIN_SCOPES.get(key)
    if known is not None:
        return known
    if group in BUILTIN_GROUPS or group in CONFIG_GROUPS or group.endswith(".config.k8s.io"):
        return None
    return True


@dataclass(slots=True)
class Placement:
    """What `place` did: how many objects had their namespace assumed, and the objects it refused."""

    namespace: str
    assumed: int = 0
    mismatched: list[tuple[K8sObject, str]] = field(default_factory=list)
    """(object, message) for objects naming another namespace than an explicit `--namespace`."""


def place(objects: Sequence[K8sObject], namespace: str | None = None) -> Placement:
    """Put every namespaced object of `objects` in its namespace (in place), as `kubectl apply [-n]` would.

    `namespace` is the explicit `--namespace`; None means none was given (then `default` is used and an
    object naming another namespace is fine, as with a plain `kubectl apply`).
    """
    target = namespace or DEFAULT_NAMESPACE
    out = Placement(target)
    crds = crd_scopes(objects) if any(o.kind == "CustomResourceDefinition" for o in objects) else {}
    scopes: dict[tuple[str, str], bool | None] = {}  # per (apiVersion, kind): a few dozen distinct keys
    for obj in objects:
        key = (obj.api_version, obj.kind)
        namespaced = scopes.get(key, 0)
        if namespaced == 0:
            namespaced = scopes[key] = scope_of(api_group(obj.api_version), obj.kind, crds)
        if namespaced is None:
            continue
        if namespaced:
            if obj.namespace is None:
                meta = obj.doc.get("metadata")
                if meta is None:
                    meta = obj.doc["metadata"] = {}
                if not isinstance(meta, dict):
                    continue  # not an object the API server would accept; checks see it as it is
                meta["namespace"] = target
                obj.namespace = target
                obj.namespace_assumed = True
                out.assumed += 1
            elif namespace is not None and obj.namespace != namespace:
                out.mismatched.append((obj, (
                    f"{obj.kind} {obj.namespace}/{obj.name}: the namespace from the provided object "
                    f"{obj.namespace!r} does not match the namespace {namespace!r} "
                    f"(`kubectl apply -n {namespace}` refuses it); analysed in {obj.namespace!r}"
                )))
        elif obj.namespace is not None:
            meta = obj.doc.get("metadata")
            if isinstance(meta, dict):
                meta.pop("namespace", None)
            obj.namespace = None
    return out
