"""Property: kubehipaa's fast string matchers agree with pySigma's own wildcard-to-regex conversion."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from kubehipaa.engines.sigma import _string_pred

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
