"""`kubehipaa scan` exit codes and outputs through typer's CliRunner.

The registered catalog is swapped for the report fixtures' stand-in checks, so these tests pin the CLI's
contract (0 clean / 1 findings at or above --fail-on / 2 usage or input error) independently of which
checks the areas register.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.checks.registry import Check, CheckMeta, Hit
from kubehipaa.cli.main import app
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity
from tests.reports.fixtures import MANIFESTS, TEST_CHECKS

CLEAN = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: clinical\ndata: {a: b}\n"


@pytest.fixture(autouse=True)
def _stand_in_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    # `select_checks` (used by the CLI) and `run_scan` both read the registry through the pipeline module.
    monkeypatch.setattr("kubehipaa.pipelines.scan.all_checks", lambda: list(TEST_CHECKS))


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "workloads.yaml").write_text(MANIFESTS)
    return tmp_path / "app"


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, ["scan", *args], input=input)


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("low", 1), ("medium", 1), ("high", 1), ("critical", 1), ("never", 0)],
)
def test_fail_on_thresholds(app_dir: Path, fail_on: str, code: int) -> None:
    res = _run(str(app_dir), "--fail-on", fail_on, "-f", "json")
    assert res.exit_code == code, res.output


def test_default_threshold_is_high(app_dir: Path) -> None:
    # only the medium-severity latest-tag check: below the default threshold
    assert _run(str(app_dir), "--check", "KH-TST-002").exit_code == 0
    assert _run(str(app_dir), "--check", "KH-TST-002", "--fail-on", "medium").exit_code == 1
    assert _run(str(app_dir), "--check", "KH-TST-00*").exit_code == 1


def test_clean_input_exits_0(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(CLEAN)
    res = _run(str(tmp_path / "cm.yaml"), "--fail-on", "low")
    assert res.exit_code == 0, res.output
    assert "0 findings (0 critical, 0 high, 0 medium, 0 low) in 1 object, 0 suppressed" in res.stdout


def test_suppressed_findings_do_not_fail(app_dir: Path) -> None:
    expires = dt.date.today() + dt.timedelta(days=30)  # within the default 365-day exception policy
    (app_dir / ".kubehipaa.yaml").write_text(
        "exceptions:\n  - check: KH-TST-00*\n    scope: all-resources\n    justification: accepted risk, see RISK-7\n"
        f"    owner: ciso\n    expires: {expires}\n"
    )
    res = _run(str(app_dir), "--fail-on", "low", "-f", "json", "--trust-config")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["summary"]["findings"] == 0 and doc["summary"]["suppressed"] == 5
    assert all(f["suppressed"] for f in doc["findings"])


def test_expired_exception_warns_and_fails(app_dir: Path) -> None:
    (app_dir / ".kubehipaa.yaml").write_text(
        "exceptions:\n  - check: KH-TST-00*\n    scope: all-resources\n    justification: old\n    owner: ciso\n    expires: 2020-01-01\n"
    )
    res = _run(str(app_dir), "--trust-config")
    assert res.exit_code == 1
    assert "exception for KH-TST-00* (owner ciso) expired on 2020-01-01" in res.stderr


def test_stdin(app_dir: Path) -> None:
    res = _run("-", "-f", "json", input=MANIFESTS)
    assert res.exit_code == 1, res.output
    doc = json.loads(res.stdout)
    assert {f["resource"]["file"] for f in doc["findings"]} == {"<stdin>"}
    assert doc["summary"]["objects"] == 4


@pytest.mark.parametrize(("fmt", "marker"), [("json", '"schemaVersion"'), ("sarif", '"2.1.0"'),
                                              ("junit", "<testsuites"), ("table", "164.312(a)(1) Access control")])
def test_output_file_for_every_format(app_dir: Path, tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / "out" / f"report.{fmt}"
    res = _run(str(app_dir), "-f", fmt, "-o", str(out))
    assert res.exit_code == 1
    assert marker in out.read_text()
    assert res.stdout == ""


def test_table_on_stdout_is_grouped_with_summary(app_dir: Path) -> None:
    res = _run(str(app_dir))
    assert "164.312(a)(1) Access control" in res.stdout
    assert res.stdout.rstrip().splitlines()[-1].startswith("5 findings (1 critical, 1 high, 3 medium, 0 low)")


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["does-not-exist.yaml"], "error: does-not-exist.yaml: no such file or directory"),
        ([], "give at least one path"),
        (["{app}", "-f", "xml"], "Invalid value for '--format'"),
        (["{app}", "--fail-on", "severe"], "Invalid value for '--fail-on'"),
        (["{app}", "--config", "{app}/missing.yaml"], "cannot read config"),
        (["{app}", "--check", "KH-NOPE-*"], "matches no registered check"),
    ],
)
def test_usage_and_input_errors_exit_2(app_dir: Path, args: list[str], stderr: str) -> None:
    res = _run(*[a.format(app=app_dir) for a in args])
    assert res.exit_code == 2, res.output
    assert stderr in res.stderr
    assert "Traceback" not in res.output


def test_bad_config_exits_2(app_dir: Path) -> None:
    (app_dir / ".kubehipaa.yaml").write_text("phi:\n  namespace: [x]\n")
    res = _run(str(app_dir), "--trust-config")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {app_dir}/.kubehipaa.yaml:2: phi.namespace: unknown key " \
        "(not a kubehipaa setting; check the spelling)"


def test_skipped_documents_warn_and_strict_exits_2(app_dir: Path) -> None:
    (app_dir / "notk8s.yaml").write_text("name: just-some-settings\nreplicas: 3\n")
    res = _run(str(app_dir), "--fail-on", "never")
    assert res.exit_code == 0
    assert f"warning: {app_dir}/notk8s.yaml:1: document has no 'kind'" in res.stderr
    res = _run(str(app_dir), "--strict")
    assert res.exit_code == 2
    assert f"error: {app_dir}/notk8s.yaml:1: document has no 'kind'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_malformed_yaml_is_reported_and_exits_2_even_without_strict(app_dir: Path) -> None:
    (app_dir / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n")
    res = _run(str(app_dir), "--fail-on", "never")
    assert res.exit_code == 2
    assert f"warning: {app_dir}/broken.yaml:4: malformed YAML" in res.stderr
    assert "error: 1 input problem(s) (first:" in res.stderr
    assert "Traceback" not in res.output
    res = _run(str(app_dir), "--strict")
    assert res.exit_code == 2
    assert f"error: {app_dir}/broken.yaml:4: malformed YAML" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_failing_check_is_reported_and_exits_2(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(inv: Inventory) -> Iterator[Hit]:
        raise KeyError("spec")

    broken = Check(CheckMeta(id="KH-TST-099", title="broken", area="x", severity=Severity.LOW,
                             hipaa=("164.312(b)",), remediation="r"), boom)
    monkeypatch.setattr("kubehipaa.pipelines.scan.all_checks", lambda: [*TEST_CHECKS, broken])
    res = _run(str(app_dir), "-f", "json")
    assert res.exit_code == 2
    assert "check KH-TST-099 could not run on this input: KeyError" in res.stderr
    doc = json.loads(res.stdout)
    assert doc["errors"] == [{"checkId": "KH-TST-099", "message": "KeyError: 'spec'"}]
    assert doc["summary"]["findings"] == 5  # the other checks' findings are still reported


def test_help_has_examples() -> None:
    res = CliRunner().invoke(app, ["scan", "--help"])
    assert res.exit_code == 0
    assert "kubehipaa scan examples/clinic-insecure" in res.stdout
    assert "--fail-on" in res.stdout
