"""An empty window is not a clean result (issue 11, requirement 7).

`--since`/`--until` over a log with no event in the window used to exit 0 with "0 alerts". Every audit command
with a time range now says "M of N events in the window" (table and JSON) and exits 2 when events were read
but none is in the window, as it does for an empty input.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import event_from_dict
from kubehipaa.engines.auditlog.timerange import TimeRange

from .helpers import at, raw_event

runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    events = [
        raw_event("get", "secrets", name="db", time=at(1), audit_id="w1"),
        raw_event("create", "pods", sub="exec", name="ehr-0", code=101, time=at(2), audit_id="w2",
                  uri="/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=curl%20evil"),
        raw_event("delete", "secrets", name="s", time=at(3), audit_id="w3"),
        raw_event("list", "pods", time=at(4), audit_id="w4"),
    ]
    p = tmp_path / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return p


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", *args], capture_output=True,
                          text=True)


@pytest.mark.parametrize("window", [["--since", "2030-01-01T00:00:00Z"], ["--since", "24h"],
                                    ["--until", "2026-11-27T09:00:00Z"],
                                    ["--since", "2026-11-27T10:05:00Z", "--until", "2026-11-27T11:00:00Z"]])
@pytest.mark.parametrize("command", ["analyze", "timeline"])
def test_no_event_in_the_window_exits_2_and_says_so(log: Path, tmp_path: Path, window: list[str],
                                                    command: str) -> None:
    if window == ["--since", "24h"] and dt.datetime.now(dt.UTC) < dt.datetime(2026, 11, 28, 10, 5, tzinfo=dt.UTC):
        pytest.skip("the clock is within a day of the fixture's events")  # pragma: no cover
    out = tmp_path / "report.json"
    proc = _cli(command, str(log), *window, "-f", "json", "-o", str(out))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("error:") and "Traceback" not in err and len(err.splitlines()) == 1
    assert "0 of 4 events in the window" in err and "nothing was evaluated" in err
    assert "2026-11-27T10:01:00" in err and "2026-11-27T10:04:00" in err  # where the log's events actually are
    report = json.loads(out.read_text())  # the report says so too, for scripts that read it
    assert report["window"]["eventsRead"] == 4 and report["window"]["eventsInWindow"] == 0
    table = _cli(command, str(log), *window)
    assert table.returncode == 2 and "0 of 4 events in the window" in table.stdout


def test_analyze_reports_events_in_the_window(log: Path) -> None:
    res = runner.invoke(app, ["analyze", str(log), "--since", "2026-11-27T10:02:00Z", "--until",
                              "2026-11-27T10:04:00Z", "-f", "json", "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["window"] == {"since": "2026-11-27T10:02:00", "until": "2026-11-27T10:04:00", "eventsRead": 4,
                             "eventsInWindow": 2}
    assert doc["detector"]["received"] == 2
    assert {r["id"] for r in doc["rules"]} >= {"KH-AUDLOG-030", "KH-AUDLOG-025"}
    assert "KH-AUDLOG-020" not in {r["id"] for r in doc["rules"]}  # 10:01, before the window
    table = runner.invoke(app, ["analyze", str(log), "--since", "2026-11-27T10:02:00Z", "--fail-on", "never"])
    assert "3 of 4 events in the window (since 2026-11-27T10:02:00Z)" in table.output
    sarif = runner.invoke(app, ["analyze", str(log), "--until", "2026-11-27T10:02:00Z", "-f", "sarif",
                                "--fail-on", "never"])
    assert json.loads(sarif.stdout)["runs"][0]["properties"]["window"]["eventsInWindow"] == 1


def test_timeline_reports_events_in_the_window(log: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["timeline", str(log), "--until", "2026-11-27T10:03:00Z", "-f", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["window"]["eventsRead"] == 4 and doc["window"]["eventsInWindow"] == 2
    assert [e["auditID"] for e in doc["entries"]] == ["w1", "w2"] and doc["filters"]["until"]
    table = runner.invoke(app, ["timeline", str(log), "--since", "2026-11-27T10:04:00Z"])
    assert table.exit_code == 0 and "1 of 4 events in the window (since 2026-11-27T10:04:00Z)" in table.output
    html = tmp_path / "t.html"
    runner.invoke(app, ["timeline", str(log), "--since", "2026-11-27T10:04:00Z", "-f", "html", "-o", str(html)])
    assert "1 of 4 events in the window" in html.read_text()


def test_a_window_with_events_but_no_match_is_a_real_answer(log: Path) -> None:
    """Filters other than time (here a user nobody is) may legitimately match nothing: exit 0, 0 requests."""
    res = runner.invoke(app, ["timeline", str(log), "--since", "2026-11-27T10:02:00Z", "--user", "nobody"])
    assert res.exit_code == 0 and "0 matching requests" in res.output and "3 of 4 events" in res.output


def test_until_not_after_since_is_a_usage_error(log: Path) -> None:
    proc = _cli("analyze", str(log), "--since", "2026-11-27T10:00:00Z", "--until", "2026-11-27T10:00:00Z")
    assert proc.returncode == 2 and "--until" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = _cli("timeline", str(log), "--until", "soon")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --until 'soon'")


def test_time_range_bounds() -> None:
    rng = TimeRange("2026-11-27T10:00:00", "2026-11-27T11:00:00")
    times = ["2026-11-27T09:59:59.999999Z", "2026-11-27T10:00:00.000000Z", "2026-11-27T10:59:59.5Z",
             "2026-11-27T11:00:00Z", "2026-11-27T11:00:01.000001Z"]
    kept = [rng.contains(event_from_dict(raw_event(time=t))) for t in times]
    assert kept == [False, True, True, False, False]  # since inclusive, until exclusive
    no_time = event_from_dict({"verb": "get", "auditID": "x"})
    assert rng.contains(no_time)  # cannot be placed outside the window
    assert (rng.read, rng.kept) == (6, 3)
    assert rng.first == times[0] and rng.last == times[-1]
    assert TimeRange().empty_reason() is None


def test_timeline_alerts_are_those_of_analyze_for_the_same_window(tmp_path: Path) -> None:
    """A burst of 403s straddling --since: only the in-window part counts, in both commands."""
    events = [raw_event(code=403, decision="forbid", audit_id=f"f{i}", time=at(1, i)) for i in range(12)]
    log = tmp_path / "burst.log"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    since = "2026-11-27T10:01:05Z"  # 7 of the 12 failures: below the threshold of 10
    analyzed = json.loads(runner.invoke(app, ["analyze", str(log), "--since", since, "-f", "json",
                                              "--fail-on", "never"]).stdout)
    assert "KH-AUDLOG-012" not in {r["id"] for r in analyzed["rules"]}
    entries = json.loads(runner.invoke(app, ["timeline", str(log), "--since", since, "-f", "json"]).stdout)["entries"]
    assert len(entries) == 7 and not any("KH-AUDLOG-012" in e["alerts"] for e in entries)
