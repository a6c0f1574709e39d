"""Compile a parsed Sigma rule into plain Python closures over (event dict, field cache).

Why: pySigma ships parsers, modifiers and processing pipelines but no backend that runs a rule against an
in-memory event. Instead of generating Python source through a text backend (and then `eval`-ing it), we
let pySigma do all the Sigma work -- YAML to `SigmaRule` (`load`), modifiers applied into typed values,
filters, field mapping through the `ProcessingPipeline` (`fields`), and the condition string parsed into a
tree of `ConditionAND/OR/NOT` with `ConditionFieldEqualsValueExpression` leaves -- and compile that *parsed*
tree once per rule into closures. Matching an event is then a handful of function calls, with no YAML left.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    Placeholder,
    SigmaCasedString,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from kubehipaa.engines.auditlog.sigma.fields import (
    VIRTUAL_FIELDS,
    FieldCache,
    _all_strings,
    _getter,
    kubernetes_audit_pipeline,
)
from kubehipaa.engines.auditlog.sigma.load import _one_line
from kubehipaa.engines.auditlog.sigma.values import _as_text, _fold, _Glob, _value_pred
from kubehipaa.errors import InputError

EventPred = Callable[[dict[str, Any], FieldCache], bool]


def _field_pred(node: ConditionFieldEqualsValueExpression) -> EventPred:
    get = _getter(node.field)
    value = node.value
    if isinstance(value, SigmaNull):
        return lambda e, c: all(v is None for v in get(e, c))
    if isinstance(value, SigmaExists):
        want = bool(value.exists)
        return lambda e, c: any(v is not None for v in get(e, c)) == want
    if isinstance(value, SigmaFieldReference):
        other = _getter(value.field)
        starts, ends = value.starts_with, value.ends_with

        def same(e: dict[str, Any], c: FieldCache) -> bool:
            mine = [t for v in get(e, c) if (t := _as_text(v)) is not None]
            for o in other(e, c):
                ot = _as_text(o)
                if ot is None:
                    continue
                for t in mine:
                    if (starts and t.startswith(ot)) or (ends and t.endswith(ot)) or t == ot:
                        return True
            return False

        return same
    plain = _set_candidate(node)
    if plain is not None:
        return _set_pred(node.field, frozenset((plain[1],)))
    pred = _value_pred(value)

    def field_matches(e: dict[str, Any], c: FieldCache) -> bool:
        for v in get(e, c):  # noqa: SIM110 - a plain loop avoids a generator per event
            if pred(v):
                return True
        return False

    return field_matches


def _plain_key(value: SigmaType) -> str | None:
    """The lower-cased text a plain (wildcard-free, case-insensitive) string or number must equal."""
    if isinstance(value, SigmaNumber):
        return str(value.number)
    if (isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString)
            and all(isinstance(p, str) for p in value.s)):
        return "".join(str(p) for p in value.s).lower()
    return None


def _set_pred(field_name: str, keys: frozenset[str]) -> EventPred:
    """OR of plain equalities on one field (a value list in the rule) as one set lookup."""
    get = _getter(field_name)

    def in_set(e: dict[str, Any], c: FieldCache) -> bool:
        for v in get(e, c):
            t = _as_text(v)
            if t is not None and t.lower() in keys:
                return True
        return False

    return in_set


def _set_candidate(node: Any) -> tuple[str, str] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        key = _plain_key(node.value)
        if key is not None and not (isinstance(node.value, SigmaNumber) and isinstance(node.value.number, float)):
            return node.field, key
    return None


def _keyword_pred(node: ConditionValueExpression) -> EventPred:
    """A field-less keyword matches any string anywhere in the event (Sigma's full-text search)."""
    pred = _value_pred(node.value)
    return lambda e, c: any(pred(s) for s in _all_strings(e))


def _alternation_pred(args: list[Any]) -> EventPred | None:
    """OR of case-insensitive wildcard strings on one field (a `|contains` list) as one matcher."""
    if len(args) < 2 or not all(
        isinstance(a, ConditionFieldEqualsValueExpression) and type(a.value) is SigmaString
        and not any(isinstance(p, Placeholder) for p in a.value.s) for a in args
    ):
        return None
    if len({a.field for a in args}) != 1:
        return None
    get = _getter(args[0].field)
    star = SpecialChars.WILDCARD_MULTI
    inners = [a.value.s[1] for a in args if len(a.value.s) == 3 and a.value.s[0] is star
              and a.value.s[2] is star and isinstance(a.value.s[1], str)]
    if len(inners) == len(args):  # a `|contains` list: one unanchored search of literals (no backtracking)
        search = re.compile("|".join(re.escape(_fold(str(i))) for i in inners), re.DOTALL).search

        def finder(t: str) -> bool:
            return search(_fold(t)) is not None
    else:  # each wildcard pattern on its own, with the linear matcher; the value is folded once
        globs = [_Glob(a.value.s, fold=True) for a in args]

        def finder(t: str) -> bool:
            folded = _fold(t)
            return any(g(folded) for g in globs)

    def matches_any(e: dict[str, Any], c: FieldCache) -> bool:
        for v in get(e, c):
            t = _as_text(v)
            if t is not None and finder(t):
                return True
        return False

    return matches_any


def _cost(node: Any) -> int:
    """Rough evaluation cost, so AND/OR try cheap, selective checks (verb, resource) first."""
    if isinstance(node, ConditionValueExpression):
        return 100
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return 10 if node.field in VIRTUAL_FIELDS else 1
    if isinstance(node, ConditionItem):
        return sum(_cost(a) for a in node.args) + 1
    return 1


def compile_condition(node: Any) -> EventPred:
    """Turn pySigma's post-processed condition tree into one predicate over (event, field cache)."""
    if isinstance(node, ConditionAND):
        preds = [compile_condition(a) for a in sorted(node.args, key=_cost)]

        def all_of(e: dict[str, Any], c: FieldCache) -> bool:
            for p in preds:  # noqa: SIM110 - a plain loop avoids a generator per event
                if not p(e, c):
                    return False
            return True

        return preds[0] if len(preds) == 1 else all_of
    if isinstance(node, ConditionOR):
        plain = [_set_candidate(a) for a in node.args]
        fields = {pc[0] for pc in plain if pc is not None}
        if all(pc is not None for pc in plain) and len(fields) == 1:
            return _set_pred(fields.pop(), frozenset(pc[1] for pc in plain if pc is not None))
        combined = _alternation_pred(node.args)
        if combined is not None:
            return combined
        ors = [compile_condition(a) for a in sorted(node.args, key=_cost)]

        def any_of(e: dict[str, Any], c: FieldCache) -> bool:
            for p in ors:  # noqa: SIM110 - a plain loop avoids a generator per event
                if p(e, c):
                    return True
            return False

        return ors[0] if len(ors) == 1 else any_of
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0])
        return lambda e, c: not inner(e, c)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_pred(node)
    if isinstance(node, ConditionValueExpression):
        return _keyword_pred(node)
    if node is None:
        return lambda e, c: False
    if isinstance(node, ConditionItem):  # pragma: no cover - identifiers/selectors are resolved by pySigma
        raise ValueError(f"unresolved condition element {type(node).__name__}")
    raise ValueError(f"unexpected condition element {type(node).__name__}")


@dataclass(frozen=True, slots=True)
class SigmaMatch:
    """One Sigma rule firing on one event."""

    rule_id: str
    title: str
    level: str
    file: str
    tags: tuple[str, ...] = ()
    detail: str = ""
    """For a correlation rule: the group and the count that crossed the threshold."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule_id": self.rule_id, "title": self.title, "level": self.level,
                               "file": self.file, "tags": list(self.tags)}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class CompiledSigmaRule:
    """A pySigma rule (after the field-mapping pipeline) and its compiled predicate."""

    rule: SigmaRule
    file: str
    predicates: list[EventPred]
    match_info: SigmaMatch
    output: bool = True
    """False for a rule only used by a correlation with `generate: false`: evaluated, never reported alone."""

    @property
    def rule_id(self) -> str:
        return self.match_info.rule_id

    @property
    def title(self) -> str:
        return self.match_info.title

    @property
    def level(self) -> str:
        return self.match_info.level

    def matches(self, event: dict[str, Any], cache: FieldCache | None = None) -> bool:
        c: FieldCache = {} if cache is None else cache
        for p in self.predicates:  # noqa: SIM110 - a plain loop avoids a generator per event
            if p(event, c):
                return True
        return False


def _compile_rule(rule: SigmaRule, file: str) -> CompiledSigmaRule:
    try:
        kubernetes_audit_pipeline().apply(rule)
        predicates = [compile_condition(cond.parsed) for cond in rule.detection.parsed_condition]
    except (SigmaError, ValueError) as exc:
        raise InputError(f"Sigma rule {rule.title!r} cannot be evaluated: {_one_line(exc)}", file=file) from None
    except RecursionError:
        raise InputError(f"Sigma rule {rule.title!r} cannot be evaluated: nested too deeply", file=file) from None
    level = rule.level.name.lower() if rule.level is not None else "medium"
    info = SigmaMatch(
        rule_id=str(rule.id) if rule.id is not None else (rule.name or rule.title),
        title=rule.title,
        level=level,
        file=file,
        tags=tuple(str(t) for t in rule.tags),
    )
    return CompiledSigmaRule(rule=rule, file=file, predicates=predicates, match_info=info,
                             output=bool(getattr(rule, "_output", True)))
