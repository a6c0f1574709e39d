"""Render `audit analyze` results (alerts grouped by rule: table, JSON, SARIF 2.1.0) and the rule list.

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
from kubehipaa.engines.auditlog import Alert, AlertCollector, Rule
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_tree
from kubehipaa.reports.base import RenderOptions, require_format
from kubehipaa.reports.terminal import Cell, Column, fit_table, fits, render_text, stacked, terminal_width

if TYPE_CHECKING:
    from kubehipaa.pipelines.audit import AuditAnalysis

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
                  Severity.LOW: "cyan"}
SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
               Severity.LOW: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}


OMITTED_CODE = "alerts-omitted"
"""Descriptor id of the SARIF notification that says a `--keep` cap left alerts out of the report."""


def report_dict(col: AlertCollector, meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document. `summary.keep` is the cap per rule (null: every alert is in the report);
    `summary.omitted` and each rule's `omitted` count the alerts the cap left out (`count` = `shown` +
    `omitted`)."""
    by_sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        by_sev[rule.severity.label] += n
    return {
        "tool": {"name": "kubehipaa", "version": __version__},
        **redact_tree(meta),
        "summary": {"alerts": col.total, "bySeverity": dict(by_sev), "rules": len(col.counts), "keep": col.keep,
                    "omitted": col.total_omitted},
        "rules": [
            {**rule.to_dict(), "count": n, "shown": len(alerts), "omitted": n - len(alerts),
             "alerts": [a.to_dict() for a in alerts]}
            for rule, n, alerts in col.groups()
        ],
    }


def render_json(col: AlertCollector, meta: dict[str, Any]) -> str:
    return orjson.dumps(report_dict(col, meta), option=orjson.OPT_INDENT_2).decode() + "\n"


ALERT_COLUMNS = (Column("time", key=True), Column("user", key=True), Column("source IP", key=True),
                 Column("message"))
RULE_COLUMNS = (Column("id", key=True), Column("severity", key=True), Column("title"), Column("HIPAA", key=True),
                Column("matching logic"))


def _alert_row(alert: Alert) -> list[Cell]:
    d = alert.to_dict()  # redacted
    return [Text(d["time"]), Text(d["user"]), Text(d["sourceIP"]), Text(d["message"])]


def render_table(col: AlertCollector, meta: dict[str, Any], *, max_rows: int | None = 20,
                 width: int | None = None, color: bool = False) -> str:
    """One block per rule (worst first): a heading line, then its riskiest alerts in log order (at most
    `max_rows`; None: every alert kept), a line saying how many are not shown, then the summary, one fact per
    line (so that no count is broken across lines at 80 columns)."""
    width = width or terminal_width()
    if max_rows is None:
        max_rows = max((len(alerts) for _r, _n, alerts in col.groups()), default=0)
    meta = redact_tree(meta)
    inputs = meta.get("inputs", {})
    groups = [(rule, n, [_alert_row(a) for a in col.riskiest(rule.id, max_rows)])
              for rule, n, _alerts in col.groups()]
    # one layout for every rule's block: all boxed tables when every row fits the width, else all stacked
    boxed = fits(ALERT_COLUMNS, [row for *_, rows in groups for row in rows], width)
    parts: list[RenderableType] = []
    for rule, n, rows in groups:
        parts.append(Text.assemble((rule.severity.label.upper(), SEVERITY_STYLE[rule.severity]),
                                   f" {rule.id} {rule.title} — {n} alert(s) · HIPAA {', '.join(rule.hipaa)}"))
        parts.append(fit_table(ALERT_COLUMNS, rows, width) if boxed else stacked(ALERT_COLUMNS, rows, width=width))
        if n > len(rows):
            parts.append(Text(_more_line(col, rule.id, n - len(rows), len(rows))))
        parts.append(Text(""))
    sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        sev[rule.severity.label] += n
    counts = ", ".join(f"{sev[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if sev[s.label])
    window = meta.get("window") or {}
    detector = meta.get("detector", {})
    reused = detector.get("reusedAuditIDs", 0)
    lines = [f"{col.total} alert(s) from {len(col.counts)} rule(s)" + (f" ({counts})" if counts else ""),
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


def _more_line(col: AlertCollector, rule_id: str, hidden: int, shown: int) -> str:
    """The line under a rule's rows: how many alerts are not shown, and how many of them a cap left out of
    the run altogether (then the rows are the riskiest, not the first)."""
    omitted = col.omitted(rule_id)
    if not omitted:
        return f"  … {hidden} more (use --format json or --max-rows)"
    if omitted == hidden:  # worded to fit 80 columns
        return f"  … {hidden} more left out (the {shown} riskiest shown; JSON without --keep has all)"
    return f"  … {hidden} more not shown, {omitted} of them left out by --keep {col.keep} (riskiest kept)"


def _describe_window(window: dict[str, Any]) -> str:
    since, until = window.get("since"), window.get("until")
    if since and until:
        return f"from {since}Z to before {until}Z"
    return f"since {since}Z" if since else f"before {until}Z"


def render_sarif(col: AlertCollector, meta: dict[str, Any]) -> str:
    rules = [r for r, _n, _a in col.groups()]
    results = []
    meta = redact_tree(meta)
    for rule, _n, alerts in col.groups():
        for alert in alerts:
            a = alert.to_dict()
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
                               "auditID": a["auditID"], "count": a["count"], "hipaa": a["hipaa"]},
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
    """`audit analyze`'s result as a table (the default), JSON or SARIF."""

    formats: tuple[str, ...] = ("table", "json", "sarif")

    def render(self, result: AuditAnalysis, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        meta = analysis_meta(result, options.generated_at)
        if fmt == "json":
            return render_json(result.alerts, meta)
        if fmt == "sarif":
            return render_sarif(result.alerts, meta)
        return render_table(result.alerts, meta, max_rows=options.max_rows, width=options.width,
                            color=options.color)


class AuditRulesReport:
    """A list of audit-log rules (`audit rules list`) as a table (the default) or JSON."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: Sequence[Rule], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        return render_rules(result, fmt, width=options.width, color=options.color)
