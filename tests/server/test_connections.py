"""Issue 12 req. 2: every stage of a connection has a deadline, connections are capped, a legitimate POST is
served while hostile clients hold connections, and nothing a client sent is echoed in answers or logs.

Real sockets on loopback against the receiver's uvicorn server with TLS (a throwaway CA made with
`cryptography`); the deadlines are shortened to about a second so the suite stays fast.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app
from kubehipaa.server.http import ConnectionLimits
from tests.server.support import (
    LoopbackServer,
    ServeProcess,
    Tls,
    event_list,
    exec_event,
    metric,
    throwaway_ca,
)

pytest.importorskip("cryptography", reason="the loopback TLS tests need the cryptography package")

LIMITS = ConnectionLimits(max_connections=50, header_timeout=1.0, body_timeout=1.0, idle_timeout=1.0,
                          tls_handshake_timeout=1.0, shutdown_timeout=3.0)


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return throwaway_ca(tmp_path)


@pytest.fixture
def server(tmp_path: Path, tls: Tls) -> Iterator[tuple[LoopbackServer, AuditReceiver]]:
    rec = AuditReceiver(WebhookSettings(spool_dir=tmp_path / "spool", limits=LIMITS, flush_idle_s=0.1))
    srv = LoopbackServer(create_app(rec), tls.cert, tls.key, LIMITS,
                         on_event=lambda reason: rec.metrics.connections_closed.labels(reason).inc())
    try:
        yield srv, rec
    finally:
        srv.close()


def _post_ok(srv: LoopbackServer, tls: Tls, audit_id: str = "legit-1") -> float:
    """A legitimate POST; returns how long it took."""
    started = time.monotonic()
    with httpx.Client(base_url=srv.url, verify=tls.client_context(with_cert=False), timeout=5) as c:
        r = c.post("/audit", content=event_list([exec_event(audit_id)]))
    assert r.status_code == 200, r.text
    return time.monotonic() - started


def _closed_by_peer(sock: socket.socket | ssl.SSLSocket, within: float) -> bool:
    """Whether the server closes the connection (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return True
    except ssl.SSLError:
        return True
    except TimeoutError:
        return False


def _tls_connect(srv: LoopbackServer, tls: Tls) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", srv.port))
    return tls.client_context(with_cert=False).wrap_socket(raw, server_hostname="127.0.0.1")


def _metrics(srv: LoopbackServer, tls: Tls) -> str:
    return httpx.get(srv.url + "/metrics", verify=tls.client_context(with_cert=False), timeout=5).text


def test_300_idle_tcp_connections_are_closed_by_the_handshake_deadline_and_a_post_is_served(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(300)]
    try:
        assert _post_ok(srv, tls) < 2
        started = time.monotonic()
        assert all(_closed_by_peer(s, within=3) for s in idle)
        assert time.monotonic() - started < 3
    finally:
        for s in idle:
            s.close()


def test_300_idle_tls_connections_are_capped_and_closed_by_the_header_deadline(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    idle = [_tls_connect(srv, tls) for _ in range(300)]
    try:
        assert _post_ok(srv, tls) < 2  # the cap closed the longest-idle connections, not the new one
        assert all(_closed_by_peer(s, within=3) for s in idle)
    finally:
        for s in idle:
            s.close()
    text = _metrics(srv, tls)
    evicted = metric(text, "kubehipaa_audit_connections_closed_total", 'reason="evicted_idle"')
    timed_out = metric(text, "kubehipaa_audit_connections_closed_total", 'reason="header_timeout"')
    assert evicted >= 250 and evicted + timed_out >= 300


def test_headers_trickled_byte_by_byte_are_cut_off_at_the_header_deadline(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    s = _tls_connect(srv, tls)
    s.sendall(b"POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    closed = False
    try:
        for _ in range(40):  # one header byte every 0.1 s would keep the connection forever without a deadline
            s.sendall(b"X")
            time.sleep(0.1)
    except (OSError, ssl.SSLError):
        closed = True
    took = time.monotonic() - started
    assert closed or _closed_by_peer(s, within=1)
    assert took < 3, f"closed after {took:.1f}s"
    s.close()
    assert _post_ok(srv, tls) < 2


def test_a_slow_body_is_answered_408_and_closed_at_the_body_deadline(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    s = _tls_connect(srv, tls)
    s.sendall(b"POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100000\r\n\r\n" + b'{"kind": "EventList", ')
    started = time.monotonic()
    s.settimeout(5)
    answer = b""
    try:
        while chunk := s.recv(65536):
            answer += chunk
    except (OSError, ssl.SSLError):
        pass
    took = time.monotonic() - started
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"connection: close" in answer.lower()
    assert 0.8 < took < 3
    assert _post_ok(srv, tls) < 2
    assert metric(_metrics(srv, tls), "kubehipaa_audit_requests_aborted_total", 'reason="body_timeout"') == 1


def test_a_stalled_tls_handshake_is_closed_at_the_handshake_deadline(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the first bytes of a ClientHello, then nothing
    started = time.monotonic()
    assert _closed_by_peer(s, within=4)
    assert time.monotonic() - started < 3
    s.close()
    assert _post_ok(srv, tls) < 2


def test_a_client_disconnecting_mid_body_is_counted_not_a_traceback(
        server: tuple[LoopbackServer, AuditReceiver], tls: Tls, caplog: pytest.LogCaptureFixture) -> None:
    srv, _ = server
    with caplog.at_level(logging.INFO):
        s = _tls_connect(srv, tls)
        s.sendall(b"POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n" + b"{" * 100)
        time.sleep(0.1)
        s.close()
        deadline = time.monotonic() + 3
        while "client_disconnect" not in _metrics(srv, tls):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert metric(_metrics(srv, tls), "kubehipaa_audit_requests_aborted_total", 'reason="client_disconnect"') == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("body", [
    b'{"kind": "SECRET-KIND-hunter2"}',
    b'{"kind": "EventList", "items": [{"kind": "Event", "verb": "get", "auditID": "a", '
    b'"responseStatus": {"code": "SECRET-CODE-hunter2"}}]}',
    b'{"kind": "EventList", "items": [{"kind": "SECRET-ITEM-hunter2", "verb": "get"}]}',
    b'{"kind": "EventList", "items": [{"verb": "SECRET-TRUNCATED-hunter2", ',
    b'{"kind": "EventList", "items": [{"verb": "get", "user": {"username": "x", "groups": "SECRET-hunter2"}}]}',
    b'\xff\xfeSECRET-BINARY-hunter2',
])
def test_error_answers_and_logs_never_echo_request_content(
        body: bytes, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    rec = AuditReceiver(WebhookSettings(spool_dir=tmp_path / "spool"))
    with TestClient(create_app(rec)) as client, caplog.at_level(logging.DEBUG):
        r = client.post("/audit", content=body)
    assert r.status_code == 400
    assert "hunter2" not in r.text and "SECRET" not in r.text
    logged = " ".join(rec_.getMessage() for rec_ in caplog.records)
    assert "hunter2" not in logged and "SECRET" not in logged


def test_sigterm_with_a_slow_client_exits_within_the_shutdown_timeout(tmp_path: Path, tls: Tls) -> None:
    srv = ServeProcess(tmp_path, tls, "--spool-dir", str(tmp_path / "spool"), "--shutdown-timeout", "2",
                       "--body-timeout", "60", "--header-timeout", "60")
    raw = socket.create_connection(("127.0.0.1", srv.port))
    s = tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    s.sendall(b"POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{")
    idle = tls.client_context().wrap_socket(socket.create_connection(("127.0.0.1", srv.port)),
                                            server_hostname="127.0.0.1")
    time.sleep(0.2)
    started = time.monotonic()
    srv.signal(signal.SIGTERM)
    try:
        srv.wait(15)
    finally:
        took = time.monotonic() - started
        s.close()
        idle.close()
    assert took < 2 + 2.5, f"SIGTERM took {took:.1f}s with a slow client and --shutdown-timeout 2"
    assert "Traceback" not in srv.stderr()


def test_no_client_ca_on_a_non_loopback_address_warns_at_start(tmp_path: Path, tls: Tls,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    import kubehipaa.server.http as http
    from kubehipaa.cli.audit_serve import serve

    started: list[Any] = []

    class NoServer:
        def run(self) -> None:
            started.append(True)

    monkeypatch.setattr(http, "build_server", lambda *a, **kw: NoServer())
    monkeypatch.setattr("kubehipaa.cli.audit_serve._check_listen", lambda host, port: None)
    app = typer.Typer()
    app.command()(serve)
    common = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--port", "18443"]
    out = {}
    for host in ("0.0.0.0", "127.0.0.1", "10.0.0.5"):
        r = CliRunner().invoke(app, [*common, "--host", host, "--spool-dir", str(tmp_path / host)],
                               env={"COLUMNS": "200"})
        assert r.exit_code == 0, r.output
        out[host] = " ".join(r.output.split())
    r = CliRunner().invoke(app, [*common, "--host", "10.0.0.5", "--client-ca", str(tls.ca), "--spool-dir",
                                 str(tmp_path / "mtls")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "no --client-ca" in out["0.0.0.0"] and "no --client-ca" in out["10.0.0.5"]
    assert "no --client-ca" not in out["127.0.0.1"] and "no --client-ca" not in r.output
    assert len(started) == 4


def test_oversized_bodies_are_413_declared_or_chunked(server: tuple[LoopbackServer, AuditReceiver],
                                                      tls: Tls) -> None:
    srv, rec = server
    limit = rec.settings.max_body_bytes
    with httpx.Client(base_url=srv.url, verify=tls.client_context(with_cert=False), timeout=10) as c:
        r = c.post("/audit", content=b" " * (limit + 1))
        assert r.status_code == 413 and r.headers.get("connection") == "close"

        def chunks() -> Iterator[bytes]:
            for _ in range(limit // (1 << 20) + 2):
                yield b" " * (1 << 20)

        assert c.post("/audit", content=chunks()).status_code == 413




def test_a_header_block_over_16_kib_is_refused(server: tuple[LoopbackServer, AuditReceiver], tls: Tls) -> None:
    srv, _ = server
    s = _tls_connect(srv, tls)
    s.sendall(b"POST /audit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n")
    s.settimeout(5)
    answer = b""
    try:
        while chunk := s.recv(65536):
            answer += chunk
    except (OSError, ssl.SSLError):
        pass
    s.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert b"aaaa" not in answer
