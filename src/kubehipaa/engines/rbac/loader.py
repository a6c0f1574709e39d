"""Turn Kubernetes documents (dicts or `K8sObject`s) into the engine's Role and Binding records.

Bad shapes raise `InputError` naming the file, line and object, because a silently skipped rule would make an
access review look tighter than the cluster really is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.rbac.types import Binding, Origin, PolicyRule, Role, RoleRef, Subject
from kubehipaa.errors import InputError

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
RBAC_KINDS = ROLE_KINDS + BINDING_KINDS


@dataclass(slots=True)
class Loaded:
    roles: list[Role] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    service_accounts: list[tuple[str, str, Origin]] = field(default_factory=list)
    """(namespace, name, origin) of every ServiceAccount object seen."""
    others: list[tuple[dict[str, Any], Origin]] = field(default_factory=list)
    """Non-RBAC documents kept for the escalation graph (Secrets, Namespaces, workloads)."""


def _unwrap(obj: Any) -> tuple[dict[str, Any], Origin]:
    doc = getattr(obj, "doc", None)
    if isinstance(doc, dict):
        return doc, Origin(str(getattr(obj, "file", "") or ""), int(getattr(obj, "line", 0) or 0), obj)
    if isinstance(obj, dict):
        return obj, Origin("", 0, obj)
    raise InputError(f"not a Kubernetes object: {type(obj).__name__}")


def metadata_of(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _where(doc: dict[str, Any]) -> str:
    meta = metadata_of(doc)
    ns = meta.get("namespace")
    name = meta.get("name", "<unnamed>")
    return f"{doc.get('kind')} {ns + '/' if ns else ''}{name}"


def _fail(doc: dict[str, Any], origin: Origin, message: str) -> InputError:
    return InputError(f"{_where(doc)}: {message}", origin.file or None, origin.line or None)


def _str_list(doc: dict[str, Any], origin: Origin, value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float | bool) for v in value):
        raise _fail(doc, origin, f"{path} must be a list of strings")
    return tuple(str(v) for v in value)


def _str_map(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((str(k), "" if v is None else str(v)) for k, v in value.items()))


def parse_rules(doc: dict[str, Any], origin: Origin) -> tuple[PolicyRule, ...]:
    raw = doc.get("rules")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(doc, origin, "rules must be a list")
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            raise _fail(doc, origin, f"rules[{i}] must be a map")
        out.append(
            PolicyRule(
                verbs=_str_list(doc, origin, r.get("verbs"), f"rules[{i}].verbs"),
                api_groups=_str_list(doc, origin, r.get("apiGroups"), f"rules[{i}].apiGroups"),
                resources=_str_list(doc, origin, r.get("resources"), f"rules[{i}].resources"),
                resource_names=_str_list(doc, origin, r.get("resourceNames"), f"rules[{i}].resourceNames"),
                non_resource_urls=_str_list(doc, origin, r.get("nonResourceURLs"), f"rules[{i}].nonResourceURLs"),
            )
        )
    return tuple(out)


def parse_role(doc: dict[str, Any], origin: Origin) -> Role:
    meta = metadata_of(doc)
    name = str(meta.get("name") or "")
    if not name:
        raise _fail(doc, origin, "metadata.name is required")
    kind = str(doc.get("kind"))
    ns = str(meta.get("namespace") or "") if kind == "Role" else ""
    if kind == "Role" and not ns:
        # Files often omit the namespace and rely on `kubectl apply -n`; upstream would place it in "default".
        ns = "default"
    selectors: tuple[dict[str, Any], ...] | None = None
    agg = doc.get("aggregationRule")
    if kind == "ClusterRole" and agg is not None:
        if not isinstance(agg, dict):
            raise _fail(doc, origin, "aggregationRule must be a map")
        sels = agg.get("clusterRoleSelectors") or []
        if not isinstance(sels, list) or not all(isinstance(s, dict) for s in sels):
            raise _fail(doc, origin, "aggregationRule.clusterRoleSelectors must be a list of label selectors")
        selectors = tuple(sels)
    return Role(
        kind=kind,
        name=name,
        namespace=ns,
        rules=parse_rules(doc, origin),
        labels=_str_map(meta.get("labels")),
        aggregation_selectors=selectors,
        origin=origin,
    )


def parse_binding(doc: dict[str, Any], origin: Origin, order: int) -> Binding:
    meta = metadata_of(doc)
    name = str(meta.get("name") or "")
    if not name:
        raise _fail(doc, origin, "metadata.name is required")
    kind = str(doc.get("kind"))
    ns = str(meta.get("namespace") or "") if kind == "RoleBinding" else ""
    if kind == "RoleBinding" and not ns:
        ns = "default"
    ref = doc.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("kind"):
        raise _fail(doc, origin, "roleRef with kind and name is required")
    raw_subjects = doc.get("subjects") or []
    if not isinstance(raw_subjects, list):
        raise _fail(doc, origin, "subjects must be a list")
    subjects = []
    for i, s in enumerate(raw_subjects):
        if not isinstance(s, dict) or not s.get("kind") or s.get("name") is None:
            raise _fail(doc, origin, f"subjects[{i}] needs kind and name")
        subjects.append(
            Subject(
                kind=str(s["kind"]),
                name=str(s["name"]),
                namespace=str(s.get("namespace") or ""),
                api_group=str(s.get("apiGroup") or ""),
            )
        )
    return Binding(
        kind=kind,
        name=name,
        namespace=ns,
        role_ref=RoleRef(str(ref["kind"]), str(ref["name"]), str(ref.get("apiGroup") or "")),
        subjects=tuple(subjects),
        annotations=_str_map(meta.get("annotations")),
        labels=_str_map(meta.get("labels")),
        origin=origin,
        order=order,
    )


def load_objects(objects: Iterable[Any]) -> Loaded:
    """Split documents into roles, bindings, service accounts and the rest (kept for escalation analysis)."""
    out = Loaded()
    order = 0
    for obj in objects:
        doc, origin = _unwrap(obj)
        kind = doc.get("kind")
        if kind in ROLE_KINDS:
            out.roles.append(parse_role(doc, origin))
        elif kind in BINDING_KINDS:
            out.bindings.append(parse_binding(doc, origin, order))
            order += 1
        elif kind == "ServiceAccount":
            meta = metadata_of(doc)
            if meta.get("name"):
                out.service_accounts.append((str(meta.get("namespace") or "default"), str(meta["name"]), origin))
        else:
            out.others.append((doc, origin))
    return out
