"""The risk-acceptance register (`kubehipaa exceptions list`) as text or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.pipelines.exceptions_register import Register, RegisterEntry
from kubehipaa.reports.base import json_text
from kubehipaa.reports.terminal import Column, fit_table, render_text


def _resource(record: dict[str, Any]) -> str:
    res = record.get("resource") or {}
    parts = [f"{k}={v}" for k in ("kind", "namespace", "name", "container") if (v := res.get(k)) is not None]
    return ", ".join(parts) or (record.get("scope") or "any resource")


def entry_dict(e: RegisterEntry) -> dict[str, Any]:
    return {
        "position": e.position, "id": e.key, **e.record, "status": e.status, "matched": e.matched,
        "matches": [{"scanFinding": m.fingerprint, "checkId": m.check_id, "kind": m.kind,
                     "namespace": m.namespace, "name": m.name} for m in e.matches],
        "history": [{"scan": h.scan_id, "createdAt": h.created_at, "status": h.status, "matched": h.matched}
                    for h in e.history],
    }


def render_register(reg: Register, fmt: str, width: int) -> str:
    if fmt == "json":
        return json_text({
            "config": reg.config_source, "today": reg.today, "history": reg.history,
            "matchedIn": "current input" if reg.current else "latest saved scan of each target",
            "basis": [{"id": m.id, "createdAt": m.created_at, "target": m.target.split("\n")} for m in reg.basis],
            "exceptions": [entry_dict(e) for e in reg.entries],
        })
    if reg.current:
        basis = "matches in the current input (scanned now)"
    else:
        scans = ", ".join(f"#{m.id} ({m.created_at})" for m in reg.basis) or "none"
        basis = f"matches from the latest saved scan of each target: {scans}"
    parts: list[RenderableType] = [Text(
        f"{len(reg.entries)} exception(s) in {reg.config_source or '(no config)'}; today {reg.today}; {basis}")]
    if reg.entries:
        cols = (Column("#", key=True, justify="right"), Column("Status", key=True),
                Column("Matched", justify="right"), Column("Check", key=True), Column("Resource"),
                Column("Owner"), Column("Approver"), Column("Expires", key=True), Column("Justification"))
        rows = [(str(e.position), e.status, "-" if e.matched is None else str(e.matched), e.record["check"],
                 _resource(e.record), e.record["owner"], e.record.get("approver") or "-", e.record["expires"],
                 e.record["justification"]) for e in reg.entries]
        parts.append(fit_table(cols, rows, width))
    for e in reg.entries:
        if e.matches:
            listed = "; ".join(f"{m.check_id} {m.kind} {m.namespace + '/' if m.namespace else ''}{m.name}"
                               for m in e.matches[:20])
            more = f" (+{len(e.matches) - 20} more)" if len(e.matches) > 20 else ""
            parts.append(Text(f"#{e.position} matched: {listed}{more}"))
        if e.history:
            parts.append(Text(f"#{e.position} history: " + ", ".join(
                f"scan #{h.scan_id} {h.created_at[:10]} {h.status} {h.matched}" for h in e.history)))
    return render_text(parts, width=width)
