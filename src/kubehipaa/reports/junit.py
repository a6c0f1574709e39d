"""JUnit XML: one test suite per check, one test case per check × resource, a failure for each finding.

CI systems (GitLab, Jenkins, Azure DevOps) render JUnit natively, so a compliance scan shows up beside
unit tests. A suppressed finding is a `skipped` case carrying the exception's justification; a check with
no findings at all gets one passing case, so the suite still records that the check ran.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from kubehipaa.config import Config
from kubehipaa.model import Finding, ResourceRef
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.reports.common import redact_result, summary_line


def _failure_text(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"[{f.severity.label}] {f.message}")
        for ev in f.evidence:
            lines.append(f"  evidence: {ev.path} = {ev.value!r}" if ev.path else f"  evidence: {ev.value!r}")
    lines.append(f"remediation: {findings[0].remediation}")
    lines.append("HIPAA: " + ", ".join(findings[0].hipaa))
    return "\n".join(lines)


def _case(suite: ET.Element, check_id: str, ref: ResourceRef) -> ET.Element:
    return ET.SubElement(
        suite, "testcase",
        classname=f"kubehipaa.{check_id}", name=ref.display, file=ref.file, line=str(ref.line),
    )


def junit_tree(result: ScanResult) -> ET.Element:
    result = redact_result(result)
    by_check: dict[str, dict[ResourceRef, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    titles: dict[str, str] = {}
    for f in result.findings:
        by_check[f.check_id][f.resource].append(f)
        titles.setdefault(f.check_id, f.title)
    order = [c.meta.id for c in result.checks] + sorted(set(by_check) - {c.meta.id for c in result.checks})
    for c in result.checks:
        titles.setdefault(c.meta.id, c.meta.title)
    hipaa = {c.meta.id: c.meta.hipaa for c in result.checks}

    root = ET.Element("testsuites", name="kubehipaa")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for check_id in order:
        suite = ET.SubElement(root, "testsuite", name=f"{check_id} {titles[check_id]}")
        props = ET.SubElement(suite, "properties")
        for pid in hipaa.get(check_id, ()):
            ET.SubElement(props, "property", name="hipaa", value=pid)
        tests = failures = skipped = 0
        resources = by_check.get(check_id, {})
        for ref, findings in resources.items():
            tests += 1
            case = _case(suite, check_id, ref)
            active = [f for f in findings if not f.suppressed]
            if active:
                failures += 1
                worst = max(f.severity for f in active)
                msg = active[0].message if len(active) == 1 else f"{len(active)} findings: {active[0].message}"
                failure = ET.SubElement(case, "failure", message=msg, type=worst.label)
                failure.text = _failure_text(active)
            else:
                skipped += 1
                rec = findings[0].suppression or {}
                ET.SubElement(
                    case, "skipped",
                    message=f"suppressed by exception (owner {rec.get('owner')}, expires {rec.get('expires')}): "
                    f"{rec.get('justification')}",
                )
        if not resources:
            tests += 1
            ET.SubElement(suite, "testcase", classname=f"kubehipaa.{check_id}",
                          name=f"no findings in {result.objects} objects")
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        totals["tests"] += tests
        totals["failures"] += failures
        totals["skipped"] += skipped
    errors = ET.SubElement(root, "testsuite", name="kubehipaa check errors")
    for err in result.errors:
        case = ET.SubElement(errors, "testcase", classname=f"kubehipaa.{err.check_id}", name="check ran")
        ET.SubElement(case, "error", message=err.message, type="CheckError")
    errors.set("tests", str(len(result.errors)))
    errors.set("failures", "0")
    errors.set("errors", str(len(result.errors)))
    errors.set("skipped", "0")
    if not result.errors:
        root.remove(errors)
    totals["tests"] += len(result.errors)
    _warnings_suite(root, result)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", str(len(result.errors)))
    root.set("summary", summary_line(result))
    return root


def _warnings_suite(root: ET.Element, result: ScanResult) -> None:
    """The scan's warnings (blind spots, lost input, wide exceptions) as a suite of their own.

    Why: JUnit is read as evidence in CI; without them a scan that could not see the PHI namespace or the
    NetworkPolicies would look as clean as one that could. Each warning is a property and a line of
    `system-err`; no test case, so a warning does not count as a failure (exit codes decide that).
    """
    if not result.warnings:
        return
    suite = ET.SubElement(root, "testsuite", name="kubehipaa scan warnings", tests="0", failures="0",
                          errors="0", skipped="0")
    props = ET.SubElement(suite, "properties")
    for w in result.warnings:
        ET.SubElement(props, "property", name=f"warning:{w.code}", value=w.message)
    ET.SubElement(suite, "system-err").text = "\n".join(f"warning [{w.code}]: {w.message}" for w in result.warnings)


def render_junit(result: ScanResult, config: Config) -> str:
    root = junit_tree(result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
