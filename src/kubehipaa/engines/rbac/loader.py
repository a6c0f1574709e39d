"""Turn Kubernetes documents (dicts or `K8sObject`s) into the engine's Role and Binding records.

A Role or binding of the wrong shape (rules not a list, no roleRef, a subject that is not a mapping, a
number where a string belongs) is one the API server would refuse. `parse_role`/`parse_binding` raise
`InputError` naming the object and the field; `load_objects` leaves such an object out and records it in
`Loaded.skipped` (file, line, object, reason), so one malformed object no longer stops every answer. It is
never dropped silently: a skipped binding could hold the grant an access review is about, so every caller
reports it and the run exits 2.
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


@dataclass(frozen=True, slots=True)
class SkippedObject:
    """An RBAC object left out because it is malformed; `message` is one line naming it and why."""

    kind: str
    namespace: str
    name: str
    file: str
    line: int | None
    message: str
    obj: Any = field(default=None, compare=False, repr=False)


SKIPPED_EFFECT = "skipped, as the API server would refuse it: access is computed without it"


@dataclass(slots=True)
class Loaded:
    roles: list[Role] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    service_accounts: list[tuple[str, str, Origin]] = field(default_factory=list)
    """(namespace, name, origin) of every ServiceAccount object seen."""
    others: list[tuple[dict[str, Any], Origin]] = field(default_factory=list)
    """Non-RBAC documents kept for the escalation graph (Secrets, Namespaces, workloads)."""
    skipped: list[SkippedObject] = field(default_factory=list)
    """Roles and bindings left out because they are malformed, in input order."""


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
    name = meta.get("name")
    name = name if isinstance(name, str) and name else "<unnamed>"
    return f"{doc.get('kind')} {ns + '/' if isinstance(ns, str) and ns else ''}{name}"


def _fail(doc: dict[str, Any], origin: Origin, message: str) -> InputError:
    return InputError(f"{_where(doc)}: {message}", origin.file or None, origin.line or None)


def _str_list(doc: dict[str, Any], origin: Origin, value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(doc, origin, f"{path} must be a list of strings")
    return tuple(value)


def _str(doc: dict[str, Any], origin: Origin, value: Any, path: str) -> str:
    """A string field ("" if absent): a number or a list there is a type error, not text to guess from."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(doc, origin, f"{path} must be a string")
    return value


def _metadata(doc: dict[str, Any], origin: Origin) -> dict[str, Any]:
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise _fail(doc, origin, "metadata must be a map")
    meta = meta or {}
    if not _str(doc, origin, meta.get("name"), "metadata.name"):
        raise _fail(doc, origin, "metadata.name is required")
    _str(doc, origin, meta.get("namespace"), "metadata.namespace")
    return meta


def _str_map(doc: dict[str, Any], origin: Origin, value: Any, path: str) -> tuple[tuple[str, str], ...]:
    """Labels or annotations. Scalar values are read as their text (as before); a map that is not one is a
    type error, since aggregation selects ClusterRoles by their labels."""
    if value is None:
        return ()
    if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
        raise _fail(doc, origin, f"{path} must be a map of strings")
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
    meta = _metadata(doc, origin)
    name = str(meta["name"])
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
        labels=_str_map(doc, origin, meta.get("labels"), "metadata.labels"),
        aggregation_selectors=selectors,
        origin=origin,
    )


def parse_binding(doc: dict[str, Any], origin: Origin, order: int) -> Binding:
    meta = _metadata(doc, origin)
    name = str(meta["name"])
    kind = str(doc.get("kind"))
    ns = str(meta.get("namespace") or "") if kind == "RoleBinding" else ""
    if kind == "RoleBinding" and not ns:
        ns = "default"
    ref = doc.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("kind"):
        raise _fail(doc, origin, "roleRef with kind and name is required")
    for key in ("kind", "name", "apiGroup"):
        _str(doc, origin, ref.get(key), f"roleRef.{key}")
    raw_subjects = doc.get("subjects") or []
    if not isinstance(raw_subjects, list):
        raise _fail(doc, origin, "subjects must be a list")
    subjects = []
    for i, s in enumerate(raw_subjects):
        if not isinstance(s, dict) or not s.get("kind") or s.get("name") is None:
            raise _fail(doc, origin, f"subjects[{i}] needs kind and name")
        subjects.append(
            Subject(
                kind=_str(doc, origin, s["kind"], f"subjects[{i}].kind"),
                name=_str(doc, origin, s["name"], f"subjects[{i}].name"),
                namespace=_str(doc, origin, s.get("namespace"), f"subjects[{i}].namespace"),
                api_group=_str(doc, origin, s.get("apiGroup"), f"subjects[{i}].apiGroup"),
            )
        )
    return Binding(
        kind=kind,
        name=name,
        namespace=ns,
        role_ref=RoleRef(str(ref["kind"]), str(ref["name"]), str(ref.get("apiGroup") or "")),
        subjects=tuple(subjects),
        annotations=_str_map(doc, origin, meta.get("annotations"), "metadata.annotations"),
        labels=_str_map(doc, origin, meta.get("labels"), "metadata.labels"),
        origin=origin,
        order=order,
    )


def load_objects(objects: Iterable[Any]) -> Loaded:
    """Split documents into roles, bindings, service accounts and the rest (kept for escalation analysis).

    A malformed Role or binding is left out and recorded in `skipped`; the others are loaded."""
    out = Loaded()
    order = 0
    for obj in objects:
        doc, origin = _unwrap(obj)
        kind = doc.get("kind")
        if kind in RBAC_KINDS:
            try:
                if kind in ROLE_KINDS:
                    out.roles.append(parse_role(doc, origin))
                else:
                    out.bindings.append(parse_binding(doc, origin, order))
                    order += 1
            except InputError as exc:
                out.skipped.append(_skipped(doc, origin, exc.message))
            except (TypeError, AttributeError, ValueError) as exc:  # a wrong type no check above names
                out.skipped.append(_skipped(doc, origin, f"{_where(doc)}: malformed: {exc}"))
        elif kind == "ServiceAccount":
            meta = metadata_of(doc)
            if meta.get("name"):
                out.service_accounts.append((str(meta.get("namespace") or "default"), str(meta["name"]), origin))
        else:
            out.others.append((doc, origin))
    return out


def _skipped(doc: dict[str, Any], origin: Origin, reason: str) -> SkippedObject:
    """The record of a malformed object; `reason` already names it (`Role ns/name: rules must be a list`)."""
    meta = metadata_of(doc)
    kind = str(doc.get("kind"))
    name = meta.get("name")
    ns = meta.get("namespace")
    namespace = ns if isinstance(ns, str) else ""
    if kind in ("Role", "RoleBinding") and not namespace:
        namespace = "default"
    return SkippedObject(kind, "" if kind.startswith("Cluster") else namespace,
                         name if isinstance(name, str) else "", origin.file, origin.line or None,
                         f"{reason}; {SKIPPED_EFFECT}", origin.obj)
