"""A `.kubehipaa.yaml` that comes with the scanned input is not trusted silently (issue 12, req 7).

A config can suppress every finding, so one inside a scanned directory (a pull request in CI) would let the
input judge itself. The config comes from `--config FILE` or the current directory; one in (or beside) a
scanned path elsewhere is used only with `--trust-config`, otherwise it is named on stderr and in the
JSON/SARIF warnings. Every command that reads a config follows the rule.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app, main
from kubehipaa.config import load_config, read_config
from kubehipaa.config_location import locate_config
from kubehipaa.errors import ConfigError
from tests.auditlog.helpers import at, raw_event

PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: clinical}
spec:
  containers:
    - name: db
      image: postgres:16
      securityContext: {privileged: true}
"""
RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:authenticated}
"""
POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
"""


def _suppress_all() -> str:
    expires = dt.date.today() + dt.timedelta(days=30)
    return ("exceptions:\n  - check: '*'\n    scope: all-resources\n    justification: trust me\n"
            f"    owner: attacker\n    expires: {expires}\n")


def _ignored(folder: Path | str, name: str = ".kubehipaa.yaml") -> str:
    return f"ignored {name} in {folder} (pass --trust-config to use it)"


@pytest.fixture
def pr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checked-out pull request carrying a config that suppresses everything; the job runs elsewhere."""
    tree = tmp_path / "pr"
    tree.mkdir()
    (tree / "pod.yaml").write_text(PRIVILEGED)
    (tree / ".kubehipaa.yaml").write_text(_suppress_all())
    ci = tmp_path / "ci"
    ci.mkdir()
    monkeypatch.chdir(ci)
    return tree


def _scan(*args: str) -> object:
    return CliRunner().invoke(app, ["scan", *args])


# --- scan ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["dir", "file", "dir/"])
def test_config_in_the_scanned_tree_is_ignored_and_named(pr: Path, target: str) -> None:
    arg = {"dir": str(pr), "file": str(pr / "pod.yaml"), "dir/": f"{pr}/"}[target]
    res = _scan(arg, "-f", "json")
    assert res.exit_code == 1, res.output  # the privileged pod is not suppressed
    doc = json.loads(res.stdout)
    assert doc["summary"]["suppressed"] == 0 and doc["summary"]["findings"] > 0
    assert f"warning: {_ignored(pr)}" in res.stderr.splitlines()
    assert {"code": "ignored-config", "message": _ignored(pr)} in doc["warnings"]
    assert doc["config"]["source"] is None


def test_ignored_config_is_in_sarif(pr: Path) -> None:
    res = _scan(str(pr), "-f", "sarif")
    assert res.exit_code == 1, res.output
    notes = json.loads(res.stdout)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any(n["descriptor"]["id"] == "ignored-config" and n["message"]["text"] == _ignored(pr) for n in notes)


def test_ignored_config_is_counted_in_the_table(pr: Path) -> None:
    res = _scan(str(pr))
    assert res.exit_code == 1, res.output
    assert "ignored-config" in res.stdout


def test_trust_config_uses_it(pr: Path) -> None:
    res = _scan(str(pr), "--trust-config", "-f", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"]["findings"] == 0 and doc["summary"]["suppressed"] > 0
    assert doc["config"]["source"] == str(pr / ".kubehipaa.yaml")
    assert "ignored" not in res.stderr


def test_config_in_the_current_directory_is_used(pr: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pr)
    for arg in (".", "pod.yaml", str(pr)):  # the scanned directory IS the current one: it is the user's config
        res = _scan(arg, "-f", "json")
        assert res.exit_code == 0, (arg, res.output)
        assert "ignored" not in res.stderr


def test_current_directory_config_applies_to_input_elsewhere(pr: Path, tmp_path: Path) -> None:
    (tmp_path / "ci" / ".kubehipaa.yaml").write_text(_suppress_all())
    (pr / ".kubehipaa.yaml").unlink()
    res = _scan(str(pr), "-f", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["config"]["source"] == ".kubehipaa.yaml"


def test_current_directory_config_wins_over_the_scanned_one(pr: Path, tmp_path: Path) -> None:
    (tmp_path / "ci" / ".kubehipaa.yaml").write_text("phi: {namespaces: [clinical]}\n")
    res = _scan(str(pr), "-f", "json")
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["config"]["source"] == ".kubehipaa.yaml"
    assert _ignored(pr) in res.stderr
    # --trust-config: the scanned one is used, and the current directory's is named as not used
    res = _scan(str(pr), "--trust-config", "-f", "json")
    assert res.exit_code == 0, res.output
    assert "ignored .kubehipaa.yaml in the current directory (--trust-config uses " in res.stderr


def test_explicit_config_is_used_and_the_scanned_one_named(pr: Path, tmp_path: Path) -> None:
    given = tmp_path / "ci" / "policy.yaml"
    given.write_text("phi: {namespaces: [clinical]}\n")
    res = _scan(str(pr), "--config", str(given), "-f", "json")
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["config"]["source"] == str(given)
    assert f"ignored .kubehipaa.yaml in {pr} (--config {given} is used instead)" in res.stderr


def test_yml_spelling_and_several_scanned_configs(pr: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "pod.yaml").write_text(PRIVILEGED.replace("name: db", "name: db2"))
    (other / ".kubehipaa.yml").write_text("phi: {namespaces: [x]}\n")
    res = _scan(str(pr), str(other))
    assert res.exit_code == 1
    assert _ignored(pr) in res.stderr and _ignored(other, ".kubehipaa.yml") in res.stderr
    res = _scan(str(pr), str(other), "--trust-config", "-f", "json")
    assert res.exit_code == 0, res.output  # the first one found is used (as before), the other is named
    assert f"ignored .kubehipaa.yml in {other} (only one config is used: {pr / '.kubehipaa.yaml'})" in res.stderr


def test_broken_config_in_the_tree_is_not_read_unless_trusted(pr: Path) -> None:
    (pr / ".kubehipaa.yaml").write_text("exeptions: []\n")
    assert _scan(str(pr)).exit_code == 1
    res = _scan(str(pr), "--trust-config")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {pr}/.kubehipaa.yaml:1: exeptions: unknown key (not a kubehipaa " \
        "setting; check the spelling)"


# --- every command that reads a config ------------------------------------------------------------------


class Run(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def _main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """`kubehipaa ARGS` through main(), as the console script runs it (errors mapped to exit codes)."""
    monkeypatch.setattr(sys, "argv", ["kubehipaa", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return Run(int(exited.value.code or 0), out, err)


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Input for each command, beside a config that is broken (so whether it was read shows in the exit code)."""
    tree = tmp_path / "in"
    tree.mkdir()
    (tree / "rbac.yaml").write_text(RBAC + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: clinical\n"
                                    "  labels: {kubehipaa.io/phi: 'true'}\n")
    (tree / "pod.yaml").write_text(PRIVILEGED)
    (tree / "policy.yaml").write_text(POLICY)
    events = [raw_event("get", "secrets", name="db", user="jane@hospital.org", time=at(1), audit_id="e1")]
    (tree / "audit.log").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (tree / ".kubehipaa.yaml").write_text("exeptions: []\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tree


COMMANDS = [
    ["scan", "{in}"],
    ["rbac", "review", "{in}/rbac.yaml"],
    ["rbac", "escalation", "{in}/rbac.yaml"],
    ["rbac", "risks", "{in}/rbac.yaml"],
    ["netpol", "exposure", "{in}/pod.yaml", "{in}/rbac.yaml"],
    ["audit-policy", "check", "{in}/policy.yaml"],
    ["audit", "analyze", "{in}/audit.log"],
    ["audit", "timeline", "{in}/audit.log"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_ignores_and_names_it_unless_trusted(inputs: Path, argv: list[str],
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    args = [a.format(**{"in": inputs}) for a in argv]
    res = _main(args, capsys, monkeypatch)
    assert res.exit_code in (0, 1), res.stderr  # the broken config was not read
    assert f"warning: {_ignored(inputs)}" in res.stderr.splitlines()
    trusted = _main([*args, "--trust-config"], capsys, monkeypatch)
    assert trusted.exit_code == 2, trusted.stderr  # now it is read, and its typo is an error
    assert f"error: {inputs}/.kubehipaa.yaml:1: exeptions: unknown key" in trusted.stderr
    assert "ignored" not in trusted.stderr


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_reads_the_current_directory_config(inputs: Path, argv: list[str],
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".kubehipaa.yaml").write_text("breakGlas: {}\n")
    (inputs / ".kubehipaa.yaml").unlink()
    res = _main([a.format(**{"in": inputs}) for a in argv], capsys, monkeypatch)
    assert res.exit_code == 2, res.stderr
    assert "error: .kubehipaa.yaml:1: breakGlas: unknown key" in res.stderr


def test_audit_analyze_reports_the_ignored_config_in_json_and_sarif(inputs: Path) -> None:
    (inputs / ".kubehipaa.yaml").write_text("breakGlass:\n  users: [jane@hospital.org]\n")
    log = str(inputs / "audit.log")
    res = CliRunner().invoke(app, ["audit", "analyze", log, "-f", "json"])
    assert res.exit_code == 0, res.output  # jane is no break-glass identity: the config was not used
    assert json.loads(res.stdout)["warnings"] == [{"code": "ignored-config", "message": _ignored(inputs)}]
    sarif = json.loads(CliRunner().invoke(app, ["audit", "analyze", log, "-f", "sarif"]).stdout)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [_ignored(inputs)]
    trusted = CliRunner().invoke(app, ["audit", "analyze", log, "-f", "json", "--trust-config"])
    assert trusted.exit_code == 1  # KH-AUDLOG-018 break-glass use, high
    assert json.loads(trusted.stdout)["warnings"] == []


# --- the rule itself ------------------------------------------------------------------------------------


def test_locate_config_rules(tmp_path: Path) -> None:
    cwd, tree = tmp_path / "cwd", tmp_path / "tree"
    cwd.mkdir()
    tree.mkdir()
    (tree / ".kubehipaa.yaml").write_text("{}\n")
    found = locate_config(None, [str(tree)], cwd=cwd)
    assert found.path is None and found.messages == [_ignored(tree)]
    assert locate_config(None, [str(tree)], trust=True, cwd=cwd).path == tree / ".kubehipaa.yaml"
    assert locate_config(None, ["-"], cwd=cwd).path is None
    # the current directory's config, reached through a symlinked directory, is still the current one's
    (cwd / ".kubehipaa.yaml").write_text("{}\n")
    link = tmp_path / "link"
    link.symlink_to(cwd)
    same = locate_config(None, [str(link)], cwd=cwd)
    assert same.path == cwd / ".kubehipaa.yaml" and same.messages == []
    # a config elsewhere that is a symlink to the current directory's is the current one's too
    (tree / ".kubehipaa.yaml").unlink()
    (tree / ".kubehipaa.yaml").symlink_to(cwd / ".kubehipaa.yaml")
    assert locate_config(None, [str(tree)], cwd=cwd).messages == []


def test_library_load_config_does_not_trust_scan_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / ".kubehipaa.yaml").write_text("phi: {namespaces: [x]}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(None, [str(tmp_path / "tree")]).phi.namespaces == []
    assert load_config(None, [str(tmp_path / "tree")], trust=True).phi.namespaces == ["x"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_config_that_is_not_a_regular_file_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_config(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(ConfigError, match="not a regular file"):
            read_config(Path("/dev/zero"))
    # a FIFO named like a config beside the input is not taken for one
    os.mkfifo(tmp_path / ".kubehipaa.yaml")
    assert locate_config(None, [str(tmp_path)], trust=True, cwd=tmp_path / "nowhere").path is None


def test_huge_config_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.write(b"# " + b"x" * (5 * 1024 * 1024) + b"\n")
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        read_config(big)
