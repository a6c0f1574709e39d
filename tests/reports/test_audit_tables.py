"""The audit reports' tables fit the reader's width and never split a name (issue 13 req 4).

`audit analyze` (alerts grouped by rule), `audit rules list` and `audit timeline` render through their
`Report` (reports/base.py) at `RenderOptions.width`: every line fits, and rule ids, user names and resource
names stay whole words (they are searched for and copied out of reports).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from kubehipaa.engines.auditlog import RULES, RULES_BY_ID, TimelineFilter
from kubehipaa.pipelines.audit import AuditAnalysis, AuditTimeline, analyze, build_timeline
from kubehipaa.reports.audit_alerts import AuditAlertsReport, AuditRulesReport
from kubehipaa.reports.base import RenderOptions, UnknownFormat
from kubehipaa.reports.timeline import TimelineReport
from tests.auditlog.helpers import at, raw_event

SA = "system:serviceaccount:clinical:patient-records-api-backend"
HUMAN = "jane.doe-oncall@hospital.example.org"
POD = "patient-records-api-backend-7f9c6d5b4-x2x9q"
SECRET = "clinical-postgres-replication-credentials"


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = [
        raw_event("create", "pods", sub="exec", name=POD, user=HUMAN, time=at(1), code=101,
                  uri=f"/api/v1/namespaces/clinical/pods/{POD}/exec?command=sh&command=-c&command=id"),
        raw_event("list", "secrets", ns=None, user=SA, time=at(2), uri="/api/v1/secrets"),
        raw_event("get", "secrets", name=SECRET, user=HUMAN, time=at(3), code=403, decision="forbid"),
        raw_event("delete", "events", name="ehr-0.17a", user=SA, time=at(4)),
        raw_event("get", "pods", name=POD, user=HUMAN, time=at(5), impersonate=SA),
    ]
    path = tmp_path_factory.mktemp("audit") / "audit.log"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


@pytest.fixture(scope="module")
def analysis(log: Path) -> AuditAnalysis:
    result = analyze([str(log)])
    assert result.alerts.total >= 3 and result.inputs.events == 5
    return result


@pytest.fixture(scope="module")
def timeline(log: Path) -> AuditTimeline:
    result = build_timeline([str(log)], TimelineFilter())
    assert result.timeline.matched == 5
    return result


BOX = ",;:│┃║"


def _assert_whole(text: str, names: set[str], width: int) -> None:
    """Each name appears as (part of) one whitespace-separated word, and no word is a piece of a name cut
    inside a word (a fold): `clinical/patient-rec` + `ords` would leave a prefix and a suffix of the name."""
    words = [w.strip(BOX) for w in text.split() if w.strip(BOX)]
    for name in names:
        assert any(name in w for w in words), f"{name} split at width {width}:\n{text}"
        for w in words:
            if w == name or len(w) < 4:
                continue
            cut_after = name.startswith(w) and w[-1].isalnum() and name[len(w)].isalnum()
            cut_before = name.endswith(w) and w[0].isalnum() and name[-len(w) - 1].isalnum()
            assert not (cut_after or cut_before), f"{name} split into {w!r} at width {width}:\n{text}"


def _fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert lines, "nothing rendered"
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, f"lines over {width} columns:\n" + "\n".join(too_long) + "\n\n" + text


@pytest.mark.parametrize("width", [80, 120])
def test_alerts_table_fits_and_keeps_names_whole(analysis: AuditAnalysis, width: int) -> None:
    """The incidents, their alerts (`--details`) and the alerts per rule: every line fits, names whole."""
    text = AuditAlertsReport(details=True).render(analysis, "table", RenderOptions(width=width, max_rows=20))
    _fits(text, width)
    fired = set(analysis.alerts.counts)
    assert {"KH-AUDLOG-030", "KH-AUDLOG-021", "KH-AUDLOG-011"} <= fired
    paragraphs = {p for rule_id in fired for p in RULES_BY_ID[rule_id].hipaa}
    assert analysis.incidents is not None
    incident_ids = {inc.id for inc in analysis.incidents}
    _assert_whole(text, {*fired, *paragraphs, *incident_ids, SA, HUMAN, f"clinical/{POD}", f"clinical/{SECRET}"},
                  width)
    assert "5 events read from 1 file(s)" in text


@pytest.mark.parametrize("width", [80, 120])
def test_rules_table_fits_and_keeps_ids_whole(width: int) -> None:
    text = AuditRulesReport().render(list(RULES), "table", RenderOptions(width=width))
    _fits(text, width)
    _assert_whole(text, {r.id for r in RULES} | {p for r in RULES for p in r.hipaa}, width)


@pytest.mark.parametrize("width", [80, 120])
def test_timeline_table_fits_and_keeps_names_whole(timeline: AuditTimeline, width: int) -> None:
    text = TimelineReport().render(timeline, "table", RenderOptions(width=width))
    _fits(text, width)
    alert_ids = {a for e in timeline.timeline.entries() for a in e.alerts}
    assert alert_ids
    _assert_whole(text, {*alert_ids, SA, HUMAN, f"clinical/{POD}", f"clinical/{SECRET}"}, width)
    assert "5 matching requests" in text


def test_wide_alerts_table_is_a_table(analysis: AuditAnalysis) -> None:
    """Wide enough, the alerts are a boxed table; the width is the option's, not a fixed 200 columns."""
    wide = AuditAlertsReport().render(analysis, "table", RenderOptions(width=200))
    assert "┌" in wide and max(len(line) for line in wide.splitlines()) <= 200


def test_every_format_of_each_report_renders(analysis: AuditAnalysis, timeline: AuditTimeline) -> None:
    options = RenderOptions(width=100, generated_at="2026-11-27T11:00:00Z")
    for fmt in AuditAlertsReport.formats:
        text = AuditAlertsReport().render(analysis, fmt, options)
        assert text.endswith("\n") and "KH-AUDLOG-030" in text
    assert orjson.loads(AuditAlertsReport().render(analysis, "json", options))["generatedAt"] == options.generated_at
    for fmt in TimelineReport.formats:
        assert HUMAN in TimelineReport().render(timeline, fmt, options)
    rules = orjson.loads(AuditRulesReport().render(list(RULES), "json", options))
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    with pytest.raises(UnknownFormat):
        AuditAlertsReport().render(analysis, "html", options)


def test_the_table_shows_what_max_rows_leaves_out(analysis: AuditAnalysis) -> None:
    """`--max-rows` caps the incidents listed and the alerts listed per incident; the table says how many more
    there are (the JSON has them all)."""
    assert analysis.incidents is not None and len(analysis.incidents) > 1
    text = AuditAlertsReport(details=True).render(analysis, "table", RenderOptions(width=120, max_rows=1))
    top = analysis.incidents.incidents[0]
    assert f"… {len(analysis.incidents) - 1} more incident(s) (use --max-rows or --format json)" in text
    assert len(top.alerts) > 1
    assert f"… {len(top.alerts) - 1} more alert(s) in {top.id} (the 1 riskiest shown; --format json lists all)" \
        in text


def _incident_report(width: int) -> tuple[str, list[Any]]:
    """An impersonating human, a reverse shell in a PHI namespace, a secret read and deleted by two people."""
    from kubehipaa.engines.auditlog import Alert, AlertCollector, build_incidents
    from kubehipaa.model import Severity
    from kubehipaa.reports.audit_alerts import render_table

    def alert(n: int, user: str, rule: str, sev: Severity, obj: str, verb: str = "get", imp: str = "") -> Alert:
        return Alert(rule, "t", sev, RULES_BY_ID[rule].hipaa, f"{user} {verb} {obj}", at(n), f"a{n}", user,
                     "10.1.2.3", "kubectl", verb, obj, "clinical", impersonated=imp)

    col = AlertCollector()
    for a in (alert(1, "mallory@clinic.example", "KH-AUDLOG-037", Severity.CRITICAL, f"pods/exec clinical/{POD}",
                    "create"),
              alert(2, HUMAN, "KH-AUDLOG-019", Severity.CRITICAL, "pods clinical/x", imp="system:admin"),
              alert(3, HUMAN, "KH-AUDLOG-020", Severity.MEDIUM, f"secrets clinical/{SECRET}"),
              alert(4, "bob@clinic.example", "KH-AUDLOG-025", Severity.LOW, f"secrets clinical/{SECRET}", "delete"),
              alert(5, SA, "KH-AUDLOG-021", Severity.MEDIUM, "events clinical/ehr-0.17a", "delete")):
        col.add(a)
    incidents = build_incidents(col.alerts(), phi_namespaces={"clinical"})
    return render_table(col, {}, incidents=incidents, width=width), list(incidents)


@pytest.mark.parametrize("width", [80, 120])
def test_incident_table_is_boxed_at_80_columns_and_says_each_fact(width: int) -> None:
    """Each incident row: id, risk, identity (and whom it impersonated) or target (and by whom), namespaces
    (PHI marked), alert count, top rule and severity, first time and span; boxed, not stacked, at 80 even with
    a 58-character service account name."""
    text, incidents = _incident_report(width)
    _fits(text, width)
    head = text.split("Alerts by rule")[0]
    assert head.count("┌") == 1  # one boxed table of incidents
    assert [inc.kind for inc in incidents].count("target") == 1
    for inc in incidents:
        assert inc.id in head and f"risk {inc.risk:.1f}" in head
        assert f"{len(inc.alerts)} alert(s)" in head
    _assert_whole(head, {inc.id for inc in incidents} | {HUMAN, SA, "mallory@clinic.example", "KH-AUDLOG-037",
                                                         "KH-AUDLOG-019", "system:admin"}, width)
    assert "as system:admin" in head and "in clinical (PHI)" in head and "by 2 identities:" in head
    assert "top KH-AUDLOG-037 critical" in head and "top KH-AUDLOG-025 low" in head
    assert "from 2026-11-27 10:01:00Z for 0s" in head and "from 2026-11-27 10:02:00Z for 1m00s" in head
    assert head.index("mallory@clinic.example") < head.index(SECRET)  # riskiest first
