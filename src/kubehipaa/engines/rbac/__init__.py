"""RBAC engine: the API server's RBAC authorizer reproduced offline, plus who-can, reviews and escalation.

Public API (stable; other engines and the CLI build on it):

    idx = RbacIndex.from_objects(objects)          # K8sObjects or dicts; ClusterRole aggregation applied
    user = user_info("jane", ["clinical-app-support"])   # implicit groups added
    attrs = request_attributes("get", "secrets", namespace="clinical")
    d = idx.authorize(user, attrs)                 # Decision(allowed, reason, grant, errors)
    idx.who_can(attrs)                             # [WhoCanEntry(subject, grant)]
    idx.effective_rules(user, "clinical")          # [(PolicyRule, Grant)]
    authorize(idx, "jane", ["g"], attrs)           # shorthand

Least privilege from observed usage (usage.py): `collect_usage(audit_events)` -> `Usage`,
`unused_permissions(idx, usage)` -> `UnusedReport`, `suggest_role(usage, user)` -> a minimal Role,
`event_attributes(event)` (the authorizer's attributes of an audit event).
    build_review(idx, ["clinical"])                # access review (diff_reviews, load_review: --since)
    evaluate_risks(idx, phi_namespaces)            # risk-rule hits (builtin_risk_rules, load_risk_rules)
    build_escalation_graph(idx, phi_namespaces).shortest_paths()

Callers outside the engine import these names from here, never from the modules behind them.

Everything here is pure: no I/O, no printing.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubehipaa.engines.rbac.break_glass import BREAK_GLASS_MARK, EXPIRES_ANNOTATION
from kubehipaa.engines.rbac.defaults import BuiltinAudit, builtin_audit
from kubehipaa.engines.rbac.escalation import EscalationGraph, EscalationPath, build_escalation_graph
from kubehipaa.engines.rbac.index import NO_RULE, RbacIndex, WhoCanEntry, role_key_for
from kubehipaa.engines.rbac.matching import rule_allows, rules_allow
from kubehipaa.engines.rbac.resources import (
    CLUSTER_SCOPED,
    RequestSyntaxError,
    is_cluster_scoped,
    request_attributes,
    request_namespace,
    resolve_resource,
)
from kubehipaa.engines.rbac.review import (
    Review,
    ReviewDiff,
    ReviewGrant,
    ReviewResult,
    build_review,
    diff_reviews,
    load_review,
)
from kubehipaa.engines.rbac.risk import (
    RiskHit,
    RiskRule,
    binding_grants,
    builtin_risk_rules,
    evaluate_risks,
    load_risk_rules,
    role_allows_any_name,
)
from kubehipaa.engines.rbac.subjects import (
    ANONYMOUS,
    component_user,
    identity_for_subject,
    implicit_groups,
    service_account_username,
    user_info,
)
from kubehipaa.engines.rbac.types import (
    Attributes,
    Binding,
    Decision,
    Grant,
    PolicyRule,
    Role,
    RoleRef,
    Subject,
    UserInfo,
)
from kubehipaa.engines.rbac.usage import (
    Permission,
    SubjectUsage,
    UnusedReport,
    Usage,
    collect_usage,
    event_attributes,
    event_identity,
    granted_permissions,
    suggest_role,
    unused_permissions,
)


def authorize(index: RbacIndex, user: str, groups: Iterable[str], attrs: Attributes) -> Decision:
    """Decision for `user` (with `groups` plus the implicit groups) making the request `attrs`."""
    return index.authorize(user_info(user, groups), attrs)


__all__ = [
    "ANONYMOUS",
    "BREAK_GLASS_MARK",
    "CLUSTER_SCOPED",
    "EXPIRES_ANNOTATION",
    "NO_RULE",
    "Attributes",
    "Binding",
    "BuiltinAudit",
    "Decision",
    "EscalationGraph",
    "EscalationPath",
    "Grant",
    "Permission",
    "PolicyRule",
    "RbacIndex",
    "RequestSyntaxError",
    "Review",
    "ReviewDiff",
    "ReviewGrant",
    "ReviewResult",
    "RiskHit",
    "RiskRule",
    "Role",
    "RoleRef",
    "Subject",
    "SubjectUsage",
    "UnusedReport",
    "Usage",
    "UserInfo",
    "WhoCanEntry",
    "authorize",
    "binding_grants",
    "build_escalation_graph",
    "build_review",
    "builtin_audit",
    "builtin_risk_rules",
    "collect_usage",
    "component_user",
    "diff_reviews",
    "evaluate_risks",
    "event_attributes",
    "event_identity",
    "granted_permissions",
    "identity_for_subject",
    "implicit_groups",
    "is_cluster_scoped",
    "load_review",
    "load_risk_rules",
    "request_attributes",
    "request_namespace",
    "resolve_resource",
    "role_allows_any_name",
    "role_key_for",
    "rule_allows",
    "rules_allow",
    "service_account_username",
    "suggest_role",
    "unused_permissions",
    "user_info",
]
