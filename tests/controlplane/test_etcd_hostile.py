"""`etcd verify` against a fake etcd JSON gateway that misbehaves (issue 12, req 8).

A small threaded HTTP server on loopback plays etcd's `/v3/kv/range`: it trickles its answer a byte at a
time, never stops saying `more: true`, returns wrong types or bad base64, HTTP errors, non-JSON or non-HTTP
bytes. Each run must end within `--timeout` plus a little, with exit 2 and one error line that names the
endpoint and what was wrong, never the response body (it may hold stored values).
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kubehipaa.cli.main import main
from kubehipaa.sources.etcd import MAX_RESPONSE_BYTES, EtcdClient, EtcdDeadlineError, EtcdError, EtcdOptions

MARKER = "PATIENT-SSN-219-09-9999"
"""Planted in every body the fake server sends: it must never reach any output."""
SLACK = 2.5
"""Seconds allowed beyond --timeout (interpreter start-up is not counted: runs are in-process)."""

Behaviour = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _send_json(h: BaseHTTPRequestHandler, doc: object, status: int = 200) -> None:
    body = json.dumps(doc).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour
    stop: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hanging up mid-answer is the point of several behaviours; no traceback in stderr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.server.behaviour(self, body)


@pytest.fixture
def gateway() -> Iterator[Callable[[Behaviour], str]]:
    servers: list[_Server] = []

    def start(behaviour: Behaviour) -> str:
        srv = _Server(("127.0.0.1", 0), _Handler)
        srv.behaviour = behaviour
        srv.stop = threading.Event()
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()


def _verify(url: str, timeout: float, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            *extra: str) -> tuple[int, str, str, float]:
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "etcd", "verify", "--endpoints", url, "--timeout", str(timeout),
                                      *extra])
    started = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        main()
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err, elapsed


def _assert_clean_exit_2(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in out + err and "internal error" not in err
    assert MARKER not in out + err and b64(MARKER.encode())[:12] not in out + err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


# --- behaviours ---------------------------------------------------------------------------------------


def _first_key(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> bool:
    """The client's first request (one key of the whole keyspace): answered like etcd; True when it was."""
    if body.get("range_end") is None:
        _send_json(h, {"header": {"revision": "7"}, "count": "1"})
        return True
    return False


def trickle(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """A 200 whose body comes a byte every 50 ms: each read is quick, the response never ends in time."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "1000000")
    h.end_headers()
    payload = (json.dumps({"header": {"revision": "7"}, "note": MARKER}) + " " * 1_000_000).encode()
    for i in range(len(payload)):
        if h.server.stop.is_set():
            return
        h.wfile.write(payload[i:i + 1])
        h.wfile.flush()
        time.sleep(0.05)


def trickle_headers(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """Even the status line and headers come a byte at a time."""
    raw = b"HTTP/1.1 200 OK\r\nX-Note: " + MARKER.encode() * 1000
    for i in range(len(raw)):
        if h.server.stop.is_set():
            return
        h.wfile.write(raw[i:i + 1])
        h.wfile.flush()
        time.sleep(0.05)


def trickle_later(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """Answers the first request properly, then trickles the first page."""
    if not _first_key(h, body):
        trickle(h, body)


def stall(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """Reads the request and never answers."""
    h.server.stop.wait(60)


def more_forever(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """Every page holds one new key after the requested start and says more follow: pagination never ends."""
    if _first_key(h, body):
        return
    start = base64.b64decode(body["key"])
    if body.get("keys_only"):
        _send_json(h, {"header": {"revision": "7"}, "kvs": [{"key": b64(start + b"x")}], "more": True})
    else:
        _send_json(h, {"header": {"revision": "7"}, "kvs": [{"key": b64(start), "value": b64(b"k8s\x00" + MARKER.encode())}]})


def same_page_forever(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """The same page again and again with more: true (ignores the start key): caught as out of range."""
    if _first_key(h, body):
        return
    key = b64(b"/registry/secrets/ns/a")
    value = b64(b"k8s:enc:aescbc:v1:key1:" + b"\x00" * 16)
    _send_json(h, {"header": {"revision": "7"}, "kvs": [{"key": key, "value": value}], "more": True})


def respond(doc: object, *, status: int = 200, first: bool = True) -> Behaviour:
    """Answer every request (or, with first=False, every request after the first) with `doc`."""
    def behaviour(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if not first and _first_key(h, body):
            return
        _send_json(h, doc, status)
    return behaviour


def raw(data: bytes) -> Behaviour:
    def behaviour(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True
    return behaviour


def huge(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """A 200 larger than any range response may be, sent as fast as the socket takes it."""
    h.send_response(200)
    h.send_header("Content-Length", str(4 * MAX_RESPONSE_BYTES))
    h.end_headers()
    chunk = b" " * (1 << 20)
    for _ in range(4 * MAX_RESPONSE_BYTES // len(chunk)):
        if h.server.stop.is_set():
            return
        h.wfile.write(chunk)


# --- the deadline -------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("behaviour", [trickle, trickle_headers, trickle_later, stall, more_forever],
                         ids=lambda b: b.__name__)
def test_overall_deadline(gateway: Callable[[Behaviour], str], behaviour: Behaviour,
                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = gateway(behaviour)
    code, out, err, elapsed = _verify(url, 3, capsys, monkeypatch)
    assert elapsed < 3 + SLACK, f"took {elapsed:.1f}s with --timeout 3"
    line = _assert_clean_exit_2(code, out, err, url, "time limit of 3s (--timeout) reached")
    assert out == ""  # no partial report
    if behaviour is more_forever:  # says how far the pagination got
        assert "while reading /registry/secrets/:" in line and "key(s) classified in" in line
        assert "nothing is reported" in line


@pytest.mark.timeout(60)
def test_pagination_progress_is_named_with_what_was_read_before(gateway: Callable[[Behaviour], str],
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def secrets_then_forever(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if base64.b64decode(body["key"]).startswith(b"/registry/secrets/"):
            value = b64(b"k8s:enc:aescbc:v1:key1:" + b"\x00" * 16)
            _send_json(h, {"header": {"revision": "7"},
                           "kvs": [{"key": b64(b"/registry/secrets/ns/a"), "value": value}]})
        else:
            more_forever(h, body)

    url = gateway(secrets_then_forever)
    code, out, err, elapsed = _verify(url, 2, capsys, monkeypatch)
    assert elapsed < 2 + SLACK
    _assert_clean_exit_2(code, out, err, "while reading /registry/configmaps/:",
                         "read completely before: secrets (1 keys)")


@pytest.mark.timeout(60)
def test_a_stalled_endpoint_leaves_time_for_the_next(gateway: Callable[[Behaviour], str]) -> None:
    slow = gateway(stall)
    good = gateway(respond({"header": {"revision": "9"}}))
    started = time.monotonic()
    with EtcdClient(EtcdOptions([slow, good], timeout=4)) as client:
        assert client.endpoint == good and client.revision == 9
    assert time.monotonic() - started < 4


def test_deadline_error_is_an_etcd_error(gateway: Callable[[Behaviour], str]) -> None:
    url = gateway(stall)
    with pytest.raises(EtcdDeadlineError) as caught, EtcdClient(EtcdOptions([url], timeout=0.5)):
        pass
    assert isinstance(caught.value, EtcdError)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_timeout_must_be_positive_and_finite(value: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "etcd", "verify", "--endpoints", "http://127.0.0.1:9",
                                      "--timeout", value])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# --- bad answers: exit 2, one line, no body -----------------------------------------------------------

KEY = b64(b"/registry/secrets/ns/a")
GOOD_VALUE = b64(b"k8s:enc:aescbc:v1:key1:" + MARKER.encode())

BAD_ANSWERS = [
    ("header-not-object", respond({"header": [MARKER]}), "header is not an object"),
    ("revision-not-int", respond({"header": {"revision": MARKER}}), "header.revision is not an integer"),
    ("revision-float", respond({"header": {"revision": 1.5}}), "header.revision is not an integer"),
    ("revision-huge", respond({"header": {"revision": "9" * 5000}}), "header.revision is not an integer"),
    ("kvs-not-list", respond({"kvs": {"key": KEY}}, first=False), "kvs is not a list"),
    ("kv-not-object", respond({"kvs": [MARKER]}, first=False), "kvs[0] is not an object"),
    ("key-not-string", respond({"kvs": [{"key": 5}]}, first=False), "kvs[0].key is missing or not base64"),
    ("key-missing", respond({"kvs": [{"value": GOOD_VALUE}]}, first=False), "kvs[0].key is missing or not base64"),
    ("key-bad-base64", respond({"kvs": [{"key": MARKER + "!"}]}, first=False), "kvs[0].key is missing or not base64"),
    ("value-bad-base64", respond({"kvs": [{"key": KEY, "value": "@@@@" + MARKER}]}, first=False),
     "kvs[0].value is not base64"),
    ("value-bad-base64-after-head", respond({"kvs": [{"key": KEY, "value": GOOD_VALUE + "A" * 400 + "*"}]},
                                            first=False), "kvs[0].value is not base64"),
    ("value-not-string", respond({"kvs": [{"key": KEY, "value": [1]}]}, first=False), "kvs[0].value is not base64"),
    ("more-not-bool", respond({"kvs": [{"key": KEY}], "more": "yes"}, first=False), "more is not a boolean"),
    ("more-without-keys", respond({"more": True}, first=False), "said more keys follow but returned none"),
    ("key-outside-range", respond({"kvs": [{"key": b64(b"/registry/pods/x")}]}, first=False),
     "outside the requested range"),
    ("same-page-forever", same_page_forever, "outside the requested range"),
    ("not-an-object", respond([MARKER]), "returned JSON that is not an object"),
    ("http-500", respond({"error": MARKER, "message": MARKER}, status=500), "HTTP 500 from /v3/kv/range"),
    ("http-404-later", respond({"error": MARKER}, status=404, first=False), "HTTP 404 from /v3/kv/range"),
    ("not-json", raw(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n" + MARKER.encode() + b" not json"),
     "did not return JSON"),
    ("not-http", raw(b"SSH-2.0-" + MARKER.encode() + b"\r\n"), "not a valid HTTP response"),
    ("huge", huge, "returned more than 64 MiB"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("behaviour", "fragment"), [(b, f) for _, b, f in BAD_ANSWERS],
                         ids=[name for name, _, _ in BAD_ANSWERS])
def test_bad_answers_exit_2_naming_the_field_never_the_body(gateway: Callable[[Behaviour], str],
                                                            behaviour: Behaviour, fragment: str,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    url = gateway(behaviour)
    code, out, err, elapsed = _verify(url, 10, capsys, monkeypatch)
    assert elapsed < 10
    _assert_clean_exit_2(code, out, err, url, fragment)


@pytest.mark.timeout(60)
def test_a_values_page_too_large_is_read_in_smaller_pages(gateway: Callable[[Behaviour], str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import kubehipaa.sources.etcd as etcd_source

    monkeypatch.setattr(etcd_source, "MAX_RESPONSE_BYTES", 4096)
    keys = [f"/registry/secrets/ns/s{i:02d}".encode() for i in range(8)]
    limits: list[int] = []

    def store(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if _first_key(h, body):
            return
        start, end = base64.b64decode(body["key"]), base64.b64decode(body["range_end"])
        limit = int(body["limit"])
        inside = [k for k in keys if start <= k < end]
        page, more = inside[:limit], len(inside) > limit
        if body.get("keys_only"):
            _send_json(h, {"kvs": [{"key": b64(k)} for k in page], "more": more})
            return
        limits.append(limit)
        value = b64(b"k8s:enc:aescbc:v1:key1:" + b"\x00" * 1000)  # ~1.4 KB each: 8 of them exceed 4 KiB
        _send_json(h, {"kvs": [{"key": b64(k), "value": value} for k in page], "more": more})

    url = gateway(store)
    with EtcdClient(EtcdOptions([url], timeout=10)) as client:
        got = [ck.key for ck in client.scan_prefix(b"/registry/secrets/")]
    assert got == [k.decode() for k in keys]
    assert limits[0] == 8 and min(limits) < 8
