"""RBAC engine: the API server's RBAC authorizer reproduced offline, plus who-can, reviews and escalation.

Public API (stable; other engines and the CLI build on it):

    idx = RbacIndex.from_objects(objects)          # K8sObjects or dicts; ClusterRole aggregation applied
    user = user_info("jane", ["clinical-app-support"])   # implicit groups added
    attrs = request_attributes("get", "secrets", namespace="clinical")
    d = idx.authorize(user, attrs)                 # Decision(allowed, reason, grant, errors)
    idx.who_can(attrs)                             # [WhoCanEntry(subject, grant)]
    idx.effective_rules(user, "clinical")          # [(PolicyRule, Grant)]
    authorize(idx, "jane", ["g"], attrs)           # shorthand

    build_review(idx, ["clinical"])                # access review (diff_reviews, load_review: --since)
    evaluate_risks(idx, phi_namespaces)            # risk-rule hits (builtin_risk_rules, load_risk_rules)
    build_escalation_graph(idx, phi_namespaces).shortest_paths()

Callers outside the engine import these names from here, never from the modules behind them.

Everything here is pure: no I/O, no printing.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubehipaa.engines.rbac.escalation import EscalationGraph, EscalationPath, build_escalation_graph
from kubehipaa.engines.rbac.index import NO_RULE, RbacIndex, WhoCanEntry, role_key_for
from kubehipaa.engines.rbac.matching import rule_allows, rules_allow
from kubehipaa.engines.rbac.resources import (
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
from kubehipaa.engines.rbac.risk import RiskHit, RiskRule, builtin_risk_rules, evaluate_risks, load_risk_rules
from kubehipaa.engines.rbac.subjects import (
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


def authorize(index: RbacIndex, user: str, groups: Iterable[str], attrs: Attributes) -> Decision:
    """Decision for `user` (with `groups` plus the implicit groups) making the request `attrs`."""
    return index.authorize(user_info(user, groups), attrs)


__all__ = [
    "NO_RULE",
    "Attributes",
    "Binding",
    "Decision",
    "EscalationGraph",
    "EscalationPath",
    "Grant",
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
    "UserInfo",
    "WhoCanEntry",
    "authorize",
    "build_escalation_graph",
    "build_review",
    "builtin_risk_rules",
    "diff_reviews",
    "evaluate_risks",
    "identity_for_subject",
    "implicit_groups",
    "is_cluster_scoped",
    "load_review",
    "load_risk_rules",
    "request_attributes",
    "request_namespace",
    "resolve_resource",
    "role_key_for",
    "rule_allows",
    "rules_allow",
    "service_account_username",
    "user_info",
]
