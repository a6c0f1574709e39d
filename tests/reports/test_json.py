from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kubehipaa.reports import render
from kubehipaa.reports.json_report import render_json
from tests.conftest import ROOT
from tests.reports.fixtures import SECRET_VALUE, make_result


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    from kubehipaa.reports.json_report import report_schema

    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_published_schema_is_the_packaged_one() -> None:
    """One published schema: the packaged file (no second hand-kept copy at the top of the repo)."""
    from kubehipaa.reports.json_report import SCHEMA_ID, report_schema

    assert not (ROOT / "schemas" / "kubehipaa-report.schema.json").exists()
    assert report_schema()["$id"] == SCHEMA_ID


def test_report_validates_and_keeps_suppressed_findings_visible(tmp_path: Path, validator) -> None:
    result, config = make_result(tmp_path)
    doc = json.loads(render_json(result, config))
    validator.validate(doc)

    by_key = {(f["checkId"], f["resource"]["name"]): f for f in doc["findings"]}
    suppressed = by_key[("KH-TST-002", "billing")]
    assert suppressed["suppressed"] is True
    assert suppressed["suppression"] == {
        "check": "KH-TST-002", "owner": "platform-team",
        "justification": "vendor image, digest pinning tracked in TICKET-12", "expires": "2027-01-01",
    }
    # The expired exception does not suppress, and it is reported.
    assert by_key[("KH-TST-004", "ehr-nodeport")]["suppressed"] is False
    assert [e["owner"] for e in doc["exceptions"]["expired"]] == ["alice"]
    assert [e["owner"] for e in doc["exceptions"]["unused"]] == ["bob"]

    summary = doc["summary"]
    assert summary["findings"] == 4 and summary["suppressed"] == 1
    assert summary["bySeverity"] == {"critical": 1, "high": 1, "medium": 2, "low": 0}
    assert summary["text"] == "4 findings (1 critical, 1 high, 2 medium, 0 low) in 4 objects, 1 suppressed"
    assert doc["config"]["phiNamespaces"] == ["clinical"]


def test_finding_fields_point_at_file_line_and_hipaa(tmp_path: Path, validator) -> None:
    result, config = make_result(tmp_path)
    doc = json.loads(render_json(result, config))
    priv = next(f for f in doc["findings"] if f["checkId"] == "KH-TST-001")
    assert priv["severity"] == "critical"  # PHI namespace raises HIGH to CRITICAL
    assert priv["resource"]["file"].endswith("workloads.yaml")
    assert priv["resource"]["line"] == 8
    assert priv["resource"]["namespace"] == "clinical"
    assert priv["hipaa"] == ["164.312(a)(1)", "164.310(a)(2)(iii)"]
    assert priv["safeguard"] == "164.312(a)(1)"
    assert priv["evidence"] == [
        {"path": "spec.template.spec.containers[0].securityContext.privileged", "value": True, "redacted": False}
    ]


def test_sensitive_values_are_redacted_in_every_format(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    for fmt in ("json", "sarif", "junit", "table"):
        assert SECRET_VALUE not in render(result, fmt, config), fmt
    doc = json.loads(render_json(result, config))
    literal = next(f for f in doc["findings"] if f["checkId"] == "KH-TST-003")
    assert literal["evidence"][0]["redacted"] is True
    assert literal["evidence"][0]["value"] == "<redacted>"


def test_skipped_documents_are_reported(tmp_path: Path, validator) -> None:
    result, config = make_result(tmp_path)
    doc = json.loads(render_json(result, config))
    assert len(doc["skipped"]) == 1
    skipped = doc["skipped"][0]
    assert skipped["file"].endswith("junk.yaml") and skipped["line"] == 1
    assert "no 'kind'" in skipped["message"]


def test_schema_rejects_a_suppressed_finding_without_justification(tmp_path: Path, validator) -> None:
    result, config = make_result(tmp_path)
    doc = json.loads(render_json(result, config))
    bad = next(f for f in doc["findings"] if f["suppressed"])
    bad["suppression"] = None
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


def test_reproducible_with_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    result, config = make_result(tmp_path)
    first = render_json(result, config)
    assert json.loads(first)["generatedAt"] == "2026-01-01T00:00:00Z"
    assert render_json(result, config) == first


@pytest.mark.parametrize("example", ["clinic-insecure", "clinic-hardened"])
def test_example_reports_validate(example: str, tmp_path: Path, validator) -> None:
    from typer.testing import CliRunner

    from kubehipaa.cli.main import app

    out = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["scan", str(ROOT / "examples" / example), "-f", "json", "-o", str(out),
                                   "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    validator.validate(doc)
    assert doc["summary"]["checks"] == len(doc["checks"]) > 0


def test_the_cli_writes_the_json_report_as_bytes_never_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON the CLI writes is made as UTF-8 bytes (`render_bytes`): the same report, byte for byte, as the
    text renderer's, without holding a decoded copy (the catalog's em dashes make that copy 2 bytes a character).
    The file written by `scan -f json -o` is exactly those bytes."""
    from typer.testing import CliRunner

    import kubehipaa.reports.json_report as json_report
    from kubehipaa.cli.main import app
    from kubehipaa.reports.base import RenderOptions
    from kubehipaa.reports.scan import ScanReport

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    result, cfg = make_result(tmp_path)
    made = ScanReport(cfg).render_bytes(result, "json", RenderOptions())
    assert isinstance(made, bytes) and made.decode() == render_json(result, cfg)

    decoded: list[int] = []
    real = json_report.render_json
    monkeypatch.setattr(json_report, "render_json", lambda *a, **k: decoded.append(1) or real(*a, **k))
    out = tmp_path / "report.json"
    example = ROOT / "examples" / "clinic-hardened"
    run = CliRunner().invoke(app, ["scan", str(example), "-f", "json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert decoded == []  # the CLI never went through the text renderer
    report = json.loads(out.read_bytes())
    assert report["summary"]["objects"] > 0 and report["integrity"]["digest"]
    assert out.read_bytes().endswith(b"}\n")
