"""What `pss` and `audit-policy check` echo from their input is redacted in every format (issue 13 req 4).

Each command repeats input values: object, container and namespace names, label values quoted in errors, a
policy's file name, the namespaces given with -n. A value that looks like a credential or a patient identifier
there must not reach stdout, whatever the format: the JSON tree is redacted before it is serialised
(`reports.base.json_text`), table cells before they are drawn. (Before, their JSON and tables were written
as the input had them.) `etcd verify`: tests/controlplane/test_etcd_report.py.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

SECRETS = ("hunter2", "123-45-6789", "234-56-7890")
runner = CliRunner()

PSS_MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: clinical
  labels:
    pod-security.kubernetes.io/enforce: "password=hunter2"
    pod-security.kubernetes.io/warn-version: "234-56-7890"
---
apiVersion: v1
kind: Pod
metadata:
  name: chart-123-45-6789
  namespace: clinical
spec:
  containers:
    - name: "postgres://admin:hunter2@db"
      image: postgres
      securityContext:
        privileged: true
"""


def _run(args: list[str]) -> str:
    r = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def _clean(out: str) -> None:
    for secret in SECRETS:
        assert secret not in out, out


@pytest.mark.parametrize("args", [
    ["pss", "evaluate"],
    ["pss", "evaluate", "-f", "json"],
    ["pss", "dry-run", "-n", "clinical"],
    ["pss", "dry-run", "-n", "clinical", "-f", "json"],
    ["pss", "dry-run", "-n", "clinical", "-f", "warnings"],
    ["pss", "namespaces"],
    ["pss", "namespaces", "-f", "json"],
])
def test_pss_outputs_redact_what_they_echo(tmp_path: Path, args: list[str]) -> None:
    manifest = tmp_path / "pss.yaml"
    manifest.write_text(PSS_MANIFEST)
    out = _run([*args[:2], str(manifest), *args[2:]])
    _clean(out)
    if "json" in args:
        data = orjson.loads(out)
        assert data, "the report is not empty"
    # What was echoed is still there, masked: the report says which object, not nothing.
    assert "<redacted:" in out
    if args[1] != "namespaces":
        assert "chart-<redacted:ssn>" in out


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_audit_policy_outputs_redact_file_and_namespaces(tmp_path: Path, fmt: str) -> None:
    policy = tmp_path / "audit-123-45-6789.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                      "- level: None\n  userGroups: [system:serviceaccounts]\n- level: RequestResponse\n")
    out = _run(["audit-policy", "check", str(policy), "-n", "postgres://admin:hunter2@db", "-f", fmt])
    _clean(out)
    assert "audit-<redacted:ssn>.yaml" in out
    if fmt == "json":
        data = orjson.loads(out)
        assert data["namespaces"] == ["postgres://admin:<redacted:secret>@db"]
        problems = [p for c in data["policies"][0]["coverage"] for p in c["problems"]]
        assert problems and not any("hunter2" in p for p in problems)
    else:
        assert "FAIL" in out and "secrets (credentials)" in out
