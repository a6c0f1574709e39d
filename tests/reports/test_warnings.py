"""PHI blind spots are said out loud (issue 11, requirement 11), in every output.

A scan that identifies no PHI namespace, or whose input has no NetworkPolicy, no RBAC object or no
Namespace object, carries one warning for each: `ScanResult.warnings`, one stderr line each from the CLI,
`warnings` in JSON (schema-valid), SARIF notifications, and a pointer in the table.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import Config, parse_config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.reports import render
from kubehipaa.reports.json_report import report_dict, report_schema
from kubehipaa.reports.sarif import sarif_dict
from tests.conftest import ROOT
from tests.reports.fixtures import TEST_CHECKS, make_result

TODAY = dt.date(2026, 6, 1)
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "clinical"},
          "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r/a:1"}]}}}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}}}
POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny", "namespace": "clinical"}, "spec": {"podSelector": {}}}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "r", "namespace": "clinical"}, "rules": []}
COVERAGE = ("no-phi-namespace", "no-network-policy", "no-rbac", "no-namespaces")


def _codes(*docs: dict, config: Config | None = None) -> list[str]:
    cfg = config or Config()
    inv = Inventory([K8sObject(d, "m.yaml", 1) for d in docs], cfg)
    return [w.code for w in run_scan(inv, cfg, checks=TEST_CHECKS, today=TODAY).warnings]


def test_a_bare_deployment_has_every_blind_spot() -> None:
    assert _codes(DEPLOY) == list(COVERAGE)


def test_each_kind_of_input_clears_its_own_warning() -> None:
    assert _codes(DEPLOY, NAMESPACE, POLICY, ROLE) == []
    assert _codes(DEPLOY, NAMESPACE, ROLE) == ["no-network-policy"]
    assert _codes(DEPLOY, NAMESPACE, POLICY) == ["no-rbac"]
    for kind in ("ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        assert "no-rbac" not in _codes(DEPLOY, {**ROLE, "kind": kind})
    # without the Namespace object the PHI label is unknown: no PHI namespace and no Namespace objects
    assert _codes(DEPLOY, POLICY, ROLE) == ["no-phi-namespace", "no-namespaces"]


def test_phi_namespace_named_in_config_counts_only_if_the_input_has_it() -> None:
    named = parse_config({"phi": {"namespaces": ["clinical"]}})
    assert "no-phi-namespace" not in _codes(DEPLOY, POLICY, ROLE, config=named)
    typo = parse_config({"phi": {"namespaces": ["clinic"]}})
    unlabelled = {**NAMESPACE, "metadata": {"name": "clinical"}}
    cfg_inv = Inventory([K8sObject(d, "m.yaml", 1) for d in (DEPLOY, unlabelled, POLICY, ROLE)], typo)
    warnings = run_scan(cfg_inv, typo, checks=TEST_CHECKS, today=TODAY).warnings
    assert [w.code for w in warnings] == ["no-phi-namespace"]
    assert "no scanned object is in a PHI namespace (clinic)" in warnings[0].message


def test_messages_say_what_was_not_assessed() -> None:
    cfg = Config()
    inv = Inventory([K8sObject(DEPLOY, "m.yaml", 1)], cfg)
    messages = {w.code: w.message for w in run_scan(inv, cfg, checks=TEST_CHECKS, today=TODAY).warnings}
    assert "kubehipaa.io/phi=true" in messages["no-phi-namespace"]
    assert "no NetworkPolicy" in messages["no-network-policy"]
    assert "Role, ClusterRole, RoleBinding, ClusterRoleBinding" in messages["no-rbac"]
    assert "no Namespace objects" in messages["no-namespaces"]
    assert all("\n" not in m for m in messages.values())


# --- rendering ------------------------------------------------------------------------------------------


@pytest.fixture
def blind(tmp_path: Path):
    """The report fixture's scan with its Namespace object removed: every blind spot at once."""
    result, config = make_result(tmp_path)
    codes = [w.code for w in result.warnings]
    assert codes == ["no-network-policy", "no-rbac"]  # the fixture has a PHI Namespace, no policy, no RBAC
    return result, config


def test_json_carries_warnings_and_validates(blind) -> None:
    result, config = blind
    schema = report_schema()
    doc = json.loads(render(result, "json", config))
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert [w["code"] for w in doc["warnings"]] == ["no-network-policy", "no-rbac"]
    assert doc["summary"]["warnings"] == 2
    assert all(w["message"] for w in doc["warnings"])
    doc["warnings"].append({"code": "made-up", "message": "x"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_json_broad_exception_record_validates(tmp_path: Path) -> None:
    result, _ = make_result(tmp_path)
    config = parse_config({"exceptions": [{"check": "KH-TST-*", "scope": "all-resources", "owner": "o",
                                           "justification": "j", "expires": "2026-12-31"}]})
    inv = Inventory([K8sObject(DEPLOY, "m.yaml", 1)], config)
    result = run_scan(inv, config, checks=TEST_CHECKS, today=TODAY)
    doc = report_dict(result, config)
    schema = report_schema()
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(doc, default=str)))
    broad = doc["warnings"][0]
    assert broad["code"] == "broad-exception"
    assert broad["exception"]["check"] == "KH-TST-*" and broad["exception"]["scope"] == "all-resources"


def test_sarif_notifications(blind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result, config = blind
    invocation = sarif_dict(result, config)["runs"][0]["invocations"][0]
    execution = {n["descriptor"]["id"]: n for n in invocation["toolExecutionNotifications"]}
    assert {"no-network-policy", "no-rbac"} <= set(execution)
    assert execution["no-rbac"]["level"] == "warning"
    sarif_schema = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(json.loads(render(result, "sarif", config)))


def test_table_points_at_the_warnings(blind) -> None:
    result, config = blind
    text = render(result, "table", config)
    assert "2 scan warnings (on stderr; in --format json): no-network-policy, no-rbac" in text


def test_junit_and_oscal_carry_the_warnings(blind) -> None:
    """Evidence formats never look cleaner than the scan was: both name every blind spot."""
    import xml.etree.ElementTree as ET

    from kubehipaa.reports.oscal import assessment_results

    result, config = blind
    root = ET.fromstring(render(result, "junit", config))
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "kubehipaa scan warnings")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert set(props) == {"warning:no-network-policy", "warning:no-rbac"} and all(props.values())
    assert suite.get("tests") == "0" and "no-rbac" in (suite.findtext("system-err") or "")
    remarks = assessment_results(result)["assessment-results"]["results"][0]["remarks"]
    assert "Warning [no-network-policy]" in remarks and "Warning [no-rbac]" in remarks


# --- CLI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit"])
def test_cli_prints_one_stderr_line_per_blind_spot(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "deploy.yaml").write_text(json.dumps(DEPLOY))
    res = CliRunner().invoke(app, ["scan", str(tmp_path / "deploy.yaml"), "-f", fmt, "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert len([ln for ln in lines if "no PHI namespace identified" in ln]) == 1
    assert len([ln for ln in lines if "no NetworkPolicy" in ln]) == 1
    assert len([ln for ln in lines if "no RBAC objects" in ln]) == 1
    assert len([ln for ln in lines if "no Namespace objects" in ln]) == 1
    if fmt == "table":  # the line is printed once, on stderr; the table only points at it
        assert "no NetworkPolicy" not in res.stdout and "4 scan warnings" in res.stdout
    if fmt in ("json", "sarif"):
        assert res.stdout.count("the input has no NetworkPolicy") == 1


@pytest.mark.parametrize("example", ["clinic-insecure", "clinic-hardened"])
def test_the_examples_have_no_blind_spot(example: str) -> None:
    # with the example's own .kubehipaa.yaml (without --trust-config it is input, and named: ignored-config)
    res = CliRunner().invoke(app, ["scan", str(ROOT / "examples" / example), "-f", "json", "--fail-on", "never",
                                   "--trust-config"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["warnings"] == []
