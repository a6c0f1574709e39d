"""Sigma rules on audit-log files see each event as logged (every field), as `audit serve --sigma` does.

The audit core decodes only the fields its built-in detections use; `audit analyze --sigma` used to hand
Sigma that subset (`event_dict`), so a rule on `level`, `user.extra` or an annotation other than the
authorization decision could match in `audit serve` (which passes the JSON as received) but never on a file.
Now the file reader keeps each event's line (`iter_event_batches_with_raw`) and Sigma reads that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.auditlog import AlertCollector, Detector, RawEventView, with_sigma
from kubehipaa.pipelines.audit import read_sigma_rules, run_analysis
from kubehipaa.sources.auditlog import ReadStats

LEVEL_ID = "11111111-0000-4000-8000-000000000001"
EXTRA_ID = "11111111-0000-4000-8000-000000000002"
ANNOTATION_ID = "11111111-0000-4000-8000-000000000003"
DECODED_ID = "11111111-0000-4000-8000-000000000004"

_HEAD = "logsource: {product: kubernetes, service: audit}\nlevel: high\n"
RULES = {
    "level.yml": f"title: Secret read logged with bodies\nid: {LEVEL_ID}\n{_HEAD}"
                 "detection:\n  sel:\n    level: RequestResponse\n    objectRef.resource: secrets\n"
                 "  condition: sel\n",
    "extra.yml": f"title: Request made from a pod's token\nid: {EXTRA_ID}\n{_HEAD}"
                 "detection:\n  sel:\n    user.extra.authentication.kubernetes.io/pod-name|exists: true\n"
                 "  condition: sel\n",
    "annotation.yml": f"title: Pod Security audit violation\nid: {ANNOTATION_ID}\n{_HEAD}"
                      "detection:\n  sel:\n"
                      "    annotations.pod-security.kubernetes.io/audit-violations|contains: privileged\n"
                      "  condition: sel\n",
    "decoded.yml": f"title: Secret read\nid: {DECODED_ID}\n{_HEAD}"
                   "detection:\n  sel:\n    objectRef.resource: secrets\n    verb: get\n  condition: sel\n",
}


def _event(aid: str, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": aid,
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/clinical/configmaps/c", "verb": "get",
        "user": {"username": "jane@hospital.org", "uid": "u-1", "groups": ["system:authenticated"]},
        "sourceIPs": ["192.0.2.10"], "userAgent": "kubectl/v1.30.0",
        "objectRef": {"resource": "configmaps", "namespace": "clinical", "name": "c", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2026-11-27T10:00:00.000000Z",
        "stageTimestamp": "2026-11-27T10:00:00.010000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }
    ev.update(extra)
    return ev


def _events() -> list[dict[str, Any]]:
    secret = {"resource": "secrets", "namespace": "clinical", "name": "db", "apiVersion": "v1"}
    pod_token = {"username": "system:serviceaccount:clinical:app", "groups": ["system:serviceaccounts"],
                 "extra": {"authentication.kubernetes.io/pod-name": ["app-7d9f"],
                           "authentication.kubernetes.io/pod-uid": ["0f0e"]}}
    violation = {"authorization.k8s.io/decision": "allow",
                 "pod-security.kubernetes.io/audit-violations": 'would violate PodSecurity "restricted:latest": '
                                                                'privileged (container "c" must not set '
                                                                'securityContext.privileged=true)'}
    return [
        _event("lvl-1", level="RequestResponse", objectRef=secret,
               requestURI="/api/v1/namespaces/clinical/secrets/db"),
        _event("rr-2", stage="RequestReceived", user=pod_token),  # superseded by its ResponseComplete below
        _event("rr-2", user=pod_token),
        _event("psa-3", verb="create", annotations=violation,
               objectRef={"resource": "pods", "namespace": "clinical", "name": "p", "apiVersion": "v1"}),
        _event("meta-4", objectRef=secret),  # a secret read at Metadata level: only the decoded-field rule
        _event("held-5", stage="RequestReceived", level="RequestResponse", objectRef=secret),  # never completed
        _event("plain-6"),
    ]


def _write_rules(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    for name, text in RULES.items():
        (d / name).write_text(text)
    return d


def _write_log(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(orjson.dumps(ev) + b"\n" for ev in events))
    return log


def _cli_sigma_alerts(log: Path, rules: Path, tmp_path: Path, *extra: str) -> set[tuple[str, str]]:
    out = tmp_path / "report.json"
    r = CliRunner().invoke(app, ["audit", "analyze", str(log), "--sigma", str(rules), "--format", "json",
                                 "--fail-on", "never", "-o", str(out), *extra])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    return {(a["ruleId"], a["auditID"]) for g in report["rules"] for a in g["alerts"]
            if a["ruleId"].startswith("sigma:")}


def test_rules_on_fields_the_audit_core_does_not_decode_fire_on_files(tmp_path: Path) -> None:
    """`level`, a `user.extra` key and a Pod Security annotation, through `audit analyze --sigma` (json).

    Before `iter_event_batches_with_raw` (commit ec94d46, Sigma given `event_dict(ev)`), this analysis gave
    only the decoded-field rule's three alerts (lvl-1, meta-4, held-5): the three rules on undecoded fields
    never fired (checked by running this test against that code; it failed there). The held-back RequestReceived stage `held-5` is evaluated at the
    end with the decoded fields only (as in `audit serve`), so the `level` rule does not fire on it.
    """
    alerts = _cli_sigma_alerts(_write_log(tmp_path, _events()), _write_rules(tmp_path), tmp_path)
    assert alerts == {
        (f"sigma:{LEVEL_ID}", "lvl-1"),
        (f"sigma:{EXTRA_ID}", "rr-2"),
        (f"sigma:{ANNOTATION_ID}", "psa-3"),
        (f"sigma:{DECODED_ID}", "lvl-1"),
        (f"sigma:{DECODED_ID}", "meta-4"),
        (f"sigma:{DECODED_ID}", "held-5"),
    }


def test_eventlist_files_give_sigma_every_field_too(tmp_path: Path) -> None:
    """Events out of a document (here a one-line EventList) are given to Sigma as the item's JSON."""
    log = tmp_path / "list.json"
    events = [e for e in _events() if e["stage"] == "ResponseComplete"]
    log.write_bytes(orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events}) + b"\n")
    alerts = _cli_sigma_alerts(log, _write_rules(tmp_path), tmp_path)
    assert {(f"sigma:{LEVEL_ID}", "lvl-1"), (f"sigma:{EXTRA_ID}", "rr-2"),
            (f"sigma:{ANNOTATION_ID}", "psa-3")} <= alerts


def test_since_filters_events_and_their_lines_together(tmp_path: Path) -> None:
    """The event before --since is dropped with its line: the kept Metadata-level read must not be judged
    by the dropped RequestResponse line (which would happen if the two lists went out of step)."""
    secret = {"resource": "secrets", "namespace": "clinical", "name": "db", "apiVersion": "v1"}
    old = _event("old-1", level="RequestResponse", objectRef=secret,
                 requestReceivedTimestamp="2026-01-01T00:00:00Z")
    new = _event("new-2", objectRef=secret, user={"username": "u", "extra": {
        "authentication.kubernetes.io/pod-name": ["p"]}})
    alerts = _cli_sigma_alerts(_write_log(tmp_path, [old, new]), _write_rules(tmp_path), tmp_path,
                               "--since", "2026-06-01T00:00:00Z")
    assert alerts == {(f"sigma:{DECODED_ID}", "new-2"), (f"sigma:{EXTRA_ID}", "new-2")}


def test_file_analysis_and_audit_serve_give_the_same_sigma_alerts(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app

    rules_dir = _write_rules(tmp_path)
    events = _events()

    detector = Detector()
    view = RawEventView()
    with_sigma(detector, read_sigma_rules([str(rules_dir)]), to_dict=view)
    collector = AlertCollector()
    run_analysis([str(_write_log(tmp_path, events))], detector, collector, ReadStats(), raw_view=view)
    from_file = sorted((a.rule_id, a.audit_id) for _, _, alerts in collector.groups() for a in alerts
                       if a.rule_id.startswith("sigma:"))

    sink: list[dict[str, Any]] = []
    receiver = AuditReceiver(WebhookSettings(sigma=read_sigma_rules([str(rules_dir)]), flush_idle_s=0.1),
                             sink.append)
    with TestClient(create_app(receiver)) as client:
        body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events})
        assert client.post("/audit", content=body).json()["accepted"] == len(events)
        assert receiver.wait_idle(5)
    # leaving the client stops the receiver, which flushes the held-back RequestReceived stage
    from_serve = sorted((a["ruleId"], a["auditID"]) for a in sink if a["ruleId"].startswith("sigma:"))

    assert from_file == from_serve
    assert {rule for rule, _ in from_file} == {f"sigma:{i}" for i in (LEVEL_ID, EXTRA_ID, ANNOTATION_ID, DECODED_ID)}
