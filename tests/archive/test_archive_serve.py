"""`audit serve --archive`: every acknowledged event ends up in the archive, once, in a few segments, and the
archive verifies — after a graceful stop and after a kill -9 mid-load and a restart (issue 16 req 6, 9)."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.archive.support import cli, read_store
from tests.server.support import ServeProcess, Tls, throwaway_ca
from tests.server.test_reliability import Load

pytest.importorskip("pyarrow")
pytest.importorskip("cryptography", reason="the loopback TLS tests need the cryptography package")


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return throwaway_ca(tmp_path)


def _archived_ids(store: Path) -> Counter[str]:
    return Counter(read_store(store).column("audit_id").to_pylist())


def _segments(store: Path) -> list[dict]:
    lines = (store / "manifest.jsonl").read_bytes().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == "segment"]


def test_graceful_stop_archives_every_acknowledged_event_in_few_segments(tmp_path: Path, tls: Tls) -> None:
    store = tmp_path / "archive"
    server = ServeProcess(tmp_path, tls, "--spool-dir", str(tmp_path / "spool"), "--alerts-out",
                          str(tmp_path / "alerts.jsonl"), "--archive", str(store))
    load = Load(server, threads=3, batch=100)
    load.wait_for(3_000)
    load.stop()
    acked = set(load.acked)
    requests = load.statuses.get(200, 0)
    assert server.stop() in (0, -signal.SIGTERM), server.stderr()
    assert "Traceback" not in server.stderr()
    ids = _archived_ids(store)
    assert acked <= set(ids), f"{len(acked - set(ids))} of {len(acked)} acknowledged events not archived"
    assert max(ids.values()) == 1, "an event was archived twice"
    segments = _segments(store)
    assert segments and len(segments) * 10 < requests  # batched into segments, not a file per request
    assert all(s["source"]["name"] == "webhook" for s in segments)
    res = cli("verify", str(store))
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_kill_9_under_load_then_restart_archives_every_acknowledged_event_once(tmp_path: Path, tls: Tls) -> None:
    store = tmp_path / "archive"
    args = ("--spool-dir", str(tmp_path / "spool"), "--alerts-out", str(tmp_path / "alerts.jsonl"), "--archive",
            str(store), "--archive-flush-seconds", "1")
    first = ServeProcess(tmp_path, tls, *args, name="first")
    load = Load(first, threads=3, batch=100)
    load.wait_for(2_000)
    time.sleep(1.5)  # at least one timed flush happened before the kill: the restart must not repeat it
    load.wait_for(len(load.acked) + 1_000)
    first.kill9()  # mid-load: a flush may be half written
    load.stop()
    acked = set(load.acked)
    assert acked
    second = ServeProcess(tmp_path, tls, *args, name="second")
    assert second.stop() in (0, -signal.SIGTERM), second.stderr()
    assert "Traceback" not in first.stderr() + second.stderr()
    ids = _archived_ids(store)
    missing = acked - set(ids)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events not archived"
    assert max(ids.values()) == 1, "an event was archived twice"
    res = cli("verify", str(store))  # a flush cut by the kill left at most a hidden temporary file
    assert res.exit_code == 0, res.output


def test_an_unwritable_archive_keeps_events_spooled_until_it_can_be_written(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from kubehipaa.archive.live import LiveSettings
    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app
    from tests.server.support import event_list, exec_event

    store = tmp_path / "archive"
    settings = WebhookSettings(spool_dir=tmp_path / "spool", fsync=False,
                               archive=LiveSettings(store, flush_s=0.1, fsync=False))
    receiver = AuditReceiver(settings)
    (store / "manifest.jsonl").write_bytes(b'{"kind":"segm')  # a torn append: nothing may be chained after it
    with TestClient(create_app(receiver)) as client:
        for k in range(5):
            assert client.post("/audit", content=event_list([exec_event(f"u{k}-{j}") for j in range(50)])).status_code == 200
        deadline = time.monotonic() + 10
        while "archive cannot be written" not in receiver.health():
            assert time.monotonic() < deadline, receiver.health()
            time.sleep(0.05)
        assert client.get("/healthz").status_code == 503
        (store / "manifest.jsonl").unlink()  # the operator repairs the store
        deadline = time.monotonic() + 10
        while receiver.health():
            assert time.monotonic() < deadline, receiver.health()
            time.sleep(0.05)
    assert len(set(read_store(store).column("audit_id").to_pylist())) == 250
    assert cli("verify", str(store)).exit_code == 0


def test_serve_refuses_at_start_an_archive_it_could_not_append_to(tmp_path: Path) -> None:
    from kubehipaa.archive.live import LiveSettings
    from kubehipaa.errors import InputError
    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings

    store = tmp_path / "archive"
    store.mkdir()
    (store / "manifest.jsonl").write_bytes(b'{"kind":"segm')
    with pytest.raises(InputError, match="truncated"):
        AuditReceiver(WebhookSettings(spool_dir=tmp_path / "spool", fsync=False, archive=LiveSettings(store)))


def test_archive_options_without_archive_are_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", "serve", "--no-tls",
                           "--spool-dir", str(tmp_path / "spool"), "--archive-keep-phi"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "need --archive DIR" in proc.stderr and "Traceback" not in proc.stderr


def test_spooled_batches_are_released_only_once_archived(tmp_path: Path) -> None:
    """The detector is done with every batch and checkpoints often, but the archive has not flushed yet:
    the spool must still hold every batch (a crash now would otherwise lose them from the archive)."""
    from fastapi.testclient import TestClient

    from kubehipaa.archive.live import LiveSettings
    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app
    from tests.server.support import event_list, exec_event

    store = tmp_path / "archive"
    settings = WebhookSettings(spool_dir=tmp_path / "spool", fsync=False, spool_segment_bytes=16 * 1024,
                               checkpoint_interval_s=0.01,
                               archive=LiveSettings(store, flush_s=3600, flush_events=10**9, fsync=False))
    receiver = AuditReceiver(settings)
    with TestClient(create_app(receiver)) as client:
        for k in range(40):
            body = event_list([exec_event(f"r{k}-{j}") for j in range(20)])
            assert client.post("/audit", content=body).status_code == 200
        assert receiver.wait_idle(20)
        time.sleep(0.3)  # several checkpoints after the detector caught up
        receiver._checkpoint()
        held, _ = receiver.spool.count(receiver.spool.first_position())
        assert held == 800, f"only {held} of 800 events still spooled before the archive flushed"
        assert not (store / "manifest.jsonl").exists()
    # graceful stop: flushed, then released
    assert len(set(read_store(store).column("audit_id").to_pylist())) == 800
    assert receiver.remaining_at_stop == 0
