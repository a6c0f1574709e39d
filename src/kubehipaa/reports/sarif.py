"""SARIF 2.1.0: findings as code-scanning results that point at the manifest file and line.

Rule metadata carries the HIPAA paragraphs twice: as `properties.tags` (what GitHub code scanning shows
and filters on) and as relationships to a `HIPAA` taxonomy whose taxa are the cited paragraphs (the
SARIF-native way to say "this rule supports that requirement"). Suppressed findings stay in the log with
a SARIF `suppressions` entry holding the exception's justification, so a reviewer sees what was waived.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import orjson

from kubehipaa.checks.registry import CheckMeta
from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.model import FINGERPRINT_VERSION, Finding, Severity
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.reports.common import (
    INFORMATION_URI,
    TOOL_NAME,
    TOOL_VERSION,
    exception_record,
    redact_result,
    warning_record,
)

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TAXONOMY = "HIPAA"
SRCROOT = "%SRCROOT%"

# GitHub code scanning reads `security-severity` (0.0-10.0) to rank security results.
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}
LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}


CLUSTER_SCHEME = "cluster:"


def artifact_location(file: str, cwd: Path | None = None) -> dict[str, Any]:
    """A SARIF artifactLocation: relative to the working directory when possible, else a file: URI."""
    if file.startswith(CLUSTER_SCHEME):
        # a live-cluster object (`cluster:<context>/<kind>/<ns>/<name>`): an absolute URI of its own, not a
        # file under the source root
        return {"uri": CLUSTER_SCHEME + quote(file[len(CLUSTER_SCHEME):], safe="/:@")}
    path = Path(file)
    if file.startswith("<") or not (path.is_absolute() or path.parts):
        return {"uri": quote(file.strip("<>") or "stdin")}
    if path.is_absolute():
        base = cwd or Path.cwd()
        try:
            path = path.relative_to(base)
        except ValueError:
            return {"uri": path.as_uri()}
    posix = PurePosixPath(*path.parts).as_posix()
    return {"uri": quote(posix), "uriBaseId": SRCROOT}


def _rule(meta: CheckMeta) -> dict[str, Any]:
    catalog = load_hipaa()
    paragraphs = [f"{pid} {p.name}" if (p := catalog.get(pid)) else pid for pid in meta.hipaa]
    help_text = f"{meta.remediation}\n\nHIPAA Security Rule ({meta.relation}): " + "; ".join(paragraphs)
    help_md = (
        f"**Remediation:** {meta.remediation}\n\n**HIPAA Security Rule** ({meta.relation}):\n"
        + "\n".join(f"- {p}" for p in paragraphs)
    )
    refs = [f"CIS {x}" for x in meta.cis] + [f"NSA {x}" for x in meta.nsa] + [f"PSS {x}" for x in meta.pss]
    if refs:
        help_md += "\n\n**Cross-references:** " + ", ".join(refs)
    rule: dict[str, Any] = {
        "id": meta.id,
        "name": "".join(w.capitalize() for w in meta.title.replace("/", " ").split() if w.isalnum()) or meta.id,
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.description or meta.title},
        "help": {"text": help_text, "markdown": help_md},
        "defaultConfiguration": {"level": LEVEL[meta.severity]},
        "relationships": [
            {"target": {"id": pid, "toolComponent": {"name": TAXONOMY}}, "kinds": ["relevant"]}
            for pid in meta.hipaa
        ],
        "properties": {
            "tags": ["security", "hipaa", meta.area, *(f"HIPAA-{pid}" for pid in meta.hipaa)],
            "security-severity": SECURITY_SEVERITY[meta.severity],
            "severity": meta.severity.label,
            "phiSeverity": (meta.phi_severity or meta.severity).label,
            "hipaa": list(meta.hipaa),
            "hipaaRelation": meta.relation,
            "cis": list(meta.cis),
            "nsa": list(meta.nsa),
            "pss": list(meta.pss),
        },
    }
    return rule


def _taxonomy(metas: list[CheckMeta]) -> dict[str, Any]:
    catalog = load_hipaa()
    cited = sorted({pid for m in metas for pid in m.hipaa}, key=catalog.order)
    taxa = []
    for pid in cited:
        para = catalog.get(pid)
        taxon: dict[str, Any] = {"id": pid, "name": para.name if para else pid}
        if para is not None:
            taxon["shortDescription"] = {"text": para.title}
            taxon["properties"] = {"safeguard": para.safeguard, "requirement": catalog.requirement(pid)}
        taxa.append(taxon)
    return {
        "name": TAXONOMY,
        "fullName": f"{catalog.name}, {catalog.citation}",
        "organization": "U.S. Department of Health and Human Services",
        "informationUri": "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C",
        "isComprehensive": False,
        "taxa": taxa,
    }


def _result(finding: Finding, rule_index: int, cwd: Path) -> dict[str, Any]:
    r = finding.resource
    where = r.display
    evidence = [e.to_dict() for e in finding.evidence]
    first = finding.evidence[0].path if finding.evidence else ""
    text = f"{finding.message} ({where}" + (f", {first})" if first else ")")
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact_location(r.file, cwd),
                    "region": {"startLine": max(1, r.line)},
                },
                "logicalLocations": [
                    {"fullyQualifiedName": where, "name": r.name, "kind": "object"}
                ],
            }
        ],
        "partialFingerprints": {FINGERPRINT_VERSION: finding.fingerprint},
        "properties": {
            "severity": finding.severity.label,
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "hipaa": list(finding.hipaa),
            "resource": r.to_dict(),
            "evidence": evidence,
        },
    }
    if finding.suppressed:
        record = finding.suppression or {}
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": str(record.get("justification", "")),
                "properties": {k: v for k, v in record.items() if k != "justification"},
            }
        ]
    return result


def sarif_dict(result: ScanResult, config: Config, cwd: Path | None = None) -> dict[str, Any]:
    result = redact_result(result)
    cwd = cwd or Path.cwd()
    metas = [c.meta for c in result.checks]
    index = {m.id: i for i, m in enumerate(metas)}
    rules = [_rule(m) for m in metas]
    # A finding from a check that is not in result.checks still gets a rule, so ruleIndex stays valid.
    for finding in result.findings:
        if finding.check_id not in index:
            index[finding.check_id] = len(rules)
            rules.append({"id": finding.check_id, "shortDescription": {"text": finding.title}})
    notifications = [
        {
            "level": "warning",
            "message": {
                "text": f"exception for {rec['check']} (owner {rec['owner']}) expired on {rec['expires']}; "
                "it no longer suppresses findings"
            },
            "descriptor": {"id": "expired-exception"},
            "properties": rec,
        }
        for rec in map(exception_record, result.expired_exceptions)
    ] + [
        # Configuration notifications: the exception, not the input, is what the reader must review.
        {"level": "warning", "message": {"text": w.message}, "descriptor": {"id": w.code},
         "properties": warning_record(w)}
        for w in result.warnings if w.exception is not None
    ]
    execution = [
        {"level": "error", "message": {"text": e.message}, "descriptor": {"id": "check-error"},
         "associatedRule": {"id": e.check_id}}
        for e in result.errors
    ] + [
        {"level": "warning", "message": {"text": str(p)}, "descriptor": {"id": "skipped-input"}}
        for p in result.skipped
    ] + [
        # Coverage gaps: what this run could not see, next to what it could not read.
        {"level": "warning", "message": {"text": w.message}, "descriptor": {"id": w.code}}
        for w in result.warnings if w.exception is None
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if notifications:
        invocation["toolConfigurationNotifications"] = notifications
    if execution:
        invocation["toolExecutionNotifications"] = execution
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": TOOL_VERSION,
                "semanticVersion": TOOL_VERSION,
                "informationUri": INFORMATION_URI,
                "rules": rules,
                "supportedTaxonomies": [{"name": TAXONOMY}],
            }
        },
        "taxonomies": [_taxonomy(metas)],
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": cwd.as_uri() + "/"}},
        "results": [_result(f, index[f.check_id], cwd) for f in result.findings],
        "columnKind": "unicodeCodePoints",
        "properties": {"phiNamespaces": list(result.phi_namespaces), "objects": result.objects},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(result: ScanResult, config: Config) -> str:
    return orjson.dumps(sarif_dict(result, config), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
