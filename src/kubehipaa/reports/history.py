"""Renderers for the scan history: `history list | show | diff | trend` in text, JSON and (trend) HTML.

The trend's HTML is one self-contained file: inline CSS and an inline SVG line chart (one line per HIPAA
safeguard), a table of the same numbers beneath it (the chart is never the only carrier of a number), no
script and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.pipelines.history import FindingRecord, InputRecord, ScanDiff, ScanMeta, Trend
from kubehipaa.reports.base import json_text
from kubehipaa.reports.terminal import Column, fit_table, render_text

SEVERITIES = ("critical", "high", "medium", "low")


def meta_dict(m: ScanMeta) -> dict[str, Any]:
    return {
        "id": m.id, "createdAt": m.created_at, "target": m.target.split("\n") if m.target else [],
        "toolVersion": m.tool_version, "catalogVersion": m.catalog_version,
        "fingerprintVersion": m.fingerprint_version, "command": m.command, "config": m.config_source,
        "objects": m.objects, "findings": m.findings, "suppressed": m.suppressed, "bySeverity": m.by_severity,
        "errors": m.errors, "skipped": m.skipped, "contentDigest": m.content_digest,
    }


def finding_dict(f: FindingRecord) -> dict[str, Any]:
    return {
        "fingerprint": f.fingerprint, "checkId": f.check_id, "severity": f.severity,
        "resource": {"apiVersion": f.api_version, "kind": f.kind, "namespace": f.namespace, "name": f.name,
                     "file": f.file, "line": f.line},
        "safeguard": f.safeguard, "hipaa": list(f.paragraphs), "suppressed": f.suppressed,
        "exception": f.exception_key,
    }


def _severity_cell(m: ScanMeta) -> str:
    return " ".join(f"{m.by_severity.get(s, 0)}{s[0].upper()}" for s in SEVERITIES)


def _resource(f: FindingRecord) -> str:
    return f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}"


# ---- list -----------------------------------------------------------------------------------------------

def render_list(scans: Sequence[ScanMeta], where: str, fmt: str, width: int) -> str:
    if fmt == "json":
        return json_text({"history": where, "scans": [meta_dict(m) for m in scans]})
    if not scans:
        return f"no saved scans in {where} (save one with `kubehipaa scan ... --save`)\n"
    cols = (Column("ID", key=True, justify="right"), Column("Time (UTC)", key=True), Column("Target"),
            Column("Findings", justify="right"), Column("By severity", key=True),
            Column("Suppressed", justify="right"), Column("Tool", key=True))
    rows = [(str(m.id), m.created_at, ", ".join(m.target.split("\n")), str(m.findings), _severity_cell(m),
             str(m.suppressed), m.tool_version) for m in scans]
    return render_text([Text(f"{len(scans)} saved scan(s) in {where}"), fit_table(cols, rows, width)], width=width)


# ---- show -----------------------------------------------------------------------------------------------

def render_show(m: ScanMeta, inputs: Sequence[InputRecord], findings: Sequence[FindingRecord], fmt: str,
                width: int, integrity_problems: Sequence[str] = ()) -> str:
    if fmt == "json":
        return json_text({**meta_dict(m), "integrity": {"verified": not integrity_problems,
                                                        "problems": list(integrity_problems)}, "inputs": [
            {"kind": i.kind, "name": i.name, "sha256": i.sha256, "bytes": i.bytes, "objects": i.objects}
            for i in inputs],
            "findingsList": [finding_dict(f) for f in findings]})
    head = [
        ("Scan", f"#{m.id} at {m.created_at}"), ("Command", m.command), ("Config", m.config_source or "(defaults)"),
        ("Tool", m.tool_version), ("Catalog", m.catalog_version), ("Fingerprints", m.fingerprint_version),
        ("Objects", str(m.objects)),
        ("Findings", f"{m.findings} ({_severity_cell(m)}), {m.suppressed} suppressed, {m.errors} check errors, "
                     f"{m.skipped} skipped input(s)"),
        ("Content digest", f"sha256:{m.content_digest}"),
        ("Integrity", "; ".join(integrity_problems) if integrity_problems else "verified (report matches its digest)"),
    ]
    parts: list[RenderableType] = [fit_table((Column("Field", key=True), Column("Value")), head, width)]
    parts.append(fit_table((Column("Input", key=True), Column("Kind", key=True), Column("Objects", justify="right"),
                            Column("SHA-256")),
                           [(i.name, i.kind, str(i.objects), i.sha256) for i in inputs], width, title="Inputs"))
    rows = [(f.severity, f.check_id, _resource(f), f.safeguard, "suppressed" if f.suppressed else "",
             f.fingerprint) for f in findings]
    parts.append(fit_table((Column("Severity", key=True), Column("Check", key=True), Column("Resource"),
                            Column("Safeguard", key=True), Column("State", key=True), Column("Fingerprint")),
                           rows, width, title="Findings"))
    return render_text(parts, width=width)


# ---- diff -----------------------------------------------------------------------------------------------

def render_diff(d: ScanDiff, fmt: str, width: int, *, unchanged: bool = False) -> str:
    """New and fixed findings (text lists unchanged ones only with `unchanged`; JSON always has them)."""
    if fmt == "json":
        return json_text({
            "old": meta_dict(d.old), "new": meta_dict(d.new),
            "summary": {"new": len(d.added), "fixed": len(d.fixed), "unchanged": len(d.unchanged)},
            "newFindings": [finding_dict(f) for f in d.added],
            "fixedFindings": [finding_dict(f) for f in d.fixed],
            "unchangedFindings": [finding_dict(f) for f in d.unchanged],
        })
    parts: list[RenderableType] = [Text(
        f"scan #{d.old.id} ({d.old.created_at}) → #{d.new.id} ({d.new.created_at}): {len(d.added)} new, "
        f"{len(d.fixed)} fixed, {len(d.unchanged)} unchanged")]
    cols = (Column("Change", key=True), Column("Severity", key=True), Column("Check", key=True),
            Column("Resource"), Column("Fingerprint"))
    rows = [(label, f.severity, f.check_id, _resource(f), f.fingerprint)
            for label, group in (("new", d.added), ("fixed", d.fixed), ("unchanged", d.unchanged if unchanged else []))
            for f in group]
    if rows:
        parts.append(fit_table(cols, rows, width))
    return render_text(parts, width=width)


# ---- trend ----------------------------------------------------------------------------------------------

def trend_dict(t: Trend) -> dict[str, Any]:
    return {
        "scans": [{"id": m.id, "createdAt": m.created_at, "findings": m.findings} for m in t.scans],
        "safeguards": [{"standard": g, "title": title, "counts": t.counts[g]} for g, title in t.safeguards],
    }


def render_trend(t: Trend, fmt: str, width: int, generated_at: str) -> str:
    if fmt == "json":
        return json_text(trend_dict(t))
    if fmt == "html":
        return trend_html(t, generated_at)
    if not t.scans:
        return "no saved scans: nothing to chart (save scans with `kubehipaa scan ... --save`)\n"
    cols = (Column("Safeguard", key=True), Column("Title"),
            *(Column(f"#{m.id}", key=True, justify="right") for m in t.scans))
    rows = [(g, title, *(str(n) for n in t.counts[g])) for g, title in t.safeguards]
    rows.append(("total", "all findings (unsuppressed)", *(str(m.findings) for m in t.scans)))
    return render_text([Text(f"findings per HIPAA safeguard, scans #{t.scans[0].id}–#{t.scans[-1].id} "
                             f"({t.scans[0].created_at} to {t.scans[-1].created_at})"),
                        fit_table(cols, rows, width)], width=width)


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def trend_svg(t: Trend) -> str:
    """An inline SVG line chart: x = saved scans in order, y = unsuppressed findings; one line per safeguard."""
    w, h, left, right, top, bottom = 900, 320, 50, 50, 20, 60
    n = len(t.scans)
    peak = max([1, *(c for counts in t.counts.values() for c in counts)])
    plot_w, plot_h = w - left - right, h - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" class="trend-chart" '
           f'aria-label="Findings per HIPAA safeguard over {n} saved scans">']
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{w - right}" y2="{top + plot_h}" stroke="#444"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>')
    for tick in sorted({0, peak // 2, peak}):
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
    for i, m in enumerate(t.scans):
        out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11">'
                   f'#{m.id}</text>')
        out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 30}" text-anchor="middle" font-size="9">'
                   f'{escape(m.created_at[:10])}</text>')
    for k, (guard, title) in enumerate(t.safeguards):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(t.counts[guard]))
        out.append(f'<polyline class="series" data-safeguard="{escape(guard)}" fill="none" stroke="{colour}" '
                   f'stroke-width="2" points="{points}"><title>{escape(guard)} {escape(title)}</title></polyline>')
        for i, v in enumerate(t.counts[guard]):
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"><title>{escape(guard)} '
                       f'#{t.scans[i].id}: {v}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def trend_html(t: Trend, generated_at: str) -> str:
    legend = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[k % len(PALETTE)]}"></span>{escape(g)} '
        f'{escape(title)}</li>' for k, (g, title) in enumerate(t.safeguards))
    head = "".join(f"<th>#{m.id}<br><small>{escape(m.created_at)}</small></th>" for m in t.scans)
    rows = "".join(
        f'<tr data-safeguard="{escape(g)}"><th scope="row">{escape(g)} {escape(title)}</th>'
        + "".join(f"<td>{n}</td>" for n in t.counts[g]) + "</tr>" for g, title in t.safeguards)
    total = "<tr class=\"total\"><th scope=\"row\">Total (unsuppressed)</th>" + "".join(
        f"<td>{m.findings}</td>" for m in t.scans) + "</tr>"
    body = (trend_svg(t) + f'<ul class="legend">{legend}</ul>' if t.scans
            else '<p class="empty">No saved scans yet: save scans with <code>kubehipaa scan … --save</code>.</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>kubehipaa: findings per HIPAA safeguard over time</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1300px;color:#222;padding:0 1rem}}
h1{{font-size:1.4rem}} .trend-chart{{width:100%;height:auto;max-width:1100px;border:1px solid #ddd}}
.legend{{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem}}
.swatch{{display:inline-block;width:12px;height:12px;margin-right:.4rem;vertical-align:middle}}
table{{border-collapse:collapse;margin-top:1rem}} th,td{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}
th[scope=row]{{text-align:left}} tr.total{{font-weight:bold}}
@media print{{body{{margin:0;max-width:none}} .trend-chart{{max-width:100%}}}}
</style></head>
<body>
<h1>Findings per HIPAA safeguard over time</h1>
<p class="meta">{len(t.scans)} saved scan(s); unsuppressed findings per standard of 45 CFR 164 Subpart C.
Generated {escape(generated_at)} by kubehipaa.</p>
{body}
<table id="trend-table"><thead><tr><th scope="col">Safeguard</th>{head}</tr></thead>
<tbody>{rows}{total}</tbody></table>
</body></html>
"""
