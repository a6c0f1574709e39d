"""Rule matching exactly as the API server's RBAC authorizer does it.

Written from the upstream semantics (pkg/apis/rbac/v1 evaluation helpers and the authorizer's RuleAllows):

- verbs and apiGroups match on equality or a literal `*` entry;
- resources match on equality with `resource` or `resource/subresource`, a `*` entry, or an entry of the exact
  form `*/<subresource>` when the request has that subresource; `pods` never covers `pods/exec` and `pods/*` is
  not a wildcard (it only matches a subresource literally named `*`);
- resourceNames: an empty list matches every name, otherwise the request's name must be listed, so a request
  without a name (create on a collection, list, deletecollection) never matches a rule with resourceNames;
- nonResourceURLs match on equality, a `*` entry, or an entry ending in `*` that is a prefix of the path (after
  trimming every trailing `*`).
"""

from __future__ import annotations

from kubehipaa.engines.rbac.types import (
    API_GROUP_ALL,
    NON_RESOURCE_ALL,
    RESOURCE_ALL,
    VERB_ALL,
    Attributes,
    PolicyRule,
)


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return any(v == VERB_ALL or v == verb for v in rule.verbs)


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return any(g == API_GROUP_ALL or g == group for g in rule.api_groups)


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    """`combined` is `resource` or `resource/subresource`."""
    for entry in rule.resources:
        if entry == RESOURCE_ALL or entry == combined:
            return True
        if subresource and entry == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    if not rule.resource_names:
        return True
    return name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for entry in rule.non_resource_urls:
        if entry == NON_RESOURCE_ALL or entry == path:
            return True
        if entry.endswith("*") and path.startswith(entry.rstrip("*")):
            return True
    return False


def combined_resource(attrs: Attributes) -> str:
    return f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    """True when this single rule allows the request."""
    if attrs.resource_request:
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, combined_resource(attrs), attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: Attributes, rules: tuple[PolicyRule, ...] | list[PolicyRule]) -> int:
    """Index of the first rule that allows the request, or -1."""
    for i, rule in enumerate(rules):
        if rule_allows(attrs, rule):
            return i
    return -1
