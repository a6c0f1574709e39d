"""The fixed masks: one string per kind, whatever it replaces (no length, no punctuation)."""

from __future__ import annotations

import re


def mask(kind: str) -> str:
    """The fixed mask of a kind: `<redacted:ssn>`. Same string whatever it replaces."""
    return f"<redacted:{kind}>"


SECRET = mask("secret")
QUERY = mask("query")
PATH = mask("path")
GENERIC = "<redacted>"
"""For a value a check declared sensitive without saying what it is."""
MASK_RE = re.compile(r"<redacted(?::[a-z0-9-]{1,20})?>")
"""Every mask this module writes (tests use it to tell masks from leaked text)."""
MASK_START = "<redacted"


def is_masked(text: str) -> bool:
    """True when `text` is exactly one mask."""
    return MASK_RE.fullmatch(text) is not None


class Redacted(str):
    """Text that has been through this layer, so a later pass can skip it in O(1) (a scan's exit pass would
    otherwise redo tens of thousands of finding messages the registry redacted when it made them). Anything
    built from it (`f"{x}..."`, `x + y`) is a plain `str` again, and is redacted again."""

    __slots__ = ()


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters without cutting a mask in half (a cut mask reads like data)."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    lt = cut.rfind("<")
    if lt >= 0:
        m = MASK_RE.match(text, lt)
        if m is not None and m.end() > limit:
            cut = cut[:lt]
    return cut + "…"
