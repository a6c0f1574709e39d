"""JSON report: every finding (suppressed ones marked), exceptions, warnings, skipped input, the checks that ran,
sealed with an integrity block (`reports.integrity`) that `kubehipaa verify` checks.

The shape is the typed model `reports.json_model.Report`; its JSON Schema is generated from it
(`scripts/gen_report_schema.py`) and shipped once, in the package (`kubehipaa/reports/schemas/`, read by
`report_schema()`); tests validate real reports against both.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import orjson

from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.model import fingerprints
from kubehipaa.pipelines.scan import ScanResult
from kubehipaa.reports import integrity
from kubehipaa.reports.common import (
    TOOL_NAME,
    TOOL_VERSION,
    exception_record,
    generated_at,
    redact_result,
    safeguard_of,
    severity_counts,
    summary_line,
    warning_record,
)
from kubehipaa.reports.json_ids import SCHEMA_ID, SCHEMA_VERSION

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SCHEMA_FILE = "schemas/kubehipaa-report.schema.json"


def report_dict(result: ScanResult, config: Config) -> dict[str, Any]:
    """The report as plain data, unsealed (`render_json` adds the integrity block), from the redacted result."""
    result = redact_result(result)
    catalog = load_hipaa()
    findings: list[dict[str, Any]] = []
    # Tens of thousands of findings share a few hundred resources and checks: convert each once. Resources are
    # keyed by identity (the registry gives all findings on an object one ResourceRef; equal refs that are not
    # the same object only cost a second, equal dict), so a finding costs no dataclass hash.
    resources: dict[int, tuple[Any, dict[str, Any]]] = {}
    safeguards: dict[tuple[str, ...], str] = {}
    append = findings.append
    for f, fingerprint in zip(result.findings, fingerprints(result.findings), strict=True):
        resource = f.resource
        entry = resources.get(id(resource))
        if entry is None or entry[0] is not resource:
            entry = resources[id(resource)] = (resource, resource.to_dict())
        hipaa = f.hipaa
        guard = safeguards.get(hipaa)
        if guard is None:
            guard = safeguards[hipaa] = safeguard_of(f, catalog)
        append({
            "checkId": f.check_id,
            "title": f.title,
            "severity": f.severity.label,
            "resource": entry[1],
            "message": f.message,
            "evidence": [{"path": e.path, "value": e.value, "redacted": e.redacted} for e in f.evidence],
            "remediation": f.remediation,
            "hipaa": list(hipaa),
            "safeguard": guard,
            "suppressed": f.suppressed,
            "suppression": f.suppression,
            "fingerprint": fingerprint,
        })
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
            "warnings": len(result.warnings),
        },
        "findings": findings,
        "exceptions": {
            "expired": [exception_record(r) for r in result.expired_exceptions],
            "unused": [exception_record(r) for r in result.unused_exceptions],
        },
        "warnings": [warning_record(w) for w in result.warnings],
        "errors": [{"checkId": e.check_id, "message": e.message} for e in result.errors],
        "skipped": [{"file": p.file, "line": p.line, "message": p.message} for p in result.skipped],
        "checks": [c.meta.to_dict() for c in result.checks],
    }


def report_schema() -> dict[str, Any]:
    """The published JSON Schema of this report, as shipped in the package (generated from `json_model.Report`)."""
    from importlib import resources

    text = resources.files("kubehipaa.reports").joinpath(SCHEMA_FILE).read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    return schema


def render_json(result: ScanResult, config: Config, sign_key: Ed25519PrivateKey | None = None) -> str:
    """The sealed report as indented JSON text; `render_json_bytes` is the same report as UTF-8 bytes."""
    return render_json_bytes(result, config, sign_key).decode()


def render_json_bytes(result: ScanResult, config: Config, sign_key: Ed25519PrivateKey | None = None) -> bytes:
    """The sealed report as indented JSON in UTF-8; signed (Ed25519) with `sign_key`. What the CLI writes.

    Bytes, not text, because decoding costs memory: the catalog's titles and remediations hold characters
    beyond Latin-1 (an em dash), so the decoded report is a 2-byte-per-character string, twice the file, and
    the decoder briefly holds more (measured at 93,392 findings: 106 MB of JSON, peak +280 MB to decode).

    The cyclic collector is paused while the tree is built, sealed and written: the report allocates a dict per
    finding while the scan result is alive, and each full collection walked all of it to find no garbage
    (measured at 93,000 findings: 1.9 s of CPU building the tree with it running, see docs/reports.md)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tree = integrity.sealed(report_dict(result, config), sign_key)
        # the newline by orjson: `+ "\n"` copied the whole text once more (108 MB at 93,392 findings)
        return orjson.dumps(tree, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=str)
    finally:
        if gc_was_enabled:
            gc.enable()
