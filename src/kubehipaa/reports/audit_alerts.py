"""Render `audit analyze` results (incidents ranked by risk, alerts grouped by rule: table, JSON, SARIF 2.1.0)
and the rule list.

The table leads with the incidents (reports/audit_incidents.py), riskiest first, then the alerts per rule; JSON
has an `incidents` array whose entries name their alerts by id (`alertIds`, each the `id` of an alert in
`rules[].alerts`); SARIF stays one result per alert (the format has no grouping a code-scanning consumer reads)
and names each result's alert id and incidents in its properties.

Two `Report`s (reports/base.py): `AuditAlertsReport` for an `AuditAnalysis` (pipelines/audit.py) and
`AuditRulesReport` for a list of audit-log rules. Every format renders an alert from `Alert.to_dict()`, which
redacts what came from the event (kubehipaa.redaction), and the run's metadata (input files, malformed-line
samples) through `redact_tree`: no format shows what another one masks. Tables go through
`terminal.fit_table` at the reader's width: times, users, addresses and rule ids are never split inside a
word, and rows are stacked when the columns cannot fit.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from kubehipaa import __version__
from kubehipaa.config_location import IGNORED_CODE
from kubehipaa.engines.auditlog import AlertCollector, IncidentSet, Rule, build_incidents
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_tree
from kubehipaa.reports.audit_incidents import (
    AlertIds,
    detail_blocks,
    incident_table,
    incidents_json,
    incidents_summary,
)
from kubehipaa.reports.base import RenderOptions, require_format
from kubehipaa.reports.terminal import Cell, Column, fit_table, render_text, terminal_width

if TYPE_CHECKING:
    from kubehipaa.pipelines.audit import AuditAnalysis

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
                  Severity.LOW: "cyan"}
SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
               Severity.LOW: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}


OMITTED_CODE = "alerts-omitted"
"""Descriptor id of the SARIF notification that says a `--keep` cap left alerts out of the report."""


def _incidents(col: AlertCollector, incidents: IncidentSet | None) -> IncidentSet:
    """The run's incidents (the pipeline's), or, for a collector rendered on its own, its alerts grouped with
    the defaults (no PHI namespaces known)."""
    return incidents if incidents is not None else build_incidents(col.alerts(), rule_counts=col.counts)


def report_dict(col: AlertCollector, meta: dict[str, Any], incidents: IncidentSet | None = None) -> dict[str, Any]:
    """The JSON document. `summary.keep` is the cap per rule (null: every alert is in the report);
    `summary.omitted` and each rule's `omitted` count the alerts the cap left out (`count` = `shown` +
    `omitted`). `incidents`, riskiest first, name their alerts by the `id` each has in `rules[].alerts`
    (built from the alerts in the report, so every id resolves)."""
    incidents = _incidents(col, incidents)
    by_sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        by_sev[rule.severity.label] += n
    ids = AlertIds()
    rules = [
        {**rule.to_dict(), "count": n, "shown": len(alerts), "omitted": n - len(alerts),
         "alerts": [ids.assign(a, a.to_dict()) for a in alerts]}
        for rule, n, alerts in col.groups()
    ]
    return {
        "tool": {"name": "kubehipaa", "version": __version__},
        **redact_tree(meta),
        "summary": {"alerts": col.total, "bySeverity": dict(by_sev), "rules": len(col.counts), "keep": col.keep,
                    "omitted": col.total_omitted, **incidents_summary(incidents)},
        "incidents": incidents_json(incidents, ids),
        "rules": rules,
    }


def render_json(col: AlertCollector, meta: dict[str, Any], incidents: IncidentSet | None = None) -> str:
    return orjson.dumps(report_dict(col, meta, incidents), option=orjson.OPT_INDENT_2).decode() + "\n"


RULE_COLUMNS = (Column("id", key=True), Column("severity", key=True), Column("title"), Column("HIPAA", key=True),
                Column("matching logic"))
BY_RULE_COLUMNS = (Column("rule", key=True), Column("alerts", key=True, justify="right"), Column("HIPAA", key=True),
                   Column("title"))


def render_table(col: AlertCollector, meta: dict[str, Any], *, max_rows: int | None = 20,
                 width: int | None = None, color: bool = False, incidents: IncidentSet | None = None,
                 details: bool = False) -> str:
    """The incidents, riskiest first (at most `max_rows`; None: all), with `details` each one's riskiest
    alerts (at most `max_rows`); then the alerts per rule (worst first) with what a `--keep` cap left out;
    then the summary, one fact per line (so that no count is broken across lines at 80 columns)."""
    width = width or terminal_width()
    incidents = _incidents(col, incidents)
    meta = redact_tree(meta)
    inputs = meta.get("inputs", {})
    shown = incidents.incidents if max_rows is None else incidents.incidents[:max_rows]
    parts: list[RenderableType] = []
    if shown:
        phi = ", ".join(sorted(incidents.phi_namespaces)) or "none configured (phi.namespaces)"
        parts.append(Text(f"{len(incidents)} incident(s), riskiest first (PHI namespaces: {phi})"))
        parts.append(incident_table(shown, width))
        if len(shown) < len(incidents):
            parts.append(Text(f"  … {len(incidents) - len(shown)} more incident(s) (use --max-rows or "
                              "--format json)"))
        parts.append(Text(""))
        if details:
            parts.extend(detail_blocks(shown, max_rows or max(len(i.alerts) for i in shown), width))
    rows: list[list[Cell]] = []
    for rule, n, _alerts in col.groups():
        rows.append([Text.assemble(f"{rule.id}\n", (rule.severity.label, SEVERITY_STYLE[rule.severity])),
                     Text(str(n)), Text("\n".join(rule.hipaa)), Text(rule.title)])
    if rows:
        parts.append(Text("Alerts by rule"))
        parts.append(fit_table(BY_RULE_COLUMNS, rows, width))
        for rule, n, alerts in col.groups():
            if n > len(alerts):
                parts.append(Text(f"  … {rule.id}: {n - len(alerts)} of {n} alert(s) left out by --keep "
                                  f"{col.keep} (riskiest kept; incidents are built from those kept)"))
        parts.append(Text(""))
    sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        sev[rule.severity.label] += n
    counts = ", ".join(f"{sev[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if sev[s.label])
    window = meta.get("window") or {}
    detector = meta.get("detector", {})
    reused = detector.get("reusedAuditIDs", 0)
    lines = [f"{col.total} alert(s) from {len(col.counts)} rule(s)" + (f" ({counts})" if counts else ""),
             f"{len(incidents)} incident(s) (a gap over {_gap(incidents.gap)} starts a new one)",
             f"{inputs.get('events', 0)} events read from {len(inputs.get('files', []))} file(s)"]
    if window.get("since") or window.get("until"):
        lines.append(f"{window.get('eventsInWindow', 0)} of {window.get('eventsRead', 0)} events in the window "
                     f"({_describe_window(window)})")
    lines.append(f"{detector.get('duplicates', 0)} duplicate stages")
    if reused:
        lines.append(f"{reused} request(s) reusing another request's auditID")
    lines.append(f"{inputs.get('malformed', 0)} malformed line(s)")
    parts.extend(Text(line) for line in lines)
    samples = inputs.get("malformedSamples", [])
    parts.extend(Text(f"  malformed: {m}") for m in samples[:10])
    if inputs.get("malformed", 0) > 10:
        parts.append(Text(f"  … {inputs['malformed'] - 10} more malformed line(s) (the JSON report lists up to "
                          f"{len(samples)})"))
    return render_text(parts, width=width, color=color)


def _gap(seconds: float) -> str:
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def _describe_window(window: dict[str, Any]) -> str:
    since, until = window.get("since"), window.get("until")
    if since and until:
        return f"from {since}Z to before {until}Z"
    return f"since {since}Z" if since else f"before {until}Z"


def render_sarif(col: AlertCollector, meta: dict[str, Any], incidents: IncidentSet | None = None) -> str:
    """One result per alert (SARIF has no grouping code-scanning tools read); each result's properties name
    its alert id (as in the JSON report) and the incidents it is in."""
    incidents = _incidents(col, incidents)
    rules = [r for r, _n, _a in col.groups()]
    results = []
    meta = redact_tree(meta)
    ids = AlertIds()
    for rule, _n, alerts in col.groups():
        for alert in alerts:
            a = ids.assign(alert, alert.to_dict())
            # v2 adds the request time: an auditID is not unique (clients set Audit-ID), and two requests under
            # one id with the same message must stay two results, not be merged by the consumer. Hashed from the
            # redacted text: a hash of a low-entropy secret can be reversed by trying candidates.
            fp = hashlib.sha256(f"{a['ruleId']}|{a['auditID']}|{a['time']}|{a['message']}".encode()).hexdigest()
            results.append({
                "ruleId": rule.id,
                "level": SARIF_LEVEL[rule.severity],
                "message": {"text": a["message"]},
                "locations": [{"logicalLocations": [{"name": a["object"] or a["verb"], "kind": "resource",
                                                     "fullyQualifiedName": a["object"]}]}],
                "partialFingerprints": {"kubehipaaAlert/v2": fp},
                "properties": {"time": a["time"], "user": a["user"], "sourceIP": a["sourceIP"],
                               "auditID": a["auditID"], "count": a["count"], "hipaa": a["hipaa"],
                               "alertId": a["id"], "incidentIds": [i.id for i in incidents.of(alert)]},
            })
    doc: dict[str, Any] = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubehipaa", "version": __version__,
                "informationUri": "https://github.com/kubehipaa/kubehipaa",
                "rules": [{
                    "id": r.id, "name": r.id.replace("-", ""), "shortDescription": {"text": r.title},
                    "fullDescription": {"text": r.logic},
                    **({"help": {"text": r.remediation}} if r.remediation else {}),
                    "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
                    "properties": {"security-severity": SECURITY_SEVERITY[r.severity], "hipaa": list(r.hipaa),
                                   "tags": ["security", "hipaa", "kubernetes-audit"]},
                } for r in rules],
            }},
            "results": results,
            "properties": {"inputs": meta.get("inputs", {}), "window": meta.get("window", {}),
                           "detector": meta.get("detector", {}), "keep": col.keep,
                           "omitted": {r.id: col.omitted(r.id) for r in rules if col.omitted(r.id)}},
        }],
    }
    # e.g. a .kubehipaa.yaml beside the logs that was not used (ignored-config); alerts a --keep cap left out
    notes = [{"level": "warning", "message": {"text": w["message"]}, "descriptor": {"id": w["code"]}}
             for w in meta.get("warnings") or ()]
    notes += [{"level": "warning", "descriptor": {"id": OMITTED_CODE}, "associatedRule": {"id": r.id},
               "message": {"text": f"{r.id}: {col.omitted(r.id)} of {n} alert(s) left out of this report by the "
                                   f"cap of {col.keep} per rule (the riskiest were kept)"}}
              for r, n, _a in col.groups() if col.omitted(r.id)]
    if notes:
        doc["runs"][0]["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": notes}]
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_rules(rules: Sequence[Rule], fmt: str, *, width: int | None = None, color: bool = False) -> str:
    """The audit-log rules with severity, HIPAA paragraphs and matching logic (`audit rules list`)."""
    if fmt == "json":
        return orjson.dumps([r.to_dict() for r in rules], option=orjson.OPT_INDENT_2).decode() + "\n"
    width = width or terminal_width()
    rows = [[Text(r.id), Text(r.severity.label), Text(r.title), Text("\n".join(r.hipaa)), Text(r.logic)]
            for r in rules]
    table = fit_table(RULE_COLUMNS, rows, width, title=f"{len(rules)} built-in audit-log detections")
    if isinstance(table, Table):
        table.show_lines = True  # multi-line cells: a rule per boxed row
    return render_text([table], width=width, color=color)


def analysis_meta(result: AuditAnalysis, generated_at: str | None) -> dict[str, Any]:
    """The run's metadata every format carries: when, the window with its counts, what was read, the
    detector's counters and the warnings (not yet redacted: each renderer does)."""
    window = result.window
    return {"generatedAt": generated_at, "since": window.since, "until": window.until, "window": window.to_dict(),
            "inputs": result.inputs.to_dict(), "detector": result.detector.to_dict(),
            "warnings": [{"code": IGNORED_CODE, "message": m} for m in result.warnings]}


class AuditAlertsReport:
    """`audit analyze`'s result as a table (the default), JSON or SARIF. `details`: the table lists each
    incident's alerts under it (`audit analyze --details`)."""

    formats: tuple[str, ...] = ("table", "json", "sarif")

    def __init__(self, *, details: bool = False) -> None:
        self.details = details

    def render(self, result: AuditAnalysis, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        meta = analysis_meta(result, options.generated_at)
        if fmt == "json":
            return render_json(result.alerts, meta, result.incidents)
        if fmt == "sarif":
            return render_sarif(result.alerts, meta, result.incidents)
        return render_table(result.alerts, meta, max_rows=options.max_rows, width=options.width,
                            color=options.color, incidents=result.incidents, details=self.details)


class AuditRulesReport:
    """A list of audit-log rules (`audit rules list`) as a table (the default) or JSON."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: Sequence[Rule], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        return render_rules(result, fmt, width=options.width, color=options.color)
