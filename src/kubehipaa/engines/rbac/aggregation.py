"""ClusterRole aggregation computed offline, the way the clusterrole-aggregation controller does it.

For a ClusterRole with an aggregationRule the controller *replaces* its rules with the union of the rules of
every other ClusterRole matched by any selector: selectors in order, matched roles sorted by name, the role
itself skipped, a rule appended only if no equal rule is already present. It re-runs whenever any ClusterRole
changes, so chains (A aggregates B which aggregates C) settle at a fixpoint; we iterate to that fixpoint.

If a selector is invalid the controller fails that role's sync and leaves its rules as they are; we do the same
and report the problem.
"""

from __future__ import annotations

from dataclasses import replace

from kubehipaa.engines.rbac.selectors import SelectorError, selector_matches, validate_selector
from kubehipaa.engines.rbac.types import PolicyRule, Role


def aggregate_cluster_roles(cluster_roles: dict[str, Role]) -> tuple[dict[str, Role], list[str]]:
    """Return ClusterRoles (by name) with aggregated rules filled in, plus problems met on the way."""
    current = dict(cluster_roles)
    problems: list[str] = []
    aggregating = sorted(n for n, r in current.items() if r.aggregation_selectors is not None)
    if not aggregating:
        return current, problems
    by_name = sorted(current)
    bad: set[str] = set()
    # Each pass can only move rules one aggregation level further, so len+1 passes reach any acyclic fixpoint;
    # cycles settle too because the rule sets only grow from the declared ones.
    for _ in range(len(aggregating) + 2):
        changed = False
        for name in aggregating:
            if name in bad:
                continue
            role = current[name]
            new_rules: list[PolicyRule] = []
            seen: set[PolicyRule] = set()
            try:
                for selector in role.aggregation_selectors or ():
                    validate_selector(selector)  # even when no other ClusterRole is there to match
                    for other_name in by_name:
                        if other_name == name:
                            continue
                        other = current[other_name]
                        if not selector_matches(selector, other.labels_dict):
                            continue
                        for rule in other.rules:
                            if rule not in seen:
                                seen.add(rule)
                                new_rules.append(rule)
            except SelectorError as exc:
                bad.add(name)
                problems.append(f"ClusterRole {name}: invalid aggregationRule selector ({exc}); rules left as declared")
                continue
            if tuple(new_rules) != role.rules:
                current[name] = replace(role, rules=tuple(new_rules))
                changed = True
        if not changed:
            break
    return current, problems
