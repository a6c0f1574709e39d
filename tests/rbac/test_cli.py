"""`kubehipaa rbac` commands end to end through the real CLI app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: sec, namespace: clinical}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sec, namespace: clinical}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: sec}
subjects:
- {kind: Group, name: clinical-app-support, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: app-sa}
"""

runner = CliRunner()


@pytest.fixture
def rbac_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rbac"
    d.mkdir()
    (d / "rbac.yaml").write_text(RBAC)
    return d


def test_can_i_yes_exit_0(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "can-i", "get", "secrets", "-n", "clinical", "--as", "jane",
                            "--as-group", "clinical-app-support", str(rbac_dir)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("yes")
    assert 'RoleBinding "clinical/sec" of Role "sec"' in r.output
    assert "rules[0]" in r.output


def test_can_i_no_exit_1(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "can-i", "create", "pods/exec", "-n", "clinical", "--as",
                            "system:serviceaccount:clinical:app-sa", str(rbac_dir)])
    assert r.exit_code == 1
    assert r.output.startswith("no") and "no RBAC rule allows this" in r.output


def test_can_i_cluster_scoped_without_namespace(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "can-i", "get", "secrets", "--as", "system:serviceaccount:clinical:app-sa",
                            str(rbac_dir)])
    assert r.exit_code == 1


def test_can_i_json(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "can-i", "get", "secrets", "-n", "clinical", "--as",
                            "system:serviceaccount:clinical:app-sa", "--format", "json", str(rbac_dir)])
    assert r.exit_code == 0
    data = orjson.loads(r.output)
    assert data["allowed"] is True
    assert data["grant"]["subject"] == {"kind": "ServiceAccount", "name": "app-sa", "namespace": "clinical"}
    assert "system:serviceaccounts:clinical" in data["user"]["groups"]


def test_who_can_json(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "who-can", "get", "secrets", "-n", "clinical", "--name", "app-tls",
                            "--format", "json", str(rbac_dir)])
    assert r.exit_code == 0, r.output
    subjects = {(s["subject"]["kind"], s["subject"]["name"]) for s in orjson.loads(r.output)["subjects"]}
    assert subjects == {("Group", "clinical-app-support"), ("ServiceAccount", "app-sa"), ("Group", "system:masters")}


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: a}\n"
                   "rules: nope\n")
    p = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "rbac", "can-i", "get", "pods", "--as", "x",
                        str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "bad.yaml:1" in p.stderr and "rules must be a list" in p.stderr


def test_review_csv_json_since_and_html(rbac_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "review.json"
    r = runner.invoke(app, ["rbac", "review", str(rbac_dir), "-n", "clinical", "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    data = orjson.loads(out.read_bytes())
    assert any(g["resource"] == "secrets" and g["verb"] == "get" for g in data["grants"])
    r = runner.invoke(app, ["rbac", "review", str(rbac_dir), "-n", "clinical"])
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("namespace,subject_kind")
    (rbac_dir / "rbac.yaml").write_text(RBAC.replace("verbs: [get]", "verbs: [get, list]"))
    r = runner.invoke(app, ["rbac", "review", str(rbac_dir), "-n", "clinical", "--since", str(out)])
    assert r.exit_code == 0
    assert "added,clinical,Group,,clinical-app-support,secrets,list" in r.output
    r = runner.invoke(app, ["rbac", "review", str(rbac_dir), "-n", "clinical", "--since", str(out), "-f", "html"])
    assert r.exit_code == 0 and "<table" in r.output and "added" in r.output


def test_review_without_phi_namespaces_is_an_error(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "review", str(rbac_dir)])
    assert r.exit_code == 2


def test_escalation_exit_and_json(rbac_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "escalation", str(rbac_dir), "--format", "json"])
    assert r.exit_code in (0, 1), r.output
    data = orjson.loads(r.output)
    assert "paths" in data and data["identities"] >= 2


def test_risks_command(rbac_dir: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["rbac", "risks", str(rbac_dir), "--format", "json"])
    assert r.exit_code == 1, r.output
    data = orjson.loads(r.output)
    assert any(f["rule"] == "RR-002" for f in data["findings"])
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules: []\n")
    p = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "rbac", "risks", str(rbac_dir), "--rules",
                        str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "rules.yaml" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------- review fixes: partial input is an error


@pytest.mark.parametrize("argv", [
    ["can-i", "get", "secrets", "-n", "clinical", "--as", "jane"],
    ["who-can", "get", "secrets", "-n", "clinical"],
    ["escalation"],
])
def test_malformed_yaml_next_to_good_rbac_is_exit_2_not_a_no(rbac_dir: Path, argv: list[str]) -> None:
    # The grant could sit in the broken file: answering "no" (or "no path") would be wrong.
    (rbac_dir / "broken.yaml").write_text("kind: RoleBinding\nmetadata: {name: x\n  bad: [\n")
    result = runner.invoke(app, ["rbac", *argv, str(rbac_dir)])
    assert result.exit_code == 2
    assert "broken.yaml:" in result.output and "malformed YAML" in result.output
    assert "Traceback" not in result.output


def test_input_without_rbac_objects_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    for argv in (["can-i", "get", "pods", "--as", "u", str(tmp_path)], ["review", "-n", "x", str(tmp_path)]):
        result = runner.invoke(app, ["rbac", *argv])
        assert result.exit_code == 2, argv
        assert "no Role, ClusterRole, RoleBinding or ClusterRoleBinding found" in result.output


# ---------------------------------------------------------------- requests keep the namespace they are asked in

BIND_IN_OPS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: delegate, namespace: ops}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles]
  verbs: [bind]
  resourceNames: [edit]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: delegate, namespace: ops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: delegate}
subjects:
- {kind: User, name: lead, apiGroup: rbac.authorization.k8s.io}
"""


@pytest.fixture
def bind_dir(tmp_path: Path) -> Path:
    (tmp_path / "rbac.yaml").write_text(BIND_IN_OPS)
    return tmp_path


def test_who_can_bind_clusterroles_in_a_namespace_counts_its_rolebindings(bind_dir: Path) -> None:
    # The API server's check for a RoleBinding in ops referring to ClusterRole edit asks exactly this.
    r = runner.invoke(app, ["rbac", "who-can", "bind", "clusterroles", "-n", "ops", "--name", "edit",
                            "--format", "json", str(bind_dir)])
    assert r.exit_code == 0, r.output
    data = orjson.loads(r.stdout)
    assert data["request"]["namespace"] == "ops"
    assert {(s["subject"]["kind"], s["subject"]["name"]) for s in data["subjects"]} == {
        ("User", "lead"), ("Group", "system:masters")}
    assert "is cluster-scoped" in r.stderr and "ignored" not in r.stderr
    # asked cluster-wide (the check for a ClusterRoleBinding): the RoleBinding does not count
    r = runner.invoke(app, ["rbac", "who-can", "bind", "clusterroles", "--name", "edit", "--format", "json",
                            str(bind_dir)])
    assert [s["subject"]["name"] for s in orjson.loads(r.stdout)["subjects"]] == ["system:masters"]
    assert "cluster-scoped" not in r.stderr


def test_can_i_bind_clusterroles_in_a_namespace(bind_dir: Path) -> None:
    base = ["rbac", "can-i", "bind", "clusterroles.rbac.authorization.k8s.io", "--name", "edit", "--as", "lead"]
    r = runner.invoke(app, [*base, "-n", "ops", str(bind_dir)])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("yes") and 'RoleBinding "ops/delegate"' in r.stdout
    assert "clusterroles is cluster-scoped" in r.stderr
    assert runner.invoke(app, [*base, "-n", "dev", str(bind_dir)]).exit_code == 1
    assert runner.invoke(app, [*base, str(bind_dir)]).exit_code == 1


def test_non_resource_url_still_ignores_the_namespace(bind_dir: Path) -> None:
    r = runner.invoke(app, ["rbac", "can-i", "get", "/metrics", "-n", "ops", "--as", "lead", "--format", "json",
                            str(bind_dir)])
    assert r.exit_code == 1
    assert orjson.loads(r.stdout)["request"] == {"verb": "get", "nonResourceURL": "/metrics"}
    assert "-n ops is ignored" in r.stderr


def test_escalation_follows_a_bind_granted_by_a_rolebinding(tmp_path: Path) -> None:
    # lead may create RoleBindings in clinical and bind ClusterRole edit there (the API server asks `bind
    # clusterroles edit` in clinical); edit reads Secrets, so lead reaches the PHI namespace's Secrets.
    phi_ns = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: clinical, labels: {kubehipaa.io/phi: \"true\"}}\n"
              "---\n")
    (tmp_path / "rbac.yaml").write_text(phi_ns + BIND_IN_OPS.replace("ops", "clinical"))
    r = runner.invoke(app, ["rbac", "escalation", "--format", "json", str(tmp_path)])
    assert r.exit_code == 1, r.output
    found = {(p["identity"], p["target"]): p for p in orjson.loads(r.stdout)["paths"]}
    p = found[("User lead", "read all Secrets in PHI namespace clinical")]
    assert [h["to"] for h in p["path"]] == ["ClusterRole edit bound in clinical",
                                            "read all Secrets in PHI namespace clinical"]
    assert p["path"][0]["how"] == "create a RoleBinding in clinical to ClusterRole edit (bind)"
