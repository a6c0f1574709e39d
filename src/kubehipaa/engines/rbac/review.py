"""Access review: who can do what to sensitive resources in the chosen namespaces, and what changed.

HIPAA 164.308(a)(4)(ii)(C) asks for periodic review of access. An auditor wants a table they can sign off:
every subject's effective permissions on the resources that expose PHI or credentials, each with the
binding/role/rule that grants it. Grants limited by resourceNames are listed with their names, because a
grant to one Secret is still a grant.

Rows come from bindings directly (a Group row is every member's access); implicit-group bindings such as
`system:authenticated` appear as their own rows. `system:masters` is allowed everything and is noted, not listed.

Pure: the review and its diff are data (`ReviewResult`); reports/rbac_review.py renders them (CSV, JSON, HTML,
table).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kubehipaa.engines.rbac.index import RbacIndex
from kubehipaa.engines.rbac.matching import rule_allows
from kubehipaa.engines.rbac.resources import is_cluster_scoped, request_attributes, rolebinding_can_grant
from kubehipaa.engines.rbac.types import ASSUMED_ROLE_NOTE

READ_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
RBAC_GROUP = "rbac.authorization.k8s.io"
# (kubectl name, verbs reviewed)
SENSITIVE_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("secrets", READ_WRITE),
    ("configmaps", READ_WRITE),
    ("pods", READ_WRITE),
    ("pods/exec", ("create", "get")),
    ("pods/attach", ("create", "get")),
    ("pods/portforward", ("create", "get")),
    ("persistentvolumeclaims", READ_WRITE),
    ("serviceaccounts", READ_WRITE),
    ("serviceaccounts/token", ("create",)),
    ("roles.rbac.authorization.k8s.io", (*READ_WRITE, "bind", "escalate")),
    ("rolebindings.rbac.authorization.k8s.io", READ_WRITE),
    ("clusterroles.rbac.authorization.k8s.io", (*READ_WRITE, "bind", "escalate")),
    ("clusterrolebindings.rbac.authorization.k8s.io", READ_WRITE),
)
CLUSTER_SCOPE = "(cluster)"
MASTERS_NOTE = "members of group system:masters are allowed everything and are not listed"


@dataclass(frozen=True, slots=True, order=True)
class ReviewGrant:
    """One cell entry: `subject` may `verb` `resource` in `namespace` (limited to `names` if any), via `via`."""

    namespace: str
    subject_kind: str
    subject_namespace: str
    subject_name: str
    resource: str
    verb: str
    names: tuple[str, ...]
    via: str
    file: str = ""
    line: int = 0

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of a grant across reviews (the path may move between files and is not part of it)."""
        return (self.namespace, self.subject_kind, self.subject_namespace, self.subject_name, self.resource,
                self.verb, ",".join(self.names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "subject": {"kind": self.subject_kind, "name": self.subject_name,
                        **({"namespace": self.subject_namespace} if self.subject_namespace else {})},
            "resource": self.resource,
            "verb": self.verb,
            "resourceNames": list(self.names),
            "via": self.via,
            "file": self.file,
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReviewGrant:
        s = d["subject"]
        return cls(str(d["namespace"]), str(s["kind"]), str(s.get("namespace", "")), str(s["name"]),
                   str(d["resource"]), str(d["verb"]), tuple(d.get("resourceNames") or ()), str(d.get("via", "")),
                   str(d.get("file", "")), int(d.get("line", 0) or 0))


@dataclass(slots=True)
class Review:
    namespaces: list[str]
    grants: list[ReviewGrant]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "KubehipaaAccessReview", "version": 1, "namespaces": self.namespaces,
                "notes": self.notes, "grants": [g.to_dict() for g in self.grants]}

    def matrix(self) -> list[dict[str, Any]]:
        """One row per (namespace, subject, resource): the verbs, names and granting paths."""
        rows: dict[tuple[str, ...], dict[str, Any]] = {}
        for g in self.grants:
            k = (g.namespace, g.subject_kind, g.subject_namespace, g.subject_name, g.resource)
            row = rows.setdefault(k, {"namespace": g.namespace, "subject_kind": g.subject_kind,
                                      "subject_namespace": g.subject_namespace, "subject_name": g.subject_name,
                                      "resource": g.resource, "verbs": [], "resource_names": set(), "via": []})
            if g.verb not in row["verbs"]:
                row["verbs"].append(g.verb)
            row["resource_names"].update(g.names)
            if g.via not in row["via"]:
                row["via"].append(g.via)
        out = []
        for key in sorted(rows):
            row = rows[key]
            row["resource_names"] = sorted(row["resource_names"])
            out.append(row)
        return out


def build_review(idx: RbacIndex, namespaces: Sequence[str],
                 resources: Sequence[tuple[str, tuple[str, ...]]] = SENSITIVE_RESOURCES) -> Review:
    """The access-review grants for `namespaces` (cluster-scoped resources reviewed once, as `(cluster)`)."""
    requests = []
    for target, verbs in resources:
        for verb in verbs:
            attrs = request_attributes(verb, target, as_request=False)
            requests.append((target, attrs))
    grants: set[ReviewGrant] = set()
    scopes = [*sorted(set(namespaces)), ""]
    for scope in scopes:
        for target, attrs in requests:
            cluster_scoped = is_cluster_scoped(attrs.resource, attrs.api_group)
            # A cluster-scoped request is reviewed once, under (cluster); in a namespace only when the API server
            # asks it there (bind of a ClusterRole for a RoleBinding in that namespace), listing that
            # namespace's RoleBindings (cluster-wide grants are already under (cluster)).
            in_ns_only = bool(scope) and cluster_scoped
            if (not scope and not cluster_scoped) or (in_ns_only and not rolebinding_can_grant(attrs)):
                continue
            for e in idx.who_can(replace(attrs, namespace=scope), include_masters=False, any_name=True):
                b, s, rule = e.binding, e.subject, e.rule
                if b is None or rule is None or (in_ns_only and b.namespace != scope):
                    continue
                builtin = f" ({ASSUMED_ROLE_NOTE})" if e.assumed_role else ""
                via = (f"{b.display} -> {b.role_ref.kind} {b.role_ref.name}{builtin} rules[{e.rule_index}] "
                       f"{rule.compact()}")
                names = tuple(rule.resource_names)
                role = idx.role_for(b)
                if names and role is not None:
                    # only name-limited rules allow it: the grant covers the union of their names
                    a = replace(attrs, namespace=scope)
                    union = {n for r in role.rules if r.resource_names
                             and rule_allows(a, replace(r, resource_names=())) for n in r.resource_names}
                    names = tuple(sorted(union))
                grants.add(ReviewGrant(scope or CLUSTER_SCOPE, s.kind, s.namespace, s.name, target, attrs.verb,
                                       names, via, b.origin.file, b.origin.line))
    notes = [MASTERS_NOTE]
    assumed: set[str] = set()
    for b in idx.bindings:
        if not b.namespace or b.namespace in scopes:
            if idx.role_for(b) is None:
                notes.append(f"not resolved, so not listed: {idx.missing_role_error(b)}")
            elif idx.is_assumed(b):
                where = f"{b.namespace}/" if b.role_ref.kind == "Role" else ""
                assumed.add(f"{b.role_ref.kind} {where}{b.role_ref.name}")
    notes.extend(f"{role} is not in the input: Kubernetes' built-in definition is assumed"
                 for role in sorted(assumed))
    return Review(sorted(set(namespaces)), sorted(grants), notes)


@dataclass(slots=True)
class ReviewDiff:
    added: list[ReviewGrant]
    removed: list[ReviewGrant]

    def to_dict(self) -> dict[str, Any]:
        return {"added": [g.to_dict() for g in self.added], "removed": [g.to_dict() for g in self.removed]}


def load_review(data: Any, source: str = "review") -> list[ReviewGrant]:
    """Grants from a previous review's JSON; raises ValueError naming what is wrong."""
    if not isinstance(data, dict) or data.get("kind") != "KubehipaaAccessReview":
        raise ValueError(f"{source}: not a kubehipaa access review (expected kind KubehipaaAccessReview)")
    out = []
    for i, g in enumerate(data.get("grants") or []):
        try:
            out.append(ReviewGrant.from_dict(g))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: grants[{i}] is malformed ({exc})") from None
    return out


def diff_reviews(previous: Iterable[ReviewGrant], current: Iterable[ReviewGrant]) -> ReviewDiff:
    prev = {g.key: g for g in previous}
    cur = {g.key: g for g in current}
    return ReviewDiff(added=sorted(cur[k] for k in cur.keys() - prev.keys()),
                      removed=sorted(prev[k] for k in prev.keys() - cur.keys()))


@dataclass(slots=True)
class ReviewResult:
    """What an access review shows: the review and, when compared with an earlier one (`--since`), the grants
    added and removed since. Every review format renders this one value, so they never disagree."""

    review: Review
    changes: ReviewDiff | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.review.to_dict()
        if self.changes is not None:
            data["changes"] = self.changes.to_dict()
        return data
