"""Renderers: results in, text out. No checks, no I/O beyond returning strings.

One `reports.base.Report` per result type (scan: `reports.scan.ScanReport`; PSS: `reports.pss`; etcd verify:
`reports.etcd`; audit-policy check: `reports.audit_policy`; ...); every text table goes through
`reports.terminal.fit_table`, every JSON document through `reports.base.json_text` (or, for the scan formats,
the redacted result of `reports.common.redact_result`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubehipaa.config import Config
    from kubehipaa.pipelines.scan import ScanResult


def render(result: ScanResult, fmt: str, config: Config, *, max_rows: int | None = None,
           width: int | None = None) -> str:
    """Render a scan result in `fmt` (table, json, sarif, junit); `max_rows` caps each table group, `width` is
    the table's (the terminal's when None)."""
    from kubehipaa.reports.base import RenderOptions
    from kubehipaa.reports.scan import ScanReport

    options = RenderOptions(max_rows=max_rows) if width is None else RenderOptions(width=width, max_rows=max_rows)
    return ScanReport(config).render(result, fmt, options)
