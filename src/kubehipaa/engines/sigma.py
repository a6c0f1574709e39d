"""Sigma rules for Kubernetes audit events, parsed by pySigma and evaluated on dict events.

Why this shape: pySigma ships parsers, modifiers and processing pipelines but no backend that runs a
rule against an in-memory event. Instead of generating Python source through a text backend (and then
`eval`-ing it), we let pySigma do all the Sigma work -- YAML to `SigmaRule`, modifiers (`contains`,
`re`, `cidr`, `base64offset`, `all`, ...) applied into typed values, filters, field mapping through a
`ProcessingPipeline`, and the condition string parsed into a tree of `ConditionAND/OR/NOT` with
`ConditionFieldEqualsValueExpression` leaves -- and compile that *parsed* tree once per rule into
plain Python closures. Matching an event is then a handful of function calls, with no YAML left.

Pure: no I/O except reading the rule files named in `from_paths`; no printing.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
import re2  # type: ignore[import-untyped]  # google-re2, a pySigma dependency: linear-time |re matching
import yaml
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.processing.conditions import IncludeFieldCondition, MatchStringCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from kubehipaa.engines.auditlog.windows import parse_time
from kubehipaa.errors import InputError
from kubehipaa.sources import sigma_files
from kubehipaa.workload_kinds import POD_SPEC_PATHS as _POD_SPEC_PATHS

PRODUCT = "kubernetes"
SERVICE = "audit"

# Pseudo-fields of SigmaHQ's Kubernetes rules that are not audit Event paths. They are renamed by the
# processing pipeline below to virtual fields that this module computes from the request object.
VIRTUAL_CAPABILITIES = "kubehipaa.pod.capabilities"
VIRTUAL_HOSTPATHS = "kubehipaa.pod.hostPaths"
DECISION_FIELD = "annotations.authorization.k8s.io/decision"

FIELD_MAPPING: dict[str | None, str | list[str]] = {
    "capabilities": VIRTUAL_CAPABILITIES,
    "hostPath": VIRTUAL_HOSTPATHS,
    "apiGroup": "objectRef.apiGroup",
}


def kubernetes_audit_pipeline() -> ProcessingPipeline:
    """The documented field mapping, as a pySigma processing pipeline.

    - `capabilities`, `hostPath`: virtual fields over every pod spec in the request object.
    - top-level `apiGroup`: `objectRef.apiGroup` (the audit Event has no top-level apiGroup).
    - `responseStatus.code` compared with an authorization decision word (`ALLOW`/`FORBID`, as in
      SigmaHQ's enumeration rule) is the decision annotation, since the status code is always a number.
    """
    return ProcessingPipeline(
        name="kubehipaa kubernetes audit",
        items=[
            ProcessingItem(
                identifier="kubehipaa_pseudo_fields",
                transformation=FieldMappingTransformation(FIELD_MAPPING),
            ),
            ProcessingItem(
                identifier="kubehipaa_decision_word",
                transformation=FieldMappingTransformation({"responseStatus.code": DECISION_FIELD}),
                field_name_conditions=[IncludeFieldCondition(fields=["responseStatus.code"])],
                detection_item_conditions=[
                    MatchStringCondition(cond="all", pattern=r"(?i)^(allow|forbid|deny)$")
                ],
            ),
        ],
    )


# --------------------------------------------------------------------------------------------------
# Field resolution

FieldCache = dict[str, list[Any]]
Getter = Callable[[dict[str, Any], FieldCache], list[Any]]


def _walk(node: Any, parts: Sequence[str]) -> list[Any]:
    """The leaf values of a dotted path; lists fan out, keys may themselves contain dots.

    An explicit stack (document order, as a recursive walk would give) instead of recursion, so a deeply
    nested list in an event cannot exhaust Python's recursion limit; and each container is visited once per
    position in the path, so lists that share elements (possible in dicts built in memory) cannot make the
    fan-out exponential. A repeated visit could only repeat a value, which no predicate needs.
    """
    out: list[Any] = []
    n = len(parts)
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, int]] = [(node, 0)]
    while stack:
        node, i = stack.pop()
        if isinstance(node, list):
            if (id(node), i) not in seen:
                seen.add((id(node), i))
                stack.extend((item, i) for item in reversed(node))
            continue
        if i == n:
            out.append(node)
            continue
        if not isinstance(node, dict):
            continue
        # Longest key first, so `annotations.authorization.k8s.io/decision` finds the dotted annotation key.
        for cut in range(n - i, 0, -1):
            key = ".".join(parts[i:i + cut]) if cut > 1 else parts[i]
            if key in node:
                stack.append((node[key], i + cut))
                break
    return out


def _flatten(values: list[Any]) -> list[Any]:
    """`values` with nested lists spliced in, in order; each nested list once (iterative, see `_walk`)."""
    out: list[Any] = []
    seen: set[int] = {id(values)}
    stack: list[Iterator[Any]] = [iter(values)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                if id(v) not in seen:
                    seen.add(id(v))
                    stack.append(iter(v))
                    break
            else:
                out.append(v)
        else:
            stack.pop()
    return out


def _pod_specs(event: dict[str, Any]) -> list[dict[str, Any]]:
    obj = event.get("requestObject")
    if not isinstance(obj, dict):
        return []
    kind = obj.get("kind")
    specs = []
    for path in _POD_SPEC_PATHS:
        node: Any = obj
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and ("containers" in node or "volumes" in node):
            specs.append(node)
            if kind == "Pod":
                break
    return specs


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def pod_capabilities(event: dict[str, Any]) -> list[Any]:
    """Capabilities a pod in the request gains: every `capabilities.add` entry, and `ALL` for a privileged
    container (a privileged container runs with the full capability set)."""
    out: list[Any] = []
    for spec in _pod_specs(event):
        for c in _containers(spec):
            sc = c.get("securityContext")
            if not isinstance(sc, dict):
                continue
            caps = sc.get("capabilities")
            if isinstance(caps, dict) and isinstance(caps.get("add"), list):
                out.extend(caps["add"])
            if sc.get("privileged") is True:
                out.append("ALL")
    return out


def pod_host_paths(event: dict[str, Any]) -> list[Any]:
    """`hostPath.path` of every volume of every pod spec in the request object."""
    out: list[Any] = []
    for spec in _pod_specs(event):
        for vol in spec.get("volumes") or ():
            hp = vol.get("hostPath") if isinstance(vol, dict) else None
            if isinstance(hp, dict):
                out.append(hp.get("path", ""))
    return out


VIRTUAL_FIELDS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    VIRTUAL_CAPABILITIES: pod_capabilities,
    VIRTUAL_HOSTPATHS: pod_host_paths,
}


def _getter(field_name: str) -> Getter:
    """A cached accessor for one field: a direct dict walk first, the dotted-key/list walk as fallback."""
    virtual = VIRTUAL_FIELDS.get(field_name)
    parts = tuple(field_name.split("."))
    rests = tuple(".".join(parts[i:]) for i in range(len(parts)))

    def direct(event: dict[str, Any]) -> list[Any]:
        node: Any = event
        for i, part in enumerate(parts):
            if type(node) is dict:
                if part in node:
                    node = node[part]
                    continue
                if rests[i] in node:  # annotation-style key that holds the remaining dots
                    node = node[rests[i]]
                    break
                if any("." in k for k in node):  # some other split of the dotted keys
                    return _walk(event, parts)
                return []
            if type(node) is list:  # fan out over list elements
                return _walk(event, parts)
            return []
        return _flatten(node) if type(node) is list else [node]

    def get(event: dict[str, Any], cache: FieldCache) -> list[Any]:
        hit = cache.get(field_name)
        if hit is None:
            hit = cache[field_name] = virtual(event) if virtual is not None else direct(event)
        return hit

    return get


def _all_strings(node: Any) -> Iterator[str]:
    """Every string (and number, as text) anywhere in `node`, in document order; each container once.

    Iterative (no recursion limit on deep events) and visiting a shared container once: a keyword rule
    asks whether *any* value matches, which a second visit cannot change.
    """
    if not isinstance(node, dict | list):
        if isinstance(node, str):
            yield node
        elif isinstance(node, int | float) and not isinstance(node, bool):
            yield str(node)
        return
    seen: set[int] = {id(node)}
    stack: list[Iterator[Any]] = [iter(node.values() if isinstance(node, dict) else node)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, str):
                yield v
            elif isinstance(v, dict | list):
                if id(v) not in seen:
                    seen.add(id(v))
                    stack.append(iter(v.values() if isinstance(v, dict) else v))
                    break
            elif isinstance(v, int | float) and not isinstance(v, bool):
                yield str(v)
        else:
            stack.pop()


# --------------------------------------------------------------------------------------------------
# Value matchers: one predicate per pySigma value type, applied to one event value.

ValuePred = Callable[[Any], bool]


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _fold(text: str) -> str:
    """`text` with case folded one character at a time, as Sigma's case-insensitive comparison needs.

    Length-preserving (so `?` still stands for exactly one character of the value): `str.casefold` where it
    maps every character to one (ASCII, and nearly all other text), else per character the one-character
    fold, lower case, or the character itself (`ß` stays `ß`; `İ` folds to `i`, as `re.IGNORECASE` does).
    """
    if text.isascii():
        return text.lower()
    folded = text.casefold()
    if len(folded) == len(text):
        return folded
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    folded = ch.casefold()
    if len(folded) == 1:
        return folded
    lower = ch.lower()
    return lower if len(lower) == 1 else lower[0]


class _Segment:
    """A run of a wildcard pattern between two `*`: literal characters and `?`, so of fixed length.

    Without `?` it is found with `str.find` / `str.startswith`; with `?` through a regex of literals and
    `.` only (no quantifier, so no backtracking: at most its length per position tried).
    """

    __slots__ = ("literal", "rx", "size")

    def __init__(self, tokens: list[str | None]) -> None:
        self.size = len(tokens)
        if all(t is not None for t in tokens):
            self.literal: str | None = "".join(t for t in tokens if t is not None)
            self.rx: re.Pattern[str] | None = None
        else:
            self.literal = None
            self.rx = re.compile("".join("." if t is None else re.escape(t) for t in tokens), re.DOTALL)

    def at(self, text: str, pos: int) -> bool:
        """Does the segment match `text` at exactly `pos`?"""
        if self.literal is not None:
            return text.startswith(self.literal, pos)
        assert self.rx is not None
        return self.rx.match(text, pos) is not None

    def find(self, text: str, start: int, end: int) -> int:
        """The leftmost position in [start, end - size] where the segment matches, or -1."""
        if self.literal is not None:
            return text.find(self.literal, start, end)
        assert self.rx is not None
        m = self.rx.search(text, start, end)
        return -1 if m is None else m.start()


class _Glob:
    """A Sigma wildcard string as a matcher for the whole value, in time linear in the value.

    The pattern is `head * mid1 * ... * midN * tail` (with no `*`: `head` alone). Each part has a fixed
    length, so the leftmost match of each middle part, searched left to right between the head and the
    tail, leaves the most room for the rest: if any placement works, that one does. No regex backtracking,
    so `*a*b*c*` on a 24 KB user agent is three `str.find` calls, not minutes.
    """

    __slots__ = ("head", "mids", "min_len", "star", "tail")

    def __init__(self, parts: Sequence[Any], fold: bool) -> None:
        segments: list[list[str | None]] = [[]]
        for p in parts:
            if p is SpecialChars.WILDCARD_MULTI:
                segments.append([])
            elif p is SpecialChars.WILDCARD_SINGLE:
                segments[-1].append(None)
            else:
                segments[-1].extend(_fold(str(p)) if fold else str(p))
        self.star = len(segments) > 1
        self.head = _Segment(segments[0])
        self.tail = _Segment(segments[-1]) if self.star else None
        self.mids = [_Segment(t) for t in segments[1:-1] if t]
        self.min_len = sum(len(t) for t in segments)

    def __call__(self, text: str) -> bool:
        n = len(text)
        if not self.star:
            return n == self.head.size and self.head.at(text, 0)
        if n < self.min_len or not self.head.at(text, 0):
            return False
        tail = self.tail
        assert tail is not None
        end = n - tail.size
        if not tail.at(text, end):
            return False
        pos = self.head.size
        for seg in self.mids:
            found = seg.find(text, pos, end)
            if found < 0:
                return False
            pos = found + seg.size
        return True


def _wildcard_matcher(value: SigmaString) -> Callable[[str], bool]:
    """Whole-value match of a Sigma string with `*`/`?` wildcards (escapes already resolved by pySigma);
    case-insensitive unless the value is `|cased`. Linear time in the value: see `_Glob`."""
    if isinstance(value, SigmaCasedString):
        return _Glob(value.s, fold=False)
    glob = _Glob(value.s, fold=True)
    return lambda t: glob(_fold(t))


def _string_pred(value: SigmaString) -> ValuePred:
    """Sigma strings: case-insensitive (unless `|cased`), `*`/`?` wildcards, whole-value match."""
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    if any(isinstance(p, Placeholder) for p in parts):
        raise ValueError(f"placeholder %{value}% (the |expand modifier) is not supported")
    if all(p is SpecialChars.WILDCARD_MULTI for p in parts) and parts:
        return lambda v: v is not None and not isinstance(v, (dict, list))
    norm: Callable[[str], str] = (lambda s: s) if cased else _fold
    plain = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if isinstance(p, SpecialChars)]
    if not specials:
        want = norm("".join(plain))
        return lambda v: (t := _as_text(v)) is not None and norm(t) == want
    star = SpecialChars.WILDCARD_MULTI
    if len(parts) == 2 and parts[0] is star and isinstance(parts[1], str):
        suffix = norm(parts[1])
        return lambda v: (t := _as_text(v)) is not None and norm(t).endswith(suffix)
    if len(parts) == 2 and parts[1] is star and isinstance(parts[0], str):
        prefix = norm(parts[0])
        return lambda v: (t := _as_text(v)) is not None and norm(t).startswith(prefix)
    if len(parts) == 3 and parts[0] is star and parts[2] is star and isinstance(parts[1], str):
        inner = norm(parts[1])
        return lambda v: (t := _as_text(v)) is not None and inner in norm(t)
    matcher = _wildcard_matcher(value)
    return lambda v: (t := _as_text(v)) is not None and matcher(t)


def _number_of(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _linear_regex(value: SigmaRegularExpression) -> Callable[[str], Any]:
    """The `search` of a `|re` value compiled with RE2, which matches in time linear in the text.

    A rule is user input, and Python's backtracking `re` takes exponential time on patterns like `(a+)+$`
    against a long run of `a`. RE2 has no backtracking; what it cannot run in linear time (backreferences,
    lookaround) it refuses, and so does pySigma's default (safe) policy when it parses the rule. The Sigma
    specification's regex flavour (`.`, anchors, `* + ? {n,m}`, classes, groups, alternation) is entirely
    within RE2. The `i`/`m`/`s` sub-modifiers become inline flags, as in pySigma's RE2 engine.
    """
    flags = "".join(sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in value.flags))
    pattern = str(value.regexp)
    options = re2.Options()
    options.log_errors = False  # RE2 would log a refused pattern to stderr; the InputError names it instead
    options.never_capture = True
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, options).search  # type: ignore[no-any-return]
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"regular expression {pattern!r} cannot be matched in linear time (RE2: {why}); "
                         "backreferences and lookaround are outside the Sigma regex flavour") from None


def _value_pred(value: SigmaType) -> ValuePred:
    if isinstance(value, SigmaString):
        return _string_pred(value)
    if isinstance(value, SigmaBool):
        want_b = bool(value.boolean)
        return lambda v: (v is want_b) or (isinstance(v, str) and v.lower() == str(want_b).lower())
    if isinstance(value, SigmaNumber):
        want_n = value.number
        return lambda v: (n := _number_of(v)) is not None and n == want_n
    if isinstance(value, SigmaRegularExpression):
        search = _linear_regex(value)
        return lambda v: (t := _as_text(v)) is not None and search(t) is not None
    if isinstance(value, SigmaCIDRExpression):
        net = value.network

        def in_net(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            try:
                return ipaddress.ip_address(v) in net
            except ValueError:
                return False

        return in_net
    if isinstance(value, SigmaCompareExpression):
        op = _COMPARE[value.op]
        ref = value.number.number
        return lambda v: (n := _number_of(v)) is not None and op(n, ref)
    if isinstance(value, SigmaExpansion):
        preds = [_value_pred(v) for v in value.values]
        return lambda v: any(p(v) for p in preds)
    raise ValueError(f"unsupported Sigma value type {type(value).__name__}")


# --------------------------------------------------------------------------------------------------
# Condition tree → closure

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


# --------------------------------------------------------------------------------------------------
# Rule set


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


@dataclass(frozen=True, slots=True)
class SkippedRule:
    file: str
    title: str
    reason: str


@dataclass(slots=True)
class SigmaRuleSet:
    """Compiled Sigma rules for the kubernetes/audit log source; `match(event)` runs all of them."""

    rules: list[CompiledSigmaRule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    _index: _RuleIndex | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path]) -> SigmaRuleSet:
        """Load `.yml`/`.yaml` rule files (directories recursively).

        Rules for other log sources and correlation rules are skipped (see `.skipped`); a file that is not
        valid YAML or a rule pySigma rejects raises `InputError` naming the file.
        """
        files, not_regular = sigma_files.rule_files(paths)  # regular files only, each within the size cap
        collections = [_load_file(path) for path in files]
        out = cls.from_collection(_resolve(collections))
        out.skipped.extend(SkippedRule(str(path), path.name, why) for path, why in not_regular)
        return out

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> SigmaRuleSet:
        """Compile rules from YAML text (one or more documents); mainly for tests and embedding."""
        return cls.from_collection(_resolve([_parse(text, source)]))

    @classmethod
    def from_collection(cls, collection: SigmaCollection) -> SigmaRuleSet:
        out = cls()
        by_rule: dict[int, int] = {}  # id(pySigma rule) -> index in out.rules
        pending: list[SigmaCorrelationRule] = []
        for rule in collection.rules:
            file = _rule_file(rule)
            if isinstance(rule, SigmaCorrelationRule):
                pending.append(rule)
                continue
            if not isinstance(rule, SigmaRule):  # pragma: no cover - collections hold rules only
                continue
            if rule.errors:
                named = f" {rule.title!r}" if rule.title else ""
                raise InputError(f"invalid Sigma rule{named}: {_one_line(rule.errors[0], file)}", file=file)
            ls = rule.logsource
            if (ls.product or "").lower() != PRODUCT or (ls.service or "").lower() != SERVICE:
                out.skipped.append(SkippedRule(
                    file, rule.title, f"log source product={ls.product} service={ls.service} is not kubernetes/audit"
                ))
                continue
            by_rule[id(rule)] = len(out.rules)
            out.rules.append(_compile_rule(rule, file))
        for corr in pending:
            file = _rule_file(corr)
            if corr.errors:
                raise InputError(f"invalid Sigma correlation {corr.title!r}: {_one_line(corr.errors[0])}", file=file)
            compiled, reason = _compile_correlation(corr, file, by_rule)
            if compiled is None:
                out.skipped.append(SkippedRule(file, corr.title, reason))
            else:
                out.correlations.append(compiled)
        for info in [r.match_info for r in out.rules] + [c.match_info for c in out.correlations]:
            sigma_meta(info)  # validated at load: a hipaa.<paragraph> tag must name a catalog paragraph
        return out

    def match(self, event: dict[str, Any]) -> list[SigmaMatch]:
        """Every rule that matches this audit event (a dict as read from the log), in rule order, then the
        correlation rules whose threshold this event crossed (stateful: windows per group, bounded)."""
        if not isinstance(event, dict):
            return []
        index = self._index
        if index is None or index.size != len(self.rules):
            index = self._index = _RuleIndex.build(self.rules)
        cache: FieldCache = {}
        hits = [i for i in index.candidates(event, cache) if self.rules[i].matches(event, cache)]
        out = [self.rules[i].match_info for i in hits if self.rules[i].output]
        if self.correlations and hits:
            t = parse_time(_event_time(event))
            for corr in self.correlations:
                fired = corr.observe(event, cache, hits, t)
                if fired is not None:
                    out.append(fired)
        return out

    def __len__(self) -> int:
        return len(self.rules) + len(self.correlations)


# --------------------------------------------------------------------------------------------------
# Correlation rules (Sigma 2.0): event_count and value_count over a sliding window per group

MAX_CORRELATION_GROUPS = 50_000
"""Bound on the groups one correlation rule tracks; the least recently seen group is evicted."""

_CORRELATION_OPS: dict[str, Callable[[float, float], bool]] = {
    "GT": lambda n, c: n > c,
    "GTE": lambda n, c: n >= c,
}


def _event_time(event: dict[str, Any]) -> str:
    for key in ("requestReceivedTimestamp", "stageTimestamp", "timestamp"):
        v = event.get(key)
        if isinstance(v, str) and v:
            return v
    return ""


@dataclass(slots=True)
class Correlation:
    """One compiled correlation rule and its bounded per-group windows."""

    match_info: SigmaMatch
    kind: str
    seconds: float
    threshold: float
    op: Callable[[float, float], bool]
    group_getters: dict[int, list[Getter]]
    """Compiled base-rule index -> getters of the group-by fields (aliases resolved for that rule)."""
    value_getters: dict[int, Getter]
    """value_count only: compiled base-rule index -> getter of the counted field."""
    groups: OrderedDict[tuple[Any, ...], deque[tuple[float, str]]] = field(default_factory=OrderedDict)

    @property
    def rule_id(self) -> str:
        return self.match_info.rule_id

    @property
    def title(self) -> str:
        return self.match_info.title

    def observe(self, event: dict[str, Any], cache: FieldCache, hits: list[int], t: float) -> SigmaMatch | None:
        member = next((i for i in hits if i in self.group_getters), None)
        if member is None:
            return None
        key = tuple(tuple(sorted({str(v) for v in g(event, cache) if v is not None}))
                    for g in self.group_getters[member])
        value = ""
        if self.kind == "value_count":
            vals = [v for v in self.value_getters[member](event, cache) if v is not None]
            if not vals:
                return None
            value = str(vals[0])
        window = self.groups.get(key)
        if window is None:
            window = self.groups[key] = deque()
            if len(self.groups) > MAX_CORRELATION_GROUPS:
                self.groups.popitem(last=False)
        else:
            self.groups.move_to_end(key)
        window.append((t, value))
        horizon = t - self.seconds
        while window and window[0][0] < horizon:
            window.popleft()
        n = len(window) if self.kind == "event_count" else len({v for _, v in window})
        if not self.op(n, self.threshold):
            return None
        window.clear()  # re-arm: the next alert for this group needs a fresh window
        group = ", ".join("/".join(k) or "-" for k in key) or "all events"
        what = "events" if self.kind == "event_count" else "distinct values"
        detail = f"{n} {what} within {int(self.seconds)}s for {group}"
        info = self.match_info
        return SigmaMatch(info.rule_id, info.title, info.level, info.file, info.tags, detail)


def _compile_correlation(corr: SigmaCorrelationRule, file: str,
                         by_rule: dict[int, int]) -> tuple[Correlation | None, str]:
    """A correlation rule over compiled base rules, or (None, why it is not evaluated)."""
    kind = str(corr.type.name).lower()
    if kind not in ("event_count", "value_count"):
        return None, f"correlation type {kind} is not evaluated (only event_count and value_count)"
    cond = corr.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        return None, "extended correlation conditions are not evaluated"
    op = _CORRELATION_OPS.get(cond.op.name)
    if op is None:
        return None, f"condition {cond.op.name.lower()} needs end-of-window timers (only gt/gte are evaluated)"
    members: dict[int, list[Getter]] = {}
    values: dict[int, Getter] = {}
    fieldref = cond.fieldref
    if kind == "value_count" and not isinstance(fieldref, str):
        return None, "value_count needs exactly one condition field"
    for ref in corr.rules or []:
        base = getattr(ref, "rule", None)
        idx = by_rule.get(id(base)) if base is not None else None
        if idx is None:
            return None, f"referenced rule {ref.reference!r} is not a kubernetes/audit rule (or is a correlation)"

        def field_for(name: str, ref: Any = ref) -> str:
            alias = corr.aliases.aliases.get(name)
            if alias is not None:
                for r, mapped in alias.mapping.items():
                    if getattr(r, "rule", None) is getattr(ref, "rule", None):
                        name = mapped
                        break
            mapped_field = FIELD_MAPPING.get(name, name)
            return mapped_field if isinstance(mapped_field, str) else name

        members[idx] = [_getter(field_for(g)) for g in (corr.group_by or [])]
        if kind == "value_count" and isinstance(fieldref, str):
            values[idx] = _getter(field_for(fieldref))
    if not members:
        return None, "no referenced rules"
    level = corr.level.name.lower() if corr.level is not None else "medium"
    info = SigmaMatch(
        rule_id=str(corr.id) if corr.id is not None else (corr.name or corr.title), title=corr.title,
        level=level, file=file, tags=tuple(str(t) for t in corr.tags),
    )
    return Correlation(info, kind, float(corr.timespan.seconds), float(cond.count), op, members, values), ""


# Fields a rule is most often pinned to; a rule that requires one of a few values there is only tried on
# events carrying one of them.
INDEX_FIELDS = ("objectRef.resource", "verb")


def required_values(node: Any, field_name: str) -> frozenset[str] | None:
    """Lower-cased values `field_name` must equal for `node` to be true, or None when unconstrained."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        cand = _set_candidate(node)
        return frozenset((cand[1],)) if cand is not None and cand[0] == field_name else None
    if isinstance(node, ConditionAND):
        found = [r for a in node.args if (r := required_values(a, field_name)) is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(node, ConditionOR):
        parts = [required_values(a, field_name) for a in node.args]
        if parts and all(p is not None for p in parts):
            return frozenset().union(*(p for p in parts if p is not None))
        return None
    return None


@dataclass(slots=True)
class _RuleIndex:
    """Rules bucketed by a value they require on an index field, so most rules are never tried."""

    size: int
    always: list[int]
    buckets: list[tuple[Getter, dict[str, list[int]]]]

    @classmethod
    def build(cls, rules: list[CompiledSigmaRule]) -> _RuleIndex:
        always: list[int] = []
        by_field: dict[str, dict[str, list[int]]] = {f: {} for f in INDEX_FIELDS}
        for i, rule in enumerate(rules):
            for f in INDEX_FIELDS:
                needs = [required_values(c.parsed, f) for c in rule.rule.detection.parsed_condition]
                if needs and all(n is not None for n in needs):
                    for key in frozenset().union(*(n for n in needs if n is not None)):
                        by_field[f].setdefault(key, []).append(i)
                    break
            else:
                always.append(i)
        return cls(len(rules), always, [(_getter(f), b) for f, b in by_field.items() if b])

    def candidates(self, event: dict[str, Any], cache: FieldCache) -> list[int]:
        out = list(self.always)
        for get, bucket in self.buckets:
            for v in get(event, cache):
                t = _as_text(v)
                if t is not None:
                    out.extend(bucket.get(t.lower(), ()))
        if len(self.buckets) > 0:
            out = sorted(set(out))
        return out


def _one_line(err: BaseException, file: str | None = None) -> str:
    """pySigma's message on one line, without the " in <file>" it appends (the error already names the file)."""
    text = " ".join(str(err).split())
    if file and text.endswith(f" in {file}"):
        text = text[: -len(f" in {file}")]
    return text


def _rule_file(rule: Any) -> str:
    src = getattr(rule, "source", None)
    path = getattr(src, "path", None)
    return str(path) if path is not None else "<string>"


def _resolve(collections: list[SigmaCollection]) -> SigmaCollection:
    """Merge per-file collections: applies Sigma filters and resolves correlation references across files."""
    try:
        return SigmaCollection.merge(collections, resolve_references=True)
    except SigmaError as exc:
        src = getattr(exc, "source", None)
        where = str(getattr(src, "path", "")) or None
        raise InputError(f"Sigma rules: {_one_line(exc)}", file=where) from None


def _parse(text: str, source: str | Path) -> SigmaCollection:
    src = SigmaRuleLocation(Path(source)) if not isinstance(source, str) or source != "<string>" else None
    try:
        docs = list(yaml.safe_load_all(text))
    except RecursionError:
        raise InputError("not a Sigma rule: nested too deeply", file=str(source)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", file=str(source),
                         line=line) from None
    if any(d is not None and not isinstance(d, dict) for d in docs):
        raise InputError("a Sigma rule document must be a mapping", file=str(source))
    try:
        return SigmaCollection.from_dicts(
            docs, collect_errors=True, source=src, collect_filters=True, resolve_references=False
        )
    except SigmaError as exc:
        raise InputError(f"invalid Sigma rule: {_one_line(exc)}", file=str(source)) from None
    except RecursionError:
        raise InputError("invalid Sigma rule: nested too deeply", file=str(source)) from None


def _load_file(path: Path) -> SigmaCollection:
    return _parse(sigma_files.read_rule(path), path)


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


# --------------------------------------------------------------------------------------------------
# Running Sigma next to the built-in detections

def sigma_meta(match: SigmaMatch) -> Any:
    """A Sigma rule's metadata in the common rule model (`frameworks.rules.sigma_rule_meta`: severity from its
    level; HIPAA paragraphs from its `hipaa.<paragraph>` tags, else the documented default `SIGMA_HIPAA`),
    validated; `InputError` naming the rule's file when a tag names no catalog paragraph."""
    from kubehipaa.frameworks.rules import RuleError, sigma_rule_meta

    try:
        return sigma_rule_meta(match.rule_id, match.title, match.level, match.tags)
    except RuleError as exc:
        raise InputError(f"Sigma rule {match.title!r}: {exc}", file=match.file) from None


def sigma_alert(match: SigmaMatch, ev: Any) -> Any:
    """A Sigma match on an `AuditEvent` as the audit core's `Alert`, so reports and sinks treat both alike."""
    from kubehipaa.engines.auditlog import Alert

    meta = sigma_meta(match)
    return Alert(
        rule_id=meta.id, title=match.title, severity=meta.severity, hipaa=meta.hipaa,
        message=(f"Sigma correlation {match.title!r}: {match.detail} (last: {ev.verb or '?'} {ev.object_display})"
                 if match.detail else f"Sigma rule {match.title!r} matched ({ev.verb or '?'} {ev.object_display})"),
        time=ev.time, audit_id=ev.auditID or "", user=ev.username, source_ip=ev.source_ip,
        user_agent=ev.user_agent, verb=ev.verb or "", object=ev.object_display, namespace=ev.namespace,
        evidence={"sigmaFile": match.file, "level": match.level, "tags": list(match.tags)},
    )


_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER = msgspec.json.Decoder()


def event_dict(ev: Any) -> dict[str, Any]:
    """An audit-core `AuditEvent` back as the plain dict Sigma reads (upstream field names, bodies decoded).

    One msgspec encode + decode in C (the undecoded bodies are embedded verbatim): about twice as fast as
    `AuditEvent.to_dict()`, with the same result; falls back to it if the round trip fails."""
    try:
        doc = _JSON_DECODER.decode(_JSON_ENCODER.encode(ev))
    except (msgspec.DecodeError, msgspec.EncodeError, TypeError):
        return dict(ev.to_dict())
    return doc if isinstance(doc, dict) else dict(ev.to_dict())


class RawEventView:
    """A `to_dict` for `with_sigma` that shows Sigma each event as logged, not only the decoded fields.

    The reader hands over each batch's events with the bytes they were decoded from (`set_batch`, e.g. from
    `iter_event_batches_with_raw`); while the detector processes that batch, an event of it is given to
    Sigma as `orjson.loads` of its bytes (every field: `level`, `user.extra`, all annotations, ...). An event
    held back from an earlier batch (a RequestReceived stage evaluated later), one without bytes, or one
    whose bytes are not a JSON object falls back to `event_dict`. The same mechanism as `audit serve`'s.
    Events are looked up by `id()`: valid because the batch's events are alive while it is processed, and
    the table is replaced (`set_batch`) or emptied (`clear`) before the next batch.
    """

    __slots__ = ("_raw",)

    def __init__(self) -> None:
        self._raw: dict[int, bytes | None] = {}

    def set_batch(self, events: Sequence[Any], raws: Sequence[bytes | None]) -> None:
        if len(events) != len(raws):
            raise ValueError("events and raws are not aligned")
        self._raw = dict(zip(map(id, events), raws, strict=True))

    def clear(self) -> None:
        self._raw = {}

    def __call__(self, ev: Any) -> dict[str, Any]:
        raw = self._raw.get(id(ev))
        if raw is not None:
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                return doc
        return event_dict(ev)


def catalog_rules(ruleset: SigmaRuleSet) -> list[Any]:
    """The Sigma rules as audit-core `Rule` records (id `sigma:<uuid>`), for reports that group alerts by rule.

    Their `match` never fires: Sigma rules are evaluated by `SigmaRuleSet.match`, not by the Detector."""
    from kubehipaa.engines.auditlog import Rule

    out = []
    entries = [(r.match_info, "rule", tuple(str(x) for x in (r.rule.references or ()))) for r in ruleset.rules
               if r.output]
    entries += [(c.match_info, "correlation", ()) for c in ruleset.correlations]
    for info, what, refs in entries:
        meta = sigma_meta(info)
        out.append(Rule(
            id=meta.id, title=meta.title, severity=meta.severity, hipaa=meta.hipaa,
            logic=f"Sigma {what} {Path(info.file).name} (level {info.level}), evaluated through pySigma",
            match=lambda ev, cfg: None, gate="sigma", refs=refs, family="sigma",
        ))
    return out


def register_sigma_rules(ruleset: SigmaRuleSet) -> None:
    """Add the Sigma rules to the audit core's `RULES_BY_ID`, so alert reports (which group and rank alerts
    by that catalog) show Sigma alerts like built-in ones. Idempotent; built-in ids are never replaced."""
    from kubehipaa.engines.auditlog import RULES_BY_ID

    for rule in catalog_rules(ruleset):
        RULES_BY_ID.setdefault(rule.id, rule)


def with_sigma(detector: Any, ruleset: SigmaRuleSet, *, register: bool = True,
               to_dict: Callable[[Any], dict[str, Any]] | None = None) -> Any:
    """Make `detector` (an audit-core `Detector`) also run `ruleset` on every event it evaluates.

    Uses the detector's `add_hook` extension point, so Sigma sees each request once (after the auditID
    de-duplication across stages), its alerts flow wherever the built-in ones go and `detector.stats` counts
    them. Each evaluated event is turned into a dict for Sigma, which costs time only when Sigma rules are
    given. `to_dict` does that conversion; the default, `event_dict`, only has the fields the audit core
    decodes, so a caller that still has the original JSON (the webhook) passes its own.
    With `register`, the rules are also added to the audit core's rule catalog (see `register_sigma_rules`).
    """
    if register:
        register_sigma_rules(ruleset)
    view = to_dict or event_dict

    def sigma_hook(ev: Any) -> list[Any]:
        return [sigma_alert(m, ev) for m in ruleset.match(view(ev))]

    detector.add_hook(sigma_hook)
    return detector
