"""The one format interface every result type's renderer implements, and the redacted JSON every one writes.

Why one interface: the CLI (and later the evidence report, the webhook, OSCAL) must be able to ask any result
for any of its formats the same way, and a new format is added in one module of `reports/` without touching
the command. Each result type (scan, PSS, RBAC review, connectivity, audit alerts, timeline, etcd verify,
audit-policy check) has one `Report` in its own module; `formats` names what it offers, `render` writes it.

Why redaction here: reports are the last layer before text leaves the tool. Trees are redacted *before* they
are serialised (`json_text`), never as text afterwards (a mask inside serialised JSON could break quoting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from kubehipaa.redaction import redact_tree
from kubehipaa.reports.terminal import terminal_width

ResultT_contra = TypeVar("ResultT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render, independent of the result type.

    `width`: the reader's width for text tables (the terminal's by default; tests pass 80 or 120).
    `color`: ANSI colours (only when writing to a terminal). `max_rows`: cap on rows per table group (None:
    all). `generated_at`: the report timestamp (reproducible with SOURCE_DATE_EPOCH, see `common`).
    `sign_key`: an Ed25519 private key; the formats that carry an integrity block (`reports.integrity`) sign it.
    """

    width: int = field(default_factory=terminal_width)
    color: bool = False
    max_rows: int | None = None
    generated_at: str | None = None
    sign_key: Any = None


class Report(Protocol[ResultT_contra]):
    """A result type's renderers: the formats it offers (the first is the default) and one entry point."""

    formats: tuple[str, ...]

    def render(self, result: ResultT_contra, fmt: str, options: RenderOptions) -> str:
        """`result` as text in `fmt` (one of `formats`); redacted; ends with a newline."""
        ...


class UnknownFormat(ValueError):
    """A format the result type does not offer (the CLI's option choices normally prevent it)."""


def require_format(report: Report[Any], fmt: str) -> None:
    """Raise `UnknownFormat` naming the offered formats when `fmt` is not one of them."""
    if fmt not in report.formats:
        raise UnknownFormat(f"unknown format {fmt!r}; choose one of {', '.join(report.formats)}")


def json_text(tree: Any, *, indent: bool = True, sort_keys: bool = False) -> str:
    """`tree` redacted (`redact_tree`) and serialised as JSON text ending with a newline."""
    option = orjson.OPT_NON_STR_KEYS
    if indent:
        option |= orjson.OPT_INDENT_2
    if sort_keys:
        option |= orjson.OPT_SORT_KEYS
    return orjson.dumps(redact_tree(tree), option=option).decode("utf-8") + "\n"
