"""JSON report: every finding (suppressed ones marked), exceptions, skipped input, and the checks that ran.

The shape is published as a JSON Schema (`schemas/kubehipaa-report.schema.json`, also shipped in the
package as `kubehipaa/reports/schemas/`) so downstream tooling can rely on it; tests validate real
reports against it.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.pipeline import ScanResult
from kubehipaa.reports.common import (
    TOOL_NAME,
    TOOL_VERSION,
    exception_record,
    generated_at,
    safeguard_of,
    severity_counts,
    summary_line,
)

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://kubehipaa.dev/schemas/kubehipaa-report-1.0.schema.json"


def report_dict(result: ScanResult, config: Config) -> dict[str, Any]:
    """The report as plain data (what `render_json` serialises)."""
    catalog = load_hipaa()
    findings = []
    for f in result.findings:
        item = f.to_dict()
        item["safeguard"] = safeguard_of(f, catalog)
        findings.append(item)
    return {
        "$schema": SCHEMA_ID,
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "generatedAt": generated_at(),
        "framework": {"name": catalog.name, "citation": catalog.citation},
        "config": {"source": config.source, "phiNamespaces": list(result.phi_namespaces)},
        "summary": {
            "text": summary_line(result),
            "objects": result.objects,
            "checks": len(result.checks),
            "findings": len(result.active),
            "suppressed": len(result.suppressed),
            "bySeverity": severity_counts(result.active),
            "expiredExceptions": len(result.expired_exceptions),
            "errors": len(result.errors),
            "skipped": len(result.skipped),
        },
        "findings": findings,
        "exceptions": {
            "expired": [exception_record(r) for r in result.expired_exceptions],
            "unused": [exception_record(r) for r in result.unused_exceptions],
        },
        "errors": [{"checkId": e.check_id, "message": e.message} for e in result.errors],
        "skipped": [{"file": p.file, "line": p.line, "message": p.message} for p in result.skipped],
        "checks": [c.meta.to_dict() for c in result.checks],
    }


def render_json(result: ScanResult, config: Config) -> str:
    return orjson.dumps(report_dict(result, config), option=orjson.OPT_INDENT_2, default=str).decode() + "\n"
