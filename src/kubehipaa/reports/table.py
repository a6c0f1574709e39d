"""Terminal report: findings grouped by HIPAA standard, severity-coloured, each with file:line.

Built as rich renderables (each table through `terminal.fit_table`, so it fits the reader's width and never
splits a check id or resource name) and rendered to text at that width, with colours only for a terminal.
Long groups are cut at `max_rows` with a count of what was left out, because a table of 40,000 rows helps
nobody; JSON and SARIF always carry everything.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.model import Finding, Severity
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.reports.common import exception_record, group_by_safeguard, redact_result, summary_line
from kubehipaa.reports.terminal import Cell, Column, fit_table, render_text, terminal_width

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}


def _resource_cell(finding: Finding, phi: set[str]) -> Text:
    r = finding.resource
    text = Text(r.display)
    if r.namespace_assumed:  # the file has no metadata.namespace: the namespace is where it would be applied
        text.append(" (ns assumed)", style="dim")
    if r.namespace and r.namespace in phi:
        text.append(" PHI", style="bold magenta")
    text.append(f"\n{_where(r.file, r.line)}", style="dim")
    return text


def _where(file: str, line: int) -> str:
    """`file:line`; a live-cluster object (`cluster:<context>/...`, line 0) has no line to name."""
    return f"{file}:{line}" if line else file


def _message_cell(finding: Finding, details: bool = False) -> Text:
    text = Text(finding.message)
    for ev in finding.evidence:
        if ev.path:
            text.append(f"\n{ev.path}", style="dim")
    if details and finding.remediation:
        text.append(f"\nFix: {finding.remediation}", style="green")
    return text


FINDING_COLUMNS = (Column("Severity", key=True), Column("Check", key=True), Column("Resource", key=True),
                   Column("Finding"))
SUMMARY_COLUMNS = (Column("Safeguard", key=True), Column("Score", key=True, justify="right"),
                   Column("Failed", justify="right"), Column("Passed", justify="right"),
                   Column("Not assessed", justify="right"), Column("Attestation", justify="right"))


def _percent(value: int | None) -> str:
    return "n/a" if value is None else f"{value}%"


def summary_renderables(result: ScanResult, width: int) -> list[RenderableType]:
    """One screen at the top: per safeguard and overall, the coverage score and how many paragraphs failed,
    passed, were not assessed or need attestation (frameworks.coverage; the score formula is in
    docs/reports.md). Not-assessed paragraphs are counted, never hidden: a 100 % over 3 assessed paragraphs
    must read differently from 100 % over 30."""
    from kubehipaa.pipelines.coverage import scan_coverage

    cov = scan_coverage(result)
    rows: list[list[Cell]] = []
    for guard in cov.by_safeguard():
        s = cov.score(guard)
        short = cov.safeguard_name(guard).replace(" safeguards", "").replace("Policies, procedures and ", "")
        rows.append([short.capitalize(), _percent(s.percent), str(s.failed), str(s.passed),
                     str(s.not_assessed), str(s.attestation)])
    total = cov.score()
    rows.append([Text("Overall", style="bold"), Text(_percent(total.percent), style="bold"), str(total.failed),
                 str(total.passed), str(total.not_assessed), str(total.attestation)])
    title = "HIPAA coverage (paragraphs; score: share of assessed ones with no open finding)"
    return [fit_table(SUMMARY_COLUMNS, rows, width, title=title), Text("")]
SUPPRESSED_COLUMNS = (Column("Check", key=True), Column("Resource", key=True), Column("Owner", key=True),
                      Column("Expires", key=True), Column("Justification"))


def table_renderables(result: ScanResult, config: Config, max_rows: int | None = None,
                      width: int | None = None, details: bool = False) -> list[RenderableType]:
    """The report as rich renderables: the coverage summary, one table per HIPAA standard, then exceptions,
    errors, summary line.

    `width`: the width the tables are fitted to (the terminal's when None). `details`: each finding also
    shows its remediation."""
    width = width or terminal_width()
    result = redact_result(result)
    catalog = load_hipaa()
    phi = set(result.phi_namespaces)
    out: list[RenderableType] = summary_renderables(result, width)
    started = len(out)
    for group in group_by_safeguard(result.active, catalog):
        para = catalog.get(group.standard)
        count = f"{len(group.findings)} finding{'s' if len(group.findings) != 1 else ''}"
        title = Text(group.title, style="bold")
        title.append(f"  ({para.safeguard} safeguard, {count})" if para else f"  ({count})", style="dim")
        shown = group.findings if max_rows is None else group.findings[:max_rows]
        rows: list[list[Cell]] = [[Text(f.severity.label.upper(), style=SEVERITY_STYLE[f.severity]), f.check_id,
                 _resource_cell(f, phi), _message_cell(f, details)] for f in shown]
        if len(out) > started:
            out.append(Text(""))  # a blank line between groups: stacked rows read as one list otherwise
        out.append(title)
        out.append(fit_table(FINDING_COLUMNS, rows, width))
        if len(shown) < len(group.findings):
            out.append(Text(f"… {len(group.findings) - len(shown)} more (see --format json)", "dim"))
    suppressed = result.suppressed
    if suppressed:
        kept = suppressed if max_rows is None else suppressed[:max_rows]
        sup_rows: list[list[Cell]] = []
        for f in kept:
            rec = f.suppression or {}
            sup_rows.append([f.check_id, f"{f.resource.display}\n{_where(f.resource.file, f.resource.line)}",
                         str(rec.get("owner", "")), str(rec.get("expires", "")), str(rec.get("justification", ""))])
        if len(out) > started:
            out.append(Text(""))
        out.append(Text("Suppressed by exceptions", style="bold"))
        out.append(fit_table(SUPPRESSED_COLUMNS, sup_rows, width))
        if len(kept) < len(suppressed):
            out.append(Text(f"… {len(suppressed) - len(kept)} more", "dim"))
    for rule in result.expired_exceptions:
        rec = exception_record(rule)
        out.append(Text(
            f"expired exception: {rec['check']} (owner {rec['owner']}) expired on {rec['expires']} "
            "and no longer suppresses findings; renew or remove it in .kubehipaa.yaml",
            style="yellow",
        ))
    if result.warnings:
        # The lines themselves go to stderr (the CLI prints each once); a saved table still says they exist.
        n_warnings = len(result.warnings)
        codes = ", ".join(dict.fromkeys(w.code for w in result.warnings))
        plural = "s" if n_warnings != 1 else ""
        out.append(Text(f"{n_warnings} scan warning{plural} (on stderr; in --format json): {codes}", style="yellow"))
    for err in result.errors:
        out.append(Text(f"check {err.check_id} could not run: {err.message}", style="red"))
    if not result.active:
        out.append(Text("No unsuppressed findings.", style="green"))
    worst = max((f.severity for f in result.active), default=None)
    style = SEVERITY_STYLE.get(worst, "green") if worst is not None else "bold green"
    out.append(Text(summary_line(result), style=style))
    return out


def render_table(result: ScanResult, config: Config, *, width: int | None = None, color: bool = False,
                 max_rows: int | None = None, details: bool = False) -> str:
    """The table report as text at `width` (the terminal's when None), ANSI colours only when `color`."""
    width = width or terminal_width()
    return render_text(table_renderables(result, config, max_rows=max_rows, width=width, details=details),
                       width=width, color=color)
