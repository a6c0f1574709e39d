"""Render `audit analyze` results: alerts grouped by rule, as a terminal table, JSON or SARIF 2.1.0.

Every format renders an alert from `Alert.to_dict()`, which redacts what came from the event (kubehipaa.redaction),
and the run's metadata (input files, malformed-line samples) through `redact_tree`: no format shows what another
one masks.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubehipaa import __version__
from kubehipaa.engines.auditlog import RULES_BY_ID, Alert, Rule
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_tree

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
                  Severity.LOW: "cyan"}
SARIF_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
               Severity.LOW: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}


@dataclass(slots=True)
class AlertCollector:
    """Keeps every alert count but at most `keep` alerts per rule, so a report's memory is bounded."""

    keep: int = 1000
    counts: Counter[str] = field(default_factory=Counter)
    kept: dict[str, list[Alert]] = field(default_factory=dict)

    def add(self, alert: Alert) -> None:
        self.counts[alert.rule_id] += 1
        lst = self.kept.setdefault(alert.rule_id, [])
        if len(lst) < self.keep:
            lst.append(alert)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def max_severity(self) -> Severity | None:
        sevs = [RULES_BY_ID[r].severity for r in self.counts if r in RULES_BY_ID]
        return max(sevs) if sevs else None

    def groups(self) -> list[tuple[Rule, int, list[Alert]]]:
        rules = [RULES_BY_ID[r] for r in self.counts if r in RULES_BY_ID]
        rules.sort(key=lambda r: (-int(r.severity), r.id))
        return [(r, self.counts[r.id], self.kept.get(r.id, [])) for r in rules]


def report_dict(col: AlertCollector, meta: dict[str, Any]) -> dict[str, Any]:
    by_sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        by_sev[rule.severity.label] += n
    return {
        "tool": {"name": "kubehipaa", "version": __version__},
        **redact_tree(meta),
        "summary": {"alerts": col.total, "bySeverity": dict(by_sev), "rules": len(col.counts)},
        "rules": [
            {**rule.to_dict(), "count": n, "shown": len(alerts), "alerts": [a.to_dict() for a in alerts]}
            for rule, n, alerts in col.groups()
        ],
    }


def render_json(col: AlertCollector, meta: dict[str, Any]) -> str:
    return orjson.dumps(report_dict(col, meta), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_table(col: AlertCollector, meta: dict[str, Any], *, max_rows: int = 20, width: int = 200) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, highlight=False, force_terminal=False)
    meta = redact_tree(meta)
    inputs = meta.get("inputs", {})
    for rule, n, alerts in col.groups():
        style = SEVERITY_STYLE[rule.severity]
        table = Table(title=f"[{style}]{rule.severity.label.upper()}[/] {rule.id} {rule.title} — {n} alert(s) "
                      f"· HIPAA {', '.join(rule.hipaa)}", title_justify="left", show_lines=False)
        for col_name in ("time", "user", "source IP", "message"):
            table.add_column(col_name, overflow="fold")
        for a in alerts[:max_rows]:
            d = a.to_dict()
            table.add_row(escape(d["time"]), escape(d["user"]), escape(d["sourceIP"]), escape(d["message"]))
        console.print(table)
        if n > min(len(alerts), max_rows):
            console.print(f"  … {n - min(len(alerts), max_rows)} more (use --format json or --max-rows)")
    sev: Counter[str] = Counter()
    for rule, n, _ in col.groups():
        sev[rule.severity.label] += n
    parts = ", ".join(f"{sev[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if sev[s.label])
    window = meta.get("window") or {}
    in_window = (f"{window.get('eventsInWindow', 0)} of {window.get('eventsRead', 0)} events in the window "
                 f"({_describe_window(window)}), ") if window.get("since") or window.get("until") else ""
    reused = meta.get("detector", {}).get("reusedAuditIDs", 0)
    console.print(f"{col.total} alert(s) from {len(col.counts)} rule(s)" + (f" ({parts})" if parts else "")
                  + f"; {inputs.get('events', 0)} events read from {len(inputs.get('files', []))} file(s), "
                  + in_window
                  + f"{meta.get('detector', {}).get('duplicates', 0)} duplicate stages, "
                  + (f"{reused} request(s) reusing another request's auditID, " if reused else "")
                  + f"{inputs.get('malformed', 0)} malformed line(s)")
    samples = inputs.get("malformedSamples", [])
    for m in samples[:10]:
        console.print(f"  malformed: {escape(str(m))}")
    if inputs.get("malformed", 0) > 10:
        console.print(f"  … {inputs['malformed'] - 10} more malformed line(s) (the JSON report lists up to "
                      f"{len(samples)})")
    return buf.getvalue()


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
                           "detector": meta.get("detector", {})},
        }],
    }
    if meta.get("warnings"):  # e.g. a .kubehipaa.yaml beside the logs that was not used (ignored-config)
        doc["runs"][0]["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": w["message"]}, "descriptor": {"id": w["code"]}}
            for w in meta["warnings"]
        ]}]
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_rules(rules: list[Rule], fmt: str, *, width: int = 200) -> str:
    if fmt == "json":
        return orjson.dumps([r.to_dict() for r in rules], option=orjson.OPT_INDENT_2).decode() + "\n"
    buf = io.StringIO()
    console = Console(file=buf, width=width, highlight=False, force_terminal=False)
    table = Table(title=f"{len(rules)} built-in audit-log detections", show_lines=True)
    for name in ("id", "severity", "title", "HIPAA", "matching logic"):
        table.add_column(name, overflow="fold")
    for r in rules:
        table.add_row(r.id, r.severity.label, escape(r.title), "\n".join(r.hipaa), escape(r.logic))
    console.print(table)
    return buf.getvalue()
