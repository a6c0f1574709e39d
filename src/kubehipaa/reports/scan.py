"""The scan result's `Report`: table, JSON, SARIF and JUnit, each in its own module.

Why a class holding the config: three formats name the `.kubehipaa.yaml` the scan used (JSON's `config.source`,
SARIF's invocation, JUnit's properties), which is not part of the result; `ScanReport(config)` carries it so
`render(result, fmt, options)` has the one signature of `reports.base.Report`.

Every format starts from the redacted result (`common.redact_result`): the tree is redacted, then serialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubehipaa.reports.base import RenderOptions, require_format

if TYPE_CHECKING:
    from kubehipaa.config import Config
    from kubehipaa.pipelines.scan import ScanResult

FORMATS = ("table", "json", "sarif", "junit", "oscal")


@dataclass(slots=True)
class ScanReport:
    """`kubehipaa scan`'s formats (the first is the default)."""

    config: Config
    formats: tuple[str, ...] = FORMATS
    details: bool = False
    """Table: each finding also shows its remediation (`scan --details`)."""
    argv: tuple[str, ...] = ()
    """The command line as typed, for the formats that record the run (OSCAL); redacted when rendered."""

    def render(self, result: ScanResult, fmt: str, options: RenderOptions) -> str:
        """`result` in `fmt`; the table fits `options.width` and is cut at `options.max_rows` per group."""
        require_format(self, fmt)
        if fmt == "json":
            from kubehipaa.reports.json_report import render_json

            return render_json(result, self.config, options.sign_key)
        if fmt == "sarif":
            from kubehipaa.reports.sarif import render_sarif

            return render_sarif(result, self.config)
        if fmt == "oscal":
            from kubehipaa.reports.oscal import render_oscal

            return render_oscal(result, self.argv)
        if fmt == "junit":
            from kubehipaa.reports.junit import render_junit

            return render_junit(result, self.config)
        from kubehipaa.reports.table import render_table

        return render_table(result, self.config, width=options.width, color=options.color,
                            max_rows=options.max_rows, details=self.details)
