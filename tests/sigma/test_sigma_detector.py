"""Sigma next to the built-in detections: one alert stream, auditID de-duplication respected."""

from __future__ import annotations

from kubehipaa.engines.auditlog import Detector, SigmaRuleSet, event_from_dict, with_sigma
from kubehipaa.model import Severity

RULE = """
title: Secrets listed
id: 0b4a4b8e-7c0e-4c59-9d6e-2a4d1a0f0001
status: test
level: high
logsource: {product: kubernetes, service: audit}
detection:
  sel:
    verb: list
    objectRef.resource: secrets
  condition: sel
"""


def _event(stage: str) -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a-1", "stage": stage, "verb": "list",
            "user": {"username": "jane@hospital.org", "groups": ["system:authenticated"]},
            "objectRef": {"resource": "secrets", "namespace": "clinical", "apiVersion": "v1"},
            "sourceIPs": ["10.0.0.9"], "requestURI": "/api/v1/namespaces/clinical/secrets",
            "responseStatus": {"code": 200}, "requestReceivedTimestamp": "2026-11-20T10:00:00Z",
            "annotations": {"authorization.k8s.io/decision": "allow"}}


def test_sigma_alerts_join_the_detector_stream_once_per_request() -> None:
    det = with_sigma(Detector(), SigmaRuleSet.from_yaml(RULE))
    alerts = det.process_all([event_from_dict(_event("RequestReceived")), event_from_dict(_event("ResponseComplete"))])
    sigma = [a for a in alerts if a.rule_id.startswith("sigma:")]
    assert len(sigma) == 1
    a = sigma[0]
    assert a.rule_id == "sigma:0b4a4b8e-7c0e-4c59-9d6e-2a4d1a0f0001" and a.severity is Severity.HIGH
    assert a.user == "jane@hospital.org" and a.source_ip == "10.0.0.9" and a.object == "secrets clinical"
    assert a.to_dict()["evidence"]["level"] == "high"
    assert det.stats.alerts[a.rule_id] == 1  # counted by the detector (add_hook)


def test_sigma_alerts_appear_in_alert_reports() -> None:
    import json

    from kubehipaa.engines.auditlog import AlertCollector
    from kubehipaa.reports import audit_alerts

    det = with_sigma(Detector(), SigmaRuleSet.from_yaml(RULE))
    col = AlertCollector()
    for a in det.process_all([event_from_dict(_event("ResponseComplete"))]):
        col.add(a)
    report = json.loads(audit_alerts.render_json(col, {}))
    sigma_groups = [r for r in report["rules"] if r["id"].startswith("sigma:")]
    assert [(r["title"], r["severity"], r["count"]) for r in sigma_groups] == [("Secrets listed", "high", 1)]
    assert col.max_severity() is not None and col.max_severity() >= Severity.HIGH
    assert "Secrets listed" in audit_alerts.render_table(col, {})


def test_event_dict_round_trip_equals_to_dict(shared_dir) -> None:  # type: ignore[no-untyped-def]
    import json

    from kubehipaa.engines.auditlog import event_dict

    traces = shared_dir("conformance/audit/falco/trace_files")
    n = 0
    for f in sorted(traces.glob("*.json")):
        for line in f.read_text().splitlines():
            doc = json.loads(line) if line.strip() else None
            if isinstance(doc, dict) and doc.get("kind") == "Event":
                ev = event_from_dict(doc)
                assert event_dict(ev) == ev.to_dict()
                n += 1
    assert n >= 50
