"""The JSON report's typed model (reports.json_model) and the one published schema generated from it (issue 15
req 9): the packaged file is not stale, real reports validate against model and schema, both refuse the same
bad shapes."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.reports.json_model import SCHEMA_ID, SCHEMA_VERSION, Report, report_json_schema
from kubehipaa.reports.json_report import render_json, report_schema
from tests.conftest import ROOT
from tests.reports.fixtures import make_result

PACKAGED = ROOT / "src" / "kubehipaa" / "reports" / "schemas" / "kubehipaa-report.schema.json"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_report_schema", ROOT / "scripts" / "gen_report_schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_published_schema_is_generated_from_the_model() -> None:
    """Fails when json_model changes and `python scripts/gen_report_schema.py` was not run."""
    gen = _generator()
    assert gen.SCHEMA == PACKAGED
    assert PACKAGED.read_text(encoding="utf-8") == gen.render(), "run: python scripts/gen_report_schema.py"
    assert report_schema() == report_json_schema()
    assert gen.main(["--check"]) == 0


def test_generator_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _generator()
    stale = tmp_path / "schema.json"
    stale.write_text(PACKAGED.read_text().replace('"title": "Finding"', '"title": "Old"'))
    monkeypatch.setattr(gen, "SCHEMA", stale)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1


def test_one_published_copy() -> None:
    assert not (ROOT / "schemas" / "kubehipaa-report.schema.json").exists()
    schema = report_schema()
    assert schema["$id"] == SCHEMA_ID and schema["properties"]["schemaVersion"]["const"] == SCHEMA_VERSION
    assert {"fingerprint"} <= set(schema["$defs"]["Finding"]["required"])
    assert "integrity" in schema["properties"]


def _fixture_report(tmp_path: Path) -> dict[str, Any]:
    result, config = make_result(tmp_path)
    return json.loads(render_json(result, config))


def test_fixture_report_validates_against_model_and_schema(tmp_path: Path, validator) -> None:
    doc = _fixture_report(tmp_path)
    assert any(f["suppressed"] for f in doc["findings"]) and doc["exceptions"]["expired"]
    Report.model_validate(doc)
    validator.validate(doc)


@pytest.mark.parametrize("example", ["clinic-insecure", "clinic-hardened"])
def test_example_reports_validate_against_the_model(example: str, tmp_path: Path, validator) -> None:
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["scan", str(ROOT / "examples" / example), "-f", "json", "-o", str(out),
                                   "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    model = Report.model_validate(doc)
    assert model.integrity is not None and model.integrity.digest == doc["integrity"]["digest"]
    validator.validate(doc)


@pytest.mark.parametrize("breakage", [
    pytest.param(lambda d: d["findings"][0].update(extra="x"), id="unknown finding key"),
    pytest.param(lambda d: d.update(coverage={}), id="unknown top-level key"),
    pytest.param(lambda d: d["findings"][0].update(fingerprint="abc"), id="short fingerprint"),
    pytest.param(lambda d: d["findings"][0].pop("fingerprint"), id="no fingerprint"),
    pytest.param(lambda d: d["findings"][0].update(severity="urgent"), id="bad severity"),
    pytest.param(lambda d: d["findings"][0].update(hipaa=[]), id="no paragraph"),
    pytest.param(lambda d: d["findings"][0].update(suppressed=True, suppression=None), id="suppressed unexplained"),
    pytest.param(lambda d: d.update(schemaVersion="1.0"), id="old schema version"),
    pytest.param(lambda d: d["integrity"].update(digest="0"), id="short digest"),
    pytest.param(lambda d: d["integrity"]["signature"].update(algorithm="rsa"), id="unknown signature"),
    pytest.param(lambda d: d["warnings"].append({"code": "made-up", "message": "x"}), id="unknown warning code"),
])
def test_model_and_schema_refuse_the_same_shapes(tmp_path: Path, validator, breakage) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kubehipaa.reports import integrity

    good = json.loads(json.dumps(integrity.sealed(_fixture_report(tmp_path), Ed25519PrivateKey.generate())))
    Report.model_validate(good)
    validator.validate(good)
    bad = copy.deepcopy(good)
    breakage(bad)
    with pytest.raises(pydantic.ValidationError):
        Report.model_validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)
