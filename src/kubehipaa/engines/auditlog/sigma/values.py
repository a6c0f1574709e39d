"""Value matchers: one predicate per pySigma value type, applied to one event value.

Sigma's value semantics (case-insensitive strings with `*`/`?` wildcards, `|re`, `|cidr`, numeric
comparisons, expansions) as plain closures, each in time linear in the value: a rule is user input and an
event value may be a 24 KB user agent, so no backtracking matcher is ever built from a rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2, a pySigma dependency: linear-time |re matching
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

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
