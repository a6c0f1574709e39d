"""`kubehipaa etcd verify` against a real etcd on loopback (plain HTTP and mutual TLS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import InputError
from kubehipaa.sources.etcd import EtcdClient, EtcdError, EtcdOptions, prefix_range_end
from tests.conftest import ROOT
from tests.controlplane.conftest import Etcd

runner = CliRunner()
KEY32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # dummy 32-byte key
ENC_CONFIG = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aescbc:
          keys:
            - {{name: key1, secret: {KEY32}}}
            - {{name: oldkey, secret: {KEY32}}}
      - identity: {{}}
"""
# Fake PHI / secret markers: must never appear in any output.
PHI = b'{"kind":"ConfigMap","data":{"ssn":"123-45-6789","patient":"Jane Roe"}}'
SECRET = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x0bpassword=HUNTER2-PLAINTEXT"


def _populate(etcd: Etcd) -> None:
    etcd.put("/registry/secrets/clinical/db-password", b"k8s:enc:aescbc:v1:key1:" + os.urandom(48))
    etcd.put("/registry/secrets/clinical/legacy", SECRET)
    etcd.put("/registry/secrets/billing/api-token", b"k8s:enc:aescbc:v1:oldkey:" + os.urandom(48))
    etcd.put("/registry/secrets/billing/current", b"k8s:enc:aescbc:v1:key1:" + os.urandom(48))
    etcd.put("/registry/configmaps/clinical/patient-forms", PHI)
    etcd.put("/registry/configmaps/clinical/app", b"k8s:enc:aescbc:v1:key1:" + os.urandom(32))
    etcd.put("/registry/configmaps/kube-system/kube-root-ca.crt", b"k8s:enc:aescbc:v1:key1:" + os.urandom(32))
    # Outside the scanned prefixes: never read.
    etcd.put("/registry/pods/clinical/emr-0", b"k8s\x00POD-VALUE")
    etcd.put("/registry/secretsX/clinical/x", b"k8s\x00NOT-A-SECRET")


@pytest.fixture(scope="module")
def populated(etcd_http: Etcd) -> Etcd:
    _populate(etcd_http)
    return etcd_http


@pytest.fixture
def enc_file(tmp_path: Path) -> Path:
    p = tmp_path / "enc.yaml"
    p.write_text(ENC_CONFIG)
    return p


def _json(r: object) -> dict:
    return orjson.loads(r.stdout)  # type: ignore[attr-defined]


def test_report_plaintext_current_and_stale(populated: Etcd, enc_file: Path) -> None:
    r = runner.invoke(
        app,
        [
            "etcd",
            "verify",
            "--endpoints",
            populated.url,
            "--encryption-config",
            str(enc_file),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 1, r.output
    data = _json(r)
    secrets, configmaps = data["resources"]
    assert secrets["resource"] == "secrets" and secrets["total"] == 4
    assert secrets["counts"] == {"plaintext": 1, "stale": 1, "unreadable": 0, "current": 2}
    assert secrets["namespaces"] == {
        "billing": {"stale": 1, "current": 1},
        "clinical": {"current": 1, "plaintext": 1},
    }
    assert secrets["plaintext"] == [{"namespace": "clinical", "name": "legacy", "encoding": "protobuf"}]
    assert secrets["stale"] == [
        {"namespace": "billing", "name": "api-token", "provider": "aescbc", "version": "v1", "key": "oldkey"}
    ]
    assert configmaps["counts"]["plaintext"] == 1 and configmaps["counts"]["current"] == 2
    assert configmaps["plaintext"][0] == {
        "namespace": "clinical",
        "name": "patient-forms",
        "encoding": "json",
    }
    assert data["ok"] is False
    for marker in ("123-45-6789", "Jane Roe", "HUNTER2", "POD-VALUE", "NOT-A-SECRET", KEY32):
        assert marker not in r.output


def test_table_names_objects_and_remediation(populated: Etcd, enc_file: Path) -> None:
    r = runner.invoke(
        app, ["etcd", "verify", "--endpoints", populated.url, "--encryption-config", str(enc_file)]
    )
    assert r.exit_code == 1
    out = r.stdout
    assert "1 secrets stored in PLAINTEXT" in out and "clinical/legacy" in out
    assert "billing/api-token  (aescbc v1 key oldkey)" in out
    assert "kubectl get secrets -A -o json | kubectl replace -f -" in out
    assert "plain HTTP" in r.stderr
    assert "HUNTER2" not in r.output and "123-45-6789" not in r.output


def test_all_current_exits_0(tmp_path: Path, etcd_http: Etcd, enc_file: Path) -> None:
    # a separate prefix (the API server's --etcd-prefix) holding only current-key values
    etcd_http.put("/clean/secrets/clinical/a", b"k8s:enc:aescbc:v1:key1:" + os.urandom(16))
    etcd_http.put("/clean/configmaps/clinical/b", b"k8s:enc:aescbc:v1:key1:" + os.urandom(16))
    r = runner.invoke(
        app,
        [
            "etcd",
            "verify",
            "--endpoints",
            etcd_http.url,
            "--encryption-config",
            str(enc_file),
            "--prefix",
            "/clean",
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert _json(r)["ok"] is True


def test_without_config_only_plaintext_counts(populated: Etcd) -> None:
    r = runner.invoke(app, ["etcd", "verify", "--endpoints", populated.url, "-r", "secrets", "-f", "json"])
    assert r.exit_code == 1
    (secrets,) = _json(r)["resources"]
    assert secrets["counts"] == {"plaintext": 1, "stale": 0, "unreadable": 0, "current": 0, "encrypted": 3}
    assert "not compared" in r.stderr


def test_pagination_and_consistent_revision(populated: Etcd) -> None:
    with EtcdClient(EtcdOptions([populated.url], page_size=1)) as client:
        rev = client.revision
        keys = [ck.key for ck in client.scan_prefix(b"/registry/secrets/")]
        assert client.revision == rev
    assert keys == sorted(keys) and len(keys) == 4
    assert all(k.startswith("/registry/secrets/") for k in keys)


def test_prefix_range_end() -> None:
    assert prefix_range_end(b"/registry/secrets/") == b"/registry/secrets0"
    assert prefix_range_end(b"a\xff") == b"b"


def test_connection_error_exits_2_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubehipaa.cli.main", "etcd", "verify", "--endpoints", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert lines and "cannot connect" in lines[0]
    assert "Traceback" not in proc.stderr


def test_bad_config_is_input_error(populated: Etcd, tmp_path: Path) -> None:
    p = tmp_path / "enc.yaml"
    p.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
        "resources:\n- resources: [secrets]\n  providers:\n  - aesxts: {}\n"
    )
    r = runner.invoke(app, ["etcd", "verify", "--endpoints", populated.url, "--encryption-config", str(p)])
    assert r.exception is not None and "unknown provider type" in str(r.exception)


def test_mutual_tls(etcd_tls: Etcd, enc_file: Path) -> None:
    assert etcd_tls.tls is not None
    pki = etcd_tls.tls
    etcd_tls.put("/registry/secrets/clinical/tls-one", b"k8s:enc:aescbc:v1:key1:" + os.urandom(16))
    args = [
        "etcd",
        "verify",
        "--endpoints",
        etcd_tls.url,
        "--cacert",
        str(pki["ca"]),
        "--encryption-config",
        str(enc_file),
        "-f",
        "json",
    ]
    r = runner.invoke(app, [*args, "--cert", str(pki["client_crt"]), "--key", str(pki["client_key"])])
    assert r.exit_code == 0, r.output
    assert _json(r)["resources"][0]["counts"]["current"] == 1
    assert "plain HTTP" not in r.stderr
    # without a client certificate etcd refuses the connection: a clear error, not a traceback
    r = runner.invoke(app, args)
    assert isinstance(r.exception, EtcdError)
    assert etcd_tls.url in str(r.exception)


# ---------------------------------------------------------------- review fixes: configuration errors first


def test_missing_tls_file_or_lone_cert_is_exit_2_even_for_http(tmp_path: Path) -> None:
    # Before: with an http:// endpoint the TLS options were silently ignored, a typo went unnoticed.
    base = ["etcd", "verify", "--endpoints", "http://127.0.0.1:9"]
    r = runner.invoke(app, [*base, "--cacert", str(tmp_path / "nope.crt")])
    # (CliRunner sees the InputError itself; the console entry point turns it into one line and exit 2)
    assert isinstance(r.exception, InputError) and "nope.crt: --cacert: no such file" in str(r.exception)
    crt = tmp_path / "c.crt"
    crt.write_text("x")
    r = runner.invoke(app, [*base, "--cert", str(crt)])
    assert isinstance(r.exception, InputError) and "--cert and --key must be given together" in str(r.exception)


def test_malformed_encryption_config_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "enc.yaml"
    p.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: [\n  {a: \n")
    r = runner.invoke(app, ["etcd", "verify", "--endpoints", "http://127.0.0.1:9", "--encryption-config", str(p)])
    assert isinstance(r.exception, InputError)
    assert f"{p}:5: malformed YAML" in str(r.exception)


def test_nothing_under_the_prefix_is_exit_2_not_all_current(etcd_http: Etcd) -> None:
    # Before: a wrong --prefix read zero keys and exited 0, "every object encrypted under the current key".
    r = runner.invoke(app, ["etcd", "verify", "--endpoints", etcd_http.url, "--prefix", "/nothing-here"])
    assert isinstance(r.exception, InputError)
    assert "no keys under /nothing-here/secrets/, /nothing-here/configmaps/" in str(r.exception)
