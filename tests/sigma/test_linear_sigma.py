"""Sigma matching takes time linear in the event, with the semantics Sigma defines.

Growth tests run cases of `bench/linear_bench.py` at n and 8n and assert the time ratio stays far below
quadratic (linear ~8, quadratic ~64). Before the fix `*a*b*c*` was a backtracking regex (cubic: a 24 KB user
agent took minutes), `|re` ran on Python's backtracking engine (`(a+)+b` is exponential), and the field and
keyword walks recursed (RecursionError on deep events) and re-walked shared lists (exponential); each of these
tests timed out or failed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bench.linear_bench import CASES, check_linear
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaCasedString, SigmaString

from kubehipaa.engines.auditlog import SigmaRuleSet
from kubehipaa.engines.auditlog.sigma.values import _fold, _string_pred, _wildcard_matcher
from kubehipaa.errors import InputError

LINEAR_SLACK = 24.0
"""Allowed time ratio for an 8x larger input: 8 is linear, 64 quadratic."""


def rules(detection: str) -> SigmaRuleSet:
    return SigmaRuleSet.from_yaml(
        "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {product: kubernetes, service: audit}\n"
        f"detection:\n{detection}\n  condition: sel\n")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("sigma: '*a*b*c*'", 3_000),
        ("sigma: |re '(a+)+b'", 1_000),
        ("sigma: field and keyword rule, event n levels deep", 1_000),
    ],
)
def test_time_grows_linearly(name: str, n: int) -> None:
    case = next(c for c in CASES if c.name.startswith(name))
    failure = check_linear(case, n, LINEAR_SLACK)
    assert failure is None, failure


@pytest.mark.timeout(20)
def test_wildcards_on_a_24kb_user_agent() -> None:
    ua = "Mozilla/5.0 " + "ab" * 12_000
    assert not rules("  sel:\n    userAgent: '*a*b*c*'").match({"userAgent": ua})
    assert rules("  sel:\n    userAgent: '*a*b*c*'").match({"userAgent": ua + "c"})
    assert rules("  sel:\n    userAgent: 'moz*a?a*B'").match({"userAgent": ua})
    assert not rules("  sel:\n    userAgent: 'moz*a?b*B'").match({"userAgent": ua})
    assert not rules("  sel:\n    userAgent|cased: 'moz*'").match({"userAgent": ua})


@pytest.mark.timeout(20)
def test_shared_lists_in_an_event_are_walked_once() -> None:
    """Dicts built in memory (not parsed JSON) can share lists: 2^60 paths, 60 distinct lists."""
    node: Any = [{"resource": "secrets"}]
    for _ in range(60):
        node = [node, node]
    event = {"verb": "get", "objectRef": node, "requestObject": {"spec": node}}
    assert rules("  sel:\n    objectRef.resource: secrets").match(event)
    assert rules("  sel:\n    - 'secret?'").match(event)
    assert not rules("  sel:\n    - 'configmaps'").match(event)


@pytest.mark.timeout(20)
def test_deep_event_is_no_recursion_error() -> None:
    node: Any = {"resource": "pods", "name": "deep-one"}
    for i in range(20_000):
        node = [node] if i % 3 else [[node]]
    event = {"verb": "get", "objectRef": node}
    assert rules("  sel:\n    objectRef.resource: pods").match(event)
    assert rules("  sel:\n    - '*one'").match(event)


# --- wildcard semantics ------------------------------------------------------------------------------------

PATTERN_ALPHABET = "aAbB.-*?\\"
VALUE_ALPHABET = "aAbB.-*?\\x\n"


def reference(value: SigmaString, text: str) -> bool:
    """pySigma's own wildcard-to-regex conversion, run by Python's re (fine on these short strings)."""
    flags = re.DOTALL | (0 if isinstance(value, SigmaCasedString) else re.IGNORECASE)
    return re.fullmatch(str(value.to_regex().regexp), text, flags) is not None


@settings(max_examples=250, deadline=None)
@given(st.text(alphabet=PATTERN_ALPHABET, max_size=12), st.text(alphabet=VALUE_ALPHABET, max_size=16))
def test_wildcard_matcher_agrees_with_pysigma_regex(pattern: str, text: str) -> None:
    value = SigmaString(pattern)
    assert _wildcard_matcher(value)(text) is reference(value, text)
    assert _string_pred(value)(text) is reference(value, text)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=PATTERN_ALPHABET, max_size=10), st.text(alphabet=VALUE_ALPHABET, max_size=14))
def test_cased_wildcard_matcher_agrees_with_pysigma_regex(pattern: str, text: str) -> None:
    value = SigmaCasedString.from_sigma_string(SigmaString(pattern))
    assert _wildcard_matcher(value)(text) is reference(value, text)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a\\*b", "a*b", True),  # an escaped star is a literal star
        ("a\\*b", "axxb", False),
        ("a\\?b", "a?b", True),
        ("a\\?b", "axb", False),
        ("a?c", "a\nc", True),  # ? is any one character, newline included
        ("a?c", "ac", False),
        ("*ab*ab*", "abab", True),  # segments may not overlap
        ("*ab*ab*", "aba", False),
        ("ab*ba", "aba", False),  # head and tail may not overlap either
        ("ab*ba", "abba", True),
        ("*?*", "", False),
        ("*?*", "x", True),
        ("KUBE*SYSTEM", "kube-system", True),  # case-insensitive by default
        ("*ΣΑΣ*", "x σας y", True),  # Unicode case folding (final sigma folds like sigma)
        ("i?", "İx", True),  # one character each side, as re.IGNORECASE matches it
        ("stra?e", "STRASSE", False),  # ß is one character, SS two: no length-changing folds
        ("stra?e", "Straße", True),
    ],
)
def test_wildcard_examples(pattern: str, text: str, expected: bool) -> None:
    assert _string_pred(SigmaString(pattern))(text) is expected


def test_fold_keeps_length() -> None:
    for text in ("İstanbul", "Straße", "ﬁle", "ΣΑΣ", "plain ascii", "ǅ"):
        assert len(_fold(text)) == len(text)
    assert _fold("İ") == "i" and _fold("ΣΑΣ") == _fold("σας")


def test_contains_list_and_mixed_wildcard_list() -> None:
    contains = rules("  sel:\n    userAgent|contains:\n      - 'SQLMAP'\n      - 'nikto'\n")
    assert contains.match({"userAgent": "x sqlmap/1.0"})
    assert not contains.match({"userAgent": "curl"})
    mixed = rules("  sel:\n    userAgent:\n      - 'curl/*'\n      - '*python?requests*'\n")
    assert mixed.match({"userAgent": "Python-Requests/2.31"})
    assert mixed.match({"userAgent": "CURL/8"})
    assert not mixed.match({"userAgent": "wget/1"})


# --- |re -----------------------------------------------------------------------------------------------------


def test_regex_modifier_runs_in_linear_time_with_its_flags() -> None:
    catastrophic = rules("  sel:\n    userAgent|re: '(a+)+$'")
    assert not catastrophic.match({"userAgent": "a" * 50_000 + "!"})
    assert catastrophic.match({"userAgent": "xaaa"})
    cased = rules("  sel:\n    userAgent|re: '^kube'")
    assert not cased.match({"userAgent": "KUBECTL"})  # |re is case-sensitive by default
    insensitive = rules("  sel:\n    userAgent|re|i: '^kube'")
    assert insensitive.match({"userAgent": "KUBECTL"})
    dotall = rules("  sel:\n    userAgent|re|s: 'a.b'")
    assert dotall.match({"userAgent": "a\nb"})
    assert not rules("  sel:\n    userAgent|re: 'a.b'").match({"userAgent": "a\nb"})
    multiline = rules("  sel:\n    userAgent|re|m: '^b$'")
    assert multiline.match({"userAgent": "a\nb\nc"})


@pytest.mark.parametrize("regex", [r"(a)\1", r"a(?=b)", r"(?<!x)a"])
def test_regex_that_needs_backtracking_is_refused_at_load(regex: str) -> None:
    with pytest.raises(InputError):
        rules(f"  sel:\n    userAgent|re: '{regex}'")
