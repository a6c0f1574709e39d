"""The bundled examples are the product's demo and its widest regression test.

`examples/clinic-insecure` must trigger every registered check at least once (so each check is shown working
on a realistic cluster, not only on its unit case); `examples/clinic-hardened` must be clean at medium and
above (so the remediation advice is shown to be sufficient). The CLI exit codes are asserted on both.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.checks.registry import all_checks
from kubehipaa.cli.main import app
from kubehipaa.config import load_config
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity
from kubehipaa.pipelines.scan import ScanResult, run_scan
from kubehipaa.sources.files import load_paths
from tests.conftest import EXAMPLES

INSECURE = EXAMPLES / "clinic-insecure"
HARDENED = EXAMPLES / "clinic-hardened"
TODAY = dt.date(2026, 6, 1)  # fixed so the example exceptions' live/expired status never drifts


@cache
def scan_example(path: Path) -> ScanResult:
    loaded = load_paths([str(path)])
    assert not loaded.problems, f"{path.name}: skipped documents {loaded.problems}"
    cfg = load_config(None, [str(path)], trust=True)  # the example's own config, as with --trust-config
    result = run_scan(Inventory(loaded.objects, cfg), cfg, today=TODAY)
    assert not result.errors, f"{path.name}: checks failed to run: {result.errors}"
    return result


def test_insecure_triggers_every_registered_check() -> None:
    fired = {f.check_id for f in scan_example(INSECURE).findings}
    missing = [c.meta.id for c in all_checks() if c.meta.id not in fired]
    assert not missing, f"examples/clinic-insecure does not trigger: {', '.join(missing)}"


def test_hardened_has_no_finding_at_or_above_medium() -> None:
    offenders = [
        f"{f.check_id} {f.severity.label} {f.resource.display} ({f.resource.file}:{f.resource.line}): {f.message}"
        for f in scan_example(HARDENED).at_or_above(Severity.MEDIUM)
    ]
    assert not offenders, "examples/clinic-hardened has findings >= medium:\n" + "\n".join(offenders)


def test_hardened_workloads_have_no_workload_image_or_secret_finding_at_all() -> None:
    # the hardened workloads are the remediation advice made concrete: not even a low finding remains
    mine = [f"{f.check_id} {f.resource.display}: {f.message}" for f in scan_example(HARDENED).findings
            if f.check_id.startswith(("KH-WL-", "KH-IMG-", "KH-SEC-"))]
    assert not mine, "\n".join(mine)


def test_both_examples_mark_clinical_as_phi() -> None:
    for path in (INSECURE, HARDENED):
        loaded = load_paths([str(path)])
        inv = Inventory(loaded.objects, load_config(None, [str(path)], trust=True))
        assert "clinical" in inv.phi_namespaces
        assert inv.namespace_labels("clinical").get("kubehipaa.io/phi") == "true"


def test_hardened_clinical_namespace_enforces_restricted_pinned() -> None:
    loaded = load_paths([str(HARDENED / "namespaces.yaml")])
    labels = Inventory(loaded.objects).namespace_labels("clinical")
    for mode in ("enforce", "audit", "warn"):
        assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted"
        assert labels.get(f"pod-security.kubernetes.io/{mode}-version", "latest").startswith("v1.")


def test_insecure_exceptions_live_and_expired() -> None:
    result = scan_example(INSECURE)
    suppressed = [f for f in result.findings if f.suppressed]
    assert any(f.check_id == "KH-WL-003" and f.resource.name == "log-shipper" for f in suppressed)
    assert all(f.suppression and f.suppression["owner"] and f.suppression["justification"] for f in suppressed)
    # the expired exception no longer suppresses, and it is reported
    assert [r.check for r in result.expired_exceptions] == ["KH-IMG-001"]
    latest = [f for f in result.findings if f.check_id == "KH-IMG-001" and f.resource.name == "ehr-frontend"]
    assert latest and not any(f.suppressed for f in latest)


def test_insecure_evidence_points_at_exact_fields() -> None:
    result = scan_example(INSECURE)
    paths = {(f.check_id, f.resource.name, e.path) for f in result.findings for e in f.evidence}
    assert ("KH-WL-001", "ehr-db", "spec.template.spec.containers[0].securityContext.privileged") in paths
    assert ("KH-WL-002", "debug-shell", "spec.hostPID") in paths
    assert ("KH-SEC-006", "claims-export", "spec.jobTemplate.spec.template.spec.containers[0].env[0].value") in paths
    db = [f for f in result.findings if f.check_id == "KH-WL-001"]
    assert db[0].resource.file.endswith("workloads.yaml") and db[0].resource.line > 1


# Synthetic "sensitive" values written in the insecure example: they must never appear in any report.
RAW_VALUES = (
    "Clinic!2024-prod",
    "ak_live_9f3b2c7d41e8",
    "rpt_4b1d7e55aa09",
    "Xch4nge-2024",
    "219-09-9999",
    "00482913",
    "1234567893",
    "1961-04-12",
    "Pg-ehr!2024-commit",
)


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "table"])
def test_reports_never_echo_sensitive_values(fmt: str) -> None:
    result = CliRunner().invoke(app, ["scan", str(INSECURE), "--format", fmt, "--max-rows", "0"])
    assert result.exit_code == 1, result.output
    for raw in RAW_VALUES:
        assert raw not in result.output, f"{fmt} report leaks a sensitive value"


def test_json_report_marks_redacted_evidence(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["scan", str(INSECURE), "--format", "json", "-o", str(out)])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    findings = data["findings"] if isinstance(data, dict) else data
    sec = [f for f in findings if f["checkId"] in ("KH-SEC-001", "KH-SEC-002", "KH-SEC-003", "KH-SEC-006")]
    assert sec and all(e["redacted"] for f in sec for e in f["evidence"])


def test_cli_exit_codes() -> None:
    runner = CliRunner()
    insecure = runner.invoke(app, ["scan", str(INSECURE)])
    assert insecure.exit_code == 1, insecure.output
    hardened = runner.invoke(app, ["scan", str(HARDENED)])
    assert hardened.exit_code == 0, hardened.output
    # --fail-on critical still fails on the insecure clinic (privileged DB in a PHI namespace is critical)
    assert runner.invoke(app, ["scan", str(INSECURE), "--fail-on", "critical"]).exit_code == 1
    # the same verdicts with the examples' own .kubehipaa.yaml applied
    assert runner.invoke(app, ["scan", str(INSECURE), "--trust-config"]).exit_code == 1
    assert runner.invoke(app, ["scan", str(HARDENED), "--trust-config"]).exit_code == 0


def test_readme_first_command_names_the_example_config_it_does_not_use() -> None:
    """`kubehipaa scan examples/clinic-insecure` from the repository root: the example's .kubehipaa.yaml is
    input, not the user's config, so its exceptions do not apply (README) until --trust-config is given."""
    runner = CliRunner()
    plain = runner.invoke(app, ["scan", str(INSECURE), "--format", "json"])
    assert plain.exit_code == 1, plain.output
    assert f"ignored .kubehipaa.yaml in {INSECURE} (pass --trust-config to use it)" in plain.stderr
    assert json.loads(plain.stdout)["summary"]["suppressed"] == 0
    trusted = runner.invoke(app, ["scan", str(INSECURE), "--format", "json", "--trust-config"])
    assert "ignored" not in trusted.stderr
    assert json.loads(trusted.stdout)["summary"]["suppressed"] >= 1  # the log-shipper hostPath exception
