"""`kubehipaa checks`: the check catalog (id, title, severity, HIPAA paragraphs, remediation, where the code and
the test cases are). Named `catalog` because "check" already names the scanner checks themselves (`kubehipaa.checks`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.cli.common import EXIT_ERROR, console, err_console, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks import load_hipaa

app = typer.Typer(help="The check catalog.\n\nExample: kubehipaa checks list --format json", no_args_is_help=True)


class CatalogFormat(str, Enum):
    table = "table"
    json = "json"


def _hipaa_lines(check: Check) -> str:
    catalog = load_hipaa()
    out = []
    for pid in check.meta.hipaa:
        para = catalog.get(pid)
        out.append(f"{pid} {para.name}" if para else pid)
    return "\n".join(out)


@app.command("list")
def list_checks(
    fmt: CatalogFormat = typer.Option(CatalogFormat.table, "--format", "-f", help="Output format."),
    area: str | None = typer.Option(None, "--area", help="Only checks of this area (rbac, workloads, network, ...)."),
    hipaa: str | None = typer.Option(
        None, "--hipaa", help="Only checks citing this paragraph or a paragraph under it, e.g. 164.312(a)(1)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """List every registered check with its HIPAA Security Rule paragraphs.

    Examples:

      kubehipaa checks list

      kubehipaa checks list --format json --area rbac

      kubehipaa checks list --hipaa 164.312(e)(1)
    """
    every = all_checks()
    areas = sorted({c.meta.area for c in every})
    if area is not None and area not in areas:
        # An empty table would read as "no check covers this": a typo must not look like a gap.
        raise KubehipaaError(f"--area {area!r}: no such area (choose from {', '.join(areas)})")
    if hipaa is not None and load_hipaa().get(hipaa) is None and not any(hipaa in c.meta.hipaa for c in every):
        raise KubehipaaError(
            f"--hipaa {hipaa!r}: not a HIPAA Security Rule paragraph in the catalog, e.g. 164.312(a)(1)"
        )
    checks = [c for c in every if area is None or c.meta.area == area]
    if hipaa is not None:
        checks = [c for c in checks if _cites(c, hipaa)]
    if fmt is CatalogFormat.json:
        write_output(orjson.dumps([c.meta.to_dict() for c in checks], option=orjson.OPT_INDENT_2).decode(), output)
        return
    table = Table(title=f"kubehipaa checks ({len(checks)})", show_lines=True, title_justify="left")
    for col in ("id", "severity", "title", "HIPAA", "remediation"):
        table.add_column(col, overflow="fold")
    for c in checks:
        m = c.meta
        sev = m.severity.label
        if m.phi_severity not in (None, m.severity):
            sev += f"\n({m.phi_severity.label} in PHI ns)"  # type: ignore[union-attr]
        table.add_row(m.id, sev, m.title, f"{_hipaa_lines(c)}\n[dim]{m.relation}[/dim]", m.remediation)
    if output is not None:
        plain = Console(width=160, no_color=True, highlight=False)
        with plain.capture() as cap:
            plain.print(table)
        write_output(cap.get(), output)
    else:
        console.print(table)


def _cites(check: Check, paragraph: str) -> bool:
    catalog = load_hipaa()
    want = catalog.get(paragraph)
    want_id = want.id if want else paragraph
    for pid in check.meta.hipaa:
        para = catalog.get(pid)
        if pid == paragraph or (para is not None and (para.id == want_id or para.standard == want_id)):
            return True
    return False


@app.command("show")
def show_check(check_id: str = typer.Argument(..., help="A check id, e.g. KH-RBAC-001.")) -> None:
    """Show one check in full: why it matters, HIPAA paragraphs, cross-references, remediation.

    Example:

      kubehipaa checks show KH-RBAC-001
    """
    found = {c.meta.id: c for c in all_checks()}.get(check_id.upper())
    if found is None:
        err_console.print(f"[red]error:[/red] no check {check_id!r} (see `kubehipaa checks list`)")
        raise typer.Exit(EXIT_ERROR)
    m = found.meta
    catalog = load_hipaa()
    console.print(f"[bold]{m.id}[/bold] {m.title}")
    sev = m.severity.label + (f" ({m.phi_severity.label} in PHI namespaces)" if m.phi_severity else "")
    console.print(f"severity: {sev}    area: {m.area}    scope: {m.scope}")
    if m.description:
        console.print(f"\n{m.description}")
    console.print(f"\nHIPAA Security Rule ({m.relation}):")
    for pid in m.hipaa:
        para = catalog.get(pid)
        detail = f" {para.name} [{catalog.requirement(pid)}]" if para else ""
        console.print(f"  {pid}{detail}", highlight=False, markup=False)
    refs = [f"CIS {x}" for x in m.cis] + [f"NSA {x}" for x in m.nsa] + [f"PSS {x}" for x in m.pss]
    if refs:
        console.print("\ncross-references: " + ", ".join(refs), highlight=False, markup=False)
    console.print(f"\nremediation: {m.remediation}", highlight=False, markup=False)
