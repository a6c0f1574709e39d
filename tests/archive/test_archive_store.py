"""`audit archive add`: what is stored (columns, day partitions, Secret bodies never, PHI masked), what is
not stored twice, and how bad input is reported (issue 16 req 6, 8, 9)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest

from kubehipaa.archive.schema import COLUMNS
from tests.archive.support import (
    SECRET_PLAIN,
    SECRET_VALUE,
    SSN,
    cli,
    cli_process,
    day_events,
    manifest_lines,
    read_store,
    sensitive_events,
    write_log,
)

pytest.importorskip("pyarrow")


def _all_bytes(store: Path) -> bytes:
    """Every stored value as text: the decoded rows (compressed files would hide a leak from a byte search)."""
    table = read_store(store)
    return orjson.dumps(table.to_pylist(), default=str)


def test_add_stores_every_event_by_day_with_the_schema_columns(tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 30) + day_events("2026-11-28", 20))
    res = cli("add", str(log), "--store", str(tmp_path / "st"))
    assert res.exit_code == 0, res.output
    table = read_store(tmp_path / "st")
    assert table.num_rows == 50
    assert table.column_names == [*COLUMNS, "day"]
    days = sorted(p.name for p in (tmp_path / "st" / "events").iterdir())
    assert days == ["day=2026-11-27", "day=2026-11-28"]
    rows = {r["audit_id"]: r for r in table.to_pylist()}
    first = rows["e-2026-11-28-3"]
    assert (first["verb"], first["resource"], first["namespace"], first["name"]) == ("get", "pods", "clinical", "p3")
    assert (first["user"], first["source_ip"], first["code"], first["decision"]) == (
        "jane@hospital.org", "10.1.2.3", 200, "allow")
    assert first["ts"].isoformat() == "2026-11-28T10:00:03+00:00"
    assert json.loads(first["event"])["auditID"] == "e-2026-11-28-3"
    entries = [json.loads(line) for line in manifest_lines(tmp_path / "st")]
    assert [(e["seq"], e["kind"], e["day"], e["count"]) for e in entries] == [
        (1, "segment", "2026-11-27", 30), (2, "segment", "2026-11-28", 20)]
    assert entries[1]["first"] == "2026-11-28T10:00:00.000000Z" and entries[1]["last"] == "2026-11-28T10:00:19.000000Z"
    assert entries[0]["source"]["name"] == "audit.log" and len(entries[0]["source"]["sha256"]) == 64


def test_the_layout_reads_unchanged_with_duckdb_hive_partitioning(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 7) + day_events("2026-11-29", 5))
    assert cli("add", str(log), "--store", str(tmp_path / "st")).exit_code == 0
    glob = str(tmp_path / "st" / "events" / "**" / "*.parquet")
    got = duckdb.sql(f"select cast(day as varchar), count(*) from read_parquet('{glob}', hive_partitioning=true) "
                     "group by 1 order by 1").fetchall()
    assert got == [("2026-11-27", 7), ("2026-11-29", 5)]


def test_secret_bodies_are_never_archived_and_phi_is_masked(tmp_path: Path) -> None:
    log = tmp_path / "audit.log.gz"
    log.write_bytes(gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in sensitive_events())))
    res = cli("add", str(log), "--store", str(tmp_path / "st"))
    assert res.exit_code == 0, res.output
    table = read_store(tmp_path / "st")
    assert table.num_rows == 6
    stored = _all_bytes(tmp_path / "st")
    assert SECRET_VALUE.encode() not in stored and SECRET_PLAIN.encode() not in stored
    assert SSN.encode() not in stored
    rows = {r["audit_id"]: json.loads(r["event"]) for r in table.to_pylist()}
    for rid in ("s-create", "s-list", "s-patch", "s-noref"):
        assert "requestObject" not in rows[rid] and "responseObject" not in rows[rid], rid
    assert rows["s-phi"]["requestObject"]["data"]["note"] == "patient ssn <redacted:ssn>"
    embedded = rows["s-embedded"]["requestObject"]["items"]
    assert embedded[0]["metadata"]["name"] == "db" and "data" not in embedded[0] and "stringData" not in embedded[0]
    assert embedded[1]["metadata"]["name"] == "ok"


def test_keep_phi_keeps_patient_data_but_never_secret_bodies(tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", sensitive_events())
    res = cli("add", str(log), "--store", str(tmp_path / "st"), "--keep-phi")
    assert res.exit_code == 0, res.output
    assert "--keep-phi" in res.output  # warned
    stored = _all_bytes(tmp_path / "st")
    assert SSN.encode() in stored
    assert SECRET_VALUE.encode() not in stored and SECRET_PLAIN.encode() not in stored


def test_the_same_file_twice_is_stored_once(tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 10))
    store = tmp_path / "st"
    assert cli("add", str(log), "--store", str(store)).exit_code == 0
    before = (store / "manifest.jsonl").read_bytes()
    files = sorted(p.name for p in store.rglob("*.parquet"))
    copy = tmp_path / "renamed.log"
    copy.write_bytes(log.read_bytes())
    again = cli_process("add", str(log), str(copy), "--store", str(store))
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("already archived") == 2
    assert (store / "manifest.jsonl").read_bytes() == before
    assert sorted(p.name for p in store.rglob("*.parquet")) == files
    assert read_store(store).num_rows == 10
    # a different file is still added, chained after the first
    other = write_log(tmp_path / "other.log", day_events("2026-11-27", 3, prefix="o"))
    assert cli("add", str(other), "--store", str(store)).exit_code == 0
    assert read_store(store).num_rows == 13 and len(manifest_lines(store)) == 2


def test_malformed_lines_and_untimed_events_are_named_and_the_rest_stored(tmp_path: Path) -> None:
    events = day_events("2026-11-27", 4)
    untimed = dict(events[2])
    del untimed["requestReceivedTimestamp"]
    untimed["auditID"] = "no-time"
    log = write_log(tmp_path / "audit.log", [events[0], events[1], untimed, events[3]], extra=b"{not json\n")
    proc = cli_process("add", str(log), "--store", str(tmp_path / "st"))
    assert proc.returncode == 2
    assert f"{log}:5:" in proc.stderr  # the malformed line, file:line
    assert "event #3 (auditID no-time)" in proc.stderr and "Traceback" not in proc.stderr
    assert read_store(tmp_path / "st").num_rows == 3


def test_stdin_and_eventlist_documents_are_archived(tmp_path: Path) -> None:
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": day_events("2026-11-27", 5)}
    proc = cli_process("add", "-", "--store", str(tmp_path / "st"), stdin=orjson.dumps(doc))
    assert proc.returncode == 0, proc.stderr
    assert read_store(tmp_path / "st").num_rows == 5
    assert json.loads(manifest_lines(tmp_path / "st")[0])["source"]["name"] == "-"


def test_nothing_to_read_is_an_error_not_an_empty_archive(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    proc = cli_process("add", str(empty), "--store", str(tmp_path / "st"))
    assert proc.returncode == 2 and "no audit events" in proc.stderr
    missing = cli_process("add", str(tmp_path / "nope.log"), "--store", str(tmp_path / "st"))
    assert missing.returncode == 2 and "nope.log" in missing.stderr and "Traceback" not in missing.stderr


def test_without_pyarrow_the_error_names_the_extra(tmp_path: Path) -> None:
    import os
    import sys

    shim = tmp_path / "shim"
    (shim / "pyarrow").mkdir(parents=True)
    (shim / "pyarrow" / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), *sys.path]))
    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 1))
    proc = cli_process("add", str(log), "--store", str(tmp_path / "st"), env=env)
    assert proc.returncode == 2
    assert "kubehipaa[archive]" in proc.stderr and "Traceback" not in proc.stderr


def test_a_crash_between_recording_and_publishing_a_segment_is_named_then_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubehipaa.archive import segments

    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 6))
    store = tmp_path / "st"
    monkeypatch.setattr(segments.Ingest, "publish", lambda self, entries: None)  # "crash" after the append
    assert cli("add", str(log), "--store", str(store)).exit_code == 0
    assert not list(store.rglob("*.parquet"))  # queries see nothing the manifest does not list yet
    res = cli("verify", str(store))
    assert res.exit_code == 1 and res.stdout.startswith("unfinished-segment: events/day=2026-11-27/")
    monkeypatch.undo()
    other = write_log(tmp_path / "b.log", day_events("2026-11-28", 2, prefix="b"))
    assert cli("add", str(other), "--store", str(store)).exit_code == 0
    assert cli("verify", str(store)).exit_code == 0
    assert read_store(store).num_rows == 8


def test_two_concurrent_ingests_do_not_interleave(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = tmp_path / "st"
    logs = [write_log(tmp_path / f"c{k}.log", day_events(f"2026-11-2{k}", 3000, prefix=f"c{k}")) for k in range(3)]
    procs = [subprocess.Popen([sys.executable, "-m", "kubehipaa.cli.main", "audit", "archive", "add", str(log),
                               "--store", str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for log in logs]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    entries = [json.loads(x) for x in manifest_lines(store)]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    res = cli("verify", str(store))
    assert res.exit_code == 0, res.output
    assert read_store(store).num_rows == 9000


def test_a_store_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", day_events("2026-11-27", 2))
    blocker = tmp_path / "st"
    blocker.write_text("a file where the store should be")
    proc = cli_process("add", str(log), "--store", str(blocker))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and str(blocker) in proc.stderr
