"""Render an audit timeline (who did what, when, from where) as a terminal table, JSON or HTML.

Every format renders the entries' `to_dict()` (redacted, see engines/auditlog/timeline.py) and the inputs through
`redact_tree`."""

from __future__ import annotations

import io
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubehipaa import __version__
from kubehipaa.engines.auditlog.timeline import Timeline
from kubehipaa.redaction import clip, redact_tree

OUTCOME_STYLE = {"allowed": "green", "forbidden": "red", "unauthorized": "red", "failed": "yellow"}


def timeline_dict(tl: Timeline, inputs: dict[str, Any], generated_at: str) -> dict[str, Any]:
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


def render_timeline_json(tl: Timeline, inputs: dict[str, Any], generated_at: str) -> str:
    return orjson.dumps(timeline_dict(tl, inputs, generated_at), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_timeline_html(tl: Timeline, inputs: dict[str, Any], generated_at: str) -> str:
    env = Environment(loader=PackageLoader("kubehipaa.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("timeline.html.j2")
    data = timeline_dict(tl, inputs, generated_at)
    users = sorted({e["user"] for e in data["entries"] if e["user"]})
    ips = sorted({e["sourceIP"] for e in data["entries"] if e["sourceIP"]})
    return template.render(report=data, users=users, ips=ips)


def render_timeline_table(tl: Timeline, inputs: dict[str, Any], *, width: int = 200) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, highlight=False, force_terminal=False)
    entries = [e.to_dict() for e in tl.entries()]
    flt = ", ".join(f"{k}={v}" for k, v in redact_tree(tl.filter.to_dict()).items()) or "none"
    table = Table(title=f"Audit timeline (filters: {flt})", show_lines=False)
    for col in ("time", "user", "verb", "object", "outcome", "source IP", "user agent", "alerts"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(escape(e["time"]), escape(_who(e)), escape(e["verb"]), escape(_what(e)),
                      f"[{OUTCOME_STYLE.get(e['outcome'], 'white')}]{e['outcome']} {e['code'] or ''}[/]",
                      escape(e["sourceIP"]), escape(clip(e["userAgent"], 40)), ",".join(e["alerts"]))
    console.print(table)
    more = f" (first {len(entries)} shown; raise --limit)" if tl.truncated else ""
    window = f", {tl.window.summary()}" if tl.window.bounded else ""
    console.print(f"{tl.matched} matching requests{more}; {inputs.get('events', 0)} events read{window}, "
                  f"{inputs.get('malformed', 0)} malformed lines")
    return buf.getvalue()


def _who(e: dict[str, Any]) -> str:
    return f"{e['user']} as {e['impersonatedUser']}" if e["impersonatedUser"] else str(e["user"])


def _what(e: dict[str, Any]) -> str:
    cmd = f" [{' '.join(e['command'])}]" if e["command"] else ""
    return str(e["object"]) + cmd
