"""`audit serve`: a real uvicorn HTTPS server on loopback receiving the API server's EventList batches."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from kubehipaa.server.audit_webhook import AlertFile, AuditReceiver, WebhookSettings, create_app
from tests.server.support import LoopbackServer, metric, self_signed
from tests.server.support import event_list as _event_list

cryptography = pytest.importorskip("cryptography", reason="the loopback TLS test needs the cryptography package")
_metric = metric


def _trace_events(traces: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted(traces.glob("*.json")):
        for line in f.read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                if isinstance(doc, dict) and doc.get("kind") != 0:  # fal_01_003 is a deliberately broken event
                    out.append(doc)
    return out


@pytest.fixture
def traces(shared_dir: Callable[[str], Path]) -> Path:
    return shared_dir("conformance/audit/falco/trace_files")


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def served(tmp_path: Path, tls: tuple[Path, Path],
           shared_dir: Callable[[str], Path]) -> Iterator[tuple[LoopbackServer, AuditReceiver, Path]]:
    from kubehipaa.pipelines.audit import read_sigma_rules

    alerts_path = tmp_path / "alerts.jsonl"
    output = AlertFile(alerts_path)
    settings = WebhookSettings(max_body_bytes=256 * 1024, flush_idle_s=0.2, spool_dir=tmp_path / "spool",
                               sigma=read_sigma_rules([shared_dir("conformance/audit/sigma")]))
    receiver = AuditReceiver(settings, output)
    server = LoopbackServer(create_app(receiver), *tls)
    try:
        yield server, receiver, alerts_path
    finally:
        server.close()
        output.close()


def test_loopback_tls_batches_malformed_oversized_and_burst(
    served: tuple[LoopbackServer, AuditReceiver, Path], tls: tuple[Path, Path], traces: Path
) -> None:
    server, receiver, alerts_path = served
    events = _trace_events(traces)
    assert len(events) == 51
    with httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(tls[0])),
                      timeout=10) as client:
        assert client.get("/healthz").json()["status"] == "ok"

        # real batches: the Falco traces, in EventLists of 10 like the API server's batching backend
        for i in range(0, len(events), 10):
            r = client.post("/audit", content=_event_list(events[i:i + 10]),
                            headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            assert r.json()["accepted"] == len(events[i:i + 10])

        # malformed: not JSON, and an EventList holding a non-Event → 400, nothing enqueued
        assert client.post("/audit", content=b'{"kind": "EventList", "items": [').status_code == 400
        assert client.post("/audit", content=_event_list([{"kind": 0}])).status_code == 400
        # oversized: above max_body_bytes → 413 (as --help says), before the body is parsed
        big = _event_list([events[0] | {"auditID": f"big-{i}"} for i in range(400)])
        assert len(big) > 256 * 1024
        assert client.post("/audit", content=big).status_code == 413

        # burst: 200 small batches back to back; every one answered at once
        slowest = 0.0
        for i in range(200):
            ev = dict(events[0], auditID=f"burst-{i}")
            t0 = time.perf_counter()
            r = client.post("/audit", content=_event_list([ev]))
            slowest = max(slowest, time.perf_counter() - t0)
            assert r.status_code == 200
        print(f"burst: slowest answer {slowest * 1000:.1f} ms")

        assert receiver.wait_idle(20)
        metrics = client.get("/metrics").text

    sent = len(events) + 200
    assert _metric(metrics, "kubehipaa_audit_events_received_total") == sent
    assert _metric(metrics, "kubehipaa_audit_events_processed_total") == sent
    assert "kubehipaa_audit_batches_refused_total{" not in metrics  # nothing answered 429/503
    assert _metric(metrics, "kubehipaa_audit_batches_malformed_total", 'reason="invalid"') == 2
    assert _metric(metrics, "kubehipaa_audit_batches_malformed_total", 'reason="oversized"') == 1

    alerts = [json.loads(line) for line in alerts_path.read_text().splitlines()]
    by_rule: dict[str, int] = {}
    for a in alerts:
        by_rule[a["ruleId"]] = by_rule.get(a["ruleId"], 0) + 1
    # built-in detections on the Falco traces
    assert by_rule.get("KH-AUDLOG-030", 0) >= 2  # exec_pod + attach_pod
    assert by_rule.get("KH-AUDLOG-002", 0) >= 1  # attach_cluster_admin_role
    assert by_rule.get("KH-AUDLOG-015", 0) >= 1  # anonymous_creates_namespace_foo
    # Sigma rules run too, with the same alert shape
    assert any(r.startswith("sigma:") for r in by_rule)
    # metrics agree with the alerts written
    for rule_id, n in by_rule.items():
        sev = next(a["severity"] for a in alerts if a["ruleId"] == rule_id)
        assert _metric(metrics, "kubehipaa_audit_alerts_total", f'rule_id="{rule_id}",severity="{sev}"') == n
    # the burst repeated one event 200 times under distinct auditIDs: it was evaluated every time
    first = events[0]
    assert first["objectRef"]["resource"] == "namespaces"  # anonymous_creates_namespace_foo
    assert by_rule["KH-AUDLOG-015"] >= 201


def test_single_event_body_and_chunked_oversize() -> None:
    sink: list[dict[str, Any]] = []
    receiver = AuditReceiver(WebhookSettings(max_body_bytes=2048, flush_idle_s=0.1), sink.append)
    with TestClient(create_app(receiver)) as client:
        ev = {"kind": "Event", "auditID": "x1", "stage": "ResponseComplete", "verb": "create",
              "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
              "objectRef": {"resource": "namespaces", "name": "foo"}, "responseStatus": {"code": 201},
              "annotations": {"authorization.k8s.io/decision": "allow"}, "sourceIPs": ["192.0.2.1"]}
        assert client.post("/audit", content=orjson.dumps(ev)).json()["accepted"] == 1

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1024

        r = client.post("/audit", content=chunks())  # no Content-Length: the limit is enforced while reading
        assert r.status_code == 413
        assert receiver.wait_idle(5)
    assert any(a["ruleId"] == "KH-AUDLOG-015" for a in sink)


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"kind": "Pod"}', b'{"kind": "EventList", "items": [{}]}', b'{"kind": "EventList", "items": 3}',
     b'{"kind": "EventList", "items": [{"kind": "Event", "verb": 7}]}'],
)
def test_decode_batch_rejects_whole_batches(body: bytes) -> None:
    from kubehipaa.errors import InputError
    from kubehipaa.sources.eventlist import decode_event_list as decode_batch

    with pytest.raises(InputError, match="request body"):
        decode_batch(body)


def test_decode_batch_accepts_eventlist_and_single_event() -> None:
    from kubehipaa.sources.eventlist import decode_event_list as decode_batch

    ev = {"kind": "Event", "auditID": "a", "verb": "get", "objectRef": {"resource": "pods"}}
    assert [e.auditID for e in decode_batch(_event_list([ev, ev | {"auditID": "b"}]))] == ["a", "b"]
    assert decode_batch(orjson.dumps(ev))[0].verb == "get"
    assert decode_batch(b'{"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": null}') == []


def test_rejections_are_logged_as_one_line_without_content(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-bearer-token-value"
    with TestClient(create_app(AuditReceiver(WebhookSettings(max_body_bytes=4096)))) as client, \
            caplog.at_level("WARNING", logger="kubehipaa.audit_webhook"):
        r = client.post("/audit", content=b'{"kind": "EventList", "items": [{"verb": "' + secret.encode() + b'", ')
        assert r.status_code == 400
        r = client.post("/audit", content=_event_list([{"kind": "Event", "verb": 1, "requestURI": secret}]))
        assert r.status_code == 400
        assert client.post("/audit", content=b"x" * 5000).status_code == 413
    records = [rec.getMessage() for rec in caplog.records if rec.name == "kubehipaa.audit_webhook"
               and "rejected" in rec.getMessage()]
    assert len(records) == 3
    assert all("\n" not in m and secret not in m and m.startswith("rejected audit batch from") for m in records)


def test_a_failing_sink_is_retried_and_loses_no_alert() -> None:
    """An alert that cannot be written is retried (the worker does not move past its batch), not dropped."""
    seen: list[dict[str, Any]] = []

    def flaky(alert: dict[str, Any]) -> None:
        if not seen:
            seen.append({})
            raise OSError("disk full")
        seen.append(alert)

    receiver = AuditReceiver(WebhookSettings(flush_idle_s=0.1), flaky)
    ev = {"kind": "Event", "stage": "ResponseComplete", "verb": "create",
          "user": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
          "objectRef": {"resource": "namespaces", "name": "foo"}, "responseStatus": {"code": 201},
          "annotations": {"authorization.k8s.io/decision": "allow"}}
    with TestClient(create_app(receiver)) as client:
        for i in range(2):
            assert client.post("/audit", content=_event_list([ev | {"auditID": f"f-{i}"}])).status_code == 200
            assert receiver.wait_idle(5)
        assert client.get("/healthz").status_code == 200
        text = client.get("/metrics").text
        assert _metric(text, "kubehipaa_audit_alert_write_errors_total") == 1
        assert _metric(text, "kubehipaa_audit_worker_errors_total") == 0
    alerts = [a for a in seen if a]
    assert [a["auditID"] for a in alerts if a["ruleId"] == "KH-AUDLOG-015"] == ["f-0", "f-1"]


def test_sigma_in_the_receiver_sees_every_field_of_the_event() -> None:
    """Sigma reads the event as sent, including fields the audit core does not decode (here `level` and
    `responseStatus.reason`)."""
    from kubehipaa.engines.auditlog import SigmaRuleSet

    rule = SigmaRuleSet.from_yaml(
        "title: Forbidden at RequestResponse level\nid: 11111111-2222-4333-8444-555555555555\nlevel: high\n"
        "logsource: {product: kubernetes, service: audit}\n"
        "detection:\n  sel:\n    level: RequestResponse\n    responseStatus.reason: Forbidden\n  condition: sel\n")
    sink: list[dict[str, Any]] = []
    receiver = AuditReceiver(WebhookSettings(sigma=rule, flush_idle_s=0.1), sink.append)
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "r-1",
          "stage": "ResponseComplete", "verb": "get", "user": {"username": "jane@hospital.org"},
          "objectRef": {"resource": "secrets", "namespace": "clinical", "name": "db"},
          "responseStatus": {"code": 403, "status": "Failure", "reason": "Forbidden"},
          "annotations": {"authorization.k8s.io/decision": "forbid"}}
    with TestClient(create_app(receiver)) as client:
        assert client.post("/audit", content=_event_list([ev])).json()["accepted"] == 1
        assert receiver.wait_idle(5)
    assert any(a["ruleId"] == "sigma:11111111-2222-4333-8444-555555555555" for a in sink)


def test_decode_batch_raw_keeps_each_item() -> None:
    from kubehipaa.sources.eventlist import decode_event_list_raw as decode_batch_raw

    items = [{"kind": "Event", "auditID": "a", "verb": "get", "level": "Metadata"},
             {"kind": "Event", "auditID": "b", "verb": "list", "user": {"username": "u", "extra": {"k": ["v"]}}}]
    events, raws = decode_batch_raw(_event_list(items))
    assert [e.auditID for e in events] == ["a", "b"] and [orjson.loads(r) for r in raws] == items
    single, raw = decode_batch_raw(orjson.dumps(items[0]))
    assert single[0].auditID == "a" and orjson.loads(raw[0]) == items[0]
    from kubehipaa.errors import InputError

    with pytest.raises(InputError, match=r"items\[1\]"):
        decode_batch_raw(_event_list([items[0], {"kind": "Event", "verb": 3}]))


def test_requests_sharing_an_audit_id_are_each_evaluated_in_the_receiver() -> None:
    """Issue 11 req. 2: a client-chosen Audit-ID shared by 13 requests (stages split across two batches)
    hides none of them: the exec's alerts are raised, and every reuse raises KH-AUDLOG-074."""
    from tests.auditlog.test_shared_audit_id import _stages, thirteen_requests

    stages = [e for raw in thirteen_requests() for e in _stages(raw)]
    sink: list[dict[str, Any]] = []
    receiver = AuditReceiver(WebhookSettings(flush_idle_s=0.1), sink.append)
    with TestClient(create_app(receiver)) as client:
        for part in (stages[:9], stages[9:]):
            assert client.post("/audit", content=_event_list(part)).json()["accepted"] == len(part)
            assert receiver.wait_idle(5)
    ids = [a["ruleId"] for a in sink]
    assert ids.count("KH-AUDLOG-031") == 1 and ids.count("KH-AUDLOG-030") == 1
    assert ids.count("KH-AUDLOG-074") == 12
    assert receiver.detector.stats.evaluated == 13 and receiver.detector.stats.duplicates == 13


@pytest.mark.parametrize("body", [b'{"kind": "EventList", "items": [' + b"[" * 100_000,
                                  b'{"kind": "EventList", "items": [{"verb": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}",
                                  b'{"verb": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
def test_deeply_nested_bodies_are_rejected_with_400(body: bytes) -> None:
    receiver = AuditReceiver(WebhookSettings(flush_idle_s=0.1, max_body_bytes=1 << 20))
    with TestClient(create_app(receiver)) as client:
        r = client.post("/audit", content=body)
        assert r.status_code == 400, r.text
        assert client.get("/healthz").status_code == 200
