"""Case folders as specs: what each firing case must produce, as written in its `expected.yaml`.

One module for the tests (tests/test_check_cases.py, tests/test_audit_cases.py) and the generator
(scripts/gen_case_expectations.py), so that what the generator writes and what the tests compare are the same
projection of a finding or an alert. The format is documented in tests/cases/README.md.

A case is run exactly as a user's input would be: a check case through `load_paths` → `Inventory` →
`run_scan` with the default config; an audit-rule case through `iter_events` (the file reader of
`kubehipaa audit analyze`) → a `Detector` with the whole built-in catalog and the default config.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from kubehipaa.config import Config
from kubehipaa.engines.auditlog import Alert, Detector
from kubehipaa.inventory import Inventory
from kubehipaa.model import Finding, Severity
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.auditlog import ReadStats, iter_events
from kubehipaa.sources.files import DUPLICATE, load_paths

TESTS = Path(__file__).resolve().parent
CHECK_CASES = TESTS / "cases"
AUDIT_CASES = TESTS / "audit_cases"
EXPECTED = "expected.yaml"
AUDIT_FIRE = "events.jsonl"
AUDIT_PASS_GLOB = "pass*.jsonl"

SEVERITIES = tuple(s.label for s in Severity)
FINDING_KEYS = {"resource", "path", "severity", "namespace_assumed"}
RESOURCE_KEYS = {"kind", "namespace", "name"}
ALERT_KEYS = {"auditID", "user", "verb", "object", "severity", "count"}


class SpecError(ValueError):
    """An expected.yaml that does not follow the format: the message names the file and the key."""


# ------------------------------------------------------------------------------------------- running cases


@cache
def scan(path: Path) -> tuple[Finding, ...]:
    """Every finding of one case file (cached: the fire/pass test and the expectation test share a scan)."""
    loaded = load_paths([str(path)])
    # a redefined object (fire_shadowed) is a duplicate by design; anything else is a broken case file
    problems = [p for p in loaded.problems if p.severity != DUPLICATE]
    assert not problems, f"case file {path} has problems: {problems}"
    result = run_scan(Inventory(loaded.objects, Config()), Config())
    assert not result.errors, result.errors
    return tuple(result.findings)


def finding_entry(f: Finding) -> dict[str, Any]:
    """The part of a finding an expectation pins: which object, which field, how severe."""
    r = f.resource
    entry: dict[str, Any] = {
        "resource": {"kind": r.kind, "namespace": r.namespace, "name": r.name},
        "path": f.evidence[0].path if len(f.evidence) == 1 else [e.path for e in f.evidence],
        "severity": f.severity.label,
    }
    if r.namespace_assumed:
        entry["namespace_assumed"] = True
    return entry


def check_entries(path: Path, check_id: str) -> list[dict[str, Any]]:
    """The expectation entries `path` produces today for `check_id`, in a stable order."""
    return sort_findings([finding_entry(f) for f in scan(path) if f.check_id == check_id])


def sort_findings(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(e: dict[str, Any]) -> tuple[str, ...]:
        r = e.get("resource") or {}
        return (str(r.get("kind")), str(r.get("namespace") or ""), str(r.get("name")), str(e.get("path")),
                str(e.get("severity")), str(e.get("namespace_assumed", False)))

    return sorted(entries, key=key)


def alerts(path: Path) -> list[Alert]:
    """Every alert of an events file, with the built-in catalog (no Sigma rules) and the default config."""
    stats = ReadStats()
    detector = Detector()
    out = detector.process_all(iter_events([str(path)], stats))
    assert not stats.malformed, f"{path}: malformed lines {[str(m) for m in stats.malformed_samples]}"
    assert stats.events, f"{path}: no audit events"
    return out


def alert_entry(a: Alert) -> dict[str, Any]:
    """The part of an alert an expectation pins, as the alert is output (`Alert.to_dict`, redacted)."""
    d = a.to_dict()
    entry = {"auditID": d["auditID"], "user": d["user"], "verb": d["verb"], "object": d["object"],
             "severity": d["severity"]}
    if d["count"] != 1:
        entry["count"] = d["count"]
    return entry


def alert_entries(path: Path, rule_id: str) -> list[dict[str, Any]]:
    """The expectation entries `path` produces today for `rule_id`, in stream order."""
    return [alert_entry(a) for a in alerts(path) if a.rule_id == rule_id]


# ----------------------------------------------------------------------------------------- expected.yaml


def read_expected(folder: Path) -> dict[str, Any]:
    """The folder's expected.yaml, validated: unknown or missing keys are errors, so a typo ("severty") can
    not make an expectation silently weaker."""
    path = folder / EXPECTED
    if not path.is_file():
        raise SpecError(f"{path}: missing (generate it: python scripts/gen_case_expectations.py {folder.name})")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: not a mapping")
    if "check" in doc:
        _validate_check_spec(path, folder.name, doc)
    elif "rule" in doc:
        _validate_rule_spec(path, folder.name, doc)
    else:
        raise SpecError(f"{path}: needs `check:` (a check case) or `rule:` (an audit-rule case)")
    return doc


def _keys(path: Path, where: str, got: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = set(got) - allowed
    missing = required - set(got)
    if unknown or missing:
        raise SpecError(f"{path}: {where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")


def _severity(path: Path, where: str, value: Any) -> None:
    if value not in SEVERITIES:
        raise SpecError(f"{path}: {where}: severity {value!r} is not one of {', '.join(SEVERITIES)}")


def _validate_check_spec(path: Path, folder: str, doc: dict[str, Any]) -> None:
    _keys(path, "top level", doc, {"check", "fire", "note"}, {"check", "fire"})
    if doc["check"] != folder:
        raise SpecError(f"{path}: check {doc['check']!r} is not the folder's id {folder!r}")
    fire = doc["fire"]
    if not isinstance(fire, dict) or not fire:
        raise SpecError(f"{path}: `fire` must map each fire*.yaml file to its findings")
    for name, entries in fire.items():
        if not isinstance(entries, list) or not entries:
            raise SpecError(f"{path}: fire.{name}: a firing case must expect at least one finding")
        for i, e in enumerate(entries):
            where = f"fire.{name}[{i}]"
            if not isinstance(e, dict):
                raise SpecError(f"{path}: {where}: not a mapping")
            _keys(path, where, e, FINDING_KEYS, {"resource", "path", "severity"})
            if not isinstance(e["resource"], dict):
                raise SpecError(f"{path}: {where}.resource: not a mapping")
            _keys(path, f"{where}.resource", e["resource"], RESOURCE_KEYS, RESOURCE_KEYS)
            _severity(path, where, e["severity"])


def _validate_rule_spec(path: Path, folder: str, doc: dict[str, Any]) -> None:
    _keys(path, "top level", doc, {"rule", "alerts", "note"}, {"rule", "alerts"})
    if doc["rule"] != folder:
        raise SpecError(f"{path}: rule {doc['rule']!r} is not the folder's id {folder!r}")
    entries = doc["alerts"]
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{path}: `alerts` must list at least one alert of {AUDIT_FIRE}")
    for i, e in enumerate(entries):
        where = f"alerts[{i}]"
        if not isinstance(e, dict):
            raise SpecError(f"{path}: {where}: not a mapping")
        _keys(path, where, e, ALERT_KEYS, ALERT_KEYS - {"count"})
        _severity(path, where, e["severity"])


def _scalar(value: Any) -> str:
    """One YAML scalar, quoted only where YAML needs it (a path like `data["tls.key"]`, a name with ':')."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _header(what: str) -> list[str]:
    return [f"# {what} (format: tests/cases/README.md).",
            "# Written by scripts/gen_case_expectations.py from the behaviour of the day, then read by a person:",
            "# regenerate only after an intended change, and review the diff."]


def render_check_spec(check_id: str, per_file: dict[str, list[dict[str, Any]]], note: str | None = None) -> str:
    lines = _header(f"Findings of {check_id} each fire*.yaml of this folder must produce, and no others")
    lines.append(f"check: {check_id}")
    if note:
        lines.append(f"note: {_scalar(note)}")
    lines.append("fire:")
    for name in sorted(per_file):
        lines.append(f"  {_scalar(name)}:")
        for e in per_file[name]:
            r = e["resource"]
            res = ", ".join(f"{k}: {_scalar(r[k])}" for k in ("kind", "namespace", "name"))
            lines.append(f"  - resource: {{{res}}}")
            lines.append(f"    path: {_scalar(e['path'])}")
            lines.append(f"    severity: {e['severity']}")
            if e.get("namespace_assumed"):
                lines.append("    namespace_assumed: true")
    return "\n".join(lines) + "\n"


def render_rule_spec(rule_id: str, entries: list[dict[str, Any]], note: str | None = None) -> str:
    lines = _header(f"Alerts of {rule_id} that {AUDIT_FIRE} must raise, in order, and no others")
    lines.append(f"rule: {rule_id}")
    if note:
        lines.append(f"note: {_scalar(note)}")
    lines.append("alerts:")
    for e in entries:
        lines.append(f"- auditID: {_scalar(e['auditID'])}")
        for k in ("user", "verb", "object", "severity", "count"):
            if k in e:
                lines.append(f"  {k}: {_scalar(e[k])}")
    return "\n".join(lines) + "\n"
