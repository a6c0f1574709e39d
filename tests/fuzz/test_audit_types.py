"""Wrong-typed audit Events through every audit input path: never a crash, every line accounted for.

The events are valid audit.k8s.io/v1 Events of the shapes the detections read (exec, RBAC writes, privileged
Pods, PHI in a ConfigMap, secret reads, anonymous and forbidden requests...) with one to four mutants among
them (`tests/fuzz/audit_events.py`): a field of the event or of its body set to a value of a wrong JSON type,
sometimes a body hundreds of levels deep or very long. Paths:

- `audit analyze` (JSON and table; with the Sigma rules of the conformance data when present), `audit
  timeline` and `rbac unused` over JSON lines on stdin, and `audit analyze` over one EventList file;
- `audit serve`'s POST /audit (in-process, TestClient): the EventList batch is answered 200 (and analysed:
  the worker never fails on it) or 400 with a reason, never 500.

Every line is either an event or a counted malformed line naming its line number (the reader's contract);
exit 0/1/2 with `-:N` named on 2, never exit 3 (`tests/fuzz/harness.py`).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given

from tests.conftest import CONFORMANCE
from tests.fuzz.audit_events import RBAC_MANIFESTS, event_log, to_event_list, to_lines
from tests.fuzz.harness import fuzz_settings, run, write
from tests.server.support import metric

SIGMA = CONFORMANCE / "audit" / "sigma"


def _accounted(report: dict[str, Any], lines: int) -> None:
    """Every line read is an event or a malformed line; the malformed ones are named by line number."""
    inputs = report["inputs"]
    assert inputs["lines"] == lines, inputs
    assert inputs["events"] + inputs["malformed"] == lines, inputs
    assert all(sample.startswith("-:") for sample in inputs["malformedSamples"]), inputs


@fuzz_settings(30)
@given(event_log())
def test_audit_commands_survive_wrong_types(events: list[Any]) -> None:
    text = to_lines(events)
    what = text[:20_000]
    res = run(["audit", "analyze", "-", "-f", "json", "--fail-on", "never"], text, what=what)
    report = json.loads(res.out)
    _accounted(report, len(events))
    assert report["detector"]["evaluated"] >= 15 - report["inputs"]["malformed"]  # the valid events are analysed
    if report["inputs"]["malformed"]:  # counted and named; the exit code is the events' (docs/audit-log.md)
        assert "malformed audit line(s) skipped (first: -:" in res.err, res.err
    run(["audit", "analyze", "-"], text, what=what)
    timeline = run(["audit", "timeline", "-", "-f", "json"], text, what=what)
    _accounted(json.loads(timeline.out), len(events))
    run(["rbac", "unused", write("audit/rbac.yaml", RBAC_MANIFESTS), "-", "-f", "json"], text, what=what)


@fuzz_settings(15)
@given(event_log())
def test_event_list_file_and_sigma_survive_wrong_types(events: list[Any]) -> None:
    """A whole EventList document (read as one document, not line by line), and Sigma, which reads every
    field of the event as sent (the audit core decodes only the fields its rules use)."""
    path = write("audit/events.json", to_event_list(events))
    argv = ["audit", "analyze", path, "-f", "json", "--fail-on", "never"]
    if SIGMA.is_dir():
        argv += ["--sigma", str(SIGMA)]
    run(argv, what=to_lines(events)[:20_000])


@cache
def _receiver() -> tuple[Any, TestClient]:
    """One receiver for every example (no spool directory: the in-memory path; the spool is req. 1's)."""
    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app

    receiver = AuditReceiver(WebhookSettings(flush_idle_s=0.05, max_body_bytes=64 << 20), lambda alert: None)
    client = TestClient(create_app(receiver))
    client.__enter__()
    return receiver, client


@fuzz_settings(30)
@given(event_log())
def test_audit_serve_batches_survive_wrong_types(events: list[Any]) -> None:
    """A batch with a wrong-typed event is refused whole with 400 (the API server logs it; nothing is
    half-accepted) or accepted and analysed; never a 500, and the worker never fails on an accepted batch."""
    receiver, client = _receiver()
    body = to_event_list(events).encode()
    r = client.post("/audit", content=body)
    assert r.status_code in (200, 400), (r.status_code, r.text, body[:20_000])
    if r.status_code == 200:
        assert r.json()["accepted"] == len(events)
    else:
        assert r.json()["error"] and b"fz-" not in r.content  # a reason, never the request's content
    assert receiver.wait_idle(10)
    text = client.get("/metrics").text
    assert metric(text, "kubehipaa_audit_worker_errors_total") == 0, body[:20_000]
    assert client.get("/healthz").status_code == 200
    # The same events one per request: the valid ones are accepted whatever the mutants are.
    statuses = {client.post("/audit", content=json.dumps(e)).status_code for e in events}
    assert statuses <= {200, 400} and 200 in statuses, statuses
