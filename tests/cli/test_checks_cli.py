from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.checks.registry import all_checks
from kubehipaa.cli.main import app
from kubehipaa.frameworks import load_hipaa


def test_list_json_is_the_whole_catalog() -> None:
    res = CliRunner().invoke(app, ["checks", "list", "--format", "json"])
    assert res.exit_code == 0, res.output
    catalog = json.loads(res.stdout)
    assert [c["id"] for c in catalog] == [c.meta.id for c in all_checks()]
    for item in catalog:
        assert item["hipaa"] and item["remediation"] and item["severity"] in {"low", "medium", "high", "critical"}
        assert item["relation"] in {"satisfies", "supports"}


def test_list_filters_by_hipaa_standard() -> None:
    res = CliRunner().invoke(app, ["checks", "list", "--format", "json", "--hipaa", "164.312(e)(1)"])
    cat = load_hipaa()
    ids = {c["id"] for c in json.loads(res.stdout)}
    expected = {c.meta.id for c in all_checks()
                if any((p := cat.get(pid)) and "164.312(e)(1)" in (p.id, p.standard) for pid in c.meta.hipaa)}
    assert ids == expected


def test_list_table_and_show() -> None:
    checks = all_checks()
    res = CliRunner().invoke(app, ["checks", "list"])
    assert res.exit_code == 0
    if not checks:
        return
    first = checks[0].meta
    assert first.id in res.stdout
    res = CliRunner().invoke(app, ["checks", "show", first.id])
    assert res.exit_code == 0
    assert first.hipaa[0] in res.stdout and "remediation:" in res.stdout


def test_show_unknown_check_exits_2() -> None:
    res = CliRunner().invoke(app, ["checks", "show", "KH-NOPE-999"])
    assert res.exit_code == 2
    assert "no check 'KH-NOPE-999'" in res.stderr


def test_every_check_location_points_at_its_check_decorator() -> None:
    """`Check.location()` is `kubehipaa/<module path>.py:<line>` and that line opens the `@check(` whose id is
    the check's: a reader following it lands on the check, not on a helper or a wrapper."""
    import kubehipaa

    package_parent = Path(kubehipaa.__file__).resolve().parents[1]
    for c in all_checks():
        rel, _, line = c.location().rpartition(":")
        assert rel.startswith("kubehipaa/checks/") and rel.endswith(".py"), c.location()
        lines = (package_parent / rel).read_text(encoding="utf-8").splitlines()
        n = int(line)
        assert lines[n - 1].startswith("@check("), (c.meta.id, c.location(), lines[n - 1])
        assert f'id="{c.meta.id}"' in "\n".join(lines[n - 1:n + 3]), (c.meta.id, c.location())


def test_show_prints_where_the_code_and_the_cases_are() -> None:
    check = next(c for c in all_checks() if c.meta.id == "KH-RBAC-001")
    res = CliRunner().invoke(app, ["checks", "show", "kh-rbac-001"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert f"code: {check.location()}" in lines
    assert "cases: tests/cases/KH-RBAC-001/ (expected.yaml, fire.yaml, pass.yaml)" in lines


def test_show_outside_a_source_checkout_says_the_cases_are_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package (site-packages/kubehipaa) has no tests/: no path that does not exist is printed."""
    import kubehipaa

    installed = tmp_path / "site-packages" / "kubehipaa"
    installed.mkdir(parents=True)
    monkeypatch.setattr(kubehipaa, "__file__", str(installed / "__init__.py"))
    res = CliRunner().invoke(app, ["checks", "show", "KH-RBAC-001"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "cases: not in this installation" in res.stdout and "tests/cases/KH-RBAC-001" not in res.stdout
    assert "code: kubehipaa/checks/rbac.py:" in res.stdout


@pytest.mark.parametrize("width", [80, 120])
def test_show_and_list_fit_the_terminal_without_splitting_names(width: int) -> None:
    """Every line within the width; the code location, the case folder and every check id on one line."""
    for check in all_checks():
        res = CliRunner().invoke(app, ["checks", "show", check.meta.id], env={"COLUMNS": str(width)})
        assert res.exit_code == 0, res.output
        assert max(len(line) for line in res.stdout.splitlines()) <= width, (check.meta.id, res.stdout)
        assert f"code: {check.location()}" in res.stdout.splitlines()
        assert f"cases: tests/cases/{check.meta.id}/ (" in res.stdout
    res = CliRunner().invoke(app, ["checks", "list"], env={"COLUMNS": str(width)})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= width
    words = set(res.stdout.replace("│", " ").split())
    assert all(c.meta.id in words for c in all_checks())


def test_show_an_audit_rule_id_points_at_the_audit_rules() -> None:
    res = CliRunner().invoke(app, ["checks", "show", "KH-AUDLOG-001"])
    assert res.exit_code == 2
    assert "audit-log rule" in res.stderr and "kubehipaa audit rules list" in res.stderr
