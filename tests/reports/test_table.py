from __future__ import annotations

from pathlib import Path

from kubehipaa.reports.table import render_table
from tests.reports.fixtures import make_result


def test_grouped_by_safeguard_in_regulation_order(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    text = render_table(result, config)
    headings = [line.split("  (")[0].strip() for line in text.splitlines() if line.startswith("164.")]
    assert headings == [
        "164.312(a)(1) Access control",
        "164.312(c)(1) Integrity",
        "164.312(e)(1) Transmission security",
    ]
    assert "technical safeguard, 2 findings" in text


def test_rows_show_severity_resource_location_and_phi(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    text = render_table(result, config, width=400)
    row = next(line for line in text.splitlines() if "KH-TST-001" in line)
    assert "CRITICAL" in row and "Deployment/clinical/ehr-api PHI" in row
    assert "workloads.yaml:8" in text


def test_summary_suppressed_and_expired(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    text = render_table(result, config, width=200)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    assert lines[-1] == "4 findings (1 critical, 1 high, 2 medium, 0 low) in 4 objects, 1 suppressed"
    assert "Suppressed by exceptions" in text and "platform-team" in text
    assert "expired exception: KH-TST-004 (owner alice) expired on 2020-01-01" in text


def test_colour_only_when_asked(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    assert "\x1b[" not in render_table(result, config)
    assert "\x1b[" in render_table(result, config, color=True)


def test_max_rows_cuts_long_groups(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    text = render_table(result, config, width=200, max_rows=1)
    assert "… 1 more (see --format json)" in text


def test_clean_result_says_so(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    result.findings = []
    result.expired_exceptions = []
    text = render_table(result, config)
    assert "No unsuppressed findings." in text
    assert "0 findings (0 critical, 0 high, 0 medium, 0 low) in 4 objects, 0 suppressed" in text


def test_groups_follow_the_regulation_and_unmapped_comes_last(tmp_path: Path) -> None:
    import dataclasses

    from kubehipaa.reports.common import group_by_safeguard

    result, _ = make_result(tmp_path)
    base = result.findings[0]
    odd = [
        dataclasses.replace(base, hipaa=("164.308(a)(7)",)),         # alias of 164.308(a)(7)(i)
        dataclasses.replace(base, hipaa=("164.316(b)(2)(i)",)),      # rolls up to 164.316(b)(1)
        dataclasses.replace(base, hipaa=("164.399(a)(1)",)),         # not in the catalog
    ]
    groups = group_by_safeguard([*odd, *result.findings])
    assert [g.standard for g in groups] == [
        "164.308(a)(7)(i)", "164.312(a)(1)", "164.312(c)(1)", "164.312(e)(1)", "164.316(b)(1)", "unmapped"
    ]
    assert groups[0].title == "164.308(a)(7)(i) Contingency plan"
