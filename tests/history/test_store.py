"""The history store on SQLite and PostgreSQL (issue 15 req 6): what a saved scan holds, migrations,
retention, diff by fingerprint, baselines."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import update

from kubehipaa.config import Config
from kubehipaa.errors import KubehipaaError
from kubehipaa.history import HistoryError, HistoryStore, normalise
from kubehipaa.history import schema as s
from kubehipaa.history.location import HistoryLocation
from kubehipaa.model import FINGERPRINT_VERSION
from kubehipaa.pipelines.history import (
    apply_baseline,
    build_record,
    diff_scans,
    input_records,
    save_scan,
    trend,
)
from kubehipaa.reports.integrity import content_digest
from tests.history.helpers import NAMESPACE, deployment, run, write

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _store(url: str) -> HistoryStore:
    return HistoryStore.open(HistoryLocation(normalise(url), "test"))


def _config(url: str, retention_days: int = 2190) -> Config:
    return Config.model_validate({"history": {"url": url, "retention_days": retention_days}})


def test_a_saved_scan_keeps_findings_inputs_versions_and_its_report(history_url: str, tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "ehr.yaml": deployment("ehr", host_pid=True)})
    scan_run = run([src])
    cfg = _config(history_url)
    saved = save_scan(scan_run, cfg, ["kubehipaa", "scan", str(src), "--save"], paths=[str(src)], now=NOW)
    with _store(history_url) as store:
        meta = store.get(saved.id)
        assert meta.created_at == "2026-12-01T12:00:00Z"
        assert meta.fingerprint_version == FINGERPRINT_VERSION
        assert meta.tool_version and "sha256:" in meta.catalog_version
        assert meta.findings == len(scan_run.result.active) > 0
        assert meta.command == f"kubehipaa scan {src} --save"
        inputs = {i.name: i for i in store.inputs(saved.id)}
        ehr = inputs[str(src / "ehr.yaml")]
        assert ehr.kind == "file" and ehr.objects == 1 and ehr.bytes == (src / "ehr.yaml").stat().st_size
        assert ehr.sha256 == hashlib.sha256((src / "ehr.yaml").read_bytes()).hexdigest()
        findings = store.findings(saved.id)
        assert sorted(f.fingerprint for f in findings) == sorted(f.fingerprint for f in scan_run.result.findings)
        privileged = [f for f in findings if f.kind == "Deployment" and f.name == "ehr"]
        assert privileged and all(f.namespace == "clinical" and f.paragraphs for f in privileged)
        report = store.report(saved.id)
        # the saved report is the JSON report, sealed: `verify` can recompute its digest
        assert report["integrity"]["digest"] == meta.content_digest == content_digest(report)
        assert len(report["findings"]) == len(findings)


def test_migrations_run_once_and_a_newer_schema_is_refused(history_url: str) -> None:
    with _store(history_url) as store:
        assert store.schema_versions() == [m[0] for m in s.MIGRATIONS]
    with _store(history_url) as store:  # reopening applies nothing twice
        assert store.schema_versions() == [m[0] for m in s.MIGRATIONS]
        with store.engine.begin() as conn:
            conn.execute(s.schema_migrations.insert().values(version=99, name="future", applied_at="x"))
    with pytest.raises(HistoryError, match="schema version 99 is newer"):
        _store(history_url)


def test_retention_prunes_older_scans_and_names_them(history_url: str, tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"ehr.yaml": deployment("ehr")})
    scan_run = run([src])
    cfg = _config(history_url, retention_days=30)
    old = save_scan(scan_run, cfg, ["kubehipaa"], now=NOW - dt.timedelta(days=40))
    kept = save_scan(scan_run, cfg, ["kubehipaa"], now=NOW - dt.timedelta(days=20))
    assert old.pruned == [] and kept.pruned == []  # each save prunes relative to its own time
    latest = save_scan(scan_run, cfg, ["kubehipaa"], now=NOW)
    assert [m.id for m in latest.pruned] == [old.id]
    with _store(history_url) as store:
        assert [m.id for m in store.scans()] == [kept.id, latest.id]
        assert store.findings(old.id) == [] and store.inputs(old.id) == []


def test_default_retention_is_six_years() -> None:
    assert Config().history.retention_days == 2190


def test_diff_by_fingerprint_and_moving_a_file_is_not_a_new_finding(history_url: str, tmp_path: Path) -> None:
    cfg = _config(history_url)
    first = write(tmp_path / "v1", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr"),
                                    "b.yaml": deployment("billing")})
    one = save_scan(run([first]), cfg, ["kubehipaa"], now=NOW)
    # the same objects in other files, in another order, plus one more problem; `billing` fixed
    second = write(tmp_path / "v2", {"moved.yaml": deployment("ehr") + "---\n" + NAMESPACE,
                                     "c.yaml": deployment("billing", privileged=False),
                                     "d.yaml": deployment("portal")})
    two = save_scan(run([second]), cfg, ["kubehipaa"], now=NOW + dt.timedelta(hours=1))
    with _store(history_url) as store:
        d = diff_scans(store, str(one.id), "last")
        assert d.new.id == two.id
        assert {f.name for f in d.added} == {"portal"}
        assert "ehr" not in {f.name for f in d.added} | {f.name for f in d.fixed}
        assert {f.name for f in d.unchanged} >= {"ehr"}
        assert any(f.name == "billing" and f.check_id == "KH-WL-001" for f in d.fixed)
        # diff against itself: nothing new or fixed
        same = diff_scans(store, str(two.id), str(two.id))
        assert not same.added and not same.fixed


def test_baseline_counts_only_new_findings(history_url: str, tmp_path: Path) -> None:
    cfg = _config(history_url)
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    save_scan(run([src]), cfg, ["kubehipaa"], paths=[str(src)], now=NOW)
    write(src, {"b.yaml": deployment("portal")})
    now_run = run([src])
    with _store(history_url) as store:
        base = apply_baseline(now_run.result, store, "last", input_records(now_run), [str(src)])
        assert base.scan is not None
        assert {f.resource.name for f in base.new} == {"portal"}
        assert base.known > 0 and base.fixed == 0
        # another target has no saved scan: every finding is new, never "clean"
        other = apply_baseline(now_run.result, store, "last", [], ["elsewhere"])
        assert other.scan is None and len(other.new) == len(now_run.result.active)
        with pytest.raises(HistoryError, match="no saved scan #999"):
            apply_baseline(now_run.result, store, "999", [])


def test_a_baseline_from_another_fingerprint_version_is_refused(history_url: str, tmp_path: Path) -> None:
    cfg = _config(history_url)
    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    saved = save_scan(run([src]), cfg, ["kubehipaa"], paths=[str(src)], now=NOW)
    with _store(history_url) as store:
        with store.engine.begin() as conn:
            conn.execute(update(s.scans).where(s.scans.c.id == saved.id).values(fingerprint_version="kubehipaa/v0"))
        with pytest.raises(KubehipaaError, match=r"fingerprint version kubehipaa/v0.*cannot be compared"):
            apply_baseline(run([src]).result, store, str(saved.id), [])


def test_trend_counts_findings_per_safeguard_per_scan(history_url: str, tmp_path: Path) -> None:
    cfg = _config(history_url)
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    save_scan(run([src]), cfg, ["kubehipaa"], now=NOW)
    write(src, {"b.yaml": deployment("portal"), "c.yaml": deployment("billing")})
    save_scan(run([src]), cfg, ["kubehipaa"], now=NOW + dt.timedelta(days=1))
    with _store(history_url) as store:
        t = trend(store)
        scans = store.scans()
        assert [m.id for m in t.scans] == [m.id for m in scans]
        for i, meta in enumerate(scans):
            per_guard = sum(t.counts[g][i] for g, _ in t.safeguards)
            assert per_guard == meta.findings  # every unsuppressed finding is in exactly one safeguard
        assert any(t.counts[g][1] > t.counts[g][0] for g, _ in t.safeguards)


def test_the_record_is_built_from_the_redacted_report(tmp_path: Path) -> None:
    """A secret-looking value in the input never reaches the saved report (it is the JSON report's data)."""
    secret = "AKIAIOSFODNN7EXAMPLE"
    cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: clinical}\n"
          f"data: {{AWS_ACCESS_KEY_ID: {secret}, password: hunter2hunter2}}\n")
    src = write(tmp_path / "k8s", {"cm.yaml": cm})
    record = build_record(run([src]), Config(), ["kubehipaa", "scan", "--history-url",
                                                 "postgresql://u:pw-in-url@h/db"])
    import orjson

    blob = orjson.dumps(record.report).decode()
    assert secret not in blob and "hunter2hunter2" not in blob
    assert "pw-in-url" not in record.command and "--history-url" in record.command


def test_a_saved_scan_is_re_checked_and_a_change_is_named(history_url: str, tmp_path: Path) -> None:
    import zlib

    import orjson

    from kubehipaa.pipelines.history import verify_saved

    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    saved = save_scan(run([src]), _config(history_url), ["kubehipaa"], now=NOW)
    with _store(history_url) as store:
        assert verify_saved(store, saved.id).ok
        report = store.report(saved.id)
        report["findings"][0]["severity"] = "low"  # someone edits the evidence
        with store.engine.begin() as conn:
            conn.execute(update(s.scans).where(s.scans.c.id == saved.id).values(
                report=zlib.compress(orjson.dumps(report))))
            conn.execute(s.scan_findings.delete().where(s.scan_findings.c.scan_id == saved.id,
                                                        s.scan_findings.c.check_id == "KH-WL-001"))
        result = verify_saved(store, saved.id)
        assert not result.ok
        assert "report was changed after it was saved" in result.problems[0]
        assert any("(KH-WL-001 Deployment/clinical/ehr) changed" in p for p in result.problems)  # named
        assert "missing" in result.problems[-1]


def test_a_new_migration_upgrades_an_existing_history_once(history_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same migration function upgrades both backends; scans saved before it are kept."""
    from sqlalchemy import text

    src = write(tmp_path / "k8s", {"a.yaml": deployment("ehr")})
    saved = save_scan(run([src]), _config(history_url), ["kubehipaa"], now=NOW)
    calls: list[int] = []

    def v2(conn):  # type: ignore[no-untyped-def]
        calls.append(2)
        conn.execute(text("ALTER TABLE scans ADD COLUMN reviewer VARCHAR(200)"))

    monkeypatch.setattr(s, "MIGRATIONS", [*s.MIGRATIONS, (2, "scan reviewer", v2)])
    monkeypatch.setattr(s, "SCHEMA_VERSION", 2)
    with _store(history_url) as store:
        assert store.schema_versions() == [1, 2]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT reviewer FROM scans")).scalar_one() is None
        assert store.get(saved.id).findings > 0
    with _store(history_url) as store:
        assert store.schema_versions() == [1, 2]
    assert calls == [2]
