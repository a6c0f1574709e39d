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


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    match_labels = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(exprs, list):
        raise SelectorError("matchLabels must be a map and matchExpressions a list")
    for key, value in match_labels.items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in exprs:
        if not isinstance(expr, Mapping):
            raise SelectorError("matchExpressions entries must be maps")
        key = str(expr.get("key", ""))
        op = expr.get("operator")
        values = [str(v) for v in (expr.get("values") or [])]
        if not key:
            raise SelectorError("matchExpressions entry without a key")
        if op == "In":
            if not values:
                raise SelectorError(f"operator In on {key!r} needs values")
            if labels.get(key) not in values:
                return False
        elif op == "NotIn":
            if not values:
                raise SelectorError(f"operator NotIn on {key!r} needs values")
            if key in labels and labels[key] in values:
                return False
        elif op == "Exists":
            if values:
                raise SelectorError(f"operator Exists on {key!r} takes no values")
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if values:
                raise SelectorError(f"operator DoesNotExist on {key!r} takes no values")
            if key in labels:
                return False
        else:
            raise SelectorError(f"unknown operator {op!r} on {key!r}")
    return True
