"""Property: kubehipaa's fast string matchers agree with pySigma's own wildcard-to-regex conversion."""

from __future__ import annotations

import functools
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from kubehipaa.engines.auditlog import SigmaRuleSet
from kubehipaa.engines.auditlog.sigma.values import _string_pred
from kubehipaa.pipelines.audit import read_sigma_rules
from tests.conftest import SHARED

ALPHABET = "aAbB.-/%*?\\"
patterns = st.text(alphabet=ALPHABET, min_size=0, max_size=8)
values = st.text(alphabet="aAbB.-/%*?\\x", min_size=0, max_size=10)


@settings(max_examples=400, deadline=None)
@given(patterns, values)
def test_wildcard_strings_match_like_pysigma_regex(pattern: str, value: str) -> None:
    sigma_string = SigmaString(pattern)
    reference = re.compile(str(sigma_string.to_regex().regexp), re.IGNORECASE | re.DOTALL)
    expected = reference.fullmatch(value) is not None
    assert _string_pred(sigma_string)(value) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aAbB-", min_size=1, max_size=6), values)
def test_contains_startswith_endswith_shapes(core: str, value: str) -> None:
    for pattern, expected in (
        (f"*{core}*", core.lower() in value.lower()),
        (f"{core}*", value.lower().startswith(core.lower())),
        (f"*{core}", value.lower().endswith(core.lower())),
    ):
        assert _string_pred(SigmaString(pattern))(value) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["verb", "objectRef", "resource", "requestObject", "spec", "containers", "volumes",
                         "hostPath", "securityContext", "capabilities", "add", "privileged", "annotations",
                         "authorization.k8s.io/decision", "responseStatus", "code", "requestURI", "x.y"]),
        children, max_size=4),
    max_leaves=12,
)


@functools.cache
def _rules() -> SigmaRuleSet:
    path = SHARED / "conformance/audit/sigma"
    if path.exists():
        return read_sigma_rules([path])
    return SigmaRuleSet.from_yaml(  # the pseudo-field rules, when the shared data is absent
        "title: t\nlogsource: {product: kubernetes, service: audit}\n"
        "detection:\n  s:\n    capabilities: '*'\n    hostPath|contains: etc\n  condition: s\n")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["verb", "objectRef", "requestObject", "annotations", "responseStatus",
                                        "requestURI", "userAgent", "user", "apiGroup"]), json_values, max_size=6))
def test_arbitrary_json_never_breaks_matching(event: dict) -> None:
    for m in _rules().match(event):
        assert m.rule_id
