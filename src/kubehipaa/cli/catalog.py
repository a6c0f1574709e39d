"""`kubehipaa checks`: the check catalog (id, title, severity, HIPAA paragraphs, remediation, where the code and
the test cases are). Named `catalog` because "check" already names the scanner checks themselves (`kubehipaa.checks`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.cli.common import console, fail, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.frameworks import load_hipaa
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.catalog import CatalogReport, CheckCard, CheckCardReport
from kubehipaa.sources.checkout import case_folder

app = typer.Typer(help="The check catalog.\n\nExample: kubehipaa checks list --format json", no_args_is_help=True)


class CatalogFormat(str, Enum):
    table = "table"
    json = "json"


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
    # a file gets the width of the terminal it was asked from (80 when piped), like every report
    options = RenderOptions(color=output is None and console.is_terminal and not console.no_color)
    write_output(CatalogReport().render(checks, fmt.value, options), output)


def _cites(check: Check, paragraph: str) -> bool:
    catalog = load_hipaa()
    want = catalog.get(paragraph)
    want_id = want.id if want else paragraph
    for pid in check.meta.hipaa:
        para = catalog.get(pid)
        if pid == paragraph or (para is not None and (para.id == want_id or para.standard == want_id)):
            return True
    return False


def _is_audit_rule(rule_id: str) -> bool:
    from kubehipaa.engines.auditlog import RULES  # only on this error path: the detector is not needed here

    return any(r.id == rule_id for r in RULES)


@app.command("show")
def show_check(check_id: str = typer.Argument(..., help="A check id, e.g. KH-RBAC-001.")) -> None:
    """Show one check in full: why it matters, HIPAA paragraphs, cross-references, remediation, where its
    code is (file:line under the package) and where its test cases are (in a source checkout).

    Example:

      kubehipaa checks show KH-RBAC-001
    """
    found = {c.meta.id: c for c in all_checks()}.get(check_id.upper())
    if found is None:
        hint = "see `kubehipaa checks list`"
        if _is_audit_rule(check_id.upper()):
            hint = "it is an audit-log rule: see `kubehipaa audit rules list`"
        raise fail(f"no check {check_id!r} ({hint})")
    card = CheckCard(found, found.location(), case_folder(found.meta.id))
    options = RenderOptions(color=console.is_terminal and not console.no_color)
    write_output(CheckCardReport().render(card, "text", options), None)
