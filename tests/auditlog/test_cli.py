"""`kubehipaa audit analyze | timeline | rules list` end to end through the real CLI entry point."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app, parse_since

from .helpers import at, raw_event

runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    events = [
        raw_event("get", "secrets", name="db", user="jane@hospital.org", ns="clinical", time=at(1), audit_id="e1"),
        raw_event("create", "pods", sub="exec", name="ehr-0", code=101, time=at(2), audit_id="e2",
                  uri="/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=curl%20evil"),
        raw_event("create", "clusterrolebindings", ns=None, name="oops", code=201, time=at(3), audit_id="e3",
                  user="raj@hospital.org", body={"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}),
        raw_event("list", "pods", user="system:serviceaccount:clinical:app", time=at(4), audit_id="e4"),
    ]
    p = tmp_path / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + b"garbage\n")
    return p


def test_analyze_json_to_file(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    res = runner.invoke(app, ["analyze", str(log), "--format", "json", "-o", str(out)])
    assert res.exit_code == 1, res.output  # a critical alert is above the default --fail-on high
    report = json.loads(out.read_text())
    ids = [r["id"] for r in report["rules"]]
    assert ids[0] == "KH-AUDLOG-002"  # most severe first
    assert {"KH-AUDLOG-020", "KH-AUDLOG-030", "KH-AUDLOG-031"} <= set(ids)
    assert report["inputs"]["events"] == 4 and report["inputs"]["malformed"] == 1
    assert report["inputs"]["malformedSamples"][0].startswith(f"{log}:5: invalid JSON")
    assert report["summary"]["alerts"] == sum(r["count"] for r in report["rules"])


def test_analyze_table_sarif_and_fail_on(log: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", str(log), "--fail-on", "never"])
    assert res.exit_code == 0 and "KH-AUDLOG-002" in res.output and "malformed" in res.output
    sarif = tmp_path / "a.sarif"
    res = runner.invoke(app, ["analyze", str(log), "--format", "sarif", "-o", str(sarif), "--min-severity", "high"])
    doc = json.loads(sarif.read_text())
    assert doc["version"] == "2.1.0"
    rule_ids = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert "KH-AUDLOG-002" in rule_ids and "KH-AUDLOG-020" not in rule_ids  # medium filtered out
    assert all(r["level"] == "error" for r in doc["runs"][0]["results"])


def test_analyze_since_filters_old_events(log: Path) -> None:
    res = runner.invoke(app, ["analyze", str(log), "--since", "2026-11-27T10:02:30Z", "-f", "json", "--fail-on", "never"])
    ids = [r["id"] for r in json.loads(res.stdout)["rules"]]
    assert ids == ["KH-AUDLOG-002", "KH-AUDLOG-001"]


def test_parse_since() -> None:
    import datetime as dt

    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert parse_since("24h", now) == "2026-11-26T12:00:00"
    assert parse_since("30m", now) == "2026-11-27T11:30:00"
    assert parse_since("2026-11-01", now) == "2026-11-01T00:00:00"
    assert parse_since(None) is None


def test_cli_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    for args in (["audit", "analyze", str(tmp_path / "missing.log")],
                 ["audit", "analyze", "--since", "yesterday-ish", str(tmp_path)],
                 ["audit", "analyze", "--rule", "KH-NOPE", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", *args], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_stdin_and_gzip(log: Path, tmp_path: Path) -> None:
    gz = tmp_path / "audit.log.1.gz"
    gz.write_bytes(gzip.compress(log.read_bytes()))
    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", "analyze", "-", "-f", "json",
                           "--fail-on", "never"], input=gzip.decompress(gz.read_bytes()), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["inputs"]["events"] == 4
    res = runner.invoke(app, ["analyze", str(gz), "-f", "json", "--fail-on", "never"])
    assert json.loads(res.stdout)["inputs"]["events"] == 4


def test_timeline_json_and_html(log: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["timeline", str(log), "--namespace", "clinical", "-f", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    times = [e["time"] for e in doc["entries"]]
    assert times == sorted(times) and len(times) == 3
    exec_entry = next(e for e in doc["entries"] if e["resource"] == "pods/exec")
    assert exec_entry["command"] == ["sh", "-c", "curl evil"] and "KH-AUDLOG-031" in exec_entry["alerts"]
    assert exec_entry["sourceIP"] == "10.1.2.3" and exec_entry["userAgent"] and exec_entry["outcome"] == "allowed"
    assert "command=" not in exec_entry["requestURI"]
    html = tmp_path / "t.html"
    res = runner.invoke(app, ["timeline", str(log), "--user", "jane@*", "--resource", "secrets", "-f", "html",
                              "-o", str(html)])
    text = html.read_text()
    assert res.exit_code == 0 and "<table" in text and "jane@hospital.org" in text and "secrets clinical/db" in text
    assert "KH-AUDLOG-020" in text


def test_timeline_table_and_limit(log: Path) -> None:
    res = runner.invoke(app, ["timeline", str(log), "--limit", "1"])
    assert res.exit_code == 0 and "raise --limit" in res.output


def test_rules_list(tmp_path: Path) -> None:
    out = tmp_path / "rules.json"
    res = runner.invoke(app, ["rules", "list", "-f", "json", "-o", str(out)])
    assert res.exit_code == 0
    rules = json.loads(out.read_text())
    assert len(rules) >= 25 and all(r["hipaa"] and r["logic"] for r in rules)
    assert "KH-AUDLOG-018" in runner.invoke(app, ["rules", "list"]).output
