"""The check catalog: `kubehipaa checks list` (a table or JSON) and `kubehipaa checks show` (one check's card).

Both fit the reader's width (`reports.terminal`): the list through `fit_table` (ids and severities never split;
stacked rows in a narrow terminal), the card as wrapped text where a path such as
`kubehipaa/checks/rbac.py:109` stays on one line. Cells are `Text`, never markup: a remediation quoting
`rules[0]` must print as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.checks.registry import Check
from kubehipaa.frameworks import load_hipaa
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Column, fit_table, render_text

NOT_INSTALLED = "not in this installation (they live in the source checkout, tests/cases/)"


def _paragraph_names(check: Check) -> list[str]:
    catalog = load_hipaa()
    out = []
    for pid in check.meta.hipaa:
        para = catalog.get(pid)
        out.append(f"{pid} {para.name}" if para else pid)
    return out


def _severity(check: Check, long: bool) -> str:
    m = check.meta
    if m.phi_severity in (None, m.severity):
        return m.severity.label
    phi = m.phi_severity.label  # type: ignore[union-attr]
    return f"{m.severity.label} ({phi} in PHI namespaces)" if long else f"{m.severity.label}\n({phi} in PHI ns)"


class CatalogReport:
    """`kubehipaa checks list`: every selected check with severity, HIPAA paragraphs and remediation."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: Sequence[Check], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text([c.meta.to_dict() for c in result])
        columns = [Column("id", key=True), Column("severity", key=True), Column("title"), Column("HIPAA"),
                   Column("remediation")]
        rows = []
        for c in result:
            m = c.meta
            hipaa = Text("\n".join(_paragraph_names(c)) + "\n")
            hipaa.append(m.relation, style="dim")
            rows.append([Text(m.id), Text(_severity(c, long=False)), Text(m.title), hipaa, Text(m.remediation)])
        table = fit_table(columns, rows, options.width, title=f"kubehipaa checks ({len(result)})")
        return render_text([table], width=options.width, color=options.color)


@dataclass(frozen=True, slots=True)
class CheckCard:
    """One check as `checks show` prints it: its metadata, where its code is (`Check.location`) and where
    its test cases are (`sources.checkout.case_folder`; None outside a source checkout)."""

    check: Check
    code: str
    cases: tuple[str, tuple[str, ...]] | None


class CheckCardReport:
    """`kubehipaa checks show ID`: why the check matters, HIPAA paragraphs, references, code, cases."""

    formats: tuple[str, ...] = ("text",)

    def render(self, result: CheckCard, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        m = result.check.meta
        catalog = load_hipaa()
        parts: list[RenderableType] = [
            Text.assemble((m.id, "bold"), " ", m.title),
            Text(f"severity: {_severity(result.check, long=True)}    area: {m.area}    scope: {m.scope}"),
            Text(f"code: {result.code}"),
        ]
        if result.cases is None:
            parts.append(Text(f"cases: {NOT_INSTALLED}"))
        else:
            folder, files = result.cases
            parts.append(Text(f"cases: {folder} ({', '.join(files)})" if files else f"cases: {folder}"))
        if m.description:
            parts += [Text(""), Text(m.description)]
        parts += [Text(""), Text(f"HIPAA Security Rule ({m.relation}):")]
        for pid in m.hipaa:
            para = catalog.get(pid)
            detail = f" {para.name} [{catalog.requirement(pid)}]" if para else ""
            parts.append(Text(f"  {pid}{detail}"))
        refs = [f"CIS {x}" for x in m.cis] + [f"NSA {x}" for x in m.nsa] + [f"PSS {x}" for x in m.pss]
        if refs:
            parts += [Text(""), Text("cross-references: " + ", ".join(refs))]
        parts += [Text(""), Text(f"remediation: {m.remediation}")]
        return render_text(parts, width=options.width, color=options.color)
