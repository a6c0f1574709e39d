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


# --- times are instants, not text (issue 12, requirement 9) ----------------------------------------------

import re  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kubehipaa.cli.audit import parse_since  # noqa: E402
from kubehipaa.engines.auditlog import Detector  # noqa: E402
from kubehipaa.engines.auditlog.timerange import (  # noqa: E402
    TimeParseError,
    format_instant,
    parse_instant,
)
from kubehipaa.engines.auditlog.windows import CountWindow, EventClock, FirstSeen, event_seconds  # noqa: E402
from kubehipaa.errors import KubehipaaError  # noqa: E402

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ns(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


REF = _ns(dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC))


@pytest.mark.parametrize(("text", "ns"), [
    ("2026-11-27T10:00:00Z", REF),
    ("2026-11-27T10:00:00.000000Z", REF),
    ("2026-11-27t10:00:00z", REF),
    ("2026-11-28T00:00:00+14:00", REF),  # Kiribati: already the next day
    ("2026-11-26T22:00:00-12:00", REF),
    ("2026-11-27T15:30:00+05:30", REF),
    ("2026-11-27T10:00:00.5Z", REF + 500_000_000),
    ("2026-11-27T10:00:00.123456789Z", REF + 123_456_789),
    ("2026-11-27T10:00:00.1234567891234Z", REF + 123_456_789),  # Go drops digits beyond the nanosecond
    ("2024-02-29T00:00:00Z", _ns(dt.datetime(2024, 2, 29, tzinfo=dt.UTC))),
    ("2000-02-29T00:00:00Z", _ns(dt.datetime(2000, 2, 29, tzinfo=dt.UTC))),
    ("0001-01-01T00:00:00Z", _ns(dt.datetime(1, 1, 1, tzinfo=dt.UTC))),
    ("9999-12-31T23:59:59.999999999Z", _ns(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)) + 999_999_999),
])
def test_parse_instant(text: str, ns: int) -> None:
    assert parse_instant(text) == ns


@pytest.mark.parametrize(("text", "reason"), [
    ("2026-13-45T99:99:99Z", "month 13 out of range"),
    ("2026-11-45T10:00:00Z", "day 45 out of range for 2026-11"),
    ("2023-02-29T00:00:00Z", "day 29 out of range for 2023-02"),
    ("1900-02-29T00:00:00Z", "day 29 out of range"),
    ("2026-11-27T24:00:00Z", "hour 24 out of range"),
    ("2026-11-27T10:60:00Z", "minute 60 out of range"),
    ("2026-11-27T10:00:60Z", "second 60 out of range"),  # Go's parser refuses leap seconds too
    ("2026-11-27T10:00:00+24:00", "offset +24:00 out of range"),
    ("0000-12-31T00:00:00Z", "month"),  # month fine, year 0 is before year 1: see below
    ("not-a-time", "not an RFC 3339 time"),
    ("", "not an RFC 3339 time"),
    ("2026-11-27T10:00:00", "not an RFC 3339 time"),  # no offset
    ("2026-11-27 10:00:00Z", "not an RFC 3339 time"),
    ("2026-11-27T10:00:00.Z", "not an RFC 3339 time"),
    ("2026-11-27T10:00:00+0100", "not an RFC 3339 time"),
    ("2026-11-27T10:00:00Zjunk", "not an RFC 3339 time"),
    ("٢٠٢٦-11-27T10:00:00Z", "not an RFC 3339 time"),  # Arabic-Indic digits are digits to str.isdigit
    ("2026-11-27T10:00:00." + "1" * 100 + "Z", "characters"),
])
def test_parse_instant_refuses(text: str, reason: str) -> None:
    if text.startswith("0000"):
        reason = "outside years 1-9999 UTC"
    with pytest.raises(TimeParseError, match=re.escape(reason)):
        parse_instant(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_parse_instant_refuses_instants_outside_years_1_to_9999(text: str) -> None:
    with pytest.raises(TimeParseError, match="outside years 1-9999 UTC"):
        parse_instant(text)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
       offset_min=st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
       digits=st.integers(min_value=0, max_value=9), nanos=st.integers(min_value=0, max_value=999_999_999),
       lower=st.booleans())
def test_parse_instant_agrees_with_datetime(moment: dt.datetime, offset_min: int, digits: int, nanos: int,
                                            lower: bool) -> None:
    moment = moment.replace(microsecond=0)
    frac = f"{nanos:09d}"[:digits]
    sign = "+" if offset_min >= 0 else "-"
    zone = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}" + (f".{frac}" if digits else "") + zone
    if lower:
        text = text.replace("T", "t")
    expected = _ns(moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset_min))))
    expected += int(frac.ljust(9, "0")) if digits else 0
    assert parse_instant(text) == expected


@settings(max_examples=300, deadline=None)
@given(event=st.integers(min_value=REF - 10**12, max_value=REF + 10**12),
       since=st.integers(min_value=REF - 10**12, max_value=REF + 10**12),
       width=st.integers(min_value=1, max_value=2 * 10**12), offset_min=st.sampled_from([0, 840, -720, 330]))
def test_window_decision_is_the_instants_decision(event: int, since: int, width: int, offset_min: int) -> None:
    """Whatever the event's shape (MicroTime, offset, nanoseconds) or the bound's precision, an event is in
    the window exactly when its instant is in [since, until)."""
    until = since + width
    rng = TimeRange(format_instant(since, micro=False).rstrip("Z").rstrip("0").rstrip("."),
                    format_instant(until, micro=False)[:-1])
    micro = event // 1000 * 1000
    shifted = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=micro // 10**9 + offset_min * 60)
    offset = f"{'+' if offset_min >= 0 else '-'}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    shapes = {
        format_instant(micro): micro,  # MicroTime (fast path)
        format_instant(event, micro=False): event,  # nanoseconds
        f"{shifted.year:04d}-{shifted:%m-%dT%H:%M:%S}.{micro % 10**9 // 1000:06d}{offset}": micro,  # an offset
    }
    for text, instant in shapes.items():
        assert rng.contains(event_from_dict(raw_event(time=text))) == (since <= instant < until), text
    assert rng.malformed == 0


def test_unparsable_times_are_malformed_not_in_the_window() -> None:
    rng = TimeRange("2026-01-01T00:00:00")
    for text in ("2026-13-45T99:99:99Z", "not-a-time", "2026-02-30T10:00:00.000000Z", "2026-11-27T10:00:00.12345xZ",
                 "2026-11-27T10:00:00.12345٣Z", "2026-11-27T10:00:00Zjunk!!!"):
        assert not rng.contains(event_from_dict(raw_event(time=text, audit_id="bad"))), text
    assert (rng.read, rng.kept, rng.malformed) == (6, 0, 6)
    assert rng.malformed_samples[0] == "auditID bad: requestReceivedTimestamp: month 13 out of range"
    assert rng.malformed_samples[2] == "auditID bad: requestReceivedTimestamp: day 30 out of range for 2026-02"
    assert "not-a-time" not in " ".join(rng.malformed_samples)  # the reason, never the text
    assert rng.to_dict()["malformedTimes"] == 6
    reason = rng.empty_reason()
    assert reason is not None and "6 with a malformed time" in reason
    # without a time filter nothing is parsed, nothing is counted
    whole = TimeRange()
    assert whole.select([event_from_dict(raw_event(time="not-a-time"))]) and whole.malformed == 0


def test_offsets_compare_as_instants() -> None:
    rng = TimeRange("2026-11-27T11:00:00Z")
    late_text_early_instant = event_from_dict(raw_event(time="2026-11-28T00:30:00+14:00"))  # 10:30Z
    early_text_late_instant = event_from_dict(raw_event(time="2026-11-26T23:30:00-12:00"))  # 11:30Z
    assert not rng.contains(late_text_early_instant)
    assert rng.contains(early_text_late_instant)
    assert rng.first == "2026-11-28T00:30:00+14:00" and rng.last == "2026-11-26T23:30:00-12:00"


def test_bounds_keep_nanoseconds() -> None:
    rng = TimeRange("2026-11-27T10:00:00.0000005Z")  # 500 ns past the second
    for text, inside in (("2026-11-27T10:00:00.000000Z", False), ("2026-11-27T10:00:00.000001Z", True),
                         ("2026-11-27T10:00:00.000000499Z", False), ("2026-11-27T10:00:00.000000500Z", True)):
        assert rng.contains(event_from_dict(raw_event(time=text))) is inside, text


def test_parse_since_reads_offsets_and_fractions() -> None:
    assert parse_since("2026-11-28T00:00:00+14:00") == "2026-11-27T10:00:00"
    assert parse_since("2026-11-27T10:00:00.123456789Z") == "2026-11-27T10:00:00.123456789"
    assert parse_since("2026-11-27t10:00:00z") == "2026-11-27T10:00:00"
    assert parse_since("2026-11-01") == "2026-11-01T00:00:00"
    with pytest.raises(KubehipaaError, match="month 13 out of range"):
        parse_since("2026-13-45T99:99:99Z")
    with pytest.raises(KubehipaaError, match="expected a duration"):
        parse_since("not-a-time")


@pytest.mark.parametrize("command", ["analyze", "timeline"])
def test_cli_counts_malformed_times(tmp_path: Path, command: str) -> None:
    events = [
        raw_event("get", "secrets", name="db", time=at(1), audit_id="ok1"),
        raw_event("get", "secrets", name="db", time="2026-13-45T99:99:99Z", audit_id="bad1"),
        raw_event("delete", "secrets", name="s", time="not-a-time", audit_id="bad2"),
        raw_event("list", "pods", time="2026-11-28T00:02:00+14:00", audit_id="ok2"),  # 10:02Z
    ]
    log = tmp_path / "audit.log"
    log.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "report.json"
    proc = _cli(command, str(log), "--since", "2026-11-27T10:00:00Z", "-f", "json", "-o", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    assert ("warning: 2 event(s) with a malformed time were not placed in the --since/--until window and not "
            "evaluated (first: auditID bad1: requestReceivedTimestamp: month 13 out of range)") in proc.stderr
    report = json.loads(out.read_text())
    assert report["window"]["eventsInWindow"] == 2 and report["window"]["malformedTimes"] == 2
    if command == "analyze":
        assert report["detector"]["received"] == 2
        assert "KH-AUDLOG-025" not in report["detector"]["alertsByRule"]  # the delete with a bad time
    else:
        assert [e["auditID"] for e in report["entries"]] == ["ok1", "ok2"]


def test_cli_every_time_malformed_is_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(orjson.dumps(raw_event(time="2026-13-45T99:99:99Z")) + b"\n")
    proc = _cli("analyze", str(log), "--since", "2026-01-01T00:00:00Z")
    assert proc.returncode == 2
    assert "0 of 1 events in the window" in proc.stderr and "1 with a malformed time" in proc.stderr


# --- windowed rules: a malformed or absurd time neither crashes nor hides an alert -----------------------


def test_event_seconds() -> None:
    assert event_seconds("2026-11-27T10:00:00.999999Z") == REF // 10**9
    assert event_seconds("2026-11-28T00:00:00+14:00") == REF // 10**9
    assert event_seconds("2026-11-27T10:00:00.000000Zjunk") is None
    assert event_seconds("2026-02-30T10:00:00.000000Z") is None
    assert event_seconds("0000-01-01T00:00:00Z") is None and event_seconds("") is None


def test_event_clock_gives_a_bad_time_the_latest_good_one() -> None:
    clock = EventClock()
    assert clock.at("2026-11-27T10:00:00.000000Z") == REF // 10**9
    assert clock.at("not-a-time") == REF // 10**9
    assert clock.at("2026-11-27T09:00:00.000000Z") == REF // 10**9 - 3600  # earlier times stay what they are
    assert clock.at("2026-13-45T99:99:99Z") == REF // 10**9 - 3600  # the previous event's
    assert clock.at("2026-02-30T10:00:00.000000Z") == REF // 10**9 - 3600
    assert clock.unplaced == 3


def test_first_seen_after_learning_even_when_the_time_is_malformed() -> None:
    """Before: a malformed time was 0.0, 56 years before the learning period began, so the event counted as
    "still learning" and a new identity reading secrets raised nothing."""
    det = Detector()
    start = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)

    def read(user: str, moment: str) -> list[str]:
        ev = event_from_dict(raw_event("get", "secrets", name="db", user=user, time=moment))
        return [a.rule_id for a in det.process(ev)]

    read("app@hospital.org", f"{start:%Y-%m-%dT%H:%M:%S}.000000Z")
    read("app@hospital.org", f"{start + dt.timedelta(hours=2):%Y-%m-%dT%H:%M:%S}.000000Z")  # learning over
    assert "KH-AUDLOG-023" in read("mallory@example.com", "2026-13-45T99:99:99Z")


def test_first_seen_learning_is_not_reopened_by_an_absurd_first_time() -> None:
    seen = FirstSeen(3600, 100)
    assert seen.add("forged", "x", float(253402300799)) == ""  # 9999-12-31, the very first event
    real = float(REF // 10**9)
    assert seen.add("app", "a", real) == ""  # learning starts at the earliest time seen
    assert seen.add("mallory", "m", real + 7200) == "identity"  # before: "still learning" until year 9999


def test_quiet_period_does_not_cover_times_before_the_alert() -> None:
    win = CountWindow(60, 2, 100)
    far = float(253402300000)
    assert win.add("u", far - 1) == 0 and win.add("u", far) == 2  # an alert at a forged far-future time
    real = float(REF // 10**9)
    assert win.add("u", real) == 0
    assert win.add("u", real + 1) == 2  # before: "quiet" until year 9999


_SHAPES = st.one_of(
    st.integers(min_value=REF - 86400 * 10**9 * 400, max_value=REF + 86400 * 10**9 * 400).map(
        lambda ns: format_instant(ns // 1000 * 1000)),  # MicroTime: the block path
    st.sampled_from(["2024-02-29T10:00:00.000000Z", "2025-02-29T10:00:00.000000Z", "0000-01-01T00:00:00.000000Z",
                     "2026-11-31T10:00:00.000000Z", "2026-11-27T10:00:00.1234567Z", "2026-11-28T00:30:00+14:00",
                     "not-a-time", "", "2026-11-27T10:00:00.00000xZ"]),
)


@settings(max_examples=200, deadline=None)
@given(times=st.lists(_SHAPES, min_size=1, max_size=40), canonical_only=st.booleans(),
       since=st.integers(min_value=REF - 86400 * 10**9 * 200, max_value=REF + 86400 * 10**9 * 200))
def test_block_selection_is_event_by_event_selection(times: list[str], canonical_only: bool, since: int) -> None:
    """`select` checks a whole block of MicroTimes at once; it must give exactly what `contains` gives event
    by event: the same events, counts, malformed times and first/last."""
    if canonical_only:
        times = [t for t in times if len(t) == 27 and t.startswith("20") and "x" not in t] or [format_instant(REF)]
    batch = [event_from_dict(raw_event(time=t, audit_id=f"a{i}")) for i, t in enumerate(times)]
    bounds = (format_instant(since, micro=False)[:-1], None)
    by_block, by_event = TimeRange(*bounds), TimeRange(*bounds)
    kept = by_block.select(batch)
    assert kept == [ev for ev in batch if by_event.contains(ev)]
    assert (by_block.read, by_block.kept, by_block.malformed, by_block.first, by_block.last) == \
        (by_event.read, by_event.kept, by_event.malformed, by_event.first, by_event.last)
    raws = list(range(len(batch)))
    pairs = TimeRange(*bounds).select_pairs(batch, raws)
    assert pairs == (kept, [i for i, ev in enumerate(batch) if ev in kept])


def test_a_block_of_microtimes_is_not_checked_event_by_event(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [event_from_dict(raw_event(time=at(m))) for m in range(5)]
    rng = TimeRange("2026-11-27T10:02:00")
    monkeypatch.setattr(TimeRange, "contains", lambda self, ev: pytest.fail("per-event path taken"))
    assert rng.select(batch) == batch[2:] and (rng.read, rng.kept) == (5, 3)
    assert (rng.first, rng.last) == (at(0), at(4))


def test_timeline_orders_requests_as_instants() -> None:
    from kubehipaa.engines.auditlog.timeline import Timeline, TimelineFilter

    tl = Timeline(TimelineFilter())
    for aid, moment in (("b", "2026-11-27T10:45:00.000000Z"), ("a", "2026-11-28T00:30:00+14:00"),  # 10:30Z
                        ("bad", "not-a-time"), ("c", "2026-11-27T10:50:00.5Z")):
        tl.add(event_from_dict(raw_event(time=moment, audit_id=aid)))
    assert [e.audit_id for e in tl.entries()] == ["a", "b", "c", "bad"]  # before: text order b, c, a, bad


def test_without_a_window_no_time_is_judged() -> None:
    rng = TimeRange()
    assert rng.contains(event_from_dict(raw_event(time="not-a-time")))
    assert (rng.read, rng.kept, rng.malformed) == (1, 1, 0)
