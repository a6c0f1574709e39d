"""Plain records for the RBAC engine: rules, subjects, roles, bindings, requests and decisions.

They mirror `k8s.io/api/rbac/v1` and the authorizer's request attributes closely enough that the matching code
reads like the upstream rules it reproduces, but they are immutable Python values so an index built from them
can be shared and cached without defensive copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERB_ALL = "*"
API_GROUP_ALL = "*"
RESOURCE_ALL = "*"
NON_RESOURCE_ALL = "*"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One entry of a Role's `rules`; empty tuples stand for absent or empty lists (upstream treats them alike)."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self.api_groups:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        out["verbs"] = list(self.verbs)
        return out

    def compact(self) -> str:
        """A short one-line rendering used in reasons and reports."""
        parts = []
        if self.api_groups:
            parts.append("apiGroups=" + ",".join(repr(g) if g == "" else g for g in self.api_groups))
        if self.resources:
            parts.append("resources=" + ",".join(self.resources))
        if self.resource_names:
            parts.append("resourceNames=" + ",".join(self.resource_names))
        if self.non_resource_urls:
            parts.append("nonResourceURLs=" + ",".join(self.non_resource_urls))
        parts.append("verbs=" + ",".join(self.verbs))
        return "{" + " ".join(parts) + "}"


@dataclass(frozen=True, slots=True)
class Subject:
    """A binding subject. `namespace` is "" when absent (a ServiceAccount in a RoleBinding then defaults to it)."""

    kind: str
    name: str
    namespace: str = ""
    api_group: str = field(default="", compare=False)

    @property
    def display(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}" if self.namespace else f"ServiceAccount {self.name}"
        return f"{self.kind} {self.name}"

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "name": self.name}
        if self.namespace:
            out["namespace"] = self.namespace
        return out


@dataclass(frozen=True, slots=True)
class RoleRef:
    kind: str
    name: str
    api_group: str = "rbac.authorization.k8s.io"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an RBAC object came from, so every answer can point at a file and line."""

    file: str = ""
    line: int = 0
    obj: Any = field(default=None, compare=False, hash=False, repr=False)
    """The original object (a `K8sObject` or a dict) for callers that need to report on it."""


@dataclass(frozen=True, slots=True)
class Role:
    """A Role (namespace set) or ClusterRole (namespace ""). `rules` are the effective rules after aggregation."""

    kind: str
    name: str
    namespace: str
    rules: tuple[PolicyRule, ...]
    labels: tuple[tuple[str, str], ...] = ()
    aggregation_selectors: tuple[dict[str, Any], ...] | None = None
    origin: Origin = Origin()

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def display(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace "")."""

    kind: str
    name: str
    namespace: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...]
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    origin: Origin = Origin()
    order: int = 0
    """Position in the input; the authorizer visits bindings in a stable order so reasons are deterministic."""

    @property
    def display(self) -> str:
        if self.namespace:
            return f'RoleBinding "{self.namespace}/{self.name}"'
        return f'ClusterRoleBinding "{self.name}"'

    def effective_subject(self, subject: Subject) -> Subject:
        """The subject with upstream defaulting applied: a ServiceAccount in a RoleBinding without a namespace
        means the binding's own namespace."""
        if subject.kind == "ServiceAccount" and not subject.namespace and self.namespace:
            return Subject(subject.kind, subject.name, self.namespace, subject.api_group)
        return subject


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The authenticated identity of a request: user name plus groups (implicit groups already added)."""

    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attributes:
    """The authorizer's view of one request.

    A resource request has `resource` (and maybe `subresource`, `name`, `api_group`); a non-resource request has
    `path` and `resource_request=False`. `namespace` "" means a cluster-scoped request.
    """

    verb: str
    resource: str = ""
    api_group: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    resource_request: bool = True

    @property
    def display(self) -> str:
        if not self.resource_request:
            return f"{self.verb} {self.path}"
        text = self.resource
        if self.api_group:
            text += "." + self.api_group
        if self.subresource:
            text += "/" + self.subresource
        if self.name:
            text += f" named {self.name!r}"
        scope = f" in namespace {self.namespace!r}" if self.namespace else " cluster-wide"
        return f"{self.verb} {text}{scope}"


ASSUMED_ROLE_NOTE = "built-in, assumed: not in the input"


@dataclass(frozen=True, slots=True)
class Grant:
    """The path that allows a request: which binding (and which of its subjects) binds which role, and the rule."""

    binding: Binding | None
    subject: Subject | None
    role_kind: str
    role_name: str
    rule_index: int
    rule: PolicyRule | None
    note: str = ""
    assumed_role: bool = False
    """The role is a built-in role assumed because the input does not define it (see RbacIndex)."""

    def describe(self) -> str:
        if self.binding is None:
            return self.note or "privileged group system:masters"
        subj = self.subject.display if self.subject else "?"
        assumed = f" ({ASSUMED_ROLE_NOTE})" if self.assumed_role else ""
        return (
            f"{self.binding.display} of {self.role_kind} \"{self.role_name}\"{assumed} to {subj}, "
            f"rule {self.rule_index} {self.rule.compact() if self.rule else ''}"
        ).rstrip()

    def to_dict(self) -> dict[str, Any]:
        if self.binding is None:
            return {"binding": None, "note": self.note or "privileged group system:masters"}
        return {
            "binding": {
                "kind": self.binding.kind,
                "name": self.binding.name,
                **({"namespace": self.binding.namespace} if self.binding.namespace else {}),
                "file": self.binding.origin.file,
                "line": self.binding.origin.line,
            },
            "subject": self.subject.to_dict() if self.subject else None,
            "role": {"kind": self.role_kind, "name": self.role_name,
                     **({"assumedBuiltin": True} if self.assumed_role else {})},
            "ruleIndex": self.rule_index,
            "rule": self.rule.to_dict() if self.rule else None,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The authorizer's answer. `errors` lists unresolved role references met on the way (as upstream reports)."""

    allowed: bool
    reason: str
    grant: Grant | None = None
    errors: tuple[str, ...] = ()
