"""Render a run's incidents (engines/auditlog/incidents.py): the ranked table, the per-incident alert lists, the
JSON entries that reference alerts by id.

Why a module of its own: `audit analyze`'s report (reports/audit_alerts.py) shows incidents first and the
per-rule counts after them, and other reports (an evidence bundle, `audit serve` later) can show the same
incidents the same way. Every string from the log goes through `Incident.to_dict` / `Alert.to_dict`, which
redact it; the table is built from those dicts only.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.engines.auditlog import Alert, Incident, IncidentSet
from kubehipaa.model import Severity
from kubehipaa.reports.terminal import Cell, Column, fit_table, fits, stacked

SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
                  Severity.LOW: "cyan"}

INCIDENT_COLUMNS = (Column("incident", key=True),
                    Column("identity / target · top rule · namespaces · since", key=True))
"""Two columns, several facts a cell, so that the table stays boxed at 80 columns for names up to 59
characters (a service account's `system:serviceaccount:<namespace>:<name>` usually fits): incident = id, risk,
alert count; the second cell = the name (a target without its namespace, which a later line names) with whom
it impersonated or who acted on the target, the top rule and its severity, the namespaces (PHI marked), the
first alert's time and the incident's span."""
DETAIL_COLUMNS = (Column("time", key=True), Column("rule", key=True), Column("message"))
"""Time (date and time of day on two lines), rule (id and severity), message: boxed at 80 columns. The user is
the incident's identity (in the heading); under a target incident each message says `by <user>`."""
SHOWN_NAMESPACES = 3
"""Namespaces named in an incident's table cell (PHI first); the rest are counted (`+N`)."""


class AlertIds:
    """The id each alert has in one report: `Alert.to_dict()["id"]`, numbered `-2`, `-3`... when two alerts
    of the report share it (they differ only inside a redacted value), in the report's order, so that
    every id in the report names one alert."""

    def __init__(self) -> None:
        self._ids: dict[int, str] = {}
        self._seen: Counter[str] = Counter()

    def assign(self, alert: Alert, d: dict[str, Any]) -> dict[str, Any]:
        """Give `d` (the alert's `to_dict()`) its report id; returns `d`."""
        base = d["id"]
        self._seen[base] += 1
        if self._seen[base] > 1:
            d["id"] = f"{base}-{self._seen[base]}"
        self._ids[id(alert)] = d["id"]
        return d

    def __call__(self, alert: Alert) -> str:
        """The id `alert` was given (`assign`); an alert the report does not list has no id here (KeyError)."""
        return self._ids[id(alert)]


def incidents_json(incidents: IncidentSet, alert_id: Callable[[Alert], str]) -> list[dict[str, Any]]:
    """The JSON `incidents` array, riskiest first; each entry's `alertIds` name alerts of the report."""
    return [inc.to_dict(alert_id) for inc in incidents]


def incidents_summary(incidents: IncidentSet) -> dict[str, Any]:
    """What the JSON summary says about the grouping: how many, the gap, the PHI namespaces weighed."""
    return {"incidents": len(incidents), "incidentGapSeconds": incidents.gap,
            "phiNamespaces": sorted(incidents.phi_namespaces)}


def _when(inc: Incident, d: dict[str, Any]) -> str:
    if inc.start > 0:
        first = f"{dt.datetime.fromtimestamp(inc.start, dt.UTC):%Y-%m-%d %H:%M:%S}Z"
    else:
        first = d["firstTime"] or "?"
    return f"from {first} for {_span(inc.seconds)}"


def _span(seconds: float) -> str:
    """`0s`, `42s`, `23m19s`, `5h02m`, `3d04h`: the incident's length in one short word."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _namespaces(d: dict[str, Any]) -> str:
    phi = set(d["phiNamespaces"])
    ordered = [n for n in d["namespaces"] if n in phi] + [n for n in d["namespaces"] if n not in phi]
    shown = [f"{n} (PHI)" if n in phi else n for n in ordered[:SHOWN_NAMESPACES]]
    more = len(ordered) - len(shown)
    return "in " + ", ".join(shown) + (f" +{more}" if more else "") if shown else "no namespace"


def _who(d: dict[str, Any]) -> str:
    """The name, then one line on whom it acted as (identity) or who acted on it (target), then where."""
    if d["kind"] == "identity":
        lines = [d["key"]]
        if d["impersonated"]:
            imp = d["impersonated"]
            lines.append("as " + ", ".join(imp[:2]) + (f" and {len(imp) - 2} more" if len(imp) > 2 else ""))
    else:
        resource, _, where = d["key"].partition(" ")
        ns, slash, name = where.partition("/")
        lines = [f"{resource} {name}" if slash and [ns] == d["namespaces"] else d["key"]]  # `in <ns>` below
        ids = d["identities"]
        lines.append(f"by {len(ids)} identities: " + ", ".join(ids[:2])
                     + (f" and {len(ids) - 2} more" if len(ids) > 2 else ""))
    lines.append(_namespaces(d))
    return "\n".join(lines)


def incident_row(inc: Incident, d: dict[str, Any]) -> list[Cell]:
    sev = inc.max_severity
    who = _who(d).split("\n")
    return [
        Text(f"{d['id']}\nrisk {d['risk']:.1f}\n{d['alertCount']} alert(s)"),
        Text.assemble("\n".join(who[:-1]), f"\ntop {d['topRule']} ", (sev.label, SEVERITY_STYLE[sev]),
                      f"\n{who[-1]}\n{_when(inc, d)}"),
    ]


def incident_table(incidents: Sequence[Incident], width: int) -> RenderableType:
    """The incidents as one table (stacked blocks when it cannot fit `width`)."""
    rows = [incident_row(inc, inc.to_dict()) for inc in incidents]
    return fit_table(INCIDENT_COLUMNS, rows, width)


def riskiest_alerts(inc: Incident, n: int) -> list[Alert]:
    """The `n` alerts of `inc` to show first, in log order: the most severe, then those of the rules that
    fire least in the incident (the one exec among a thousand secret reads), then PHI namespaces first, then
    the earliest."""
    per_rule = Counter(a.rule_id for a in inc.alerts)
    phi = set(inc.phi_namespaces)
    best = heapq.nsmallest(n, range(len(inc.alerts)), key=lambda i: (
        -int(inc.alerts[i].severity), per_rule[inc.alerts[i].rule_id], inc.alerts[i].namespace not in phi, i))
    return [inc.alerts[i] for i in sorted(best)]


def detail_blocks(incidents: Sequence[Incident], max_rows: int, width: int) -> list[RenderableType]:
    """Under each incident heading, its alerts: the `max_rows` riskiest (`riskiest_alerts`), in log order,
    then how many more it has. One layout for every block: all boxed when every row fits, else all stacked."""
    blocks = []
    for inc in incidents:
        shown = riskiest_alerts(inc, max_rows)
        rows: list[list[Cell]] = []
        for a in shown:
            ad = a.to_dict()
            user = ad["user"] or "?"
            by = f"by {user}: " if inc.kind != "identity" and user not in ad["message"] else ""
            rows.append([Text(ad["time"].replace("T", "\n", 1)),
                         Text.assemble(f"{ad['ruleId']}\n", (ad["severity"], SEVERITY_STYLE[a.severity])),
                         Text(by + ad["message"])])
        blocks.append((inc, rows))
    boxed = fits(DETAIL_COLUMNS, [r for _i, rows in blocks for r in rows], width)
    parts: list[RenderableType] = []
    for inc, rows in blocks:
        d = inc.to_dict()
        parts.append(Text.assemble((d["id"], "bold"), f" risk {d['risk']:.1f} · {d['kind']} {d['key']} · "
                                   f"{d['alertCount']} alert(s)"))
        parts.append(fit_table(DETAIL_COLUMNS, rows, width) if boxed else stacked(DETAIL_COLUMNS, rows, width=width))
        hidden = len(inc.alerts) - len(rows)
        if hidden > 0:
            parts.append(Text(f"  … {hidden} more alert(s) in {d['id']} (the {len(rows)} riskiest shown; "
                              f"--format json lists all)"))
        parts.append(Text(""))
    return parts
