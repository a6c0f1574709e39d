"""Render least-privilege answers from the audit log: unused permissions (text, JSON, CSV) and a suggested
minimal Role (YAML, JSON).

Names here come from manifests and from the audit log, which anyone who can reach the API server writes into
(a user name, a resource name in a URL). So every string is redacted (`redact_text`; JSON and YAML from a
redacted tree), control characters are shown escaped (a newline in a logged name must not end a YAML comment
or forge a line of the report), CSV cells cannot run as formulas (`csv_text`), and the text report wraps at
the reader's width without splitting a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from kubehipaa.engines.rbac import UnusedReport
from kubehipaa.redaction import redact_text, redact_tree
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.csv_text import csv_text
from kubehipaa.reports.terminal import render_text

CSV_COLUMNS = ("subject_kind", "subject", "active", "binding_kind", "binding", "binding_namespace", "role_kind",
               "role", "rule", "scope", "verb", "api_group", "resource", "resource_names", "non_resource_url",
               "file", "line")


def printable(text: str) -> str:
    """Control characters (a newline in a logged path or name) shown as `\\xNN`: they must not end a YAML
    comment early or start a line of their own in a report."""
    return "".join(c if c >= " " and c != "\x7f" else f"\\x{ord(c):02x}" for c in text)


def _line(text: str) -> str:
    return printable(redact_text(text))


def unused_csv(report: UnusedReport) -> str:
    """One row per unused permission: the sheet an access reviewer signs off (keep / revoke)."""
    rows: list[Sequence[object]] = []
    for s in report.subjects:
        who = f"{s.subject.namespace}/{s.subject.name}" if s.subject.namespace else s.subject.name
        for p in s.unused:
            r = p.rule
            rows.append((
                s.subject.kind, who, "yes" if s.identities else "no", p.binding.kind, p.binding.name,
                p.binding.namespace, p.role_kind, p.role_name, p.rule_index, p.scope or "cluster-wide",
                r.verbs[0] if r.verbs else "", r.api_groups[0] if r.api_groups else "",
                r.resources[0] if r.resources else "", " ".join(r.resource_names),
                r.non_resource_urls[0] if r.non_resource_urls else "", p.binding.origin.file, p.binding.origin.line,
            ))
    return csv_text(CSV_COLUMNS, rows)


def _item(text: str, width: int) -> Table:
    """`  - text`, the text wrapping under itself (at spaces; only a word wider than the line is folded)."""
    grid = Table.grid()
    grid.add_column(width=4, no_wrap=True)
    grid.add_column(overflow="fold", max_width=max(width - 4, 1))
    grid.add_row("  - ", Text(text))
    return grid


def _where(file: str, line: int) -> str:
    return f"  [{file}:{line}]" if file else ""


def unused_text(report: UnusedReport, options: RenderOptions, *, show_all: bool = False) -> str:
    """Per subject: how many of its granted permissions went unused in the log window, then each of them with
    the binding that grants it and where that binding is."""
    parts: list[RenderableType] = [
        Text(_line(f"Log window: {report.window_start or '?'} .. {report.window_end or '?'} "
                   f"({report.attributed} attributed requests of {report.events} events)")),
        Text(""),
    ]
    total = sum(len(s.unused) for s in report.subjects)
    for s in sorted(report.subjects, key=lambda s: (-len(s.unused), s.subject.kind, s.subject.name)):
        if not s.unused and not show_all:
            continue
        state = "no activity in the window" if not s.identities else f"active as {', '.join(s.identities[:3])}"
        if len(s.identities) > 3:
            state += f" (+{len(s.identities) - 3})"
        parts.append(Text(_line(f"{s.subject.display}: {len(s.unused)} of {s.granted} granted permissions unused "
                                f"({state})")))
        parts.extend(_item(_line(p.describe() + _where(p.binding.origin.file, p.binding.origin.line)),
                           options.width) for p in s.unused)
        parts.append(Text(""))
    parts.append(Text(f"{total} unused permission(s) across {len(report.subjects)} subject(s)."))
    return render_text(parts, width=options.width, color=options.color)


class UnusedReportRenderer:
    """`rbac unused`: text (the default), JSON, CSV. `show_all` lists subjects with nothing unused too."""

    formats: tuple[str, ...] = ("text", "json", "csv")

    def __init__(self, *, show_all: bool = False) -> None:
        self.show_all = show_all

    def render(self, result: UnusedReport, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text(result.to_dict())
        if fmt == "csv":
            return unused_csv(result)
        return unused_text(result, options, show_all=self.show_all)


def _request_text(obs: dict[str, Any]) -> str:
    r = obs["request"]
    if "path" in r:
        target = r["path"]
    else:
        res = r["resource"] + (f".{r['apiGroup']}" if r.get("apiGroup") else "")
        res += f"/{r['subresource']}" if r.get("subresource") else ""
        where = f" in {r['namespace']}" if r.get("namespace") else " cluster-wide"
        target = res + (f" {r['name']!r}" if r.get("name") else "") + where
    return f"{r['verb']} {target} (x{obs['count']}, last {obs['last'] or '?'})"


def suggestion_yaml(suggestion: dict[str, Any]) -> str:
    """The suggested Role/ClusterRole and bindings as YAML, headed by comments: the window, the requests
    covered, and the denied requests (listed, never granted)."""
    result = redact_tree(suggestion)
    header = [
        f"# Least-privilege RBAC for {result['user']}, from observed requests "
        f"{result['window']['start'] or '?'} .. {result['window']['end'] or '?'}",
        f"# {len(result['allowed'])} distinct allowed request(s) covered.",
    ]
    if result["denied"]:
        header.append("# Denied requests (listed, NOT granted):")
        for d in result["denied"]:
            header.append(f"#   {_request_text(d)}")
    if result["conflicts"]:
        header.append("# Denied but still granted (also allowed, or implied by an allowed request; RBAC changed?):")
        for d in result["conflicts"]:
            header.append(f"#   {_request_text(d)}")
    items = result["manifest"]["items"]
    if not items:
        header.append("# No allowed request of this identity in the log: nothing to grant.")
        return "\n".join(printable(h) for h in header) + "\n"
    body = yaml.safe_dump_all(items, sort_keys=False, default_flow_style=False)
    return "\n".join(printable(h) for h in header) + "\n---\n" + body


class SuggestionReport:
    """`rbac suggest`: YAML to apply (the default) or JSON with the observations behind it."""

    formats: tuple[str, ...] = ("yaml", "json")

    def render(self, result: dict[str, Any], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text(result)
        return suggestion_yaml(result)


SUGGESTION = SuggestionReport()
