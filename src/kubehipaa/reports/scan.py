"""The scan result's `Report`: table, JSON, SARIF, JUnit and the HTML evidence report (PDF: `render_pdf`),
each in its own module.

Why a class holding the config: three formats name the `.kubehipaa.yaml` the scan used (JSON's `config.source`,
SARIF's invocation, JUnit's properties), which is not part of the result; `ScanReport(config)` carries it so
`render(result, fmt, options)` has the one signature of `reports.base.Report`.

The evidence report also names the command line (`argv`, redacted by `reports.metadata`) and can apply the
proposed rule (`proposed_rule`: addressable shown as required); `max_rows` caps its findings per paragraph.

Every format starts from the redacted result (`common.redact_result`): the tree is redacted, then serialised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubehipaa.reports.base import RenderOptions, require_format

if TYPE_CHECKING:
    from kubehipaa.config import Config
    from kubehipaa.pipelines.scan import ScanResult

FORMATS = ("table", "json", "sarif", "junit", "oscal", "html")
BINARY_FORMATS = ("pdf",)
"""Formats that are bytes, not text: `ScanReport.render_pdf`."""


@dataclass(slots=True)
class ScanReport:
    """`kubehipaa scan`'s formats (the first is the default)."""

    config: Config
    formats: tuple[str, ...] = FORMATS
    details: bool = False
    """Table: each finding also shows its remediation (`scan --details`)."""
    argv: Sequence[str] = ()
    """The command line as typed, for the formats that record the run (OSCAL, HTML, PDF); redacted when rendered."""
    proposed_rule: bool = False

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

            return render_oscal(result, tuple(self.argv))
        if fmt == "html":
            from kubehipaa.reports.evidence_html import render_evidence_html

            return render_evidence_html(result, self.config, argv=self.argv, proposed_rule=self.proposed_rule,
                                        max_rows=options.max_rows, sign_key=options.sign_key)
        if fmt == "junit":
            from kubehipaa.reports.junit import render_junit

            return render_junit(result, self.config)
        from kubehipaa.reports.table import render_table

        return render_table(result, self.config, width=options.width, color=options.color,
                            max_rows=options.max_rows, details=self.details)

    def render_bytes(self, result: ScanResult, fmt: str, options: RenderOptions) -> bytes:
        """`result` in `fmt` as the bytes to write (UTF-8). JSON is made as bytes and never decoded: a report of
        tens of thousands of findings would otherwise be held twice over as text (`render_json_bytes`)."""
        if fmt == "json":
            require_format(self, fmt)
            from kubehipaa.reports.json_report import render_json_bytes

            return render_json_bytes(result, self.config, options.sign_key)
        if fmt == "pdf":
            return self.render_pdf(result, options)
        return self.render(result, fmt, options).encode("utf-8")

    def render_pdf(self, result: ScanResult, options: RenderOptions) -> bytes:
        """The evidence report as PDF: the HTML report printed by Chromium (`reports.evidence_pdf`)."""
        from kubehipaa.reports.evidence_pdf import html_to_pdf

        return html_to_pdf(self.render(result, "html", options))
