"""An auditID never hides a different request (issue 11, requirement 2).

Clients can set the `Audit-ID` header, so one auditID may be logged for several different requests (the
Elastic integration's test log has three requests under `abcde12345`). Only the stages of one request (same
auditID, verb, requestURI, user and requestReceivedTimestamp) are merged; every other request is evaluated,
shown in the timeline with its own alerts, and raises KH-AUDLOG-074.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import Alert, AuditEvent, Detector, event_from_dict
from kubehipaa.engines.auditlog import detector as detmod
from kubehipaa.engines.auditlog.event import request_signature
from kubehipaa.engines.auditlog.timeline import Timeline, TimelineFilter

from .helpers import at, raw_event

SHARED = "abcde12345"
EXEC_URI = "/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=curl%20http%3A%2F%2Fx"
REUSED = "KH-AUDLOG-074"

runner = CliRunner()


def thirteen_requests() -> list[dict[str, Any]]:
    """13 different requests under one auditID: lease renewals, reads, and one exec running curl (the 7th)."""
    out = []
    for i in range(13):
        if i == 6:
            ev = raw_event("create", "pods", sub="exec", name="ehr-0", code=101, uri=EXEC_URI,
                           user="mallory@hospital.org", time=at(1, i), audit_id=SHARED)
        elif i % 2:
            ev = raw_event("update", "leases", ns="kube-system", name=f"node-{i}", user=f"system:node:n{i}",
                           uri=f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/node-{i}",
                           time=at(1, i), audit_id=SHARED)
        else:
            ev = raw_event("get", "configmaps", name=f"cm-{i}", user="system:serviceaccount:clinical:app",
                           uri=f"/api/v1/namespaces/clinical/configmaps/cm-{i}", time=at(1, i), audit_id=SHARED)
        out.append(ev)
    return out


def _stages(ev: dict[str, Any]) -> list[dict[str, Any]]:
    received = dict(ev, stage="RequestReceived")
    received.pop("responseStatus", None)
    return [received, ev]


def test_thirteen_requests_under_one_audit_id_are_all_evaluated() -> None:
    events = [event_from_dict(e) for e in thirteen_requests()]
    det = Detector()
    alerts = det.process_all(events)
    ids = [a.rule_id for a in alerts]
    assert "KH-AUDLOG-030" in ids and "KH-AUDLOG-031" in ids  # the exec is not hidden behind request 1
    assert ids.count(REUSED) == 12  # every request after the first reuses the id
    assert det.stats.evaluated == 13 and det.stats.duplicates == 0 and det.stats.reused_ids == 12
    exec_alerts = [a for a in alerts if a.rule_id == "KH-AUDLOG-031"]
    assert exec_alerts[0].user == "mallory@hospital.org"
    reuse = [a for a in alerts if a.rule_id == REUSED]
    assert all(a.audit_id == SHARED for a in reuse)
    assert "mallory@hospital.org create pods/exec clinical/ehr-0" in reuse[5].message
    assert reuse[-1].evidence == {"otherRequestsWithThisAuditID": 12}


def test_stages_of_one_request_are_still_merged_when_requests_share_an_id() -> None:
    """RequestReceived and response stages of two requests under one id, interleaved, each logged twice."""
    a = raw_event("get", "secrets", name="db", user="jane@hospital.org", time=at(2), audit_id=SHARED)
    b = raw_event("create", "pods", sub="exec", name="ehr-0", code=101, uri=EXEC_URI, time=at(2, 1),
                  audit_id=SHARED)
    started = dict(b, stage="ResponseStarted")
    a_rr, a_rc = _stages(a)
    b_rr, b_rc = _stages(b)
    stream = [a_rr, b_rr, a_rr, started, a_rc, b_rc, a_rc, b_rc]
    det = Detector()
    alerts = det.process_all(event_from_dict(e) for e in stream)
    assert det.stats.evaluated == 2 and det.stats.duplicates == 6
    ids = sorted(a.rule_id for a in alerts)
    assert ids.count("KH-AUDLOG-020") == 1  # the secret read, once
    assert ids.count("KH-AUDLOG-030") == 1 and ids.count("KH-AUDLOG-031") == 1  # the exec, once
    assert ids.count(REUSED) == 1  # the second request, once (at its first stage)


def test_same_request_logged_twice_is_a_duplicate_not_a_reuse() -> None:
    ev = raw_event("get", "secrets", name="db", audit_id="dup-1")
    det = Detector()
    alerts = det.process_all([event_from_dict(ev), event_from_dict(ev)])
    assert [a.rule_id for a in alerts] == ["KH-AUDLOG-020"]
    assert det.stats.duplicates == 1 and det.stats.reused_ids == 0


@pytest.mark.parametrize("field", ["verb", "requestURI", "user", "requestReceivedTimestamp"])
def test_any_differing_request_field_makes_a_different_request(field: str) -> None:
    first = raw_event("get", "secrets", name="db", audit_id="x")
    second = json.loads(json.dumps(first))
    if field == "user":
        second["user"]["username"] = "eve@hospital.org"
    elif field == "requestReceivedTimestamp":
        second[field] = at(9)
    else:
        second[field] = {"verb": "list", "requestURI": "/api/v1/namespaces/clinical/secrets/db?x=1"}[field]
    det = Detector()
    det.process_all([event_from_dict(first), event_from_dict(second)])
    assert det.stats.evaluated == 2 and det.stats.reused_ids == 1


def test_reused_id_tables_stay_bounded() -> None:
    """A client reusing one id for 5,000 requests (half of them only RequestReceived) does not grow one
    entry without bound: at most MAX_REQUESTS_PER_ID signatures and held events per id."""
    det = Detector()
    for i in range(5000):
        ev = raw_event("get", "configmaps", name=f"c{i}", uri=f"/api/v1/namespaces/clinical/configmaps/c{i}",
                       time=at(3, i % 60), audit_id="flood",
                       stage="RequestReceived" if i % 2 else "ResponseComplete")
        det.process(event_from_dict(ev))
    done = det._done_new.get("flood")
    held = det._pending_new.get("flood")
    assert isinstance(done, tuple) and len(done) <= detmod.MAX_REQUESTS_PER_ID
    assert isinstance(held, list) and len(held) <= detmod.MAX_REQUESTS_PER_ID
    det.flush()
    assert det.stats.evaluated == 5000  # every request evaluated once, the held ones included


def test_process_batch_equals_process_with_shared_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests in up to three stages, many sharing ids, stages shuffled locally and some lines repeated;
    small tables force generation swaps and ageing inside batches."""
    for tables in ((8, 4), (30, 10), (200_000, 20_000)):
        monkeypatch.setattr(detmod, "MAX_DONE_IDS", tables[0])
        monkeypatch.setattr(detmod, "MAX_PENDING", tables[1])
        monkeypatch.setattr(detmod, "MAX_REQUESTS_PER_ID", 3)
        rng = random.Random(tables[0])
        stream: list[tuple[float, AuditEvent]] = []
        for i in range(400):
            aid = f"id-{rng.randrange(40)}"
            kw: dict[str, Any] = {"audit_id": aid, "time": at(i // 60, i % 60)}
            if i % 4 == 0:
                kw.update(verb="create", resource="pods", sub="exec", name=f"p{i}", uri=EXEC_URI)
            else:
                kw.update(verb="get", resource="secrets", name=f"s{i}", user=f"u{i % 3}@hospital.org")
            stages = rng.choice([("ResponseComplete",), ("RequestReceived", "ResponseComplete"),
                                 ("RequestReceived",), ("RequestReceived", "ResponseStarted", "ResponseComplete")])
            for lag, stage in enumerate(stages):
                ev = event_from_dict(raw_event(stage=stage, **kw))
                stream.append((i + 4 * lag + rng.random() * 6, ev))
                if rng.random() < 0.1:
                    stream.append((i + rng.random() * 9, ev))
        stream.sort(key=lambda p: p[0])
        events = [ev for _, ev in stream]
        ref = Detector()
        expected = [a.to_dict() for ev in events for a in ref.process(ev)] + [a.to_dict() for a in ref.flush()]
        det = Detector()
        got: list[dict[str, Any]] = []
        for start in range(0, len(events), 29):
            got.extend(a.to_dict() for a in det.process_batch(events[start:start + 29]))
        got.extend(a.to_dict() for a in det.flush())
        assert got == expected, tables
        assert det.stats.to_dict() == ref.stats.to_dict()
        assert ref.stats.reused_ids > 0 and ref.stats.duplicates > 0


def test_request_signature_is_what_process_batch_computes() -> None:
    ev = event_from_dict(raw_event("get", "secrets", name="db", audit_id="s"))
    u = ev.user
    assert u is not None
    assert request_signature(ev) == hash((ev.verb, ev.requestURI, u.username, ev.requestReceivedTimestamp))
    v1beta1 = event_from_dict({"auditID": "s", "verb": "get", "timestamp": "2026-11-27T10:00:00Z"})
    assert request_signature(v1beta1) == hash(("get", None, None, "2026-11-27T10:00:00Z"))


def test_timeline_shows_every_request_with_its_own_alerts() -> None:
    tl = Timeline(TimelineFilter())
    det = Detector()
    for raw in thirteen_requests():
        for e in _stages(raw):
            ev = event_from_dict(e)
            tl.add(ev)
            for a in det.process(ev):
                tl.note_alert(a)
    for a in det.flush():
        tl.note_alert(a)
    entries = tl.entries()
    assert len(entries) == 13 and tl.matched == 13
    exec_rows = [e for e in entries if e.resource == "pods/exec"]
    assert len(exec_rows) == 1 and exec_rows[0].user == "mallory@hospital.org"
    assert {"KH-AUDLOG-030", "KH-AUDLOG-031", REUSED} <= set(exec_rows[0].alerts)
    assert entries[0].alerts == []  # the first request: nothing of the exec's alerts
    assert all(e.alerts == [REUSED] for e in entries[1:] if e.resource != "pods/exec")


def test_timeline_notes_a_hook_alert_without_request_on_the_latest_request() -> None:
    from kubehipaa.model import Severity

    tl = Timeline(TimelineFilter())
    for raw in thirteen_requests()[:2]:
        tl.add(event_from_dict(raw))
    tl.note_alert(Alert("X-1", "x", Severity.LOW, (), "m", "", SHARED, "", "", "", "", "", ""))
    assert [e.alerts for e in tl.entries()] == [[], ["X-1"]]


@pytest.fixture
def shared_log(tmp_path: Path) -> Path:
    p = tmp_path / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for raw in thirteen_requests() for e in _stages(raw)))
    return p


def test_analyze_raises_the_exec_and_the_reuse(shared_log: Path) -> None:
    res = runner.invoke(app, ["analyze", str(shared_log), "-f", "json", "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    counts = {r["id"]: r["count"] for r in report["rules"]}
    assert counts["KH-AUDLOG-031"] == 1 and counts["KH-AUDLOG-030"] == 1 and counts[REUSED] == 12
    assert report["detector"]["evaluated"] == 13 and report["detector"]["reusedAuditIDs"] == 12
    rule = next(r for r in report["rules"] if r["id"] == REUSED)
    assert rule["severity"] == "high" and "164.312(b)" in rule["hipaa"] and rule["remediation"]


def test_analyze_sarif_carries_the_remediation(shared_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.sarif"
    runner.invoke(app, ["analyze", str(shared_log), "-f", "sarif", "-o", str(out), "--fail-on", "never"])
    rules = json.loads(out.read_text())["runs"][0]["tool"]["driver"]["rules"]
    assert next(r for r in rules if r["id"] == REUSED)["help"]["text"].startswith("Identify the client")


def test_timeline_cli_lists_all_thirteen_requests(shared_log: Path) -> None:
    res = runner.invoke(app, ["timeline", str(shared_log), "-f", "json"])
    assert res.exit_code == 0, res.output
    entries = json.loads(res.stdout)["entries"]
    assert len(entries) == 13 and {e["auditID"] for e in entries} == {SHARED}
    exec_entry = next(e for e in entries if e["resource"] == "pods/exec")
    assert "KH-AUDLOG-031" in exec_entry["alerts"] and exec_entry["user"] == "mallory@hospital.org"
    assert sum("KH-AUDLOG-031" in e["alerts"] for e in entries) == 1


def test_sarif_keeps_requests_under_one_audit_id_apart(tmp_path: Path) -> None:
    """Two identical execs (same user, pod, command) under one auditID at different times: two SARIF results
    with different fingerprints, so a code-scanning consumer does not merge them."""
    first = raw_event("create", "pods", sub="exec", name="ehr-0", code=101, uri=EXEC_URI, time=at(5),
                      audit_id=SHARED)
    log = tmp_path / "twice.log"
    log.write_bytes(orjson.dumps(first) + b"\n" + orjson.dumps(dict(first, requestReceivedTimestamp=at(6))) + b"\n")
    res = runner.invoke(app, ["analyze", str(log), "-f", "sarif", "--fail-on", "never", "--rule", "KH-AUDLOG-030"])
    results = json.loads(res.stdout)["runs"][0]["results"]
    assert len(results) == 2
    assert len({r["partialFingerprints"]["kubehipaaAlert/v2"] for r in results}) == 2
