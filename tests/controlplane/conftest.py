"""A real etcd (Debian's etcd-server, /usr/bin/etcd) on loopback for the `etcd verify` tests.

Each fixture starts its own etcd with a temporary data dir on free ports and stops it afterwards.  Tests
that need it are skipped, with the reason, only when no etcd binary is installed.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Etcd:
    url: str
    client: httpx.Client
    tls: dict[str, Path] | None = None

    def put(self, key: str, value: bytes) -> None:
        body = {"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value).decode()}
        r = self.client.post(f"{self.url}/v3/kv/put", json=body)
        r.raise_for_status()


def _start(tmp: Path, scheme: str, extra: list[str], client: httpx.Client) -> tuple[subprocess.Popen, str]:
    if ETCD is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server provides /usr/bin/etcd)")
    cport, pport = _free_port(), _free_port()
    url = f"{scheme}://127.0.0.1:{cport}"
    peer = f"http://127.0.0.1:{pport}"
    env = dict(os.environ)
    if platform.machine() in ("aarch64", "arm64"):
        env["ETCD_UNSUPPORTED_ARCH"] = "arm64"
    log = open(tmp / "etcd.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            ETCD,
            "--name",
            "t",
            "--data-dir",
            str(tmp / "data"),
            "--listen-client-urls",
            url,
            "--advertise-client-urls",
            url,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"t={peer}",
            "--log-level",
            "error",
            *extra,
        ],
        stdout=log,
        stderr=log,
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"etcd exited: {(tmp / 'etcd.log').read_text()[-2000:]}")
        try:
            if client.post(f"{url}/v3/kv/range", json={"key": "AA=="}).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("etcd did not become ready within 20s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def etcd_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    tmp = tmp_path_factory.mktemp("etcd-http")
    client = httpx.Client(timeout=5)
    proc, url = _start(tmp, "http", [], client)
    try:
        yield Etcd(url, client)
    finally:
        client.close()
        _stop(proc)


def _make_pki(tmp: Path) -> dict[str, Path]:
    """CA, server cert for 127.0.0.1, client cert - generated with `cryptography`."""
    pytest.importorskip("cryptography", reason="the cryptography package generates the test TLS certificates")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test-ca"))
        .issuer_name(name("test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": tmp / "ca.crt"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    # The server certificate also needs clientAuth: etcd's HTTP gateway dials etcd's own gRPC port with it
    # (kubeadm issues etcd server certificates the same way).
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    for who, usage in (("server", both), ("client", [ExtendedKeyUsageOID.CLIENT_AUTH])):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"etcd-{who}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        )
        if who == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        out[f"{who}_crt"] = tmp / f"{who}.crt"
        out[f"{who}_key"] = tmp / f"{who}.key"
        out[f"{who}_crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, out[f"{who}_key"])
    return out


@pytest.fixture(scope="module")
def etcd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    if ETCD is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server provides /usr/bin/etcd)")
    tmp = tmp_path_factory.mktemp("etcd-tls")
    pki = _make_pki(tmp)
    import ssl

    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    ctx.load_cert_chain(str(pki["client_crt"]), str(pki["client_key"]))
    client = httpx.Client(timeout=5, verify=ctx)
    extra = [
        "--cert-file",
        str(pki["server_crt"]),
        "--key-file",
        str(pki["server_key"]),
        "--client-cert-auth",
        "--trusted-ca-file",
        str(pki["ca"]),
    ]
    proc, url = _start(tmp, "https", extra, client)
    try:
        yield Etcd(url, client, pki)
    finally:
        client.close()
        _stop(proc)
