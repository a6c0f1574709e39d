"""Cloud audit exports are read by every audit command (issue 11, requirement 8).

The files under data/cloud/ are small hand-written samples of each shape (same events throughout: an exec
running curl, a secret read, a cluster-admin ClusterRoleBinding, a lease renewal), written after the shapes
documented by the providers and seen in the Elastic integration's test logs (AKS `properties.log` as a string
and as an object, GKE `io.k8s.get` on resourceName `readyz`):

- aks-kube-audit.jsonl: Azure Monitor diagnostic records one per line (`properties.log` string / object, a
  non-audit category, a truncated log string) and a Log Analytics AzureDiagnostics row (`log_s`);
- aks-records.json: `{"records": [...]}` pretty-printed (Event Hubs / older storage-account blobs);
- gke-audit.jsonl: Cloud Logging entries (exec, non-resource /readyz, a 403, a ClusterRoleBinding, and a
  Compute Engine entry that is not a Kubernetes event); gke-gcloud-read.json: `gcloud logging read
  --format=json` (a pretty-printed array);
- eks-cloudwatch.jsonl: CloudWatch log events one per line (`message`, Logs Insights `@message`, a plain-text
  message); eks-filter-log-events.json: `aws logs filter-log-events` output; eks-subscription.jsonl:
  subscription envelopes (control + data); eks-firehose-s3.log: envelopes back to back on one line, as
  Firehose writes them to S3; eks-export-task.log: a CloudWatch export task to S3 (`<time> <event>` lines).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import Detector
from kubehipaa.errors import InputError
from kubehipaa.sources import auditlog as src
from kubehipaa.sources.audit_shapes import expand, split_concatenated, strip_timestamp_prefix
from kubehipaa.sources.auditlog import ReadStats, iter_event_batches_with_raw, iter_events
from kubehipaa.sources.gke import gke_to_event

DATA = Path(__file__).parent / "data" / "cloud"
EXEC_ID = "7d3c1f52-0b9e-4c8e-9a51-1b2f0c6e1a01"
runner = CliRunner()

# file -> (events, malformed reasons (substrings, in order), rules that must fire)
EXPECTED: dict[str, tuple[int, list[str], set[str]]] = {
    "aks-kube-audit.jsonl": (4, [":4: Azure diagnostic record of category 'kube-apiserver'",
                                 ":5: properties.log: not a JSON audit Event"],
                             {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-020", "KH-AUDLOG-002"}),
    "aks-records.json": (2, [], {"KH-AUDLOG-020", "KH-AUDLOG-002"}),
    "gke-audit.jsonl": (4, [":5: Cloud Audit Logs entry of 'compute.googleapis.com'"],
                        {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-011", "KH-AUDLOG-002"}),
    "gke-gcloud-read.json": (2, [], {"KH-AUDLOG-030", "KH-AUDLOG-031"}),
    "eks-cloudwatch.jsonl": (3, [":4: message: not a JSON audit Event"],
                             {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-020", "KH-AUDLOG-002"}),
    "eks-filter-log-events.json": (2, [], {"KH-AUDLOG-030", "KH-AUDLOG-031"}),
    "eks-subscription.jsonl": (2, [], {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-020"}),
    "eks-firehose-s3.log": (3, [], {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-020", "KH-AUDLOG-002"}),
    "eks-export-task.log": (2, [], {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-020"}),
}


def test_every_sample_file_is_covered() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in DATA.iterdir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shape_is_read_and_analyzed(name: str) -> None:
    events, malformed, rules = EXPECTED[name]
    res = runner.invoke(app, ["analyze", str(DATA / name), "-f", "json", "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["inputs"]["events"] == events
    samples = doc["inputs"]["malformedSamples"]
    assert len(samples) == len(malformed) == doc["inputs"]["malformed"], samples
    for got, want in zip(samples, malformed, strict=True):
        assert want in got
    assert rules <= {r["id"] for r in doc["rules"]}


@pytest.mark.parametrize("name", ["aks-kube-audit.jsonl", "eks-cloudwatch.jsonl", "eks-firehose-s3.log",
                                  "eks-export-task.log", "aks-records.json", "eks-filter-log-events.json"])
def test_wrapped_events_are_the_events_as_logged(name: str) -> None:
    """The Event inside an AKS/EKS wrapper decodes to exactly what the same Event as a plain line gives."""
    exec_event = next(ev for ev in iter_events([str(DATA / "eks-export-task.log")]) if ev.auditID == EXEC_ID)
    wrapped = [ev for ev in iter_events([str(DATA / name)]) if ev.auditID == EXEC_ID]
    if name in ("aks-records.json",):
        assert wrapped == []  # that sample holds other events
        return
    assert [ev.to_dict() for ev in wrapped] == [exec_event.to_dict()]
    assert exec_event.exec_command == ["sh", "-c", "curl -s http://198.51.100.9/x"]


def test_gke_non_resource_request_is_a_url_in_the_timeline() -> None:
    res = runner.invoke(app, ["timeline", str(DATA / "gke-audit.jsonl"), "-f", "json"])
    assert res.exit_code == 0, res.output
    entries = json.loads(res.stdout)["entries"]
    readyz = [e for e in entries if e["requestURI"] == "/readyz"]
    assert len(readyz) == 1 and readyz[0]["object"] == "/readyz" and readyz[0]["resource"] == ""
    assert readyz[0]["verb"] == "get" and readyz[0]["user"] == "system:anonymous"
    assert readyz[0]["outcome"] == "allowed"  # decision from the entry's labels
    exec_entry = next(e for e in entries if e["resource"] == "pods/exec")
    assert exec_entry["command"] == ["sh", "-c", "curl -s http://198.51.100.9/x"]  # from the PodExecOptions body


@pytest.mark.parametrize("entry, uri, verb", [
    ({"methodName": "io.k8s.get", "resourceName": "readyz"}, "/readyz", "get"),
    ({"methodName": "io.k8s.readyz", "resourceName": "/readyz"}, "/readyz", "get"),
    ({"methodName": "io.k8s.readyz"}, "/readyz", "get"),
    ({"methodName": "io.k8s.get", "resourceName": "apis/metrics.k8s.io/v1beta1"}, "/apis/metrics.k8s.io/v1beta1",
     "get"),
    ({"methodName": "io.k8s.post", "resourceName": "/logs"}, "/logs", "post"),
])
def test_gke_non_resource_method_names(entry: dict[str, Any], uri: str, verb: str) -> None:
    ev = gke_to_event({"insertId": "n", "protoPayload": {"serviceName": "k8s.io", **entry}})
    assert ev["requestURI"] == uri and ev["verb"] == verb and "objectRef" not in ev


def test_gke_resource_without_resource_name_takes_the_method() -> None:
    ev = gke_to_event({"protoPayload": {"serviceName": "k8s.io", "methodName": "io.k8s.core.v1.pods.exec.create"}})
    assert ev["objectRef"] == {"resource": "pods", "apiVersion": "v1", "apiGroup": "", "subresource": "exec"}
    assert "requestURI" not in ev


def test_gke_decision_label_wins_over_authorization_info() -> None:
    entry = {"labels": {"authorization.k8s.io/decision": "forbid"}, "protoPayload": {
        "serviceName": "k8s.io", "methodName": "io.k8s.core.v1.secrets.get",
        "resourceName": "core/v1/namespaces/a/secrets/b", "authorizationInfo": [{"granted": True}]}}
    ev = gke_to_event(entry)
    assert ev["annotations"] == {"authorization.k8s.io/decision": "forbid"}
    assert ev["responseStatus"] == {"code": 403}


@pytest.mark.parametrize("line, reason", [
    (b'{"records": "x"}', "records is not a list"),
    (b'{"logEvents": [{"message": 5}]}', "logEvents[0].message: a JSON number, not an audit Event"),
    (b'{"category": "kube-audit", "properties": {}}', "AKS kube-audit record without properties.log"),
    (b'{"category": "kube-audit", "properties": {"log": "[1, 2]"}}', "properties.log[0]: a JSON number"),
    (b'{"events": [{"message": "{\\"kind\\": \\"Pod\\"}"}]}', "events[0].message: not an audit Event (kind 'Pod')"),
    (b'"just a string"', "a JSON string, not an audit Event"),
    (b"42", "a JSON number, not an audit Event"),
    (b'{"protoPayload": {"serviceName": "iam.googleapis.com"}}', "of 'iam.googleapis.com', not of the Kubernetes"),
    (b'{"message": "{\\"verb\\": \\"get\\", \\"user\\": 5}"}', "message: not an audit Event: Expected `object"),
    (b'2026-11-27T10:00:00Z not json at all', "invalid JSON"),
    (b'{"a": 1}{"b": 2}', "not an audit Event (no auditID, verb, user or requestURI)"),
])
def test_unknown_shapes_are_counted_malformed_with_a_reason(tmp_path: Path, line: bytes, reason: str) -> None:
    log = tmp_path / "odd.log"
    good = orjson.dumps({"kind": "Event", "auditID": "g", "verb": "get", "user": {"username": "u"}})
    log.write_bytes(good + b"\n" + line + b"\n")
    st = ReadStats()
    assert [ev.auditID for ev in iter_events([str(log)], st)] == ["g"]
    assert st.malformed >= 1 and all(m.line == 2 for m in st.malformed_samples), st.malformed_samples
    assert reason in st.malformed_samples[0].message, st.malformed_samples


def test_control_messages_hold_no_events_and_are_not_malformed(tmp_path: Path) -> None:
    log = tmp_path / "control.jsonl"
    log.write_bytes(orjson.dumps({"messageType": "CONTROL_MESSAGE", "logEvents": [
        {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination."}]}) + b"\n")
    st = ReadStats()
    assert list(iter_events([str(log)], st)) == [] and st.malformed == 0
    res = runner.invoke(app, ["analyze", str(log)])
    assert isinstance(res.exception, InputError)  # nothing read at all is still an input error (exit 2)


def test_all_shapes_mixed_in_one_file_equal_the_line_by_line_reference(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[bytes] = []
    for name in sorted(EXPECTED):
        text = (DATA / name).read_bytes()
        if text.startswith((b"{\n", b"[\n")):  # pretty-printed documents: one line each in a mixed file
            text = orjson.dumps(orjson.loads(text)) + b"\n"
        lines.extend(text.splitlines())
    data = b"\n".join(lines) + b"\n"
    log = tmp_path / "mixed.log"
    log.write_bytes(data)
    st = ReadStats()
    st.files.append("f")
    block = src._decode_block_slowly(data, 0, "f", st, iter(()))
    expected = [ev.to_dict() for ev in block.events]
    assert len(expected) == sum(v[0] for v in EXPECTED.values())
    for size in (97, 4096, 1 << 20):
        monkeypatch.setattr(src, "READ_BLOCK", size)
        got = ReadStats()
        assert [ev.to_dict() for ev in iter_events([str(log)], got)] == expected
        assert got.malformed == st.malformed == sum(len(v[1]) for v in EXPECTED.values())


def test_raw_lines_for_sigma_are_the_inner_events() -> None:
    for name in ("aks-kube-audit.jsonl", "eks-firehose-s3.log", "gke-audit.jsonl"):
        for batch, raws in iter_event_batches_with_raw([str(DATA / name)]):
            for ev, raw in zip(batch, raws, strict=True):
                assert raw is not None
                doc = orjson.loads(raw)
                assert doc.get("auditID") == ev.auditID and "properties" not in doc and "message" not in doc


def test_timeline_and_window_work_on_cloud_shapes() -> None:
    res = runner.invoke(app, ["timeline", str(DATA / "aks-kube-audit.jsonl"), "--since", "2026-11-27T10:02:00Z",
                              "-f", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["window"] == {"since": "2026-11-27T10:02:00", "until": None, "eventsRead": 4, "eventsInWindow": 3}
    assert {e["auditID"][-2:] for e in doc["entries"]} == {"02", "03", "04"}


def test_rbac_suggest_and_unused_read_cloud_shapes(tmp_path: Path) -> None:
    from kubehipaa.cli.rbac_usage import read_usage
    from kubehipaa.engines.rbac import suggest_role

    for name in ("eks-cloudwatch.jsonl", "aks-kube-audit.jsonl", "gke-audit.jsonl"):
        usage = read_usage([str(DATA / name)])
        result = suggest_role(usage, "jane@hospital.org")
        rules = [r for item in result["manifest"]["items"] for r in item.get("rules", [])]
        assert any("pods/exec" in r.get("resources", []) for r in rules), (name, rules)


def test_expand_and_helpers() -> None:
    assert split_concatenated(b'{"a":1} {"b":2}') == [{"a": 1}, {"b": 2}]
    assert split_concatenated(b'{"a":1}') is None and split_concatenated(b'{"a":1} x') is None
    assert strip_timestamp_prefix(b'2026-11-27T10:00:00.000Z {"a":1}') == b'{"a":1}'
    assert strip_timestamp_prefix(b"hello world") is None
    nested: Any = {"verb": "get"}
    for _ in range(10):
        nested = {"message": orjson.dumps(nested).decode()}
    assert [r for _, c, r in expand(nested) if c is None] == ["nested too deeply to be an audit record"]


def test_a_message_encoded_twice_is_still_read(tmp_path: Path) -> None:
    inner = orjson.dumps({"kind": "Event", "auditID": "twice", "verb": "get", "user": {"username": "u"}}).decode()
    log = tmp_path / "twice.jsonl"
    log.write_bytes(orjson.dumps({"timestamp": 1, "message": orjson.dumps(inner).decode()}) + b"\n")
    st = ReadStats()
    assert [ev.auditID for ev in iter_events([str(log)], st)] == ["twice"] and st.malformed == 0


def test_detector_sees_each_wrapped_event_once() -> None:
    det = Detector()
    alerts = det.process_all(iter_events([str(DATA / "eks-firehose-s3.log"), str(DATA / "eks-subscription.jsonl")]))
    # the same three requests twice (two exports of one log group): the second copy is a duplicate, not a reuse
    assert det.stats.evaluated == 3 and det.stats.duplicates == 2 and det.stats.reused_ids == 0
    assert [a.rule_id for a in alerts].count("KH-AUDLOG-031") == 1


def test_event_list_item_deeper_than_orjson_writes_is_still_read(tmp_path: Path) -> None:
    """orjson reads 1,024 levels but writes only 255: an EventList item with a field nested 300 levels deep is
    read as the line reader reads it (no crash, no lost item; a fuzzer found the crash)."""
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    good = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a-1",
            "stage": "ResponseComplete", "verb": "get", "requestURI": "/api/v1/pods",
            "user": {"username": "jane"}, "stageTimestamp": "2026-11-27T10:00:15Z"}
    bad = dict(good, auditID="a-2", requestObject={"x": deep})
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [bad, good]}
    path = tmp_path / "events.json"
    path.write_text(json.dumps(doc, indent=1))
    stats = ReadStats()
    ids = [ev.auditID for batch, _ in iter_event_batches_with_raw([str(path)], stats) for ev in batch]
    assert ids == ["a-2", "a-1"]
    assert stats.malformed == 0
