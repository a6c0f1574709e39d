"""`kubehipaa checks`: the check catalog (id, title, severity, HIPAA paragraphs, remediation)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import orjson
import typer
from rich.table import Table

from kubehipaa.checks.registry import all_checks
from kubehipaa.cli.common import console, write_output

app = typer.Typer(help="The check catalog.", no_args_is_help=True)


class CatalogFormat(str, Enum):
    table = "table"
    json = "json"


@app.command("list")
def list_checks(
    fmt: CatalogFormat = typer.Option(CatalogFormat.table, "--format", "-f", help="Output format."),
    area: str | None = typer.Option(None, "--area", help="Only checks of this area (rbac, workloads, network, ...)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """List every registered check with its HIPAA Security Rule paragraphs.

    Examples:

      kubehipaa checks list

      kubehipaa checks list --format json --area rbac
    """
    checks = [c for c in all_checks() if area is None or c.meta.area == area]
    if fmt is CatalogFormat.json:
        write_output(orjson.dumps([c.meta.to_dict() for c in checks], option=orjson.OPT_INDENT_2).decode(), output)
        return
    table = Table(title=f"kubehipaa checks ({len(checks)})", show_lines=False)
    for col in ("id", "severity", "title", "HIPAA", "remediation"):
        table.add_column(col, overflow="fold")
    for c in checks:
        m = c.meta
        sev = m.severity.label if m.phi_severity in (None, m.severity) else f"{m.severity.label} ({m.phi_severity.label} PHI)"
        table.add_row(m.id, sev, m.title, "\n".join(m.hipaa), m.remediation)
    if output is not None:
        with console.capture() as cap:
            console.print(table)
        write_output(cap.get(), output)
    else:
        console.print(table)
