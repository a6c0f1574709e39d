"""SARIF output validated against the official OASIS SARIF 2.1.0 schema (tests/schemas/, see SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kubehipaa.reports.sarif import artifact_location, render_sarif
from tests.conftest import ROOT
from tests.reports.fixtures import make_result

SARIF_SCHEMA = ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def _log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(tmp_path)
    result, config = make_result(tmp_path)
    return json.loads(render_sarif(result, config))


def test_validates_against_official_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, validator) -> None:
    log = _log(tmp_path, monkeypatch)
    validator.validate(log)
    assert log["version"] == "2.1.0"


def test_rules_carry_hipaa_paragraphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _log(tmp_path, monkeypatch)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    priv = rules["KH-TST-001"]
    assert priv["properties"]["hipaa"] == ["164.312(a)(1)", "164.310(a)(2)(iii)"]
    assert "HIPAA-164.312(a)(1)" in priv["properties"]["tags"]
    assert priv["properties"]["security-severity"] == "8.0"
    assert "164.312(a)(1) Access control" in priv["help"]["text"]
    assert [rel["target"]["id"] for rel in priv["relationships"]] == ["164.312(a)(1)", "164.310(a)(2)(iii)"]
    taxa = {t["id"]: t for t in run["taxonomies"][0]["taxa"]}
    assert taxa["164.312(a)(2)(iv)"]["name"] == "Encryption and decryption"
    assert taxa["164.312(a)(2)(iv)"]["properties"]["requirement"] == "addressable"


def test_results_point_at_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _log(tmp_path, monkeypatch)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    priv = next(r for r in run["results"] if r["ruleId"] == "KH-TST-001")
    assert rules[priv["ruleIndex"]]["id"] == "KH-TST-001"
    assert priv["level"] == "error"
    loc = priv["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "app/workloads.yaml", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 8
    assert priv["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "Deployment/clinical/ehr-api"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_suppressed_findings_carry_justification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _log(tmp_path, monkeypatch)["runs"][0]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 1
    sup = suppressed[0]["suppressions"][0]
    assert sup["kind"] == "external" and sup["status"] == "accepted"
    assert sup["justification"] == "vendor image, digest pinning tracked in TICKET-12"
    assert sup["properties"]["owner"] == "platform-team"
    # the expired exception is a configuration notification, and its finding is not suppressed
    notes = run["invocations"][0]["toolConfigurationNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["expired-exception"]
    assert "expired on 2020-01-01" in notes[0]["message"]["text"]
    nodeport = next(r for r in run["results"] if r["ruleId"] == "KH-TST-004")
    assert "suppressions" not in nodeport


def test_fingerprints_are_stable_and_distinct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _log(tmp_path, monkeypatch)["runs"][0]["results"]
    second = _log(tmp_path, monkeypatch)["runs"][0]["results"]
    prints = [r["partialFingerprints"]["kubehipaa/v1"] for r in first]
    assert prints == [r["partialFingerprints"]["kubehipaa/v1"] for r in second]
    assert len(set(prints)) == len(prints)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("<stdin>", {"uri": "stdin"}),
        ("k8s/my app.yaml", {"uri": "k8s/my%20app.yaml", "uriBaseId": "%SRCROOT%"}),
        ("/elsewhere/x.yaml", {"uri": "file:///elsewhere/x.yaml"}),
    ],
)
def test_artifact_locations_are_uri_references(file: str, expected: dict, tmp_path: Path) -> None:
    assert artifact_location(file, tmp_path) == expected


def test_examples_scan_is_valid_sarif(validator, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubehipaa.cli.main import app

    out = tmp_path / "scan.sarif"
    res = CliRunner().invoke(app, ["scan", str(ROOT / "examples" / "clinic-insecure"), "-f", "sarif", "-o", str(out),
                                   "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    log = json.loads(out.read_text())
    validator.validate(log)
    assert log["runs"][0]["results"], "the insecure example should produce results"
