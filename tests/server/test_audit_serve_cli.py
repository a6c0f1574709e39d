"""The `serve` command function: help with an example, TLS required unless explicitly disabled."""

from __future__ import annotations

import datetime
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from kubehipaa.cli.audit_serve import serve


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


def test_help_has_an_example() -> None:
    r = CliRunner().invoke(_app(), ["--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    assert "Example: kubehipaa audit serve" in r.output
    for opt in ("--tls-cert", "--tls-key", "--alerts-out", "--spool-dir", "--spool-max-bytes", "--max-body-bytes",
                "--shutdown-timeout", "--body-timeout", "--header-timeout", "--tls-handshake-timeout",
                "--max-connections", "--sigma"):
        assert opt in r.output
    # --help and the code agree: an oversized batch is 413 (tests/server/test_connections.py checks the code)
    assert "rejected (413)" in " ".join(r.output.split())


def test_tls_is_required() -> None:
    r = CliRunner().invoke(_app(), ["--port", "18443"])
    assert r.exit_code == 2


def _client_cert(tmp: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    """A client certificate signed by the test CA (the self-signed server certificate doubles as CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-audit")]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    c, k = tmp / "client.crt", tmp / "client.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command_with_mutual_tls_writes_alerts_and_stops_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from tests.server.support import event_list as _event_list
    from tests.server.support import self_signed as _self_signed

    cert, key = _self_signed(tmp_path)
    client_cert, client_key = _client_cert(tmp_path, cert, key)
    alerts = tmp_path / "out" / "alerts.jsonl"
    port = _free_port()
    code = "import typer; from kubehipaa.cli.audit_serve import serve; typer.run(serve)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--host", "127.0.0.1", "--port", str(port), "--tls-cert", str(cert),
         "--tls-key", str(key), "--client-ca", str(cert), "--alerts-out", str(alerts), "--log-level", "warning",
         "--spool-dir", str(tmp_path / "spool")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.load_cert_chain(str(client_cert), str(client_key))
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", verify=ctx, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        with pytest.raises(httpx.TransportError):  # no client certificate: the handshake is refused
            httpx.get(url + "/healthz", verify=ssl.create_default_context(cafile=str(cert)), timeout=5)
        ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "e-1", "stage": "ResponseStarted",
              "verb": "create", "requestURI": "/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh",
              "user": {"username": "jane@hospital.org", "groups": ["system:authenticated"]},
              "sourceIPs": ["10.1.1.1"], "objectRef": {"resource": "pods", "subresource": "exec",
                                                        "namespace": "clinical", "name": "ehr-0"},
              "responseStatus": {"code": 101}, "annotations": {"authorization.k8s.io/decision": "allow"},
              "requestReceivedTimestamp": "2026-11-20T10:00:00Z"}
        r = httpx.post(url + "/audit", content=_event_list([ev]), verify=ctx, timeout=5)
        assert r.status_code == 200 and r.json()["accepted"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    lines = [json.loads(x) for x in alerts.read_text().splitlines()]
    assert any(a["ruleId"] == "KH-AUDLOG-030" and a["user"] == "jane@hospital.org" for a in lines)


def test_unusable_certificate_is_a_one_line_error(tmp_path: Path) -> None:
    from kubehipaa.errors import KubehipaaError

    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    r = CliRunner().invoke(_app(), ["--tls-cert", str(cert), "--tls-key", str(key)])
    assert isinstance(r.exception, KubehipaaError) and "tls.crt" in str(r.exception)


def test_an_unusable_or_busy_spool_dir_is_a_one_line_error(tmp_path: Path) -> None:
    from kubehipaa.errors import KubehipaaError
    from kubehipaa.server.spool import Spool
    from tests.server.support import self_signed

    cert, key = self_signed(tmp_path)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    busy = Spool(tmp_path / "busy", 1 << 20)  # another receiver holds it
    try:
        for spool_dir, expected in ((not_a_dir, "cannot use as spool directory"), (tmp_path / "busy", "in use")):
            r = CliRunner().invoke(_app(), ["--tls-cert", str(cert), "--tls-key", str(key), "--host", "127.0.0.1",
                                            "--port", str(_free_port()), "--spool-dir", str(spool_dir)])
            assert isinstance(r.exception, KubehipaaError), r.output
            assert expected in str(r.exception) and "--spool-dir" in str(r.exception)
    finally:
        busy.close()
