"""Issue 12 req. 1: an event answered 200 is never lost, and no alert is written twice.

End-to-end tests run `kubehipaa audit serve` as a subprocess over mutual TLS on loopback (real uvicorn,
real sockets, a throwaway CA), kill it with SIGKILL or SIGTERM under load, restart it on the same spool and
alerts file, and count the alerts of a deterministic rule (one KH-AUDLOG-030 per exec event). The rest run
the receiver in-process with fault injection (a full spool, a sink that fails like a full disk, a slow
sink at shutdown, torn files).
"""

from __future__ import annotations

import errno
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kubehipaa.server.alerts_out import AlertFile
from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app
from tests.server.support import ServeProcess, Tls, alert_lines, event_list, exec_event, metric, throwaway_ca

pytest.importorskip("cryptography", reason="the loopback TLS tests need the cryptography package")


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return throwaway_ca(tmp_path)


class Load:
    """Client threads posting batches of unique exec events; remembers every auditID answered 200."""

    def __init__(self, server: ServeProcess, threads: int = 4, batch: int = 200, prefix: str = "x") -> None:
        self.acked: set[str] = set()
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(server, k, batch, prefix), daemon=True)
                         for k in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self, server: ServeProcess, k: int, batch: int, prefix: str) -> None:
        with httpx.Client(base_url=server.url, verify=server.client_context(), timeout=10) as client:
            i = 0
            while not self._stop.is_set():
                ids = [f"{prefix}{k}-{i}-{j}" for j in range(batch)]
                try:
                    r = client.post("/audit", content=event_list([exec_event(a) for a in ids]))
                except httpx.TransportError:
                    return  # the server went away
                with self._lock:
                    self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        assert r.json()["accepted"] == batch
                        self.acked.update(ids)
                i += 1

    def wait_for(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < n:
            assert time.monotonic() < deadline, f"only {len(self.acked)} events acknowledged"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(20)


def _exec_alert_ids(alerts: Path) -> list[str]:
    return [a["auditID"] for a in alert_lines(alerts) if a["ruleId"] == "KH-AUDLOG-030"]


def _wait_processed(alerts: Path, acked: set[str], timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        ids = _exec_alert_ids(alerts)
        if acked <= set(ids) or time.monotonic() > deadline:
            return ids
        time.sleep(0.1)


@pytest.mark.slow
def test_kill_9_under_load_then_restart_processes_every_acknowledged_event_once(tmp_path: Path, tls: Tls) -> None:
    spool, alerts = tmp_path / "spool", tmp_path / "alerts.jsonl"
    args = ("--spool-dir", str(spool), "--alerts-out", str(alerts))
    first = ServeProcess(tmp_path, tls, *args, name="first")
    load = Load(first)
    load.wait_for(6_000)
    first.kill9()  # mid-load: clients are posting, the worker is behind, writes are in flight
    load.stop()
    acked = set(load.acked)
    assert acked and load.statuses.get(200)

    second = ServeProcess(tmp_path, tls, *args, name="second")
    try:
        ids = _wait_processed(alerts, acked)
    finally:
        assert second.stop() in (0, -signal.SIGTERM)
    missing = acked - set(ids)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
    assert len(ids) == len(set(ids)), "an alert was written twice"  # exactly once with --alerts-out FILE
    log = second.stderr()
    assert "Traceback" not in log


@pytest.mark.slow
def test_sigterm_under_load_drains_or_reports_what_stays_spooled(tmp_path: Path, tls: Tls) -> None:
    spool, alerts = tmp_path / "spool", tmp_path / "alerts.jsonl"
    args = ("--spool-dir", str(spool), "--alerts-out", str(alerts), "--shutdown-timeout", "2")
    first = ServeProcess(tmp_path, tls, *args, name="first")
    load = Load(first)
    load.wait_for(4_000)
    started = time.monotonic()
    first.signal(signal.SIGTERM)  # clients keep posting: they get 503/connection errors, never a lost 200
    first.wait(20)
    took = time.monotonic() - started
    load.stop()
    acked = set(load.acked)
    log = first.stderr()
    assert took < 2 + 3, f"shutdown took {took:.1f}s with --shutdown-timeout 2"
    m = re.search(r"stopped with (\d+) events \(\d+ batches\) still spooled", log)
    remaining = int(m.group(1)) if m else None
    if remaining is None:
        assert "every accepted event was processed (0 events remain spooled)" in log, log
        remaining = 0
    processed_before = len(_exec_alert_ids(alerts))

    second = ServeProcess(tmp_path, tls, *args, name="second")
    try:
        ids = _wait_processed(alerts, acked)
    finally:
        second.stop()
    if remaining:
        assert f"replaying {remaining} spooled events" in second.stderr()
    assert not acked - set(ids), f"{len(acked - set(ids))} acknowledged events lost"
    assert len(ids) == len(set(ids))
    assert len(ids) - processed_before == remaining  # exactly the reported number was processed on restart


def _receiver(tmp_path: Path, sink: Any = None, **kw: Any) -> AuditReceiver:
    settings = WebhookSettings(spool_dir=tmp_path / "spool", flush_idle_s=0.1, checkpoint_interval_s=0.05, **kw)
    return AuditReceiver(settings, sink)


def test_spool_full_answers_429_with_retry_after_and_loses_nothing(tmp_path: Path) -> None:
    """No worker yet: the spool fills, the next batch is refused with 429 + Retry-After (the API server
    retries it); once the worker runs every acknowledged event is processed and batches are taken again."""
    seen: list[dict[str, Any]] = []
    rec = _receiver(tmp_path, seen.append, spool_max_bytes=64 * 1024)
    client = TestClient(create_app(rec))  # not a context manager: the worker is not started yet
    acked: list[str] = []
    statuses = []
    for i in range(40):
        ids = [f"f{i}-{j}" for j in range(4)]
        r = client.post("/audit", content=event_list([exec_event(a) for a in ids]))
        statuses.append(r.status_code)
        if r.status_code == 200:
            acked.extend(ids)
        else:
            assert r.status_code == 429 and r.headers["retry-after"].isdigit()
            assert "spool full" in r.json()["error"]
    assert 200 in statuses and 429 in statuses
    health = client.get("/healthz")
    assert health.status_code == 503 and "spool over its high-water mark" in health.json()["reasons"]
    text = client.get("/metrics").text
    assert metric(text, "kubehipaa_audit_batches_refused_total", 'reason="spool_full"') == statuses.count(429)
    rec.start()
    assert rec.wait_idle(10)
    assert sorted(a["auditID"] for a in seen if a["ruleId"] == "KH-AUDLOG-030") == sorted(acked)
    deadline = time.monotonic() + 5  # the checkpoint releases processed segments: room again
    while client.post("/audit", content=event_list([exec_event("after")])).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rec.stop()


def test_a_spool_disk_error_is_503_with_retry_after_never_200(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import kubehipaa.server.spool as spool_mod

    seen: list[dict[str, Any]] = []
    real = spool_mod.write_all

    def enospc(fd: int, data: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    rec = _receiver(tmp_path, seen.append)
    with TestClient(create_app(rec)) as client:
        monkeypatch.setattr(spool_mod, "write_all", enospc)
        r = client.post("/audit", content=event_list([exec_event("lost-if-200")]))
        assert r.status_code == 503 and r.headers["retry-after"].isdigit()
        health = client.get("/healthz")
        assert health.status_code == 503 and "spool cannot be written" in health.json()["reasons"]
        monkeypatch.setattr(spool_mod, "write_all", real)
        assert client.post("/audit", content=event_list([exec_event("kept")])).status_code == 200
        assert rec.wait_idle(5)
        assert client.get("/healthz").status_code == 200
        text = client.get("/metrics").text
        assert metric(text, "kubehipaa_audit_batches_refused_total", 'reason="spool_error"') == 1
    assert [a["auditID"] for a in seen if a["ruleId"] == "KH-AUDLOG-030"] == ["kept"]


def test_healthz_is_503_while_alerts_cannot_be_written_and_nothing_is_lost(tmp_path: Path) -> None:
    """Fault injection: the alert sink fails like a full disk (ENOSPC). /healthz says so (503), batches are
    still acknowledged (they are spooled), and once the disk has room every alert is written."""
    disk_full = threading.Event()
    disk_full.set()
    written: list[dict[str, Any]] = []

    def sink(alert: dict[str, Any]) -> None:
        if disk_full.is_set():
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(alert)

    rec = _receiver(tmp_path, sink)
    with TestClient(create_app(rec)) as client:
        ids = [f"d{i}" for i in range(50)]
        assert client.post("/audit", content=event_list([exec_event(a) for a in ids])).status_code == 200
        deadline = time.monotonic() + 5
        while (r := client.get("/healthz")).status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert "alerts cannot be written" in r.json()["reasons"]
        assert client.post("/audit", content=event_list([exec_event("d-late")])).status_code == 200
        assert client.get("/livez").status_code == 200  # alive: a restart would not help
        assert metric(client.get("/metrics").text, "kubehipaa_audit_alert_write_errors_total") >= 1
        disk_full.clear()
        assert rec.wait_idle(10)
        assert client.get("/healthz").status_code == 200
    assert sorted(a["auditID"] for a in written if a["ruleId"] == "KH-AUDLOG-030") == sorted([*ids, "d-late"])


def test_shutdown_deadline_keeps_the_rest_spooled_and_the_next_start_processes_it(tmp_path: Path) -> None:
    """A slow alert sink: stop() returns at its deadline, says exactly how many events remain spooled, and a
    new receiver on the same spool processes exactly those; no alert is repeated (durable alerts file)."""
    alerts = tmp_path / "alerts.jsonl"
    slow = threading.Event()
    slow.set()
    output = AlertFile(alerts)
    write = output.write

    def slow_write(dicts: Any, lines: Any) -> None:
        if slow.is_set():
            time.sleep(0.05)
        write(dicts, lines)

    output.write = slow_write  # type: ignore[method-assign]
    rec = _receiver(tmp_path, output)
    client = TestClient(create_app(rec))
    acked = []
    for i in range(100):
        ids = [f"s{i}-{j}" for j in range(20)]
        assert client.post("/audit", content=event_list([exec_event(a) for a in ids])).status_code == 200
        acked.extend(ids)
    rec.start()
    time.sleep(0.3)
    rec.stop(timeout=0.5)
    output.close()
    remaining = rec.remaining_at_stop
    assert remaining is not None and 0 < remaining < len(acked)
    done_first = _exec_alert_ids(alerts)
    assert len(done_first) + remaining == len(acked)  # exact: nothing both counted remaining and written

    output2 = AlertFile(alerts)
    rec2 = _receiver(tmp_path, output2)
    assert rec2.queued == remaining
    rec2.start()
    assert rec2.wait_idle(20)
    rec2.stop()
    output2.close()
    ids = _exec_alert_ids(alerts)
    assert sorted(ids) == sorted(acked)


def test_torn_alert_line_is_repaired_at_start_and_a_failed_write_leaves_no_partial_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"ruleId":"KH-AUDLOG-030","auditID":"a"}\n{"ruleId":"KH-AUD')  # a crash mid-write
    out = AlertFile(path)
    assert out.repaired_bytes == len(b'{"ruleId":"KH-AUD')
    assert path.read_bytes() == b'{"ruleId":"KH-AUDLOG-030","auditID":"a"}\n'

    import kubehipaa.server.alerts_out as alerts_out

    real_write = alerts_out.write_all

    def half_then_enospc(fd: int, data: bytes) -> None:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(alerts_out, "write_all", half_then_enospc)
    with pytest.raises(OSError):
        out.write([{}], [b'{"ruleId":"KH-AUDLOG-031","auditID":"b"}\n'])
    assert path.read_bytes() == b'{"ruleId":"KH-AUDLOG-030","auditID":"a"}\n'  # truncated back
    monkeypatch.setattr(alerts_out, "write_all", real_write)
    out.write([{}], [b'{"ruleId":"KH-AUDLOG-031","auditID":"b"}\n'])
    assert [a["auditID"] for a in alert_lines(path)] == ["a", "b"]
    out.close()

    # the receiver counts what it repaired
    path.write_bytes(path.read_bytes() + b'{"torn')
    rec = _receiver(tmp_path, AlertFile(path))
    assert metric(_metrics(rec), "kubehipaa_audit_torn_bytes_repaired_total", 'file="alerts"') == len(b'{"torn')
    rec.stop()


def _metrics(rec: AuditReceiver) -> str:
    from prometheus_client import generate_latest

    return generate_latest(rec.metrics.registry).decode()


def test_detector_state_survives_a_restart(tmp_path: Path) -> None:
    """A burst that straddles a restart is still one burst; the later stage of a request evaluated before the
    restart is not evaluated again (no duplicate alert, no 'reused auditID' alert)."""
    seen: list[dict[str, Any]] = []

    def failures(n: int, start: int) -> list[dict[str, Any]]:
        return [{"kind": "Event", "auditID": f"fail-{start + i}", "stage": "ResponseComplete", "verb": "get",
                 "requestURI": f"/api/v1/namespaces/clinical/secrets/s{start + i}",
                 "user": {"username": "mallory", "groups": ["system:authenticated"]}, "sourceIPs": ["10.9.9.9"],
                 "objectRef": {"resource": "secrets", "namespace": "clinical", "name": f"s{start + i}"},
                 "responseStatus": {"code": 403},
                 "annotations": {"authorization.k8s.io/decision": "forbid"},
                 "requestReceivedTimestamp": f"2026-11-20T10:00:{start + i:02d}.000000Z"} for i in range(n)]

    def run(events: list[dict[str, Any]]) -> None:
        rec = _receiver(tmp_path, seen.append)
        with TestClient(create_app(rec)) as client:
            assert client.post("/audit", content=event_list(events)).status_code == 200
            assert rec.wait_idle(5)

    started = exec_event("exec-1")
    run([*failures(5, 0), started])
    complete = dict(started, stage="ResponseComplete", responseStatus={"code": 200})
    run([*failures(10, 5), complete])
    ids = [a["ruleId"] for a in seen]
    assert ids.count("KH-AUDLOG-030") == 1  # the exec, once, although its second stage came after the restart
    assert "KH-AUDLOG-074" not in ids
    burst = [a for a in seen if a["ruleId"] not in ("KH-AUDLOG-030", "KH-AUDLOG-031")
             and a.get("count", 1) > 1]
    assert burst, "the failure burst spanning the restart was not detected"


def _rss_peak(pid: int, during: Callable[[], None]) -> tuple[int, int]:
    import psutil

    proc = psutil.Process(pid)
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.002)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        during()
    finally:
        done.set()
        t.join()
    return base, peak


@pytest.mark.slow
def test_15_mb_single_event_batches_keep_memory_bounded(tmp_path: Path, tls: Tls) -> None:
    """A 15 MB ConfigMap event (many small keys: ~40x larger as Python objects), posted four times at once:
    memory stays bounded (bodies are capped in bytes together, spooled, processed one at a time, and a body
    above the API server's 3 MiB request limit is never decoded) and every accepted one is processed."""
    pytest.importorskip("psutil")
    server = ServeProcess(tmp_path, tls, "--spool-dir", str(tmp_path / "spool"), "--alerts-out",
                          str(tmp_path / "alerts.jsonl"), "--max-inflight-bytes", str(40 << 20))
    data = {f"k{i}": "v" for i in range(1_050_000)}
    ev = {"kind": "Event", "auditID": "big-0", "stage": "ResponseComplete", "verb": "create",
          "requestURI": "/api/v1/namespaces/clinical/configmaps", "user": {"username": "jane@hospital.org"},
          "objectRef": {"resource": "configmaps", "namespace": "clinical", "name": "big"},
          "responseStatus": {"code": 201}, "requestObject": {"kind": "ConfigMap", "data": data},
          "requestReceivedTimestamp": "2026-11-20T10:00:00Z"}
    bodies = [event_list([dict(ev, auditID=f"big-{i}")]) for i in range(4)]
    assert all(14_000_000 < len(b) < 16_000_000 for b in bodies)
    statuses: list[int] = []

    def post_all() -> None:
        def post(body: bytes) -> None:
            with server.client(timeout=60) as c:
                statuses.append(c.post("/audit", content=body).status_code)

        threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with server.client() as c:
            deadline = time.monotonic() + 60
            while metric(c.get("/metrics").text, "kubehipaa_audit_events_processed_total") < statuses.count(200):
                assert time.monotonic() < deadline
                time.sleep(0.05)

    try:
        base, peak = _rss_peak(server.proc.pid, post_all)
    finally:
        server.stop()
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 503}
    grew = (peak - base) / 2**20
    print(f"RSS {base / 2**20:.0f} MiB -> peak {peak / 2**20:.0f} MiB (+{grew:.0f} MiB) for 4 x 15 MB bodies; "
          f"answers {statuses}")
    assert grew < 200, f"RSS grew by {grew:.0f} MiB"


def test_alerts_to_a_fifo_or_device_are_streamed_and_a_fifo_without_reader_fails_fast(tmp_path: Path) -> None:
    import os

    from kubehipaa.server.alerts_out import StreamOutput, open_alerts

    assert isinstance(open_alerts(tmp_path / "new.jsonl"), AlertFile)
    out = open_alerts(Path("/dev/null"))
    assert isinstance(out, StreamOutput)
    out.write([{}], [b"{}\n"])  # no fsync/truncate on a device
    out.close()
    fifo = tmp_path / "alerts.fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as exc:
        open_alerts(fifo)
    assert exc.value.errno == errno.ENXIO  # nobody reads: an error, not a hang


def test_a_slow_detector_never_slows_the_answers_nor_loses_events(tmp_path: Path) -> None:
    """The ~50 s stall of issue 12 (a PHI-heavy ConfigMap): detection runs behind the spool, so answers
    stay fast while the worker is busy, and every acknowledged event is processed once it catches up."""
    seen: list[dict[str, Any]] = []
    rec = _receiver(tmp_path, seen.append)
    process = rec.detector.process

    def slow(ev: Any) -> Any:
        time.sleep(0.01)
        return process(ev)

    rec.detector.process = slow  # type: ignore[method-assign]
    with TestClient(create_app(rec)) as client:
        acked = []
        slowest = 0.0
        for i in range(20):
            ids = [f"slow{i}-{j}" for j in range(10)]
            started = time.monotonic()
            assert client.post("/audit", content=event_list([exec_event(a) for a in ids])).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            acked.extend(ids)
        assert slowest < 0.5  # 10 events of 10 ms each would be 0.1 s per batch; 2 s of work queued behind
        assert rec.queued > 0
        assert rec.wait_idle(20)
    assert sorted(a["auditID"] for a in seen if a["ruleId"] == "KH-AUDLOG-030") == sorted(acked)
