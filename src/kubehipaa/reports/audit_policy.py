"""`audit-policy check`'s report: per policy, at which level each high-value event class is recorded.

Table and JSON. Both are redacted like every other output (a policy's file name, a namespace or a problem
quoting a user or resource name can carry a credential or an identifier): the JSON tree through `json_text`,
every string of the table through `redact_text` before it is drawn. The table goes through `fit_table`:
event classes, levels and rule numbers are never split inside a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from kubehipaa.pipelines.audit_policy import AuditPolicyCheck, PolicyCoverage
from kubehipaa.redaction import redact_text
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Cell, Column, fit_table, render_text

PROBLEMS_SHOWN = 3
"""Problems listed per event class in the table (JSON lists them all)."""
COLUMNS = (Column("event class", key=True), Column("required", key=True), Column("recorded at", key=True),
           Column("rule(s)", key=True), Column("status", key=True))


def _rules_text(indexes: Sequence[int | None]) -> str:
    return ", ".join("default" if i is None else str(i) for i in indexes)


def policy_record(p: PolicyCoverage) -> dict[str, Any]:
    """One policy's coverage as JSON data."""
    return {
        "file": p.file,
        "line": p.line,
        "rules": p.rules,
        "omitStages": p.omit_stages,
        "coverage": [
            {
                "class": c.cls.key,
                "title": c.cls.title,
                "required": c.cls.min_level if c.cls.min_level == c.cls.max_level else f"{c.cls.min_level}+",
                "levels": c.levels,
                "rules": list(c.rule_indexes),
                "ok": c.ok,
                "problems": c.problems,
                "why": c.cls.why,
            }
            for c in p.coverage
        ],
        "requestReceivedRecordedBy": p.request_received_recorded_by,
        "catchAllNoneHides": {str(k): v for k, v in p.catch_all_none_hides.items()},
        "ok": p.ok,
    }


def _item(marker: str, style: str, label: str, text: str = "") -> RenderableType:
    """`  - label: text`, the marker coloured, wrapped lines hanging under the text; `text` (from the input) is
    redacted on its own, `label` (our words: a class key, a rule number) is not, so that
    `serviceaccounts/token: ...` does not read as an assignment."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text("  " + marker, style=style), f"{label}: {redact_text(text)}" if text else label)
    return grid


def _policy_renderables(p: PolicyCoverage, namespaces: Sequence[str], width: int) -> list[RenderableType]:
    rows: list[list[Cell]] = []
    for c in p.coverage:
        required = c.cls.min_level if c.cls.min_level == c.cls.max_level else f"{c.cls.min_level}+"
        status = Text("ok", style="green") if c.ok else Text("FAIL", style="red")
        rows.append([c.cls.title, required, ", ".join(c.levels), _rules_text(c.rule_indexes), status])
    where = ", ".join(redact_text(ns) for ns in namespaces)
    title = f"audit policy {redact_text(p.file)}:{p.line} - coverage in namespace(s) {where}"
    out: list[RenderableType] = [fit_table(COLUMNS, rows, width, title=title)]
    for c in p.coverage:
        for problem in c.problems[:PROBLEMS_SHOWN]:
            out.append(_item("-", "red", c.cls.key, problem))
        if len(c.problems) > PROBLEMS_SHOWN:
            out.append(Text(f"    ({len(c.problems) - PROBLEMS_SHOWN} more for {c.cls.key})"))
    for idx, keys in p.catch_all_none_hides.items():
        out.append(_item("-", "red", f"rule {idx} is a catch-all None that hides: {', '.join(keys)}"))
    if p.request_received_recorded_by:
        out.append(_item("-", "yellow", "RequestReceived is not omitted (rules "
                         f"{_rules_text(p.request_received_recorded_by)}); add omitStages: [RequestReceived]"))
    return out


@dataclass(slots=True)
class AuditPolicyReport:
    """`audit-policy check`'s formats (the first is the default)."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: AuditPolicyCheck, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text({"namespaces": result.namespaces, "policies": [policy_record(p) for p in result.policies]})
        renderables: list[RenderableType] = []
        for p in result.policies:
            renderables.extend(_policy_renderables(p, result.namespaces, options.width))
        return render_text(renderables, width=options.width, color=options.color)
