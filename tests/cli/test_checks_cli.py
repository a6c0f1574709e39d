from __future__ import annotations

import json

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
