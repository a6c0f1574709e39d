"""`etcd verify`'s report against a real etcd: what it echoes from the store is redacted, and its table fits the
reader's width (issue 13 req 4).

The report names objects by namespace and key name (never values). Those names come from the store: a Secret
named after a connection string, a namespace carrying an identifier. They must be masked in the table and in
the JSON (before, the JSON was written as stored).
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.controlplane.conftest import Etcd
from tests.reports.layout import assert_fits

runner = CliRunner()
ROOT = "/hostile"
PLAINTEXT = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x05x=abc"


@pytest.fixture(scope="module")
def hostile(etcd_http: Etcd) -> Etcd:
    etcd_http.put(f"{ROOT}/secrets/ssn-123-45-6789/postgres://admin:hunter2@db", PLAINTEXT)
    etcd_http.put(f"{ROOT}/secrets/clinical-records-production/legacy-db-credentials", PLAINTEXT)
    etcd_http.put(f"{ROOT}/secrets/clinical-records-production/current", b"k8s:enc:aescbc:v1:key1:" + os.urandom(16))
    etcd_http.put(f"{ROOT}/configmaps/clinical-records-production/forms", b"k8s:enc:aescbc:v1:key1:" + os.urandom(16))
    return etcd_http


def _verify(etcd: Etcd, *args: str, width: int = 120) -> str:
    r = runner.invoke(app, ["etcd", "verify", "--endpoints", etcd.url, "--prefix", ROOT, *args],
                      env={"COLUMNS": str(width)})
    assert r.exit_code == 1, r.output  # plaintext stored
    return r.stdout


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_names_from_the_store_are_redacted(hostile: Etcd, fmt: str) -> None:
    out = _verify(hostile, "-f", fmt)
    assert "hunter2" not in out and "123-45-6789" not in out
    if fmt == "json":
        (secrets, _) = orjson.loads(out)["resources"]
        assert {"namespace": "ssn-<redacted:ssn>", "name": "postgres://admin:<redacted:secret>@db",
                "encoding": "protobuf"} in secrets["plaintext"]
        assert "ssn-<redacted:ssn>" in secrets["namespaces"]
    else:
        assert "ssn-<redacted:ssn>/postgres://admin:<redacted:secret>@db  (protobuf)" in out


@pytest.mark.parametrize("width", [80, 120])
def test_cli_table_fits_columns(hostile: Etcd, width: int) -> None:
    out = _verify(hostile, width=width)
    assert_fits(out, width, {"clinical-records-production", "clinical-records-production/legacy-db-credentials",
                             "plaintext", "unreadable", "current",
                             "kubectl get secrets -A -o json | kubectl replace -f -"})


def test_table_of_a_file_is_as_wide_as_the_terminal_says(hostile: Etcd, tmp_path: Path) -> None:
    """`-o FILE` is written at the reader's width too (COLUMNS here), not at a fixed 140 columns."""
    out = tmp_path / "etcd.txt"
    runner.invoke(app, ["etcd", "verify", "--endpoints", hostile.url, "--prefix", ROOT, "-o", str(out)],
                  env={"COLUMNS": "80"})
    assert_fits(out.read_text(), 80, {"clinical-records-production/legacy-db-credentials"})
