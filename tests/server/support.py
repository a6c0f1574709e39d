"""Helpers for the receiver tests: a throwaway CA, a loopback TLS server in a thread, `audit serve` as a
subprocess, EventList bodies and Prometheus text."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from kubehipaa.server.http import ConnectionLimits, build_server

ROOT = Path(__file__).resolve().parents[2]


# -- certificates ---------------------------------------------------------------------------------------

def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 that is also its own CA (verify with cafile=cert)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubehipaa-audit-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "tls.crt", tmp / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_key_pem(key))
    return cert_path, key_path


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path

    def client_context(self, *, with_cert: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if with_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def throwaway_ca(tmp: Path) -> Tls:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (the API server's), all signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubehipaa-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage: Any, san: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM), _key_pem(key)

    paths = {n: tmp / n for n in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
    paths["ca.crt"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert, key = leaf("kubehipaa-audit", ExtendedKeyUsageOID.SERVER_AUTH, True)
    paths["server.crt"].write_bytes(cert)
    paths["server.key"].write_bytes(key)
    cert, key = leaf("kube-apiserver-audit", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    paths["client.crt"].write_bytes(cert)
    paths["client.key"].write_bytes(key)
    return Tls(paths["ca.crt"], paths["server.crt"], paths["server.key"], paths["client.crt"], paths["client.key"])


# -- bodies and metrics -----------------------------------------------------------------------------------

def event_list(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})


def exec_event(audit_id: str, user: str = "jane@hospital.org") -> dict[str, Any]:
    """A kubectl exec as the API server logs it (ResponseStarted): exactly one KH-AUDLOG-030 alert."""
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
            "stage": "ResponseStarted", "verb": "create",
            "requestURI": "/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&container=app",
            "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.1.1.1"],
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "clinical", "name": "ehr-0"},
            "responseStatus": {"code": 101}, "annotations": {"authorization.k8s.io/decision": "allow"},
            "requestReceivedTimestamp": "2026-11-20T10:00:00.000000Z"}


def metric(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"metric {prefix!r} not found")


def alert_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of an alerts file, each of which must be one whole JSON object."""
    data = path.read_bytes() if path.exists() else b""
    assert not data or data.endswith(b"\n"), "alerts file ends with a torn line"
    return [json.loads(line) for line in data.splitlines()]


# -- servers --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackServer:
    """The receiver's uvicorn server (deadlines, connection cap) on 127.0.0.1:<free port> with TLS, in a
    thread; stopped by `close()`."""

    def __init__(self, app: Any, cert: Path, key: Path, limits: ConnectionLimits | None = None,
                 client_ca: Path | None = None, on_event: Any = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = build_server(app, limits or ConnectionLimits(), ssl_certfile=str(cert), ssl_keyfile=str(key),
                                   ssl_ca_certs=str(client_ca) if client_ca else None,
                                   ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
                                   on_event=on_event)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


SERVE = "import typer; from kubehipaa.cli.audit_serve import serve; typer.run(serve)"


class ServeProcess:
    """`kubehipaa audit serve` in a subprocess over mutual TLS on a free loopback port."""

    def __init__(self, tmp: Path, tls: Tls, *args: str, name: str = "serve") -> None:
        self.tls = tls
        self.port = free_port()
        self.log = tmp / f"{name}-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--host", "127.0.0.1", "--port", str(self.port), "--tls-cert",
             str(tls.cert), "--tls-key", str(tls.key), "--client-ca", str(tls.ca), "--log-level", "info", *args],
            stdout=subprocess.DEVNULL, stderr=self._log_file, env=env,
        )
        self.url = f"https://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/livez", verify=self.client_context(), timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.wait(5)
                raise RuntimeError(f"audit serve did not start:\n{self.stderr()}")
            time.sleep(0.05)

    def client_context(self) -> ssl.SSLContext:
        return self.tls.client_context()

    def client(self, timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.client_context(), timeout=timeout)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is not None:
                self._log_file.close()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)
