"""`rbac unused` / `rbac suggest` commands on files: RBAC manifests + a JSON-lines audit log."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import typer
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.rbac_usage import suggest, unused
from kubehipaa.engines.rbac import RbacIndex, collect_usage, user_info
from kubehipaa.errors import KubehipaaError
from tests.rbac_usage.test_rbac_usage import SA, app_log

RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app, namespace: clinical}
rules:
- apiGroups: [""]
  resources: [pods, configmaps]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app, namespace: clinical}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app}
subjects:
- {kind: ServiceAccount, name: app-sa}
"""


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("unused")(unused)
    app.command("suggest")(suggest)
    return app


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rbac = tmp_path / "rbac"
    rbac.mkdir()
    (rbac / "app.yaml").write_text(RBAC)
    log = tmp_path / "audit.log"
    lines = [orjson.dumps(e.to_dict()) for e in app_log()]
    lines.insert(3, b'{"kind": "Event", "verb": ')  # a truncated line: counted and reported, not fatal
    log.write_bytes(b"\n".join(lines) + b"\n")
    return rbac, log


def test_unused_text_json_and_output_file(files: tuple[Path, Path], tmp_path: Path) -> None:
    rbac, log = files
    r = CliRunner().invoke(_app(), ["unused", str(rbac), str(log)])
    assert r.exit_code == 0, r.output
    assert "ServiceAccount clinical/app-sa: 3 of 7 granted permissions unused" in r.stdout
    assert "{apiGroups=apps resources=deployments verbs=delete} in namespace clinical" in r.stdout
    assert "1 malformed audit line(s) skipped" in r.stderr
    assert "audit.log:4" in r.stderr
    out = tmp_path / "unused.json"
    r = CliRunner().invoke(_app(), ["unused", str(rbac), str(log), "--format", "json", "-o", str(out)])
    assert r.exit_code == 0 and r.stdout == ""
    data = orjson.loads(out.read_bytes())
    assert data["subjects"][0]["used"] == 4 and len(data["subjects"][0]["unused"]) == 3


def test_suggest_yaml_applies_back_to_the_rbac_engine(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, log = files
    out = tmp_path / "suggested.yaml"
    r = CliRunner().invoke(_app(), ["suggest", "--user", SA, str(log), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "# Denied requests (listed, NOT granted):" in text
    assert "#   get secrets 'db-password' in clinical (x1" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    idx = RbacIndex.from_objects(docs, builtin_cluster_admin=False)
    for o in collect_usage(app_log()).requests[SA].values():
        assert idx.authorize(user_info(SA), o.attrs).allowed is o.allowed
    r = CliRunner().invoke(_app(), ["suggest", "-u", SA, str(log), "-f", "json"])
    assert orjson.loads(r.stdout)["user"] == SA


def test_bad_window_is_a_user_error(files: tuple[Path, Path]) -> None:
    _, log = files
    r = CliRunner().invoke(_app(), ["suggest", "-u", SA, str(log), "--window", "soon"])
    assert isinstance(r.exception, KubehipaaError) and "--window" in str(r.exception)


def test_unused_csv_for_reviewers(files: tuple[Path, Path]) -> None:
    import csv
    import io

    rbac, log = files
    r = CliRunner().invoke(_app(), ["unused", str(rbac), str(log), "--format", "csv"])
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {(row["verb"], row["resource"]) for row in rows} == {
        ("list", "configmaps"), ("watch", "configmaps"), ("delete", "deployments")}
    assert all(row["subject"] == "clinical/app-sa" and row["scope"] == "clinical" for row in rows)
    assert rows[0]["file"].endswith("app.yaml") and rows[0]["line"] == "13"


def test_unused_csv_neutralises_formulas(tmp_path: Path) -> None:
    import csv
    import io

    rbac = tmp_path / "rbac.yaml"
    rbac.write_text(RBAC.replace("name: app-sa}", "name: app-sa}\n- {kind: User, name: '=HYPERLINK(\"http://x\")'}"))
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(orjson.dumps(e.to_dict()) for e in app_log()) + b"\n")
    r = CliRunner().invoke(_app(), ["unused", str(rbac), str(log), "--format", "csv"])
    assert r.exit_code == 0, r.output
    subjects = {row["subject"] for row in csv.DictReader(io.StringIO(r.stdout))}
    assert "'=HYPERLINK(\"http://x\")" in subjects and not any(s.startswith("=") for s in subjects)


def test_suggest_comments_cannot_be_broken_by_logged_values(tmp_path: Path) -> None:
    from tests.rbac_usage.test_rbac_usage import ev

    log = tmp_path / "audit.log"
    evil = ev("get", None, uri="/healthz\nkind: ClusterRoleBinding", code=403, decision="forbid")
    ok = ev("get", "pods", ns="a", name="p")
    log.write_bytes(orjson.dumps(evil.to_dict()) + b"\n" + orjson.dumps(ok.to_dict()) + b"\n")
    r = CliRunner().invoke(_app(), ["suggest", "-u", SA, str(log)])
    assert r.exit_code == 0
    assert "\\x0akind: ClusterRoleBinding" in r.stdout
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert [d["kind"] for d in docs] == ["Role", "RoleBinding"]
