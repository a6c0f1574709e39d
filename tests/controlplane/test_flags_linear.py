"""Flags files are tokenised in time linear in their size, with the tokens `shlex` gives.

`tokens_from_text` followed `NAME=value` assignments by recursion, re-tokenising the rest at each link (an
`A=A=…=x` chain was quadratic and past ~1,000 links a RecursionError, exit 3), and `shlex` builds each
token by string concatenation (quadratic in the token's length). Growth tests run cases of
`bench/linear_bench.py` at n and 8n: linear is ~8, quadratic ~64.
"""

from __future__ import annotations

import shlex

import pytest
from bench.linear_bench import CASES, check_linear
from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.engines.controlplane import shell_split, tokens_from_text
from kubehipaa.engines.controlplane.flags import _tokens

LINEAR_SLACK = 24.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "n"), [("flags: A=A=", 1_500), ("flags: one quoted token", 40_000)])
def test_time_grows_linearly(name: str, n: int) -> None:
    case = next(c for c in CASES if c.name.startswith(name))
    failure = check_linear(case, n, LINEAR_SLACK)
    assert failure is None, failure


def test_long_assignment_chain_is_no_recursion_error() -> None:
    assert tokens_from_text("A=" * 50_000 + "--x=1") == ["--x=1"]
    assert tokens_from_text("ExecStart=" + "A=Environment=" * 1_000 + "-v") == ["-v"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t'\"\\#ab=-\r", max_size=14))
def test_shell_split_equals_shlex(line: str) -> None:
    try:
        expected: list[str] | str = shlex.split(line, comments=True)
    except ValueError:
        expected = "error"
    try:
        got: list[str] | str = shell_split(line)
    except ValueError:
        got = "error"
    assert got == expected


def _reference_tokens(text: str) -> list[str]:
    """`tokens_from_text` as it was: recursion on every assignment, `shlex` for every line."""
    import re

    assign = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=(.*)$", re.S)
    out: list[str] = []
    for raw_line in text.replace("\\\n", " ").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or (line.startswith("[") and line.endswith("]")):
            continue
        for prefix in ("ExecStart=", "Environment="):
            if line.startswith(prefix):
                line = line[len(prefix) :]
        try:
            parts = shlex.split(line, comments=True)
        except ValueError:
            parts = line.split()
        for part in parts:
            m = assign.match(part)
            if m and not part.startswith("-"):
                out.extend(_reference_tokens(m.group(1)))
            else:
                out.append(part)
    return out


FRAGMENTS = st.sampled_from(["A=", "B_1=", "ExecStart=", "Environment=", "-", "--x=1", "[", "]", "#", " ", "\n",
                             "\\\n", "'", '"', "\\", "x", "=", "\t", "é"])


@settings(max_examples=250, deadline=None)
@given(st.lists(FRAGMENTS, max_size=12))
def test_tokens_equal_the_recursive_tokeniser(fragments: list[str]) -> None:
    text = "".join(fragments)
    assert tokens_from_text(text) == _reference_tokens(text)


def test_nesting_beyond_the_bound_is_kept_as_a_token() -> None:
    assert _tokens('A="--a=1 --b=2"', 0) == ["--a=1", "--b=2"]
    assert _tokens('A="x y"', 40) == ["x y"]  # past the bound the value is one token, not dropped
