"""`metav1.LabelSelector` evaluation, as used by ClusterRole aggregationRule.clusterRoleSelectors.

Semantics follow LabelSelectorAsSelector: all requirements must hold; an empty selector matches everything;
`In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` take none; `NotIn` and `DoesNotExist` also match
objects without the label. An invalid selector raises `SelectorError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SelectorError(ValueError):
    pass


def _requirements(selector: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """Every requirement of the selector, validated as a whole first (as LabelSelectorAsSelector does), so an
    invalid expression is an error whatever labels it is matched against."""
    match_labels = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
        raise SelectorError("matchLabels must be a map and matchExpressions a list")
    reqs = [(str(key), "In", [str(value)]) for key, value in match_labels.items()]
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise SelectorError("matchExpressions entries must be maps")
        key = str(expr.get("key", ""))
        op = expr.get("operator")
        values = [str(v) for v in (expr.get("values") or [])]
        if not key:
            raise SelectorError("matchExpressions entry without a key")
        if op in ("In", "NotIn"):
            if not values:
                raise SelectorError(f"operator {op} on {key!r} needs values")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise SelectorError(f"operator {op} on {key!r} takes no values")
        else:
            raise SelectorError(f"unknown operator {op!r} on {key!r}")
        reqs.append((key, str(op), values))
    return reqs


def validate_selector(selector: Mapping[str, Any]) -> None:
    """Raise `SelectorError` if the selector is invalid, independently of any labels."""
    _requirements(selector)


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, op, values in _requirements(selector):
        if op == "In":
            if labels.get(key) not in values:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif key in labels:  # DoesNotExist
            return False
    return True
