"""What every renderer shares: severity counts, the summary line, grouping by HIPAA safeguard.

Kept in one place so the table, JSON, SARIF and JUnit reports never disagree on a count, and so that all of
them render the same redacted result (`redact_result`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubehipaa import __version__
from kubehipaa.config import ExceptionRule
from kubehipaa.frameworks import HipaaCatalog, load_hipaa
from kubehipaa.model import Evidence, Finding, ResourceRef, Severity
from kubehipaa.pipelines.scan import CheckError, ScanResult, ScanWarning
from kubehipaa.redaction import Redacted, redact_text, redact_tree

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


def redact_result(result: ScanResult) -> ScanResult:
    """The result as it may leave the tool: every string that came from the input (finding messages, evidence
    paths and values, resource names and files, check errors, warnings, skipped-input messages) passed through
    `kubehipaa.redaction`. Every renderer starts from this, so no format can show what another one masks.

    Findings made by the registry were redacted then (their message is a `Redacted`) and are passed over; any
    other finding is redacted here, idempotently (a mask is never masked again).
    """
    refs: dict[int, ResourceRef] = {}

    def ref(r: ResourceRef) -> ResourceRef:
        done = refs.get(id(r))
        if done is None:
            name, ns, file = redact_text(r.name), redact_text(r.namespace) if r.namespace else r.namespace, \
                redact_text(r.file)
            same = name is r.name and ns is r.namespace and file is r.file
            done = refs[id(r)] = r if same else dataclasses.replace(r, name=name, namespace=ns, file=file)
        return done

    def evidence(e: Evidence) -> Evidence:
        value = redact_tree(e.value) if isinstance(e.value, str | list | tuple | dict) else e.value
        changed = value != (list(e.value) if isinstance(e.value, tuple) else e.value)
        path = redact_text(e.path)
        return e if not changed and path is e.path else Evidence(path, value, e.redacted or changed)

    def finding(f: Finding) -> Finding:
        if isinstance(f.message, Redacted) and not f.suppression:
            return f  # made by the registry, which redacted message, evidence and resource
        res, message = ref(f.resource), redact_text(f.message)
        evidence_ = [evidence(e) for e in f.evidence]
        suppression = redact_tree(f.suppression) if f.suppression else f.suppression
        if res is f.resource and message is f.message and suppression == f.suppression and all(
                a is b for a, b in zip(evidence_, f.evidence, strict=True)):
            return f  # nearly always: the registry redacted it when it was made
        return dataclasses.replace(f, resource=res, message=message, evidence=evidence_, suppression=suppression)

    findings = [finding(f) for f in result.findings]
    return dataclasses.replace(
        result,
        findings=findings,
        errors=[CheckError(e.check_id, redact_text(e.message)) for e in result.errors],
        skipped=[_redact_problem(p) for p in result.skipped],
        warnings=[dataclasses.replace(w, message=redact_text(w.message)) for w in result.warnings],
    )


def _redact_problem(problem: Any) -> Any:
    """A skipped-input record (`sources.files.InputProblem`) with its file and message redacted."""
    if not dataclasses.is_dataclass(problem) or isinstance(problem, type):
        return redact_text(str(problem))
    changes: dict[str, Any] = {name: redact_text(getattr(problem, name)) for name in ("file", "message")
                               if isinstance(getattr(problem, name, None), str)}
    if "message" in changes and hasattr(problem, "severity") and hasattr(problem, "level"):
        changes["level"] = problem.severity  # decided on the original message, kept whatever the mask changed
    return dataclasses.replace(problem, **changes)


def exception_record(rule: ExceptionRule) -> dict[str, Any]:
    """An exception of `.kubehipaa.yaml` as report data (its free text redacted like everything else)."""
    resource = rule.resource
    return redact_tree({
        "check": rule.check,
        "resource": {"kind": resource.kind, "namespace": resource.namespace, "name": resource.name,
                     "container": resource.container},
        "scope": rule.scope,
        "owner": rule.owner,
        "approver": rule.approver,
        "justification": rule.justification,
        "expires": rule.expires.isoformat(),
    })


def warning_record(warning: ScanWarning) -> dict[str, Any]:
    """A scan warning as JSON/SARIF data: stable `code`, one-line `message`, the exception it is about."""
    record: dict[str, Any] = {"code": warning.code, "message": warning.message}
    if warning.exception is not None:
        record["exception"] = exception_record(warning.exception)
    return record
