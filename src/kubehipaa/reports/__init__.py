"""Renderers: findings and the catalog in, text out. No checks, no I/O beyond returning strings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubehipaa.config import Config
    from kubehipaa.pipeline import ScanResult


def render(result: ScanResult, fmt: str, config: Config, *, max_rows: int | None = None) -> str:
    """Render a scan result in `fmt` (table, json, sarif, junit); `max_rows` caps each table group."""
    if fmt == "json":
        from kubehipaa.reports.json_report import render_json

        return render_json(result, config)
    if fmt == "sarif":
        from kubehipaa.reports.sarif import render_sarif

        return render_sarif(result, config)
    if fmt == "junit":
        from kubehipaa.reports.junit import render_junit

        return render_junit(result, config)
    from kubehipaa.reports.table import render_table

    return render_table(result, config, max_rows=max_rows)
