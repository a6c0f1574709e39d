"""`audit archive prune`: whole day partitions past retention go, the removal is in the chain, verify still
passes; nothing else is removed; a removal nobody recorded, or one recorded for a day inside retention, is
still caught (issue 16 req 6, 9)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import orjson
import pytest

from kubehipaa.archive.prune import DEFAULT_RETENTION_DAYS, parse_age, prune
from kubehipaa.errors import KubehipaaError
from tests.archive.support import cli, cli_process, day_events, manifest_lines, read_store, write_log

pytest.importorskip("pyarrow")

OLD = ("2018-03-01", "2019-06-30")
RECENT = ("2026-11-27",)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    st = tmp_path / "st"
    log = write_log(tmp_path / "a.log", [e for d in (*OLD, *RECENT) for e in day_events(d, 4)])
    assert cli("add", str(log), "--store", str(st)).exit_code == 0
    return st


def test_default_retention_is_six_years() -> None:
    assert DEFAULT_RETENTION_DAYS == 2190 == parse_age("6y") == parse_age("2190d") == parse_age("2190")
    with pytest.raises(KubehipaaError):
        parse_age("six years")


def test_prune_removes_old_days_records_it_and_verify_still_passes(store: Path) -> None:
    before = [json.loads(x) for x in manifest_lines(store)]
    res = cli("prune", str(store), "--older-than", "6y")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (store / "events").iterdir()) == ["day=2026-11-27"]
    assert read_store(store).num_rows == 4
    entries = [json.loads(x) for x in manifest_lines(store)]
    assert entries[:3] == before  # nothing rewritten: the prune is appended
    rec = entries[3]
    assert rec["kind"] == "prune" and rec["seq"] == 4 and rec["older_than_days"] == 2190
    assert rec["prev"] == hashlib.sha256(manifest_lines(store)[2]).hexdigest()
    assert [(r["seq"], r["path"], r["sha256"], r["count"]) for r in rec["removed"]] == [
        (e["seq"], e["path"], e["sha256"], e["count"]) for e in before if e["day"] in OLD]
    assert rec["events"] == 8 and rec["cutoff"] > "2020-01-01"
    ver = cli("verify", str(store))
    assert ver.exit_code == 0, ver.output
    assert "1 prune(s) removing 2 segment(s)" in ver.stdout
    again = cli("prune", str(store))
    assert again.exit_code == 0 and len(manifest_lines(store)) == 4  # nothing more to remove: no entry


def test_dry_run_changes_nothing(store: Path) -> None:
    manifest = (store / "manifest.jsonl").read_bytes()
    res = cli("prune", str(store), "--dry-run")
    assert res.exit_code == 0
    assert res.stdout.count("would remove events/day=") == 2
    assert (store / "manifest.jsonl").read_bytes() == manifest
    assert len(list(store.rglob("*.parquet"))) == 3


def test_removing_old_days_without_prune_is_still_tampering(store: Path) -> None:
    for day in OLD:
        for f in (store / "events" / f"day={day}").iterdir():
            f.unlink()
    res = cli("verify", str(store))
    assert res.exit_code == 1 and res.stdout.count("deleted-segment") == 2


def test_a_forged_prune_of_a_day_inside_retention_is_caught(store: Path) -> None:
    entries = [json.loads(x) for x in manifest_lines(store)]
    recent = entries[2]
    assert recent["day"] == RECENT[0]
    (store / recent["path"]).unlink()
    forged = {"kind": "prune", "cutoff": "2020-12-01", "older_than_days": 2190, "seq": 4,
              "prev": hashlib.sha256(manifest_lines(store)[2]).hexdigest(),
              "removed": [{k: recent[k] for k in ("seq", "path", "sha256", "count", "day")}]}
    with open(store / "manifest.jsonl", "ab") as fh:
        fh.write(orjson.dumps(forged, option=orjson.OPT_SORT_KEYS) + b"\n")
    res = cli("verify", str(store))
    assert res.exit_code == 1
    assert "invalid-prune" in res.stdout and "deleted-segment" in res.stdout


def test_an_interrupted_prune_is_reported_and_finished_by_the_next(store: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    kept = {p: p.read_bytes() for p in store.rglob("*.parquet")}
    prune(store, now=now)
    for p, data in kept.items():  # as if the process died after recording, before deleting
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    res = cli("verify", str(store))
    assert res.exit_code == 1 and res.stdout.count("pruned-present") == 2
    fin = cli("prune", str(store))
    assert fin.exit_code == 0 and fin.stdout.count("interrupted prune") == 2
    assert cli("verify", str(store)).exit_code == 0


def test_prune_refuses_to_remove_a_modified_segment(store: Path) -> None:
    old = next((store / "events" / f"day={OLD[0]}").iterdir())
    old.write_bytes(old.read_bytes() + b"x")
    proc = cli_process("prune", str(store))
    assert proc.returncode == 1 and "does not match its manifest entry" in proc.stderr
    assert old.exists() and len(manifest_lines(store)) == 3
