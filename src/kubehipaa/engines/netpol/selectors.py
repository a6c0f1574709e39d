"""Kubernetes label selectors: validation and matching exactly as apimachinery defines them.

`matchLabels` and `matchExpressions` are ANDed; an empty selector (`{}`) matches everything, while an
absent selector is handled by the caller (its meaning depends on the field). Keys and values are
validated like the API server does, because netpol-analyzer refuses policies with invalid selectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_NAME_RE = re.compile(f"^{_NAME}$")
_DNS1123_SUB_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """An invalid label selector (bad key, value or operator)."""


def validate_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise SelectorError(f'key: Invalid value: "{key}": name part must be non-empty')
    name = key
    if "/" in key:
        prefix, name = key.split("/", 1)
        if not prefix or len(prefix) > 253 or not _DNS1123_SUB_RE.match(prefix):
            raise SelectorError(f'key: Invalid value: "{key}": prefix part must be a lowercase DNS subdomain')
    if len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f'key: Invalid value: "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character (max 63 characters)"
        )
    return key


def validate_value(key: str, value: object) -> str:
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SelectorError(f'values[{key}]: Invalid value: "{value}": a label value must be a string')
    text = str(value)
    if text and (len(text) > 63 or not _NAME_RE.match(text)):
        raise SelectorError(
            f'values[{key}]: Invalid value: "{text}": a valid label value must be an empty string or '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (max 63 characters)"
        )
    return text


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # one of OPERATORS
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.op == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.op == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.op == "Exists":
            return self.key
        if self.op == "DoesNotExist":
            return f"!{self.key}"
        vals = ",".join(sorted(self.values))
        if self.op == "In" and len(self.values) == 1:
            return f"{self.key}={vals}"
        return f"{self.key} {self.op.lower()} ({vals})"


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled label selector; `requirements` is sorted, so equal selectors compare equal."""

    requirements: tuple[Requirement, ...]

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: dict[str, str]) -> bool:
        # a plain loop: this is the engine's innermost call and a generator costs measurably more here
        for req in self.requirements:  # noqa: SIM110
            if not req.matches(labels):
                return False
        return True

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements) or "{}"


EMPTY = Selector(())


def parse_selector(raw: Any) -> Selector:
    """Compile a LabelSelector dict; raises SelectorError for anything the API server would reject."""
    if raw is None:
        return EMPTY
    if not isinstance(raw, dict):
        raise SelectorError(f"selector must be a mapping, got {type(raw).__name__}")
    reqs: list[Requirement] = []
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        raise SelectorError("matchLabels must be a mapping")
    for key, value in match_labels.items():
        k = validate_key(key)
        reqs.append(Requirement(k, "In", frozenset({validate_value(k, value)})))
    exprs = raw.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise SelectorError("matchExpressions must be a list")
    for expr in exprs:
        if not isinstance(expr, dict):
            raise SelectorError("matchExpressions entries must be mappings")
        k = validate_key(expr.get("key"))
        op = expr.get("operator")
        values = expr.get("values") or []
        if op not in OPERATORS:
            raise SelectorError(f'"{op}" is not a valid label selector operator')
        if not isinstance(values, list):
            raise SelectorError(f"values of {k} must be a list")
        if op in ("In", "NotIn") and not values:
            raise SelectorError(f"for 'in', 'notin' operators, values set can't be empty (key {k})")
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError(f"values set must be empty for exists and does not exist (key {k})")
        reqs.append(Requirement(k, op, frozenset(validate_value(k, v) for v in values)))
    reqs.sort(key=lambda r: (r.key, r.op, sorted(r.values)))
    return Selector(tuple(dict.fromkeys(reqs)))


def matches_labels(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    """A plain equality selector such as a Service's `spec.selector` (empty matches everything)."""
    return all(labels.get(k) == v for k, v in match_labels.items())
