"""The table's one-screen coverage summary per safeguard, and remediation per finding with --details
(issue 15 req 9)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import Config
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import scan
from kubehipaa.sources.files import load_paths
from tests.conftest import EXAMPLES

RBAC = str(EXAMPLES / "clinic-insecure" / "rbac.yaml")


def _table(*args: str) -> str:
    res = CliRunner().invoke(app, ["scan", *args], env={"COLUMNS": "100"})
    assert res.exit_code in (0, 1), res.output
    return res.stdout


def test_summary_comes_first_and_matches_the_coverage_model() -> None:
    out = _table(RBAC)
    lines = out.splitlines()
    assert lines[0].startswith("HIPAA coverage")
    summary = out.split("\n\n", 1)[0]
    assert len(summary.splitlines()) <= 12  # one screen
    cov = scan_coverage(scan(load_paths([RBAC]), Config()).result)
    for guard, label in (("administrative", "Administrative (164.308)"), ("technical", "Technical (164.312)")):
        s = cov.score(guard)
        row = next(line for line in summary.splitlines() if label in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[1:] == [f"{s.percent}%" if s.percent is not None else "n/a", str(s.failed), str(s.passed),
                             str(s.not_assessed), str(s.attestation)]
    overall = next(line for line in summary.splitlines() if "Overall" in line)
    assert re.search(rf"\b{cov.score().percent}%", overall)


def test_details_adds_remediation_per_finding() -> None:
    plain, detailed = _table(RBAC), _table(RBAC, "--details")
    assert "Fix:" not in plain
    fixes = detailed.count("Fix:")
    findings = len(re.findall(r"\b(?:CRITICAL|HIGH|MEDIUM|LOW)\b", detailed))
    assert fixes and fixes == findings
