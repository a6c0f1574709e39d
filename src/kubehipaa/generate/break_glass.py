"""Time-bound emergency access: `kubehipaa generate break-glass`.

A ClusterRoleBinding (or, with a namespace, a RoleBinding) of a role to a GROUP, marked as break-glass and
annotated with its expiry (`engines.rbac` BREAK_GLASS_MARK, EXPIRES_ANNOTATION): the scanner's KH-RBAC-009
flags it once the expiry has passed, so a forgotten emergency grant becomes a finding, not standing privileged
access to PHI (164.312(a)(2)(ii) emergency access procedure, 164.308(a)(4)(ii)(C) access modification).

A group, never a user: membership is managed (and revoked, and logged) in the identity provider, and the
binding stays valid when the on-call person changes. `system:` groups are refused: binding e.g.
system:authenticated would hand the role to every identity in the cluster.

Pure: the current time is a parameter (`now`), so tests generate already-expired bindings.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

RBAC_API = "rbac.authorization.k8s.io"
DEFAULT_ROLE = "cluster-admin"
LONG_DURATION = dt.timedelta(days=7)
"""Emergency access is hours or days: beyond this the CLI warns that the grant looks like standing access."""
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class BreakGlassError(ValueError):
    """An option that would produce an unsafe or invalid binding (the message names it)."""


@dataclass(frozen=True, slots=True)
class BreakGlassOptions:
    group: str
    expires: dt.datetime
    """When the access ends (timezone-aware)."""
    role: str = DEFAULT_ROLE
    namespace: str | None = None


def parse_expires(text: str, now: dt.datetime) -> dt.datetime:
    """`4h`, `30m`, `2d`, `1w` from `now`, or an RFC 3339 timestamp with a zone (`2026-12-31T00:00:00Z`).

    Neither "in the future" nor "short" is enforced here: whether an already past or a long expiry is
    acceptable is the caller's decision (the CLI refuses a past one and warns about one beyond
    LONG_DURATION; tests generate past ones). A time outside the calendar is refused."""
    raw = text.strip()
    m = _DURATION.fullmatch(raw)
    if m:
        delta = dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        if delta <= dt.timedelta(0):
            raise BreakGlassError(f"--expires {text!r}: the duration must be positive")
        try:
            when = now + delta
        except OverflowError:  # 999999w from now is past the year 9999
            raise BreakGlassError(f"--expires {text!r}: out of range") from None
    else:
        parsed: dt.datetime | None
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or "T" not in raw.upper() or parsed.tzinfo is None:
            raise BreakGlassError(f"--expires {text!r}: give a duration (30m, 4h, 2d, 1w) or an RFC 3339 "
                                  "timestamp with a zone (2026-12-31T00:00:00Z)")
        when = parsed
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC representation
        raise BreakGlassError(f"--expires {text!r}: out of range") from None



def rfc3339(when: dt.datetime) -> str:
    """UTC, second precision, `Z` suffix: what KH-RBAC-009 (and every RFC 3339 reader) parses."""
    return when.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_group(group: str) -> str:
    if not group or group != group.strip() or len(group) > 253 or any(not c.isprintable() for c in group):
        raise BreakGlassError(f"--group {group!r}: give the identity provider's group name")
    if group.startswith("system:"):
        raise BreakGlassError(f"--group {group!r}: system: groups are Kubernetes' own (system:authenticated is "
                              "everyone); bind a group of named responders")
    return group


def validate_role(role: str) -> str:
    """An RBAC object name: a path segment (upstream ValidateRBACName), no whitespace."""
    if (not role or role in (".", "..") or len(role) > 253
            or any(c in "/%" or c.isspace() or not c.isprintable() for c in role)):
        raise BreakGlassError(f"--role {role!r} is not a valid role name")
    return role


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "group"


def binding_name(opts: BreakGlassOptions) -> str:
    """`break-glass-<group>-<expiry>`: unique per grant, and the expiry is visible in `kubectl get`."""
    return f"break-glass-{_slug(opts.group, 40)}-{opts.expires.astimezone(dt.UTC):%Y%m%d%H%M}"


def break_glass_binding(opts: BreakGlassOptions) -> tuple[list[str], dict[str, Any]]:
    """The binding's comment lines and the (Cluster)RoleBinding."""
    # Imported here: the RBAC engine takes ~0.3 s to import, and every other `generate` command does without.
    from kubehipaa.engines.rbac import BREAK_GLASS_MARK, EXPIRES_ANNOTATION

    validate_group(opts.group)
    validate_role(opts.role)
    if opts.namespace is not None and (not _DNS_LABEL.fullmatch(opts.namespace) or len(opts.namespace) > 63):
        raise BreakGlassError(f"--namespace {opts.namespace!r} is not a valid namespace name")
    if opts.expires.tzinfo is None:
        raise BreakGlassError("the expiry needs a time zone")
    name = binding_name(opts)
    expires = rfc3339(opts.expires)
    kind = "RoleBinding" if opts.namespace else "ClusterRoleBinding"
    meta: dict[str, Any] = {"name": name}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    meta["labels"] = {BREAK_GLASS_MARK: "true", "app.kubernetes.io/managed-by": "kubehipaa"}
    meta["annotations"] = {BREAK_GLASS_MARK: "true", EXPIRES_ANNOTATION: expires}
    doc = {"apiVersion": f"{RBAC_API}/v1", "kind": kind, "metadata": meta,
           "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": opts.role},
           "subjects": [{"apiGroup": RBAC_API, "kind": "Group", "name": opts.group}]}
    scope = f"in namespace {opts.namespace}" if opts.namespace else "in every namespace"
    ns_flag = f" -n {opts.namespace}" if opts.namespace else ""
    comments = [
        f"Break-glass: ClusterRole {opts.role} for group {opts.group} {scope}, until {expires}.",
        "Emergency access procedure (HIPAA 164.312(a)(2)(ii)); time-bound access modification",
        "(164.308(a)(4)(ii)(C)). Every action taken with it is in the audit log (164.312(b)).",
        "Apply:  kubectl apply -f <this file>",
        f"Delete it as soon as the incident is over:  kubectl delete {kind.lower()}{ns_flag} {name}",
        f"After {expires}, `kubehipaa scan` reports it (KH-RBAC-009, high) until it is deleted.",
        "Membership of the group is the real grant: add responders for the incident only, and remove them.",
    ]
    return comments, doc
