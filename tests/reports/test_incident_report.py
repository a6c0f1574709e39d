"""The incident record (`respond report`) built from an evidence folder written without a cluster: the action
log and a sealed bundle made with the same code the respond commands use. Markdown here; the HTML page in a
real browser in test_incident_report_browser.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.incident import FACTORS, INCIDENT, notification_prompts
from kubehipaa.respond.actions import ActionLog
from kubehipaa.respond.api import ApiAnswer, ApiRequest, Identity
from kubehipaa.respond.bundle import BundleWriter, new_bundle_folder
from kubehipaa.respond.incident import build_record

SSN = "123-45-6789"
XSS = "<img src=x onerror=\"document.title='pwned'\">"
BUNDLE = "pods/clinical/app-1/20261206T100000Z"


def make_incident(root: Path) -> Path:
    """Two actions (a quarantine label patch answered 200, then the evidence collection) and one bundle."""
    folder = root / "INC-7"
    log = ActionLog(folder)
    who = Identity("alice", "oncall", "prod")
    log.append(action="quarantine", target="pod/app-1", namespace="clinical", identity=who,
               request=ApiRequest("PATCH", "/api/v1/namespaces/clinical/pods/app-1",
                                  {"metadata": {"labels": {"quarantine": "true"}}},
                                  "application/merge-patch+json"),
               answer=ApiAnswer(200, {"kind": "Pod", "metadata": {"name": "app-1", "resourceVersion": "9"}}),
               note=f"label the pod {XSS}")
    bundle = new_bundle_folder(folder / "pods/clinical/app-1", "20261206T100000Z")
    writer = BundleWriter(bundle)
    writer.write("pod.json", json.dumps({"metadata": {"name": "app-1", "namespace": "clinical",
                                                      "creationTimestamp": "2026-12-06T08:00:00Z"},
                                         "status": {"containerStatuses": [{"name": "app", "state": {
                                             "running": {"startedAt": "2026-12-06T08:00:03Z"}}}]}}))
    writer.write("events.json", json.dumps([
        {"type": "Warning", "reason": "Unhealthy", "message": f"probe failed for patient ssn {SSN}",
         "lastTimestamp": "2026-12-06T09:15:00Z", "count": 2}]))
    writer.write("collection.json", json.dumps({"target": "pod/app-1", "namespace": "clinical",
                                                "collectedAt": "2026-12-06T10:00:00Z", "localUser": "alice",
                                                "kubeUser": "oncall", "unreadable": [{"what": "node node-7"}]}))
    writer.write("logs/app.log", f"patient ssn {SSN}\n")
    digest = writer.seal()
    log.append(action="evidence", target="pod/app-1", namespace="clinical", identity=who, request=None,
               answer=None, note="evidence collected", extra={"bundle": BUNDLE, "manifestSha256": digest})
    return folder


def _md(folder: Path) -> str:
    return INCIDENT.render(build_record(folder), "md", RenderOptions(width=100, generated_at="2026-12-06T12:00:00Z"))


def test_markdown_has_actions_bundle_timeline_and_checklist(tmp_path: Path) -> None:
    folder = make_incident(tmp_path)
    record = build_record(folder)
    assert record.ok and record.chain_break is None and len(record.actions) == 2
    text = _md(folder)
    assert "hash chain intact (2 records)" in text
    assert f"Bundle {BUNDLE}: 4 files verified against MANIFEST.sha256" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2
    assert "alice" in rows[0] and "oncall / prod" in rows[0] and "PATCH /api/v1/namespaces/clinical/pods/app-1" in rows[0]
    assert "| 200 |" in rows[0] and "| - |" in rows[1]
    assert "Not readable at collection: node node-7" in text
    timeline = [line for line in text.split("## Timeline")[1].split("## Breach")[0].splitlines()
                if line.startswith("| 2026")]
    times = [line.split(" | ")[0].lstrip("| ") for line in timeline]
    assert times == sorted(times) and len(times) == 6  # created, started, event, collected, 2 actions
    assert "Unhealthy" in text and SSN not in text
    assert text.count("- [ ] **") == len(FACTORS) == 4
    for title, _prompts in FACTORS:
        assert title in text


def test_notification_deadline_counts_sixty_days_from_the_first_action() -> None:
    prompts = notification_prompts("2026-12-06T09:00:00.000Z")
    assert any("2027-02-04" in p and "60 calendar days" in p for p in prompts)
    assert all("2027" not in p for p in notification_prompts(""))


def test_cli_report_exits_2_and_names_the_changed_file(tmp_path: Path) -> None:
    folder = make_incident(tmp_path)
    log = folder / BUNDLE / "logs" / "app.log"
    os.chmod(log.parent, 0o755)
    os.chmod(log, 0o644)
    log.write_text("rewritten\n")
    res = CliRunner().invoke(app, ["respond", "report", str(folder), "--format", "md"])
    assert res.exit_code == 2
    assert "changed: logs/app.log" in res.stdout and f"bundle {BUNDLE}: changed: logs/app.log" in res.stderr


def test_a_bundle_the_log_does_not_know_is_stated(tmp_path: Path) -> None:
    folder = make_incident(tmp_path)
    stray = BundleWriter(new_bundle_folder(folder / "pods/clinical/app-2", "20261206T110000Z"))
    stray.write("pod.json", "{}")
    stray.seal()
    record = build_record(folder)
    assert not record.ok
    (bad,) = [b for b in record.bundles if not b.ok]
    assert bad.path == "pods/clinical/app-2/20261206T110000Z"
    assert bad.problems == ["not recorded in actions.jsonl: its origin cannot be confirmed"]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_cli_writes_the_record_to_a_file(tmp_path: Path, fmt: str) -> None:
    folder = make_incident(tmp_path)
    out = tmp_path / f"record.{fmt}"
    res = CliRunner().invoke(app, ["respond", "report", str(folder), "--format", fmt, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and "Breach risk assessment" in out.read_text()
