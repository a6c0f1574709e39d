"""Least privilege from observed usage: granted-but-unused permissions, and minimal Roles from audit events.

Why from the audit log: an access review (HIPAA 164.308(a)(4)(ii)(C)) asks "does this identity still need
what it has?". RBAC manifests say what is granted; the API server's audit log says what was actually done.
The difference is what can be revoked; the observed allowed requests are what a minimal Role must keep.

Pure: audit events (the audit core's `AuditEvent`) and the RBAC engine's `RbacIndex` in, answers out.

Semantics (see docs/least-privilege.md):
- A request's authorizer attributes are rebuilt from the audit event the way the API server's request-info
  shapes them (`create` on a collection and `deletecollection` carry no name; the audit log fills
  `objectRef.name` for creates after the fact). An impersonated request is attributed to the impersonated
  identity, which is what RBAC evaluated for the target resource.
- "Authorized" = the authorizer's `authorization.k8s.io/decision` annotation is `allow` (a 404 or 409
  afterwards still exercised the permission); without the annotation, any response other than 401/403.
  "Denied" = decision `forbid` or 403. 401 (unauthenticated) and `RequestReceived`-stage events (logged before
  authorization) are not attributed.
- A granted permission is exercised when any observed authorized request of an identity the binding applies to
  is allowed by it (even if another binding would also allow it): nothing that was used is ever reported
  unused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubehipaa.engines.rbac.index import RbacIndex
from kubehipaa.engines.rbac.matching import rule_allows
from kubehipaa.engines.rbac.subjects import split_service_account, user_info
from kubehipaa.engines.rbac.types import Attributes, Binding, PolicyRule, Subject
from kubehipaa.redaction import redact_text

if TYPE_CHECKING:
    # Only a type here: importing the audit-log engine at load time would make every `import
    # kubehipaa.engines.rbac` (each scan, through the RBAC checks) pay for the detector and its catalog.
    from kubehipaa.engines.auditlog import AuditEvent

MAX_RESOURCE_NAMES = 20
"""Beyond this many distinct names a verb is granted without resourceNames (unless that would grant a denied
request): a list that long is no longer a meaningful restriction."""


# --------------------------------------------------------------------------------------------------
# Observed requests


def event_attributes(ev: AuditEvent) -> Attributes | None:
    """The authorizer's attributes for the request an audit event records (None when not reconstructible)."""
    verb = ev.verb or ""
    if not verb:
        return None
    o = ev.objectRef
    if o is None or not o.resource:
        uri = ev.requestURI or ""
        if not uri.startswith("/"):
            return None
        return Attributes(verb=verb, path=uri.split("?", 1)[0], resource_request=False)
    sub = o.subresource or ""
    name = o.name or ""
    if verb == "deletecollection" or (verb == "create" and not sub):
        name = ""
    return Attributes(
        verb=verb,
        resource=o.resource,
        api_group=o.apiGroup or "",
        subresource=sub,
        name=name,
        namespace=o.namespace or "",
        resource_request=True,
    )


def event_identity(ev: AuditEvent) -> tuple[str, tuple[str, ...]]:
    """(username, groups) RBAC evaluated: the impersonated identity when there is one."""
    imp = ev.impersonatedUser
    if imp is not None and imp.username:
        return imp.username, tuple(imp.groups or ())
    u = ev.user
    if u is None:
        return "", ()
    return u.username or "", tuple(u.groups or ())


def _request_key(ev: AuditEvent, allowed: bool) -> RequestKey | None:
    """A cheap hashable key with exactly the information of `event_attributes` (plus the outcome)."""
    verb = ev.verb or ""
    if not verb:
        return None
    o = ev.objectRef
    if o is None or not o.resource:
        uri = ev.requestURI or ""
        if not uri.startswith("/"):
            return None
        return (verb, "", "", "", "", "", uri.split("?", 1)[0], allowed)
    sub = o.subresource or ""
    name = "" if verb == "deletecollection" or (verb == "create" and not sub) else (o.name or "")
    return (verb, o.resource, o.apiGroup or "", sub, name, o.namespace or "", "", allowed)


def authorization_outcome(ev: AuditEvent) -> str | None:
    """`allowed`, `denied`, or None (not attributable: unauthenticated, or logged before authorization)."""
    if ev.stage == "RequestReceived" and not ev.decision:
        return None
    decision = ev.decision
    code = ev.code
    if decision == "forbid" or code == 403:
        return "denied"
    if code == 401:
        return None
    if decision == "allow":
        return "allowed"
    if decision:
        return None
    return "allowed" if code else None


@dataclass(slots=True)
class Observed:
    """One distinct request of one identity: how often, first/last seen (RFC 3339 strings)."""

    attrs: Attributes
    allowed: bool
    count: int = 0
    first: str = ""
    last: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"request": attrs_dict(self.attrs), "outcome": "allowed" if self.allowed else "denied",
                "count": self.count, "first": self.first, "last": self.last}


RequestKey = tuple[str, str, str, str, str, str, str, bool]


@dataclass(slots=True)
class Usage:
    """Distinct observed requests per identity, from a stream of audit events.

    Timestamps are compared as RFC 3339 strings (audit logs write UTC), which is exact to the second and
    saves parsing every event; only the window cut-off parses them.
    """

    requests: dict[str, dict[RequestKey, Observed]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    events: int = 0
    attributed: int = 0
    start: str = ""
    end: str = ""

    def add(self, ev: AuditEvent) -> None:
        self.events += 1
        outcome = authorization_outcome(ev)
        if outcome is None:
            return
        user, groups = event_identity(ev)
        if not user:
            return
        key = _request_key(ev, outcome == "allowed")
        if key is None:
            return
        self.attributed += 1
        t = ev.time
        if t:
            if not self.start or t < self.start:
                self.start = t
            if t > self.end:
                self.end = t
        per = self.requests.get(user)
        if per is None:
            per = self.requests[user] = {}
            self.groups[user] = set()
        obs = per.get(key)
        if obs is None:
            attrs = event_attributes(ev)
            assert attrs is not None  # same conditions as _request_key
            obs = per[key] = Observed(attrs, key[-1], first=t)
        obs.count += 1
        if t > obs.last:
            obs.last = t
        if groups:
            self.groups[user].update(groups)

    def within(self, window_s: float | None) -> Usage:
        """Only requests last seen within `window_s` seconds of the newest event (None = everything)."""
        from kubehipaa.engines.auditlog import parse_time  # loaded by whoever decoded the events

        end_t = parse_time(self.end)
        if window_s is None or not end_t:
            return self
        cutoff = end_t - window_s
        out = Usage(groups=self.groups, events=self.events, attributed=self.attributed, end=self.end)
        for user, per in self.requests.items():
            kept = {k: o for k, o in per.items() if not o.last or parse_time(o.last) >= cutoff}
            if kept:
                out.requests[user] = kept
        since = dt.datetime.fromtimestamp(cutoff, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.start = max(self.start, since)
        return out

    def identity(self, user: str) -> tuple[str, tuple[str, ...]]:
        info = user_info(user, sorted(self.groups.get(user, ())))
        return info.name, info.groups


def collect_usage(events: Iterable[AuditEvent]) -> Usage:
    usage = Usage()
    for ev in events:
        usage.add(ev)
    return usage


def attrs_dict(a: Attributes) -> dict[str, Any]:
    if not a.resource_request:
        return {"verb": a.verb, "path": a.path}
    out: dict[str, Any] = {"verb": a.verb, "apiGroup": a.api_group, "resource": a.resource}
    if a.subresource:
        out["subresource"] = a.subresource
    if a.namespace:
        out["namespace"] = a.namespace
    if a.name:
        out["name"] = a.name
    return out


# --------------------------------------------------------------------------------------------------
# Unused permissions


@dataclass(frozen=True, slots=True)
class Permission:
    """One verb on one resource (or URL) granted to one subject through one binding and role rule."""

    subject: Subject
    binding: Binding
    role_kind: str
    role_name: str
    rule_index: int
    rule: PolicyRule

    @property
    def scope(self) -> str:
        """The namespace the grant applies in ("" = every namespace and cluster-scoped)."""
        return self.binding.namespace

    def allows(self, attrs: Attributes) -> bool:
        if self.binding.namespace and attrs.namespace != self.binding.namespace:
            return False
        return rule_allows(attrs, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject.to_dict(),
            "binding": {"kind": self.binding.kind, "name": self.binding.name,
                        **({"namespace": self.binding.namespace} if self.binding.namespace else {}),
                        "file": self.binding.origin.file, "line": self.binding.origin.line},
            "role": {"kind": self.role_kind, "name": self.role_name, "rule": self.rule_index},
            "scope": self.scope or "cluster-wide",
            "permission": self.rule.to_dict(),
        }

    def describe(self) -> str:
        where = f"in namespace {self.scope}" if self.scope else "cluster-wide"
        return f"{self.rule.compact()} {where} via {self.binding.display} of {self.role_kind} {self.role_name!r}"


def expand_rule(rule: PolicyRule) -> list[PolicyRule]:
    """A rule split into single-verb, single-group, single-resource (or single-URL) permissions."""
    out: list[PolicyRule] = []
    for verb in rule.verbs:
        if rule.non_resource_urls:
            out.extend(PolicyRule(verbs=(verb,), non_resource_urls=(u,)) for u in rule.non_resource_urls)
        for group in rule.api_groups:
            for res in rule.resources:
                out.append(PolicyRule(verbs=(verb,), api_groups=(group,), resources=(res,),
                                      resource_names=rule.resource_names))
    return out


def granted_permissions(index: RbacIndex, subject: Subject) -> list[Permission]:
    out: list[Permission] = []
    for b in index.bindings_for_subject(subject):
        role = index.role_for(b)
        if role is None:
            continue
        for i, rule in enumerate(role.rules):
            for unit in expand_rule(rule):
                out.append(Permission(subject, b, b.role_ref.kind, b.role_ref.name, i, unit))
    return out


def _subject_matches(subject: Subject, user: str, groups: tuple[str, ...]) -> bool:
    if subject.kind == "Group":
        return subject.name in groups
    if subject.kind == "ServiceAccount":
        sa = split_service_account(user)
        return sa is not None and sa == (subject.namespace, subject.name)
    return subject.kind == "User" and subject.name == user


@dataclass(slots=True)
class SubjectUsage:
    subject: Subject
    granted: int
    used: list[Permission]
    unused: list[Permission]
    identities: list[str]
    """Observed user names this subject applied to (empty: no activity in the window)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject.to_dict(),
            "granted": self.granted,
            "used": len(self.used),
            "unused": [p.to_dict() for p in self.unused],
            "activeIdentities": self.identities,
        }


@dataclass(slots=True)
class UnusedReport:
    subjects: list[SubjectUsage]
    window_start: str
    window_end: str
    events: int
    attributed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"start": self.window_start, "end": self.window_end},
            "events": self.events,
            "attributedRequests": self.attributed,
            "subjects": [s.to_dict() for s in self.subjects],
        }


def unused_permissions(index: RbacIndex, events: Iterable[AuditEvent] | Usage,
                       window: float | None = None) -> UnusedReport:
    """Per subject of a binding: the permissions granted through the RBAC engine that no authorized request in
    the log window exercised. `window` is in seconds back from the newest event (None = the whole log)."""
    usage = events if isinstance(events, Usage) else collect_usage(events)
    usage = usage.within(window)
    identities = [(u, *usage.identity(u)[1:]) for u in sorted(usage.requests)]
    allowed_by_user: dict[str, list[Attributes]] = {
        u: [o.attrs for o in per.values() if o.allowed] for u, per in usage.requests.items()
    }
    subjects_out: list[SubjectUsage] = []
    for subject in index.subjects():
        perms = granted_permissions(index, subject)
        if not perms:
            continue
        active = [u for u, groups in identities if _subject_matches(subject, u, groups)]
        used_flags = [False] * len(perms)
        for u in active:
            for attrs in allowed_by_user.get(u, ()):
                for i, p in enumerate(perms):
                    if not used_flags[i] and p.allows(attrs):
                        used_flags[i] = True
        used = [p for p, f in zip(perms, used_flags, strict=True) if f]
        unused = [p for p, f in zip(perms, used_flags, strict=True) if not f]
        subjects_out.append(SubjectUsage(subject, len(perms), used, unused, active))
    return UnusedReport(subjects_out, usage.start, usage.end, usage.events, usage.attributed)


# --------------------------------------------------------------------------------------------------
# Minimal role suggestion

ROLE_API = "rbac.authorization.k8s.io/v1"


def _safe_name(user: str) -> str:
    """An object name derived from the user name, redacted first: once `:` and `@` are replaced, a password in
    `postgres://admin:hunter2@db` no longer looks like one to the output's redaction."""
    out = "".join(c if c.isalnum() or c in "-." else "-" for c in redact_text(user).lower()).strip("-.")
    return ("least-privilege-" + out)[:253]


def _subject_for(user: str) -> dict[str, str]:
    sa = split_service_account(user)
    if sa is not None:
        return {"kind": "ServiceAccount", "name": sa[1], "namespace": sa[0]}
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}


def _build_rules(allowed: list[Attributes], denied: list[Attributes]) -> list[PolicyRule]:
    """Minimal rules for the allowed requests of one scope, never covering a denied one (of the same scope)."""
    # (group, resource[/sub]) -> verb -> names (None: some request had no name)
    table: dict[tuple[str, str], dict[str, set[str] | None]] = {}
    urls: dict[str, set[str]] = {}
    for a in allowed:
        if not a.resource_request:
            urls.setdefault(a.path, set()).add(a.verb)
            continue
        res = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        verbs = table.setdefault((a.api_group, res), {})
        if a.name and a.verb in verbs and verbs[a.verb] is None:
            continue
        if not a.name:
            verbs[a.verb] = None
        else:
            names = verbs.setdefault(a.verb, set())
            if names is not None:
                names.add(a.name)
    rules: list[PolicyRule] = []
    for (group, res), verbs in sorted(table.items()):
        # verbs that share the same name restriction go into one rule
        by_names: dict[tuple[str, ...] | None, list[str]] = {}
        for verb, names in verbs.items():
            key: tuple[str, ...] | None = None
            if names is not None:
                key = tuple(sorted(names))
                if len(key) > MAX_RESOURCE_NAMES:
                    loose = PolicyRule(verbs=(verb,), api_groups=(group,), resources=(res,))
                    if not any(rule_allows(d, loose) for d in denied):
                        key = None
            by_names.setdefault(key, []).append(verb)
        for key, verb_list in sorted(by_names.items(), key=lambda kv: (kv[0] is not None, kv[0] or ())):
            rules.append(PolicyRule(verbs=tuple(sorted(verb_list)), api_groups=(group,), resources=(res,),
                                    resource_names=key or ()))
    by_verbs: dict[tuple[str, ...], list[str]] = {}
    for path, url_verbs in sorted(urls.items()):
        by_verbs.setdefault(tuple(sorted(url_verbs)), []).append(path)
    for vs_key, paths in sorted(by_verbs.items()):
        rules.append(PolicyRule(verbs=vs_key, non_resource_urls=tuple(sorted(paths))))
    return rules


def suggest_role(events: Iterable[AuditEvent] | Usage, user: str) -> dict[str, Any]:
    """The minimal RBAC covering the observed authorized requests of `user`; denied requests listed apart.

    Namespaced requests become one Role (+ RoleBinding) per namespace; cluster-scoped and non-resource
    requests (and namespaced resources listed across all namespaces) become one ClusterRole
    (+ ClusterRoleBinding). Result: {"user", "manifest": v1 List, "allowed": [...], "denied": [...],
    "conflicts": [...]} where `conflicts` are denied requests that stay granted because the same request was
    also allowed, or an allowed one implies it (RBAC changed during the window).
    """
    usage = events if isinstance(events, Usage) else collect_usage(events)
    per = usage.requests.get(user, {})
    allowed = [o for o in per.values() if o.allowed]
    denied = [o for o in per.values() if not o.allowed]
    allowed_attrs = {o.attrs for o in allowed}
    conflicts = [o for o in denied if o.attrs in allowed_attrs]
    denied_only = [o.attrs for o in denied if o.attrs not in allowed_attrs]

    scopes: dict[str, list[Attributes]] = {}
    for o in allowed:
        ns = o.attrs.namespace if o.attrs.resource_request else ""
        scopes.setdefault(ns, []).append(o.attrs)
    name = _safe_name(user)
    subject = _subject_for(user)
    items: list[dict[str, Any]] = []
    for ns in sorted(scopes, key=lambda s: (s != "", s)):
        # A denied request only matters for the scope a rule here would grant it in.
        relevant = [d for d in denied_only if (not ns) or d.namespace == ns]
        rules = _build_rules(scopes[ns], relevant)
        rule_docs = [r.to_dict() for r in rules]
        for r in rule_docs:  # core group is "" and must stay explicit in YAML
            if "resources" in r and "apiGroups" not in r:
                r["apiGroups"] = [""]
        if ns:
            items.append({"apiVersion": ROLE_API, "kind": "Role",
                          "metadata": {"name": name, "namespace": ns}, "rules": rule_docs})
            items.append({"apiVersion": ROLE_API, "kind": "RoleBinding",
                          "metadata": {"name": name, "namespace": ns},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                          "subjects": [subject]})
        else:
            items.append({"apiVersion": ROLE_API, "kind": "ClusterRole", "metadata": {"name": name},
                          "rules": rule_docs})
            items.append({"apiVersion": ROLE_API, "kind": "ClusterRoleBinding", "metadata": {"name": name},
                          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": name},
                          "subjects": [subject]})
    # A denied request the rules still cover is implied by an allowed one (e.g. a cluster-wide list was
    # allowed, the same list in one namespace denied): only possible when RBAC changed during the window.
    granted = RbacIndex.from_objects(items, builtin_cluster_admin=False)
    ident = user_info(user)
    implied = [o for o in denied if o.attrs not in allowed_attrs and granted.authorize(ident, o.attrs).allowed]
    return {
        "user": user,
        "manifest": {"apiVersion": "v1", "kind": "List", "items": items},
        "allowed": [o.to_dict() for o in sorted(allowed, key=_obs_key)],
        "denied": [o.to_dict() for o in sorted(denied, key=_obs_key)
                   if o.attrs not in allowed_attrs and o not in implied],
        "conflicts": [o.to_dict() for o in sorted(conflicts + implied, key=_obs_key)],
        "window": {"start": usage.start, "end": usage.end},
    }


def _obs_key(o: Observed) -> tuple[str, ...]:
    a = o.attrs
    return (a.namespace, a.api_group, a.resource, a.subresource, a.verb, a.name, a.path)
