from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from kubehipaa.reports.junit import render_junit
from tests.reports.fixtures import TEST_CHECKS, make_result


def _tree(tmp_path: Path) -> ET.Element:
    result, config = make_result(tmp_path)
    return ET.fromstring(render_junit(result, config).split("\n", 1)[1])


def test_one_suite_per_check_and_case_per_resource(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    suites = {s.get("name", "").split()[0]: s for s in root.findall("testsuite")
              if s.get("name") != "kubehipaa scan warnings"}
    assert list(suites) == [c.meta.id for c in TEST_CHECKS]
    latest = suites["KH-TST-002"]
    cases = {c.get("name"): c for c in latest.findall("testcase")}
    assert set(cases) == {"Deployment/clinical/ehr-api", "Deployment/finance/billing"}
    failure = cases["Deployment/clinical/ehr-api"].find("failure")
    assert failure is not None and failure.get("type") == "medium"
    assert "remediation: Pin the image by digest." in (failure.text or "")
    skipped = cases["Deployment/finance/billing"].find("skipped")
    assert skipped is not None and "TICKET-12" in skipped.get("message", "")
    assert latest.get("tests") == "2" and latest.get("failures") == "1" and latest.get("skipped") == "1"
    assert cases["Deployment/clinical/ehr-api"].get("file", "").endswith("workloads.yaml")
    assert cases["Deployment/clinical/ehr-api"].get("line") == "8"
    props = [p.get("value") for p in suites["KH-TST-003"].iter("property")]
    assert props == ["164.312(a)(2)(iv)", "164.308(a)(5)(ii)(D)"]


def test_totals_add_up(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert root.get("tests") == "5"
    assert root.get("failures") == "4"
    assert root.get("skipped") == "1"
    assert root.get("errors") == "0"
    assert sum(int(s.get("tests", "0")) for s in root.findall("testsuite")) == 5


def test_check_without_findings_is_a_passing_case(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    result.findings = [f for f in result.findings if f.check_id != "KH-TST-004"]
    root = ET.fromstring(render_junit(result, config).split("\n", 1)[1])
    suite = next(s for s in root.findall("testsuite") if s.get("name", "").startswith("KH-TST-004"))
    (case,) = suite.findall("testcase")
    assert list(case) == [] and case.get("name") == "no findings in 4 objects"
