"""`kubehipaa catalog`: the HIPAA Security Rule paragraphs, the rules behind each (satisfies / supports), the
evidence text, Required/Addressable (or as the proposed rule would make them) and what needs attestation.

(`kubehipaa checks` lists the checks; this is the regulation's side of the same mapping.)
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import write_output
from kubehipaa.pipelines.catalog_view import hipaa_catalog_view
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.hipaa_catalog import HipaaCatalogReport


class CatalogFormat(str, Enum):
    md = "md"
    json = "json"
    html = "html"


def catalog(
    fmt: CatalogFormat = typer.Option(CatalogFormat.md, "--format", "-f", help="Output format."),
    proposed_rule: bool = typer.Option(
        False, "--proposed-rule",
        help="Show Required/Addressable as the HHS Security Rule NPRM (90 FR 898) would: addressable becomes required."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """The HIPAA catalog: paragraphs → rules → evidence, Required/Addressable, attestation required.

    Examples:

      kubehipaa catalog

      kubehipaa catalog --format html -o hipaa-catalog.html

      kubehipaa catalog --format json --proposed-rule
    """
    view = hipaa_catalog_view(proposed_rule=proposed_rule)
    write_output(HipaaCatalogReport().render(view, fmt.value, RenderOptions()), output)
