"""One malformed Role or binding never hides the others (issue 11, req. 5).

The loader leaves the object out and records it (file:line, object, field); every rbac command answers for
the rest and exits 2; the scan's RBAC checks judge the rest and the object is in `skipped[]` (exit 2).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.rbac import RbacIndex, request_attributes
from kubehipaa.engines.rbac.loader import load_objects

runner = CliRunner()
API = "rbac.authorization.k8s.io/v1"
ROLE = {"apiVersion": API, "kind": "Role", "metadata": {"name": "reader", "namespace": "clinical"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
BINDING = {"apiVersion": API, "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": "clinical"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
           "subjects": [{"kind": "Group", "name": "support", "apiGroup": "rbac.authorization.k8s.io"}]}


def _with(doc: dict[str, Any], path: str, value: Any, name: str = "bad") -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["metadata"]["name"] = name
    node: Any = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


MALFORMED = [
    (_with(ROLE, "rules", "nope"), "rules must be a list"),
    (_with(ROLE, "rules", [5]), "rules[0] must be a map"),
    (_with(ROLE, "rules.0.verbs", "get"), "rules[0].verbs must be a list of strings"),
    (_with(ROLE, "rules.0.resources", [1]), "rules[0].resources must be a list of strings"),
    (_with(ROLE, "rules.0.apiGroups", [{"a": 1}]), "rules[0].apiGroups must be a list of strings"),
    (_with(ROLE, "metadata.labels", [1]), "metadata.labels must be a map of strings"),
    (_with(ROLE, "metadata.name", 5), "metadata.name must be a string"),
    (_with(BINDING, "roleRef", ...), "roleRef with kind and name is required"),
    (_with(BINDING, "roleRef", "reader"), "roleRef with kind and name is required"),
    (_with(BINDING, "roleRef.name", ["reader"]), "roleRef.name must be a string"),
    (_with(BINDING, "subjects", {"kind": "Group"}), "subjects must be a list"),
    (_with(BINDING, "subjects.0", "support"), "subjects[0] needs kind and name"),
    (_with(BINDING, "subjects.0.kind", 5), "subjects[0].kind must be a string"),
    (_with(BINDING, "subjects.0.name", ["a"]), "subjects[0].name must be a string"),
    (_with(BINDING, "subjects.0.namespace", 1), "subjects[0].namespace must be a string"),
    (_with(BINDING, "metadata.annotations", "x"), "metadata.annotations must be a map of strings"),
]


@pytest.mark.parametrize(("bad", "needle"), MALFORMED)
def test_a_malformed_object_is_skipped_and_named_and_the_rest_loaded(bad: dict[str, Any], needle: str) -> None:
    loaded = load_objects([ROLE, BINDING, bad])
    [skipped] = loaded.skipped
    assert needle in skipped.message and f"{bad['kind']} " in skipped.message
    assert "access is computed without it" in skipped.message and "\n" not in skipped.message
    assert [r.name for r in loaded.roles] == ["reader"] and [b.name for b in loaded.bindings] == ["reader"]
    idx = RbacIndex(loaded)
    who = {e.subject.name for e in idx.who_can(request_attributes("get", "secrets", "clinical"))}
    assert "support" in who


def test_a_binding_to_a_skipped_role_says_the_role_was_malformed() -> None:
    bad_role = _with(ROLE, "rules", "nope", name="reader")
    idx = RbacIndex.from_objects([bad_role, BINDING])
    [binding] = idx.bindings
    assert "is malformed" in idx.missing_role_error(binding) and "not found" not in idx.missing_role_error(binding)


def _write(folder: Path) -> Path:
    import yaml

    folder.mkdir(exist_ok=True)
    (folder / "good.yaml").write_text(yaml.safe_dump_all([ROLE, BINDING]))
    crb = {"apiVersion": API, "kind": "ClusterRoleBinding", "metadata": {"name": "anon-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "User", "name": "system:anonymous", "apiGroup": "rbac.authorization.k8s.io"}]}
    (folder / "admin.yaml").write_text(yaml.safe_dump(crb))
    (folder / "zz-bad.yaml").write_text(yaml.safe_dump_all([_with(ROLE, "rules", "nope", name="broken")]))
    return folder


@pytest.mark.parametrize(("argv", "answer"), [
    (["who-can", "get", "secrets", "-n", "clinical"], "support"),
    (["can-i", "get", "secrets", "-n", "clinical", "--as", "x", "--as-group", "support"], "yes"),
    (["escalation"], "identities"),
    (["risks"], "RR-"),
    (["review", "-n", "clinical"], "support"),
])
def test_every_rbac_command_answers_for_the_rest_and_exits_2(tmp_path: Path, argv: list[str], answer: str) -> None:
    folder = _write(tmp_path / "in")
    res = runner.invoke(app, ["rbac", *argv, str(folder)])
    assert res.exit_code == 2, res.output
    assert answer in res.stdout
    [warning] = [line for line in res.stderr.splitlines() if "broken" in line and line.startswith("warning:")]
    assert warning.startswith(f"warning: {folder / 'zz-bad.yaml'}:1: Role clinical/broken: rules must be a list")
    assert res.stderr.splitlines()[-1].startswith("error: 1 input problem(s)")


def test_scan_judges_the_other_rbac_objects_and_reports_the_malformed_one(tmp_path: Path) -> None:
    folder = _write(tmp_path / "in")
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["scan", str(folder), "-f", "json", "-o", str(out)])
    assert res.exit_code == 2, res.output
    report = json.loads(out.read_text())
    assert report["errors"] == []  # no RBAC check was disabled by the malformed Role
    ids = {f["checkId"] for f in report["findings"]}
    assert {"KH-RBAC-002", "KH-RBAC-003"} <= ids
    [skipped] = [s for s in report["skipped"] if "broken" in s["message"]]
    assert (skipped["file"], skipped["line"]) == (str(folder / "zz-bad.yaml"), 1)
    assert "rules must be a list" in skipped["message"]
