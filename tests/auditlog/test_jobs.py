"""`audit analyze --jobs N` gives the result of `--jobs 1`, byte for byte (issue 16, requirement 5).

The log is cut into many small pieces (`PIECE_BYTES` lowered), so that every kind of state that spans events
crosses a cut: a burst of failures and a burst of distinct secrets straddling a cut, a first-seen identity
learned in one piece and seen from a new source in a later one, a request whose RequestReceived stage is in
one piece and its ResponseComplete in the next, an auditID reused by a different request pieces later, and
malformed lines in several pieces (reported with their line number in the file, not in the piece).
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import detector as detmod
from kubehipaa.pipelines import audit as pipeline
from kubehipaa.pipelines import audit_jobs
from kubehipaa.sources import audit_pieces

from .helpers import raw_event

runner = CliRunner()

WINDOWED = ("KH-AUDLOG-012", "KH-AUDLOG-013", "KH-AUDLOG-022", "KH-AUDLOG-023", "KH-AUDLOG-024")
"""Rules whose alerts depend on earlier events (count, distinct and first-seen windows)."""
REUSED = "KH-AUDLOG-074"


def _t(second: int) -> str:
    h, rest = divmod(second, 3600)
    m, s = divmod(rest, 60)
    return f"2026-11-27T{h:02d}:{m:02d}:{s:02d}.{second % 7:06d}Z"


def _lines(n: int, seed: int, start: int = 0, tag: str = "a") -> list[bytes]:
    """`n` events over about n*2.5 seconds of log time, with windowed traffic throughout (so every cut lands
    inside some burst), stage pairs, reused auditIDs and malformed lines."""
    rng = random.Random(seed)
    out: list[bytes] = []
    held: list[dict[str, Any]] = []
    reusable: list[str] = []
    second = start
    for i in range(n):
        second += rng.choice((1, 2, 3, 4))
        r = rng.random()
        if r < 0.25:
            ev = raw_event("update", "leases", ns="kube-node-lease", name=f"node-{i % 7}",
                           user=f"system:node:node-{i % 7}", time=_t(second))
        elif r < 0.35:  # 403s from a few users and IPs: KH-AUDLOG-011, and bursts for 012/013
            ev = raw_event("list", "secrets", ns="billing", user=f"system:serviceaccount:portal:fe{i % 3}",
                           code=403, decision="forbid", ip=f"10.9.0.{i % 4}", time=_t(second))
        elif r < 0.45:  # distinct secrets by one human: KH-AUDLOG-020 and bursts for 022
            ev = raw_event("get", "secrets", ns=rng.choice(("clinical", "billing", "portal")),
                           name=f"s-{rng.randint(0, 40)}", user=rng.choice(("jane@x.org", "raj@x.org")),
                           ip=f"203.0.113.{rng.randint(1, 3)}", time=_t(second))
        elif r < 0.50:  # first-seen: identities and sources learned early, new ones later
            ev = raw_event("get", "secrets", ns="clinical", name="db",
                           user=f"system:serviceaccount:clinical:app{rng.randint(0, 2 + second // 1500)}",
                           ip=f"10.244.{rng.randint(0, 1 + second // 2000)}.9", ua="ehr/1", time=_t(second))
        elif r < 0.55:  # denied secret gets: KH-AUDLOG-024
            ev = raw_event("get", "secrets", ns="clinical", name="db", user="mallory@x.org", code=403,
                           decision="forbid", time=_t(second))
        elif r < 0.62:  # a RequestReceived stage now, its ResponseComplete a few lines later (often a cut between)
            if rng.random() < 0.5:
                ev = raw_event("create", "pods", sub="exec", name="ehr-0", code=101, time=_t(second),
                               uri="/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=id")
            else:  # a request no rule selects
                ev = raw_event("get", "configmaps", ns="kube-system", name="cfg", time=_t(second),
                               user="system:kube-controller-manager")
            ev["auditID"] = f"{tag}-{ev['auditID']}"
            first = dict(ev, stage="RequestReceived")
            first.pop("responseStatus")
            out.append(orjson.dumps(first))
            held.append(ev)
            continue
        elif r < 0.64 and reusable:  # a different request under an auditID used long before
            if rng.random() < 0.5:
                ev = raw_event("delete", "configmaps", ns="clinical", name="c", time=_t(second),
                               audit_id=rng.choice(reusable))
            else:  # one that raises nothing but KH-AUDLOG-074
                ev = raw_event("update", "leases", ns="kube-node-lease", name="node-0", user="system:node:node-0",
                               time=_t(second), audit_id=rng.choice(reusable))
        elif r < 0.66:
            out.append(rng.choice((b"{not json", b"", b"   ", b'{"kind": "Pod"}', b"[1, 2")))
            continue
        elif r < 0.69:  # every gate of the dispatch: anonymous (a 401 with no decision), impersonation, break-glass
            ev = raw_event("get", "secrets", ns="clinical", user="system:anonymous", code=401, decision=None,
                           groups=["system:unauthenticated"], ip="45.33.32.156", time=_t(second))
        elif r < 0.71:
            ev = raw_event("get", "pods", ns="clinical", user="raj@x.org", impersonate="system:admin",
                           time=_t(second))
        elif r < 0.73:
            ev = raw_event("patch", "deployments", ns="clinical", name="ehr", user="oncall@x.org",
                           groups=["break-glass", "system:authenticated"], group="apps", time=_t(second))
        else:
            ev = raw_event("get", "pods", ns="clinical", name=f"p{i}", user="system:serviceaccount:clinical:app0",
                           time=_t(second))
        ev["auditID"] = f"{tag}-{ev['auditID']}" if not ev["auditID"].startswith(tag) else ev["auditID"]
        if i % 50 == 0:
            reusable.append(ev["auditID"])
        if held and rng.random() < 0.3:
            out.append(orjson.dumps(held.pop(0)))
        out.append(orjson.dumps(ev))
    out.extend(orjson.dumps(ev) for ev in held)  # some requests end at the end of the file
    return out


def _write(path: Path, lines: list[bytes], gz: bool = False) -> Path:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    one = _write(tmp_path / "audit-1.log", _lines(2500, 1, tag="a"))
    two = _write(tmp_path / "audit-2.log.gz", _lines(600, 2, start=9000, tag="b"), gz=True)
    three = _write(tmp_path / "audit-3.log", _lines(1500, 3, start=11000, tag="a"))
    return [one, two, three]


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_pieces, "PIECE_BYTES", 16 * 1024)


def _report(paths: list[Path], jobs: int, *extra: str) -> dict[str, Any]:
    res = runner.invoke(app, ["analyze", *map(str, paths), "--format", "json", "--fail-on", "never",
                              "--jobs", str(jobs), *extra])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    doc.pop("generatedAt", None)
    return doc


def test_pieces_cover_each_file_exactly_at_line_starts(logs: list[Path]) -> None:
    pieces = audit_pieces.plan([str(p) for p in logs], 16 * 1024)
    assert pieces is not None
    for path in logs:
        mine = [p for p in pieces if p.path == str(path)]
        data = path.read_bytes()
        if path.suffix == ".gz":
            assert mine == [audit_pieces.Piece(str(path))]  # a gzip stream is one piece
            continue
        assert len(mine) > 5
        assert mine[0].start == 0 and mine[-1].end is None
        got = b"".join(data[p.start:p.end] for p in mine)
        assert got == data
        assert all(data[p.start - 1:p.start] == b"\n" for p in mine[1:])
        assert all(a.end == b.start for a, b in itertools.pairwise(mine))


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_report_is_identical(logs: list[Path], jobs: int) -> None:
    one = _report(logs, 1)
    many = _report(logs, jobs)
    fired = {r["id"]: r["count"] for r in one["rules"]}
    for rid in (*WINDOWED, REUSED, "KH-AUDLOG-010", "KH-AUDLOG-011", "KH-AUDLOG-016", "KH-AUDLOG-017", "KH-AUDLOG-018",
                "KH-AUDLOG-030"):  # the log exercises what it should
        assert fired.get(rid, 0) > 0, rid
    assert one["inputs"]["malformed"] > 20
    assert many == one


@pytest.mark.usefixtures("small_pieces")
def test_jobs_identical_with_a_time_window_and_keep(logs: list[Path]) -> None:
    extra = ("--since", "2026-11-27T01:00:00Z", "--until", "2026-11-27T03:30:00Z", "--keep", "3")
    one = _report(logs, 1, *extra)
    assert 0 < one["window"]["eventsInWindow"] < one["window"]["eventsRead"]
    assert _report(logs, 2, *extra) == one


@pytest.mark.usefixtures("small_pieces")
def test_jobs_identical_when_dedup_tables_rotate_and_held_stages_age(logs: list[Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny de-duplication tables: generations rotate and held RequestReceived stages are evaluated when they
    age out, at points that depend on every event before them in the whole log."""
    monkeypatch.setattr(detmod, "MAX_DONE_IDS", 40)
    monkeypatch.setattr(detmod, "MAX_PENDING", 6)
    one = pipeline.analyze([str(p) for p in logs], jobs=1)
    many = pipeline.analyze([str(p) for p in logs], jobs=2)
    assert [a.to_dict() for _r, _n, alerts in many.alerts.groups() for a in alerts] == \
        [a.to_dict() for _r, _n, alerts in one.alerts.groups() for a in alerts]
    assert many.detector.to_dict() == one.detector.to_dict()
    assert many.inputs.to_dict() == one.inputs.to_dict()


@pytest.mark.usefixtures("small_pieces")
def test_malformed_lines_are_reported_with_their_line_in_the_file(logs: list[Path]) -> None:
    res = pipeline.analyze([str(p) for p in logs], jobs=2)
    lines = logs[0].read_bytes().split(b"\n")
    bad = [m for m in res.inputs.malformed_samples if m.file == str(logs[0])]
    assert len(bad) > 10
    for m in bad:
        text = lines[m.line - 1]
        assert text.strip() and not text.startswith(b'{"kind":"Event"'), m
    assert bad[-1].line > len(lines) // 2  # well past the first piece


def test_stdin_and_single_piece_run_in_one_process(logs: list[Path]) -> None:
    assert audit_pieces.plan(["-"]) is None
    from kubehipaa.engines.auditlog import AlertCollector, TimeRange
    from kubehipaa.sources.auditlog import ReadStats

    # the default piece is far larger than these files: nothing to split, the caller reads them itself
    done = audit_jobs.run_parallel([str(logs[0])], 2, rules=None, config=None, collector=AlertCollector(),
                                   stats=ReadStats(), window=TimeRange())
    assert done is None


def test_default_jobs_is_the_cores_this_process_may_use() -> None:
    import os

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert audit_jobs.default_jobs() == expected


@pytest.mark.parametrize("keyed", [False, True])
def test_worker_and_merger_in_process_equal_one_detector(keyed: bool) -> None:
    """The engine half alone, without processes: events cut into parts at arbitrary points, split by
    `SplitWorker` (the inlined loop, or the reference loop for a keyed signature) and replayed by
    `SplitMerger`, give `Detector.process_batch`'s alerts and counters."""
    import pickle

    from kubehipaa.engines.auditlog import Detector, SplitMerger, SplitPart, SplitWorker
    from kubehipaa.engines.auditlog.event import EVENT_DECODER, keyed_request_signature

    events = [EVENT_DECODER.decode(line) for line in _lines(1200, 7) if line.strip().startswith(b'{"kind"')]
    sig = keyed_request_signature(b"k" * 32) if keyed else None
    one = Detector(signature=sig)
    expected = one.process_batch(events) + one.flush()
    cuts = [0, 1, 150, 151, 600, 1000, len(events)]
    parts = [events[a:b] for a, b in itertools.pairwise(cuts)]
    worker = SplitWorker(signature=sig)
    merger = SplitMerger(fetch=lambda k, i: parts[k][i], signature=sig)
    got = []
    for k, evs in enumerate(parts):
        part = SplitPart()
        worker.split(evs, part)
        part.finish()
        got += merger.replay(pickle.loads(pickle.dumps(part)), k)
    got += merger.flush()
    assert [a.to_dict() for a in got] == [a.to_dict() for a in expected]
    assert [a.request for a in got] == [a.request for a in expected]
    assert merger.stats.to_dict() == one.stats.to_dict()
    assert one.stats.reused_ids > 0 and one.stats.duplicates > 0


@pytest.mark.usefixtures("small_pieces")
def test_a_stateful_rule_the_merger_cannot_replay_runs_in_one_process(logs: list[Path]) -> None:
    """A window mode the merger does not know (a rule added later) must not be split."""
    import dataclasses

    from kubehipaa.engines.auditlog import RULES, AlertCollector, TimeRange, splittable
    from kubehipaa.sources.auditlog import ReadStats

    windowed = next(r for r in RULES if r.window is not None)
    assert windowed.window is not None
    novel = dataclasses.replace(windowed, window=dataclasses.replace(windowed.window, mode="not-yet-known"))
    assert splittable(RULES)
    assert not splittable([*RULES, novel])
    done = audit_jobs.run_parallel([str(p) for p in logs], 2, rules=[novel], config=None,
                                   collector=AlertCollector(), stats=ReadStats(), window=TimeRange())
    assert done is None


SPIKE = "KH-AUDLOG-026"


def _spike_log(path: Path) -> Path:
    """A service account that reads one secret a minute for two hours (past the warm-up), then sweeps a
    dozen secrets across four namespaces within a minute: a KH-AUDLOG-026 baseline spike whose history lies
    in earlier pieces than the sweep."""
    lines: list[bytes] = []
    sa = "system:serviceaccount:portal:worker"
    for minute in range(120):
        lines.append(orjson.dumps(raw_event("get", "secrets", ns="portal", name="cfg", user=sa,
                                            time=_t(minute * 60 + 5))))
        for k in range(3):  # filler that no rule selects, so the history spreads over many pieces
            lines.append(orjson.dumps(raw_event("update", "leases", ns="kube-node-lease", name=f"n{k}",
                                                user=f"system:node:n{k}", time=_t(minute * 60 + 10 + k))))
    for i in range(12):
        lines.append(orjson.dumps(raw_event("get", "secrets", ns=("billing", "clinical", "portal", "ops")[i % 4],
                                            name=f"s{i}", user=sa, time=_t(7200 + 5 + i))))
    return _write(path, lines)


@pytest.mark.usefixtures("small_pieces")
def test_baseline_spike_is_judged_on_history_from_earlier_pieces(tmp_path: Path) -> None:
    log = _spike_log(tmp_path / "spike.log")
    assert len(audit_pieces.plan([str(log)], 16 * 1024) or []) > 5
    one = _report([log], 1)
    assert {r["id"]: r["count"] for r in one["rules"]}.get(SPIKE) == 1
    assert _report([log], 2) == one
    from kubehipaa.engines.auditlog import AlertCollector, TimeRange
    from kubehipaa.sources.auditlog import ReadStats

    collector = AlertCollector()
    done = audit_jobs.run_parallel([str(log)], 2, rules=None, config=None, collector=collector,
                                   stats=ReadStats(), window=TimeRange())
    assert done is not None  # split across processes, not the one-process fallback
    assert [a.rule_id for a in collector.alerts()].count(SPIKE) == 1


@pytest.mark.usefixtures("small_pieces")
def test_state_file_round_trip_is_the_same_with_jobs(logs: list[Path], tmp_path: Path) -> None:
    """`--state` with `--jobs 2`: the learnt windows are restored into, and saved from, the process that keeps
    them; the second run's report and the saved file equal those of `--jobs 1`."""
    reports, files = [], []
    for jobs in (1, 2):
        state = tmp_path / f"state-{jobs}.json"
        first = _report(logs[:1], jobs, "--state", str(state))
        second = _report(logs[1:], jobs, "--state", str(state))
        reports.append((first, second))
        files.append(json.loads(state.read_text()))
    assert reports[1] == reports[0]
    assert files[1]["detector"] == files[0]["detector"] and files[0]["detector"]["windows"]
