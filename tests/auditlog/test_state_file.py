"""`kubehipaa audit analyze LOG --state FILE`: what the rules learnt carries over between daily runs.

Run through the real entry point (`python -m kubehipaa.cli.main`), as a cron job would: the file is read before
the run and written after it (atomically, versioned); deleting it starts learning afresh; a file that cannot be
used is one line and exit 2, never a traceback and never silently overwritten."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app as main_app
from kubehipaa.cli.main import main
from kubehipaa.sources import audit_state

from .helpers import raw_event

SA = "system:serviceaccount:billing:invoicer"
DAY1 = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
FIRST_SEEN = "KH-AUDLOG-023"
SPIKE = "KH-AUDLOG-026"
runner = CliRunner()


def ts(day: dt.datetime, seconds: float) -> str:
    return (day + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def secret_read(user: str, ns: str, name: str, when: str, ip: str = "10.1.2.3") -> dict[str, Any]:
    return raw_event("get", "secrets", ns=ns, name=name, user=user, time=when, ip=ip,
                     uri=f"/api/v1/namespaces/{ns}/secrets/{name}")


def write_log(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


@pytest.fixture
def day1(tmp_path: Path) -> Path:
    """Two hours of routine: jane reads the clinical db secret every 10 minutes, the invoicer its one secret
    every minute (both learnt during the first hour's warm-up)."""
    events = [secret_read("jane@hospital.org", "clinical", "db", ts(DAY1, m * 60)) for m in range(0, 120, 10)]
    events += [secret_read(SA, "billing", "billing-db", ts(DAY1, m * 60 + 5)) for m in range(120)]
    events.sort(key=lambda e: e["requestReceivedTimestamp"])
    return write_log(tmp_path / "day1.log", events)


@pytest.fixture
def day2(tmp_path: Path) -> Path:
    """The next morning, first minutes: jane as usual; mallory reads a secret (never seen); the invoicer
    sweeps a dozen secrets across six namespaces within 20 s (KH-AUDLOG-022's 15 is not reached)."""
    events = [secret_read("jane@hospital.org", "clinical", "db", ts(DAY2, 0)),
              secret_read("mallory@x.org", "clinical", "db", ts(DAY2, 30), ip="203.0.113.9")]
    events += [secret_read(SA, f"team{i % 6}", f"creds{i}", ts(DAY2, 40 + i * 1.5)) for i in range(12)]
    return write_log(tmp_path / "day2.log", events)


def cli(*args: str | Path, real: bool = False) -> subprocess.CompletedProcess[str]:
    """`kubehipaa audit analyze ARGS` through the entry point `main()` (exit code, error line): in this process
    (argv and std streams swapped), or with `real` in a child process as a user runs it."""
    argv = ["kubehipaa", "audit", "analyze", *map(str, args)]
    if real:
        return subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", *argv[1:]], capture_output=True,
                              text=True)
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def analyze(log: Path, *args: str | Path) -> tuple[dict[str, Any], str]:
    """(JSON report, stderr) of `audit analyze LOG -f json --fail-on never ARGS`, in process (the runs that
    must succeed; failures go through `cli`, the real entry point, for its exit code and error line)."""
    res = runner.invoke(main_app, ["audit", "analyze", str(log), "-f", "json", "--fail-on", "never",
                                   *map(str, args)])
    assert res.exit_code == 0, (res.stderr, res.exception)
    return json.loads(res.stdout), res.stderr


def users(report: dict[str, Any], rule_id: str) -> list[str]:
    return [a["user"] for r in report["rules"] if r["id"] == rule_id for a in r["alerts"]]


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error:") and all(n in err for n in needles), err


# ------------------------------------------------------------------------------------------- round trip


def test_state_round_trip_alerts_on_the_new_and_not_on_the_learnt(day1: Path, day2: Path, tmp_path: Path) -> None:
    # control: without state the second day starts from nothing (first-seen warm-up, no history)
    alone, _ = analyze(day2)
    assert users(alone, FIRST_SEEN) == [] and users(alone, SPIKE) == []

    state = tmp_path / "audit.state"
    report1, err1 = analyze(day1, "--state", state)
    assert "no state file" in err1 and "learning from scratch" in err1
    assert users(report1, FIRST_SEEN) == [] and users(report1, SPIKE) == []
    assert state.is_file()

    report2, err2 = analyze(day2, "--state", state)
    assert err2 == ""
    assert users(report2, FIRST_SEEN) == ["mallory@x.org"]  # jane was learnt on day 1
    assert users(report2, SPIKE) == [SA]  # judged against day 1's one-secret-a-minute
    assert report2["detector"]["received"] == 14  # this run's counts, not day 1's added
    assert report2["detector"]["alertsByRule"][SPIKE] == 1


def test_with_state_the_warm_up_happens_once(day1: Path, tmp_path: Path) -> None:
    """A service account never seen before sweeps a dozen secrets at 08:00 on day 2: without state that is
    inside the new run's warm-up (learnt, not judged); with day 1's state the warm-up is long over."""
    newcomer = "system:serviceaccount:portal:frontend"
    log = write_log(tmp_path / "day2b.log", [secret_read(newcomer, f"team{i % 6}", f"creds{i}", ts(DAY2, i * 1.5))
                                             for i in range(12)])
    assert users(analyze(log)[0], SPIKE) == []
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    assert users(analyze(log, "--state", state)[0], SPIKE) == [newcomer]


def test_learning_continues_across_runs(day1: Path, day2: Path, tmp_path: Path) -> None:
    """Run 2 saves what it learnt: run 3 over the same morning no longer finds mallory new."""
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    analyze(day2, "--state", state)
    report3, _ = analyze(day2, "--state", state)
    assert users(report3, FIRST_SEEN) == []


def test_deleting_the_state_file_starts_learning_afresh(day1: Path, day2: Path, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    state.unlink()
    report, err = analyze(day2, "--state", state)
    assert f"no state file {state}" in err
    assert users(report, FIRST_SEEN) == [] and users(report, SPIKE) == []
    assert state.is_file()  # and what day 2 taught is kept


def test_a_narrower_run_keeps_what_the_other_rules_learnt(day1: Path, day2: Path, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    before = json.loads(state.read_bytes())["detector"]["windows"][FIRST_SEEN]
    analyze(day1, "--state", state, "--rule", SPIKE)
    assert json.loads(state.read_bytes())["detector"]["windows"][FIRST_SEEN] == before
    report, _ = analyze(day2, "--state", state)
    assert users(report, FIRST_SEEN) == ["mallory@x.org"]


def test_nothing_evaluated_leaves_the_state_as_it_was(day1: Path, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    before = state.read_bytes()
    proc = cli(day1, "--state", state, "--since", "2030-01-01T00:00:00Z", "-f", "json")
    assert proc.returncode == 2  # no event in the window: nothing was evaluated
    assert state.read_bytes() == before
    fresh = tmp_path / "never.state"
    assert cli(day1, "--state", fresh, "--since", "2030-01-01T00:00:00Z").returncode == 2
    assert not fresh.exists()


def test_the_file_is_versioned_private_json(day1: Path, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    analyze(day1, "--state", state)
    doc = json.loads(state.read_bytes())
    assert doc["format"] == "kubehipaa-audit-state" and doc["version"] == 1
    assert doc["detector"]["windows"][SPIKE][0] == "SpikeBaseline"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".audit.state")] == []  # no temp left


# ------------------------------------------------------------------------------------- unusable files


def _real_state(day1: Path, tmp_path: Path) -> bytes:
    state = tmp_path / "good.state"
    analyze(day1, "--state", state)
    return state.read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty", "newer", "newer-minimal", "unversioned",
                                  "bool-version", "other-format", "bad-windows", "bad-baseline", "deep",
                                  "directory"])
def test_an_unusable_state_file_is_one_line_exit_2_and_left_alone(kind: str, day1: Path, tmp_path: Path) -> None:
    good = _real_state(day1, tmp_path)
    doc = json.loads(good)
    state = tmp_path / "audit.state"
    if kind == "garbage":
        state.write_bytes(b"\x00\xffnot a state file\n")
    elif kind == "truncated":
        state.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        state.write_bytes(b"")
    elif kind == "newer":
        state.write_bytes(json.dumps({**doc, "version": 2}).encode())
    elif kind == "newer-minimal":
        state.write_bytes(b'{"version": 2}')
    elif kind == "unversioned":
        state.write_bytes(json.dumps({k: v for k, v in doc.items() if k != "version"}).encode())
    elif kind == "bool-version":
        state.write_bytes(json.dumps({**doc, "version": True}).encode())
    elif kind == "deep":  # nesting deeper than the decoder follows
        state.write_bytes(b'{"format": "kubehipaa-audit-state", "version": 1, "detector": ' + b"[" * 100_000
                          + b"]" * 100_000 + b"}")
    elif kind == "other-format":
        state.write_bytes(json.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1"}).encode())
    elif kind == "bad-windows":
        doc["detector"]["windows"][FIRST_SEEN] = ["FirstSeen", {"start": "soon", "keys": 7}]
        state.write_bytes(json.dumps(doc).encode())
    elif kind == "bad-baseline":
        doc["detector"]["windows"][SPIKE] = ["SpikeBaseline", {"ids": [["x", [1, 2]]]}]
        state.write_bytes(json.dumps(doc).encode())
    else:
        state.mkdir()
    before = state.read_bytes() if state.is_file() else None
    proc = cli(day1, "--state", state, real=kind in ("garbage", "newer"))  # two as a user runs it
    assert_one_line_exit_2(proc, str(state))
    if kind in ("newer", "newer-minimal"):
        assert "version 2 was written by a newer kubehipaa" in proc.stderr
    if before is not None:
        assert state.read_bytes() == before  # weeks of learning are not overwritten by a fresh start
        assert "delete it" in proc.stderr


def test_a_state_in_a_missing_directory_fails_before_the_run(day1: Path, tmp_path: Path) -> None:
    assert_one_line_exit_2(cli(day1, "--state", tmp_path / "nowhere" / "audit.state"), "does not exist")


def test_an_oversized_state_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "audit.state"
    state.write_bytes(b"{}" + b" " * 100)
    monkeypatch.setattr(audit_state, "MAX_STATE_BYTES", 64)
    with pytest.raises(audit_state.StateFileError, match="larger than a state file can be"):
        audit_state.read_state(state)


# ----------------------------------------------------------------------------------------- atomic write


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_the_old_state_and_no_partial_file(failing: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "audit.state"
    audit_state.write_state(state, {"version": 1, "windows": {"old": ["FirstSeen", {"start": 1.0, "keys": []}]}})
    before = state.read_bytes()
    real_write = os.write

    def half_then_enospc(fd: int, data: Any) -> int:
        if len(data) > 8:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit_state.os, failing, half_then_enospc if failing == "write" else broken)
    big = {"version": 1, "windows": {"new": ["FirstSeen", {"start": 2.0, "keys": [["u" * 100, ["v"]]] * 50}]}}
    with pytest.raises(audit_state.StateFileError, match=r"No space left on device.*unchanged"):
        audit_state.write_state(state, big)
    monkeypatch.undo()
    assert state.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.state"]


def test_write_then_read_gives_the_same_state(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    detector = {"version": 1, "windows": {"KH-AUDLOG-023": ["FirstSeen", {"start": 5.0, "keys": [["a\x00b", ["c"]]]}]}}
    audit_state.write_state(state, detector)
    assert audit_state.read_state(state) == detector
    assert audit_state.read_state(tmp_path / "absent.state") is None


# ------------------------------------------------------------------------------------------- warm-up


def test_learning_period_option(tmp_path: Path) -> None:
    """`--learning-period`: the first-seen warm-up (default 1h) is configurable; 0 alerts from the start."""
    events = [secret_read("jane@hospital.org", "clinical", "db", ts(DAY1, 0)),
              secret_read("mallory@x.org", "clinical", "db", ts(DAY1, 20 * 60))]
    log = write_log(tmp_path / "a.log", events)
    assert users(analyze(log)[0], FIRST_SEEN) == []  # 20 minutes in: still learning by default
    assert users(analyze(log, "--learning-period", "10m")[0], FIRST_SEEN) == ["mallory@x.org"]
    assert users(analyze(log, "--learning-period", "0")[0], FIRST_SEEN) == ["jane@hospital.org", "mallory@x.org"]
    assert_one_line_exit_2(cli(log, "--learning-period", "soon"), "--learning-period")
