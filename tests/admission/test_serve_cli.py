"""`kubehipaa serve admission` as a process: TLS, JSON logs on stderr, SIGTERM drains an in-flight review."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from tests.admission.support import pod, review
from tests.server.support import ROOT, Tls, free_port, throwaway_ca


def start(tmp: Path, tls: Tls, *args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = tmp / "serve.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "kubehipaa.cli.main", "serve", "admission", "--host",
                                 "127.0.0.1", "--port", str(port), "--tls-cert", str(tls.cert), "--tls-key",
                                 str(tls.key), *args], stdout=subprocess.DEVNULL, stderr=fh, env=env, cwd=tmp)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"https://127.0.0.1:{port}/readyz", verify=tls.client_context(with_cert=False),
                         timeout=2).status_code == 200:
                return proc, port, log
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"serve admission did not start:\n{log.read_text()}")
        time.sleep(0.05)


def test_sigterm_drains_an_inflight_review_and_logs_are_json(tmp_path: Path) -> None:
    tls = throwaway_ca(tmp_path)
    (tmp_path / ".kubehipaa.yaml").write_text("phi:\n  namespaces: [clinical]\n")
    proc, port, log = start(tmp_path, tls, "--config", str(tmp_path / ".kubehipaa.yaml"))
    try:
        body = orjson.dumps(review(pod(privileged=True), uid="u-inflight"))
        ctx = tls.client_context(with_cert=False)
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:100])
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)  # the review is in flight: its body is half sent
            time.sleep(0.3)
            sock.sendall(body[100:])
            sock.settimeout(10)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:200]
        resp = json.loads(payload)["response"]
        assert resp["uid"] == "u-inflight" and resp["allowed"] is False
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reviews = [r for r in records if r.get("msg") == "review"]
    assert reviews and reviews[0]["uid"] == "u-inflight" and reviews[0]["verdict"] == "deny"
    assert "KH-WL-001" in reviews[0]["denied"] and "spec" not in reviews[0]


def test_bad_admission_config_exits_2_with_one_line(tmp_path: Path) -> None:
    tls = throwaway_ca(tmp_path)
    cfg = tmp_path / "k.yaml"
    cfg.write_text("admission:\n  phi:\n    deny: [KH-NOPE-*]\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "serve", "admission", "--port", str(free_port()),
                        "--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--config", str(cfg)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "matches no known rule" in r.stderr and "Traceback" not in r.stderr


