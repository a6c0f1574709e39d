"""`kubehipaa audit-policy check` end to end."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import InputError
from tests.conftest import EXAMPLES

runner = CliRunner()
HARDENED = EXAMPLES / "clinic-hardened" / "control-plane" / "audit-policy.yaml"


def test_hardened_policy_table_exit_0() -> None:
    r = runner.invoke(app, ["audit-policy", "check", str(HARDENED), "-n", "clinical"])
    assert r.exit_code == 0, r.output
    assert "secrets (credentials)" in r.output and "FAIL" not in r.output
    assert "RequestResponse" in r.output


def test_bad_policy_json_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "audit.yaml"
    p.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
        "- level: None\n  userGroups: [system:serviceaccounts]\n"
        "- level: RequestResponse\n"
    )
    r = runner.invoke(app, ["audit-policy", "check", str(p), "-f", "json"])
    assert r.exit_code == 1, r.output
    data = orjson.loads(r.stdout)
    cov = {c["class"]: c for c in data["policies"][0]["coverage"]}
    assert data["namespaces"] == ["default"]
    assert not cov["secrets"]["ok"] and cov["secrets"]["levels"] == ["None", "RequestResponse"]
    assert cov["pods/exec"]["ok"] is False  # the service account's exec is hidden by rule 0
    assert cov["rbac-writes"]["levels"] == ["None", "RequestResponse"]
    assert data["policies"][0]["requestReceivedRecordedBy"] == [1]


def test_invalid_policy_is_input_error(tmp_path: Path) -> None:
    p = tmp_path / "audit.yaml"
    p.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Verbose\n")
    r = runner.invoke(app, ["audit-policy", "check", str(p)])
    assert isinstance(r.exception, InputError)
    assert "rules[0].level" in str(r.exception) and r.exception.file == str(p)


def test_no_policy_is_input_error(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = runner.invoke(app, ["audit-policy", "check", str(p)])
    assert isinstance(r.exception, InputError) and "no audit Policy" in str(r.exception)


def test_valid_policy_followed_by_malformed_yaml_is_exit_2(tmp_path: Path) -> None:
    # Before: the readable first policy was judged (exit 0) and the broken rest only warned about.
    p = tmp_path / "audit.yaml"
    p.write_text(HARDENED.read_text() + "\n---\nrules: [\n  {level: \n")
    r = runner.invoke(app, ["audit-policy", "check", str(p), "-n", "clinical"])
    assert isinstance(r.exception, InputError)
    assert f"{p}:" in str(r.exception) and "malformed YAML" in str(r.exception)
