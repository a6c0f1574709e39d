"""Reading audit logs: JSON lines, gzip, rotation, EventList documents, malformed-line accounting, GKE."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import orjson
import pytest

from kubehipaa.engines.auditlog import Detector
from kubehipaa.errors import InputError
from kubehipaa.sources.auditlog import ReadStats, iter_events
from kubehipaa.sources.eventlist import decode_event_list as events_from_document
from kubehipaa.sources.gke import gke_to_event

from .helpers import raw_event


def _lines(*events: dict) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def test_json_lines_with_blank_and_malformed_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(
        _lines(raw_event(audit_id="a"))
        + b"\n"
        + b'{"truncated": \n'
        + b'{"kind": 0}\n'
        + b'{"hello": "world"}\n'
        + _lines(raw_event(audit_id="b"))
        + b"[1, 2]\n"
    )
    stats = ReadStats()
    events = list(iter_events([str(log)], stats))
    assert [e.auditID for e in events] == ["a", "b"]
    assert stats.events == 2 and stats.malformed == 5  # the array's two items count separately
    where = [(m.file, m.line) for m in stats.malformed_samples]
    assert where == [(str(log), 3), (str(log), 4), (str(log), 5), (str(log), 7), (str(log), 7)]
    assert all("world" not in m.message for m in stats.malformed_samples)  # content never echoed


def test_gzip_detected_by_content_and_rotation_order(tmp_path: Path) -> None:
    old = tmp_path / "audit-2026-11-26T00-00-00.000.log"  # gzip content without .gz name
    old.write_bytes(gzip.compress(_lines(raw_event(audit_id="old"))))
    mid = tmp_path / "audit.log.1.gz"
    mid.write_bytes(gzip.compress(_lines(raw_event(audit_id="mid"))))
    cur = tmp_path / "audit.log"
    cur.write_bytes(_lines(raw_event(audit_id="cur")))
    for i, p in enumerate((old, mid, cur)):
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))
    assert [e.auditID for e in iter_events([str(tmp_path)])] == ["old", "mid", "cur"]


def test_truncated_gzip_is_reported_not_fatal(tmp_path: Path) -> None:
    data = gzip.compress(_lines(*[raw_event() for _ in range(200)]))
    bad = tmp_path / "audit.log.2.gz"
    bad.write_bytes(data[: len(data) // 2])
    good = tmp_path / "z.log"
    good.write_bytes(_lines(raw_event(audit_id="after")))
    stats = ReadStats()
    ids = [e.auditID for e in iter_events([str(bad), str(good)], stats)]
    assert ids[-1] == "after" and stats.malformed == 1
    bad_line = stats.malformed_samples[0]
    assert "cannot read further" in bad_line.message and bad_line.file == str(bad)
    assert bad_line.line == len(ids) - 1 + 1  # the line after the last complete one of that file


def test_eventlist_per_line_pretty_document_and_array(tmp_path: Path) -> None:
    items = [raw_event(audit_id="x"), raw_event(audit_id="y")]
    one_line = tmp_path / "batch.jsonl"
    one_line.write_bytes(orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}) + b"\n")
    pretty = tmp_path / "list.json"
    pretty.write_text(json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}, indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps(items, indent=1))
    for p in (one_line, pretty, array):
        stats = ReadStats()
        assert [e.auditID for e in iter_events([str(p)], stats)] == ["x", "y"], p
        assert stats.malformed == 0


def test_v1beta1_and_kindless_events(tmp_path: Path) -> None:
    beta = raw_event(audit_id="beta")
    beta["apiVersion"] = "audit.k8s.io/v1beta1"
    beta["timestamp"] = "2018-10-25T13:58:49Z"
    bare = raw_event(audit_id="bare")
    del bare["kind"], bare["apiVersion"]
    log = tmp_path / "a.log"
    log.write_bytes(_lines(beta, bare))
    assert [e.auditID for e in iter_events([str(log)])] == ["beta", "bare"]


def test_missing_file_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no such file"):
        list(iter_events(["/nonexistent/audit.log"]))


def test_events_from_document_is_strict() -> None:
    body = orjson.dumps({"kind": "EventList", "items": [raw_event(audit_id="w")]})
    assert [e.auditID for e in events_from_document(body)] == ["w"]
    with pytest.raises(InputError):
        events_from_document(b"{not json")
    with pytest.raises(InputError, match=r"items\[1\]"):
        events_from_document(orjson.dumps({"kind": "EventList", "items": [raw_event(), {"kind": 3}]}))


def test_stage_dedupe_evaluates_each_request_once(tmp_path: Path) -> None:
    base = raw_event("get", "secrets", name="db", audit_id="req-1")
    received = dict(base, stage="RequestReceived")
    received.pop("responseStatus")
    only_received = dict(raw_event("get", "secrets", name="db2", audit_id="req-2"), stage="RequestReceived")
    log = tmp_path / "a.log"
    log.write_bytes(_lines(received, base, base, only_received))
    det = Detector()
    alerts = det.process_all(iter_events([str(log)]))
    human = [a for a in alerts if a.rule_id == "KH-AUDLOG-020"]
    assert sorted(a.audit_id for a in human) == ["req-1", "req-2"]  # req-2 evaluated at flush
    assert det.stats.duplicates == 2 and det.stats.evaluated == 2


def test_event_views() -> None:
    from kubehipaa.engines.auditlog import event_from_dict

    ev = event_from_dict(raw_event("create", "pods", sub="exec", name="p", code=101, ip="10.7.7.7",
                                   uri="/api/v1/namespaces/clinical/pods/p/exec?command=ls&command=-la&stdout=1"))
    assert ev.source_ip == "10.7.7.7"  # last of sourceIPs
    assert ev.exec_command == ["ls", "-la"]
    assert ev.allowed and ev.outcome == "allowed"
    denied = event_from_dict(raw_event(code=403, decision="forbid"))
    assert not denied.allowed and denied.outcome == "forbidden"
    no_code = event_from_dict(raw_event(decision="forbid", stage="RequestReceived"))
    assert not no_code.allowed
    assert event_from_dict(raw_event(code=401, decision=None)).outcome == "unauthorized"


def test_gke_cloud_audit_log_entry() -> None:
    from kubehipaa.engines.auditlog import event_from_dict

    entry = {"insertId": "abc", "timestamp": "2026-11-27T10:00:00Z", "protoPayload": {
        "methodName": "io.k8s.core.v1.pods.exec.create",
        "resourceName": "core/v1/namespaces/clinical/pods/ehr-0/exec",
        "authenticationInfo": {"principalEmail": "jane@hospital.org"},
        "requestMetadata": {"callerIp": "203.0.113.4", "callerSuppliedUserAgent": "kubectl"},
        "authorizationInfo": [{"granted": True, "permission": "io.k8s.core.v1.pods.exec.create"}],
        "status": {"code": 0}}}
    ev = event_from_dict(gke_to_event(entry))
    assert (ev.verb, ev.resource, ev.subresource, ev.namespace, ev.name) == ("create", "pods", "exec", "clinical", "ehr-0")
    assert ev.username == "jane@hospital.org" and ev.source_ip == "203.0.113.4" and ev.code == 201
    denied = event_from_dict(gke_to_event({"protoPayload": {
        "methodName": "io.k8s.core.v1.secrets.get", "resourceName": "core/v1/namespaces/a/secrets/b",
        "authenticationInfo": {"principalEmail": "x"}, "status": {"code": 7}}}))
    assert denied.code == 403 and denied.resource == "secrets" and denied.name == "b"


@pytest.mark.parametrize("bad", [
    b'{"verb": ' + b"[" * 100_000,  # msgspec raises RecursionError on this, orjson a depth error
    b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b'}{"b": 1}',  # also no concatenated-documents crash
    b'{"message": "' + b"[" * 3000 + b'"}',
])
def test_deeply_nested_lines_are_malformed_not_a_crash(tmp_path: Path, bad: bytes) -> None:
    log = tmp_path / "deep.log"
    good = orjson.dumps(raw_event(audit_id="ok"))
    log.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b'"ok"', b'"ok2"') + b"\n")
    st = ReadStats()
    assert [ev.auditID for ev in iter_events([str(log)], st)] == ["ok", "ok2"]
    assert st.malformed == 1 and st.malformed_samples[0].line == 2
