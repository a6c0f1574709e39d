"""`kubehipaa catalog`: every HIPAA paragraph with its rules (satisfies/supports, titles), evidence text,
Required/Addressable (and as the proposed rule would make them), attestation-required paragraphs marked."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.catalog_view import catalog_view
from kubehipaa.frameworks.rules import RuleMeta
from kubehipaa.model import Severity
from kubehipaa.pipelines.catalog_view import builtin_rules
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import ScanResult

runner = CliRunner()


def _catalog(*args: str) -> str:
    res = runner.invoke(app, ["catalog", *args])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_json_lists_every_paragraph_with_its_rules_and_evidence() -> None:
    doc = json.loads(_catalog("--format", "json"))
    catalog = load_hipaa()
    assert [p["id"] for p in doc["paragraphs"]] == list(catalog.paragraphs)
    assert doc["catalog"]["sha256"] == catalog.digest and doc["proposedRule"] is None
    titles = {m.id: m.title for m in builtin_rules().values()}
    for p in doc["paragraphs"]:
        para = catalog.paragraphs[p["id"]]
        assert p["evidence"] == para.evidence
        assert [(r["id"], r["relation"]) for r in p["rules"]] == \
            [*((r, "satisfies") for r in para.satisfied_by), *((r, "supports") for r in para.supported_by)]
        assert all(r["title"] == titles[r["id"]] and r["title"] for r in p["rules"])
        assert p["requirement"] == catalog.requirement(p["id"])
    enc = next(p for p in doc["paragraphs"] if p["id"] == "164.312(a)(2)(iv)")
    assert enc["requirement"] == "addressable" and enc["rules"] and not enc["attestationRequired"]
    assert {r["family"] for p in doc["paragraphs"] for r in p["rules"]} == {"check", "audit", "rbac-risk"}


def test_attestation_required_matches_a_scans_coverage() -> None:
    doc = json.loads(_catalog("--format", "json"))
    attest = {p["id"] for p in doc["paragraphs"] if p["attestationRequired"]}
    sanction = "164.308(a)(1)(ii)(C)"  # Sanction policy: an organisational policy, no rule
    assert sanction in attest
    # what an empty scan's coverage calls attestation-required, the catalog marks the same way
    cov = scan_coverage(ScanResult(findings=[], objects=0, checks=[]))
    assert {p.id for p in cov.paragraphs if p.state == "attestation-required"} == \
        {p["id"] for p in doc["paragraphs"] if p["attestationRequired"] and p["safeguard"] != "organizational"}
    assert doc["summary"]["attestationRequired"] == len(attest) > 0


def test_proposed_rule_makes_addressable_required_and_says_so() -> None:
    today = json.loads(_catalog("--format", "json"))
    proposed = json.loads(_catalog("--format", "json", "--proposed-rule"))
    assert today["summary"]["addressable"] > 0 and proposed["summary"]["addressable"] == 0
    assert proposed["summary"]["required"] == today["summary"]["required"] + today["summary"]["addressable"]
    assert "90 FR 898" in proposed["proposedRule"]
    enc = next(p for p in proposed["paragraphs"] if p["id"] == "164.312(a)(2)(iv)")
    assert (enc["requirement"], enc["catalogStatus"]) == ("required", "addressable")
    md = _catalog("--proposed-rule")
    assert "Required (proposed rule; Addressable today)" in md and "90 FR 898" in md


def test_markdown_has_a_section_per_paragraph_and_rule_tables() -> None:
    md = _catalog()
    catalog = load_hipaa()
    headings = re.findall(r"^### (\S+) ", md, re.M)
    assert headings == list(catalog.paragraphs)
    assert "## Technical safeguards (164.312)" in md
    assert md.count("**Attestation required**") == json.loads(_catalog("-f", "json"))["summary"]["attestationRequired"]
    rows = [line for line in md.splitlines() if re.match(r"^\| (KH|RR)-", line)]
    assert len(rows) == sum(len(p.rules) for p in catalog.paragraphs.values())
    assert "| KH-AUDLOG-" in md and "kubehipaa audit analyze" in md


def test_markdown_escapes_table_breaking_text() -> None:
    from kubehipaa.reports.hipaa_catalog import render_markdown

    rule = RuleMeta(id="KH-WL-001", title="a | b `c` <img>", severity=Severity.LOW,
                    hipaa=("164.312(a)(1)",), remediation="x", family="check")
    md = render_markdown(catalog_view(load_hipaa(), {"KH-WL-001": rule}))
    line = next(line for line in md.splitlines() if line.startswith("| KH-WL-001"))
    assert line.count(" | ") == 3 and r"a \| b \`c\` \<img\>" in line


def test_unknown_rule_is_shown_not_dropped() -> None:
    view = catalog_view(load_hipaa(), {})
    para = next(p for p in view.paragraphs if p.id == "164.312(b)")
    assert para.rules and all(r.family == "unknown" and r.title == "" for r in para.rules)


def test_writes_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "catalog.html"
    res = runner.invoke(app, ["catalog", "-f", "html", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_unknown_format_is_a_usage_error() -> None:
    res = runner.invoke(app, ["catalog", "--format", "pdf"])
    assert res.exit_code == 2
