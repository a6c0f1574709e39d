"""Builders shared by the archive tests: logs with known content, the CLI, reading a store back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from tests.auditlog.helpers import raw_event

runner = CliRunner()

SECRET_VALUE = "c3VwZXItc2VjcmV0LWRiLXBhc3M="  # base64 of a password: must never reach the archive
SECRET_PLAIN = "Tr0ub4dor-db-pass"
SSN = "123-45-6789"


def day_events(day: str, n: int, prefix: str = "e") -> list[dict[str, Any]]:
    """`n` ordinary events on `day`, one per second from 10:00."""
    return [raw_event("get", "pods", name=f"p{i}", audit_id=f"{prefix}-{day}-{i}",
                      time=f"{day}T10:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z") for i in range(n)]


def sensitive_events(day: str = "2026-11-27") -> list[dict[str, Any]]:
    """A Secret created (data + stringData), a Secret list answered with its items, a ConfigMap with an SSN,
    a List body embedding a Secret, and an event whose objectRef is missing but whose URI is a Secret's."""
    t = f"{day}T11:00:00.000000Z"
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "db", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": f'{{"data":{{"password":"{SECRET_VALUE}"}}}}'}},
        "data": {"password": SECRET_VALUE}, "stringData": {"plain": SECRET_PLAIN}}
    no_ref = raw_event("update", None, time=t, audit_id="s-noref", uri="/api/v1/namespaces/clinical/secrets/db",
                       body=secret)
    return [
        raw_event("create", "secrets", name="db", audit_id="s-create", time=t, body=secret, response=secret),
        raw_event("list", "secrets", audit_id="s-list", time=t, response={"kind": "SecretList", "items": [secret]}),
        raw_event("patch", "secrets", name="db", group="", audit_id="s-patch", time=t,
                  body={"stringData": {"plain": SECRET_PLAIN}}),
        raw_event("update", "configmaps", name="intake", audit_id="s-phi", time=t,
                  body={"kind": "ConfigMap", "data": {"note": f"patient ssn {SSN}"}}),
        raw_event("create", "lists", audit_id="s-embedded", time=t,
                  body={"kind": "List", "items": [secret, {"kind": "ConfigMap", "metadata": {"name": "ok"}}]}),
        no_ref,
    ]


def write_log(path: Path, events: list[dict[str, Any]], extra: bytes = b"") -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events) + extra)
    return path


def cli(*args: str) -> Any:
    """`kubehipaa audit archive ...` in-process (exit code, stdout, stderr)."""
    return runner.invoke(app, ["archive", *args])


def cli_process(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    """The real entry point (error mapping, exit codes) in a subprocess."""
    return subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", "archive", *args],
                          input=stdin.decode() if stdin is not None else None, capture_output=True, text=True,
                          env=env, timeout=120)


def read_store(store: Path) -> Any:
    """Every row of the store as a pyarrow Table, with the hive `day` column (as DuckDB/Spark read it)."""
    import pyarrow.dataset as ds

    return ds.dataset(store / "events", format="parquet", partitioning="hive").to_table()


def manifest_lines(store: Path) -> list[bytes]:
    return (store / "manifest.jsonl").read_bytes().splitlines()
