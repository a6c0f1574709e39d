"""What every renderer shares: severity counts, the summary line, grouping by HIPAA safeguard.

Kept in one place so the table, JSON, SARIF and JUnit reports never disagree on a count.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubehipaa import __version__
from kubehipaa.config import ExceptionRule
from kubehipaa.frameworks import HipaaCatalog, load_hipaa
from kubehipaa.model import Finding, Severity
from kubehipaa.pipeline import ScanResult, ScanWarning

TOOL_NAME = "kubehipaa"
TOOL_VERSION = __version__
INFORMATION_URI = "https://github.com/kubehipaa/kubehipaa"
SEVERITIES_DESC = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
UNMAPPED = "unmapped"


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {s.label: counts.get(s, 0) for s in SEVERITIES_DESC}


def summary_line(result: ScanResult) -> str:
    """'N findings (c critical, h high, m medium, l low) in M objects, K suppressed'."""
    active = result.active
    counts = severity_counts(active)
    parts = ", ".join(f"{n} {label}" for label, n in counts.items())
    noun = "finding" if len(active) == 1 else "findings"
    objects = "object" if result.objects == 1 else "objects"
    return f"{len(active)} {noun} ({parts}) in {result.objects} {objects}, {len(result.suppressed)} suppressed"


def generated_at() -> str:
    """UTC timestamp; honours SOURCE_DATE_EPOCH so reports can be reproduced byte for byte."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC) if epoch and epoch.isdigit() else dt.datetime.now(dt.UTC)
    )
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def safeguard_of(finding: Finding, catalog: HipaaCatalog | None = None) -> str:
    """The standard a finding is grouped under: the standard of the first paragraph its check cites."""
    catalog = catalog or load_hipaa()
    for pid in finding.hipaa:
        std = catalog.standard_of(pid)
        if std is not None:
            return std.id
    return UNMAPPED


@dataclass(slots=True)
class SafeguardGroup:
    standard: str
    title: str
    safeguard: str
    findings: list[Finding] = field(default_factory=list)


def group_by_safeguard(findings: Iterable[Finding], catalog: HipaaCatalog | None = None) -> list[SafeguardGroup]:
    """Findings grouped by HIPAA standard, in the regulation's order (unmapped last)."""
    catalog = catalog or load_hipaa()
    groups: dict[str, SafeguardGroup] = {}
    cache: dict[tuple[str, ...], str] = {}
    for finding in findings:
        key = cache.get(finding.hipaa)
        if key is None:
            key = cache[finding.hipaa] = safeguard_of(finding, catalog)
        group = groups.get(key)
        if group is None:
            para = catalog.get(key)
            title = para.title if para else "Not mapped to a HIPAA paragraph"
            safeguard = para.safeguard if para else UNMAPPED
            group = groups[key] = SafeguardGroup(key, title, safeguard)
        group.findings.append(finding)
    return sorted(groups.values(), key=lambda g: catalog.order(g.standard))


def exception_record(rule: ExceptionRule) -> dict[str, Any]:
    resource = rule.resource
    return {
        "check": rule.check,
        "resource": {"kind": resource.kind, "namespace": resource.namespace, "name": resource.name,
                     "container": resource.container},
        "scope": rule.scope,
        "owner": rule.owner,
        "justification": rule.justification,
        "expires": rule.expires.isoformat(),
    }


def warning_record(warning: ScanWarning) -> dict[str, Any]:
    """A scan warning as JSON/SARIF data: stable `code`, one-line `message`, the exception it is about."""
    record: dict[str, Any] = {"code": warning.code, "message": warning.message}
    if warning.exception is not None:
        record["exception"] = exception_record(warning.exception)
    return record
