"""`kubehipaa scan --format oscal`: OSCAL 1.1 assessment results that compliance-trestle's models accept, tied to
the catalog's paragraphs, with one observation per finding, honest not-assessed paragraphs, deterministic UUIDs
and no secret value (issue 15 req 5)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.frameworks import load_hipaa
from kubehipaa.model import Evidence, Finding, ResourceRef, Severity
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.reports import oscal
from kubehipaa.reports.oscal import assessment_results, control_id
from kubehipaa.sources.files import InputRecord
from tests.conftest import EXAMPLES
from tests.reports.fixtures import SECRET_VALUE, make_result

trestle_ar = pytest.importorskip("trestle.oscal.assessment_results")
runner = CliRunner()
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP_KEYS = {"last-modified", "start", "end", "collected"}


def _scan(*args: str, epoch: str = "1700000000") -> tuple[int, dict[str, Any], str]:
    res = runner.invoke(app, ["scan", *args, "-f", "oscal", "--fail-on", "never"],
                        env={"SOURCE_DATE_EPOCH": epoch})
    return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else {}, res.stderr


def _result(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["assessment-results"]["results"][0]


def _props(node: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in node.get("props", [])}


def _without_times(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _without_times(v) for k, v in tree.items() if k not in TIMESTAMP_KEYS}
    if isinstance(tree, list):
        return [_without_times(v) for v in tree]
    return tree


def _uuids(tree: Any) -> list[str]:
    if isinstance(tree, dict):
        return [v for k, v in tree.items() if k == "uuid"] + [u for v in tree.values() for u in _uuids(v)]
    if isinstance(tree, list):
        return [u for v in tree for u in _uuids(v)]
    return []


@pytest.fixture(scope="module")
def clinic() -> dict[str, Any]:
    code, doc, err = _scan(str(EXAMPLES / "clinic-insecure"))
    assert code == 0, err
    return doc


def test_validates_with_trestle_assessment_results(clinic: dict[str, Any]) -> None:
    model = trestle_ar.AssessmentResults.parse_obj(clinic["assessment-results"])
    assert model.metadata.oscal_version.__root__ == oscal.OSCAL_VERSION.strip()
    assert re.fullmatch(r"1\.1\.\d+", oscal.OSCAL_VERSION)
    ar = clinic["assessment-results"]
    assert ar["metadata"]["version"] and ar["metadata"]["last-modified"] == "2023-11-14T22:13:20Z"
    # import-ap is required by OSCAL: it points at a back-matter resource that says what the plan was
    href = ar["import-ap"]["href"]
    resources = {r["uuid"]: r for r in ar["back-matter"]["resources"]}
    assert href.startswith("#") and "no separate assessment plan" in resources[href[1:]]["description"]


def test_reviewed_controls_and_findings_are_the_catalog_paragraphs(clinic: dict[str, Any]) -> None:
    result = _result(clinic)
    selected = [c["control-id"] for c in result["reviewed-controls"]["control-selections"][0]["include-controls"]]
    catalog = load_hipaa()
    expected = [p.id for p in catalog.paragraphs.values()
                if p.safeguard in ("administrative", "physical", "technical", "documentation")]
    assert selected == [control_id(pid) for pid in expected]
    assert [f["target"]["target-id"] for f in result["findings"]] == selected
    assert all(f["target"]["type"] == "objective-id" for f in result["findings"])


def test_control_id_scheme_is_a_reversible_token() -> None:
    assert control_id("164.312(a)(2)(iv)") == "hipaa-164.312-a-2-iv"
    assert control_id("164.308(a)(1)(ii)(A)") == "hipaa-164.308-a-1-ii-A"
    assert control_id("164.316(b)(1)") == "hipaa-164.316-b-1"
    ids = [control_id(pid) for pid in load_hipaa().paragraphs]
    assert len(set(ids)) == len(ids)


def test_counts_match_the_scan_and_its_coverage(tmp_path: Path) -> None:
    from kubehipaa.cli.common import load_objects
    from kubehipaa.config import Config
    from kubehipaa.pipelines.scan import scan

    run = scan(load_objects([str(EXAMPLES / "clinic-insecure")]), Config())
    result = run.result
    doc = assessment_results(result, when="2026-01-01T00:00:00Z")
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    res = _result(doc)
    # one observation per finding (open or suppressed), each naming its rule and fingerprint
    assert len(res["observations"]) == len(result.findings) > 0
    assert Counter(_props(o)["rule-id"] for o in res["observations"]) == Counter(f.check_id for f in result.findings)
    assert {_props(o)["fingerprint"] for o in res["observations"]} == {f.fingerprint for f in result.findings}
    assert all(o["methods"] == ["TEST"] and o["subjects"][0]["type"] == "inventory-item"
               for o in res["observations"])
    # one finding per paragraph, in the coverage model's state
    cov = scan_coverage(result)
    assert [_props(f)["assessment-state"] for f in res["findings"]] == [p.state for p in cov.paragraphs]
    states = Counter(f["target"]["status"]["state"] for f in res["findings"])
    score = cov.score()
    assert states["satisfied"] == score.passed
    assert states["not-satisfied"] == score.failed + score.not_assessed + score.attestation
    # a failed paragraph relates exactly the observations of the rules behind it
    by_uuid = {o["uuid"]: o for o in res["observations"]}
    for para, finding in zip(cov.paragraphs, res["findings"], strict=True):
        related = [by_uuid[r["observation-uuid"]] for r in finding.get("related-observations", [])]
        # a standard no rule cites takes its state (and its observations) from its specifications
        behind = [para] if para.rules else [c for c in cov.paragraphs if c.id in load_hipaa().children.get(para.id, ())]
        rules = {rc.rule_id for p in behind for rc in p.rules}
        assert {_props(o)["rule-id"] for o in related} <= rules
        assert len(related) == sum(1 for f in result.findings if f.check_id in rules)
        if para.state == "failed":
            assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
            assert related
    # every subject is an inventory item carrying kind/namespace/name and file:line
    items = {i["uuid"]: _props(i) for i in res["local-definitions"]["inventory-items"]}
    for obs, f in zip(res["observations"], result.findings, strict=True):
        item = items[obs["subjects"][0]["subject-uuid"]]
        assert item["kind"] == f.resource.kind and item.get("name", "") == f.resource.name
        assert item.get("namespace") == f.resource.namespace
        assert item["location"] == f"{f.resource.file}:{f.resource.line}"
    # run metadata: every input with its SHA-256, the catalog's digest, the tool as the observations' origin
    hashes = {h["value"] for r in doc["assessment-results"]["back-matter"]["resources"]
              for link in r.get("rlinks", []) for h in link["hashes"]}
    assert {i.sha256 for i in result.inputs} | {load_hipaa().digest} <= hashes
    tool = res["local-definitions"]["assessment-assets"]["components"][0]
    assert tool["title"] == "kubehipaa" and all(
        o["origins"][0]["actors"][0]["actor-uuid"] == tool["uuid"] for o in res["observations"])


def test_not_assessed_paragraph_is_never_satisfied() -> None:
    # only the network checks run: paragraphs whose rules were not selected are not assessed, and say why
    code, doc, err = _scan(str(EXAMPLES / "clinic-insecure"), "--check", "KH-NET-*")
    assert code == 0, err
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    findings = _result(doc)["findings"]
    not_assessed = [f for f in findings if _props(f)["assessment-state"] == "not-assessed"]
    attest = [f for f in findings if _props(f)["assessment-state"] == "attestation-required"]
    assert not_assessed and attest
    for f in not_assessed:
        assert f["target"]["status"] == {"state": "not-satisfied", "reason": "other"}
        assert "Not assessed" in f["target"]["remarks"] and "Reasons:" in f["target"]["remarks"]
        assert "related-observations" not in f
    assert any("not selected in this scan" in f["target"]["remarks"] for f in not_assessed)
    for f in attest:
        assert f["target"]["status"]["state"] == "not-satisfied" and "attest" in f["target"]["remarks"]


def test_passed_paragraph_is_satisfied() -> None:
    code, doc, err = _scan(str(EXAMPLES / "clinic-hardened"))
    assert code == 0, err
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    findings = _result(doc)["findings"]
    passed = [f for f in findings if _props(f)["assessment-state"] == "passed"]
    assert passed
    assert all(f["target"]["status"] == {"state": "satisfied", "reason": "pass"} for f in passed)


def test_uuids_are_deterministic_and_unique(clinic: dict[str, Any]) -> None:
    _, again, _ = _scan(str(EXAMPLES / "clinic-insecure"), epoch="1800000000")
    assert again["assessment-results"]["metadata"]["last-modified"] != \
        clinic["assessment-results"]["metadata"]["last-modified"]
    a, b = _without_times(clinic), _without_times(again)
    a["assessment-results"]["results"][0]["props"] = b["assessment-results"]["results"][0]["props"] = []
    assert a == b  # only timestamps (and the command line, which names the same scan) differ
    uuids = _uuids(clinic)
    assert len(uuids) == len(set(uuids)) > 100
    assert all(UUID.match(u) for u in uuids)


def test_a_different_scan_gets_different_uuids(clinic: dict[str, Any]) -> None:
    _, other, _ = _scan(str(EXAMPLES / "clinic-hardened"))
    assert other["assessment-results"]["uuid"] != clinic["assessment-results"]["uuid"]


def test_no_secret_value_in_the_document(tmp_path: Path) -> None:
    result, _ = make_result(tmp_path)
    # and a finding no registry redacted, with secrets in its message, evidence, object and file names
    leak = "AKIAIOSFODNN7EXAMPLE"
    ref = ResourceRef("v1", "ConfigMap", "clinical", leak, f"{tmp_path}/{leak}.yaml", 3)
    result.findings.append(Finding("KH-SEC-002", "Secret in ConfigMap", Severity.HIGH, ref, f"key holds {leak}",
                                   [Evidence("data.key", f"password={SECRET_VALUE}")], "Use a Secret.",
                                   ("164.312(a)(2)(iv)",)))
    result.inputs.append(InputRecord(f"postgres://u:{SECRET_VALUE}@db/x", "0" * 64, 1))
    text = oscal.render_oscal(result, ["kubehipaa", "scan", "--token", "sekret-token-value-123"])
    for secret in (SECRET_VALUE, leak, "sekret-token-value-123"):
        assert secret not in text, secret
    doc = json.loads(text)
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    observations = _result(doc)["observations"]
    literal = next(o for o in observations if _props(o)["rule-id"] == "KH-TST-003")
    assert _props(literal["relevant-evidence"][0])["redacted"] == "true"
    assert "<redacted" in literal["relevant-evidence"][0]["description"]
    assert any("<redacted" in o["description"] for o in observations if _props(o)["rule-id"] == "KH-SEC-002")
    # suppressed findings are observations too, marked as such with the exception's owner
    statuses = Counter(_props(o)["status"] for o in observations)
    assert statuses["suppressed"] == len(result.suppressed) > 0
    assert statuses["open"] == len(result.active)
    assert all(_props(o).get("exception-owner") for o in observations if _props(o)["status"] == "suppressed")


def test_awkward_file_names_still_validate(tmp_path: Path) -> None:
    odd = tmp_path / "odd name\twith tab\n.yaml"
    odd.write_text((EXAMPLES / "clinic-insecure" / "network.yaml").read_text())
    code, doc, err = _scan(str(odd))
    assert code == 0, err
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])


def test_an_invalid_document_is_caught_by_validate(clinic: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(clinic))
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "not-assessed"
    with pytest.raises(ValueError):
        oscal.validate(broken)
    assert oscal.trestle_validates()


def test_ids_and_hashes_are_written_as_made(clinic: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    # a UUID with an NPI-shaped digit run: a redaction pass over the whole tree would mask it and break references
    npi_shaped = "f6f4ce87-5c16-5c3a-9758-1160700948e1"
    monkeypatch.setattr(oscal._Ids, "__call__", lambda self, *name: npi_shaped if name == ("result",) else
                        str(__import__("uuid").uuid5(oscal.UUID_NAMESPACE, "/".join(name))))
    result, _ = make_result(tmp_path)
    doc = json.loads(oscal.render_oscal(result))
    assert _result(doc)["uuid"] == npi_shaped
    # every reference resolves
    ar = clinic["assessment-results"]
    res = _result(clinic)
    observations = {o["uuid"] for o in res["observations"]}
    items = {i["uuid"] for i in res["local-definitions"]["inventory-items"]}
    assert {r["observation-uuid"] for f in res["findings"] for r in f.get("related-observations", [])} <= observations
    assert {o["subjects"][0]["subject-uuid"] for o in res["observations"]} <= items
    assert {r["uuid"] for r in ar["back-matter"]["resources"]} >= {ar["import-ap"]["href"][1:]}


def test_uuid5_shortcut_is_uuid5() -> None:
    import uuid

    for name in ("", "a", "seed\x1fobservation\x1fabc", "é" * 40):
        assert oscal._uuid5(name) == str(uuid.uuid5(oscal.UUID_NAMESPACE, name))
