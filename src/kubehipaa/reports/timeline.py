"""Render an audit timeline (who did what, when, from where) as a terminal table, JSON or HTML.

`TimelineReport` is the `Report` (reports/base.py) of an `AuditTimeline` (pipelines/audit.py). Every format
renders the entries' `to_dict()` (redacted, see engines/auditlog/timeline.py) and the inputs through
`redact_tree`. The table goes through `terminal.fit_table` at the reader's width: times, users, verbs,
outcomes, addresses and alert ids are never split inside a word (rows are stacked when they cannot fit).
Each request that raised alerts names the incidents they are in (the ids `audit analyze` reports for the same
log and window): `incidents` in JSON, `→ INC-…` under the rule ids in the table and HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from rich.console import RenderableType
from rich.text import Text

from kubehipaa import __version__
from kubehipaa.engines.auditlog import Timeline
from kubehipaa.redaction import clip, redact_tree
from kubehipaa.reports.base import RenderOptions, require_format
from kubehipaa.reports.terminal import Column, fit_table, render_text, terminal_width

if TYPE_CHECKING:
    from kubehipaa.pipelines.audit import AuditTimeline

OUTCOME_STYLE = {"allowed": "green", "forbidden": "red", "unauthorized": "red", "failed": "yellow"}
COLUMNS = (Column("time", key=True), Column("user", key=True), Column("verb", key=True), Column("object"),
           Column("outcome", key=True), Column("source IP", key=True), Column("user agent"),
           Column("alerts / incident", key=True))


def timeline_dict(tl: Timeline, inputs: dict[str, Any], generated_at: str | None) -> dict[str, Any]:
    entries = tl.entries()
    return {
        "tool": {"name": "kubehipaa", "version": __version__},
        "generatedAt": generated_at,
        "filters": redact_tree(tl.filter.to_dict()),
        "matched": tl.matched,
        "shown": len(entries),
        "truncated": tl.truncated,
        "window": tl.window.to_dict(),
        "inputs": redact_tree(inputs),
        "entries": [e.to_dict() for e in entries],
    }


def render_timeline_json(tl: Timeline, inputs: dict[str, Any], generated_at: str | None) -> str:
    return orjson.dumps(timeline_dict(tl, inputs, generated_at), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_timeline_html(tl: Timeline, inputs: dict[str, Any], generated_at: str | None) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape  # ~50 ms of imports, for HTML only

    env = Environment(loader=PackageLoader("kubehipaa.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("timeline.html.j2")
    data = timeline_dict(tl, inputs, generated_at)
    users = sorted({e["user"] for e in data["entries"] if e["user"]})
    ips = sorted({e["sourceIP"] for e in data["entries"] if e["sourceIP"]})
    return template.render(report=data, users=users, ips=ips)


def render_timeline_table(tl: Timeline, inputs: dict[str, Any], *, width: int | None = None,
                          color: bool = False) -> str:
    """The requests in time order, one row each, then the counts (one fact per line)."""
    width = width or terminal_width()
    entries = [e.to_dict() for e in tl.entries()]
    flt = ", ".join(f"{k}={v}" for k, v in redact_tree(tl.filter.to_dict()).items()) or "none"
    rows = [[Text(e["time"]), Text(_who(e)), Text(e["verb"]), Text(_what(e)),
             Text(f"{e['outcome']} {e['code'] or ''}".rstrip(), style=OUTCOME_STYLE.get(e["outcome"], "")),
             Text(e["sourceIP"]), Text(clip(e["userAgent"], 40)), Text(_alerts(e))]
            for e in entries]
    parts: list[RenderableType] = [Text(f"Audit timeline (filters: {flt})"), fit_table(COLUMNS, rows, width)]
    more = f" (first {len(entries)} shown; raise --limit)" if tl.truncated else ""
    parts.append(Text(""))
    parts.append(Text(f"{tl.matched} matching requests{more}"))
    parts.append(Text(f"{inputs.get('events', 0)} events read, {inputs.get('malformed', 0)} malformed lines"))
    if tl.window.bounded:
        parts.append(Text(tl.window.summary()))
    return render_text(parts, width=width, color=color)


def _alerts(e: dict[str, Any]) -> str:
    """The rules the request raised, then the incidents they are in (`audit analyze`'s ids), one per line."""
    return "\n".join([", ".join(e["alerts"]), *(f"→ {i}" for i in e["incidents"])]).strip()


def _who(e: dict[str, Any]) -> str:
    return f"{e['user']} as {e['impersonatedUser']}" if e["impersonatedUser"] else str(e["user"])


def _what(e: dict[str, Any]) -> str:
    cmd = f" [{' '.join(e['command'])}]" if e["command"] else ""
    return str(e["object"]) + cmd


class TimelineReport:
    """`audit timeline`'s result as a table (the default), JSON or a self-contained HTML page."""

    formats: tuple[str, ...] = ("table", "json", "html")

    def render(self, result: AuditTimeline, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        inputs = result.inputs.to_dict()
        if fmt == "json":
            return render_timeline_json(result.timeline, inputs, options.generated_at)
        if fmt == "html":
            return render_timeline_html(result.timeline, inputs, options.generated_at)
        return render_timeline_table(result.timeline, inputs, width=options.width, color=options.color)
