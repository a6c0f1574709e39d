"""Assertions on rendered text tables, shared by the width tests of every command (issue 13 req 4)."""

from __future__ import annotations

from collections.abc import Iterable


def assert_fits(text: str, width: int, names: Iterable[str]) -> None:
    """Every line at most `width` columns, and every name whole on one line: a name split mid-word (a check id,
    a resource, a namespace folded at the column edge) would be on two lines."""
    lines = text.splitlines()
    assert lines, "nothing rendered"
    widest = max(lines, key=len)
    assert len(widest) <= width, f"line of {len(widest)} columns at width {width}:\n{widest}"
    for name in set(names):
        assert any(name in line for line in lines), f"{name!r} split (or missing) at width {width}:\n{text}"
