"""Terminal table (minimal; grouped-by-safeguard version in progress)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from kubehipaa.config import Config
from kubehipaa.pipeline import ScanResult


def render_table(result: ScanResult, config: Config) -> str:
    table = Table(title="kubehipaa findings")
    for col in ("severity", "check", "resource", "message"):
        table.add_column(col, overflow="fold")
    for f in result.active:
        table.add_row(f.severity.label, f.check_id, f"{f.resource.display} ({f.resource.file}:{f.resource.line})", f.message)
    console = Console(record=True, width=160)
    with console.capture() as cap:
        console.print(table)
        console.print(f"{len(result.active)} findings in {result.objects} objects")
    return cap.get()
