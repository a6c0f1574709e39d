"""Exceptions suppress matching findings only until they expire; expired and unused ones are reported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from kubehipaa.checks.registry import Check, CheckMeta, Hit
from kubehipaa.config import parse_config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity
from kubehipaa.pipelines.scan import run_scan

TODAY = dt.date(2026, 6, 1)


def _obj(kind: str, ns: str | None, name: str) -> K8sObject:
    meta: dict = {"name": name}
    if ns:
        meta["namespace"] = ns
    return K8sObject({"apiVersion": "v1", "kind": kind, "metadata": meta}, "m.yaml", 1)


OBJECTS = [
    _obj("Deployment", "clinical", "legacy-pacs"),
    _obj("Deployment", "clinical", "ehr"),
    _obj("Service", "clinical", "legacy-pacs"),
    _obj("ClusterRole", None, "admin-ish"),
]


def _everything(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.objects:
        yield Hit(obj, "flagged", "spec")


CHECKS = [
    Check(CheckMeta(id="KH-WL-001", title="t", area="workloads", severity=Severity.HIGH,
                    hipaa=("164.312(a)(1)",), remediation="r"), _everything),
    Check(CheckMeta(id="KH-WL-002", title="t", area="workloads", severity=Severity.MEDIUM,
                    hipaa=("164.312(a)(1)",), remediation="r"), _everything),
    Check(CheckMeta(id="KH-RBAC-001", title="t", area="rbac", severity=Severity.CRITICAL,
                    hipaa=("164.312(a)(1)",), remediation="r"), _everything),
]


def _scan(*rules: dict):
    base = {"justification": "because", "owner": "team"}
    config = parse_config({"exceptions": [{**base, **r} for r in rules]})
    return run_scan(Inventory(list(OBJECTS), config), config, checks=CHECKS, today=TODAY)


def _suppressed(result) -> set[tuple[str, str, str]]:
    return {(f.check_id, f.resource.kind, f.resource.name) for f in result.findings if f.suppressed}


def test_exact_match_suppresses_only_that_finding() -> None:
    result = _scan({"check": "KH-WL-001", "resource": {"kind": "Deployment", "namespace": "clinical",
                                                      "name": "ehr"}, "expires": "2026-12-31"})
    assert _suppressed(result) == {("KH-WL-001", "Deployment", "ehr")}
    assert len(result.findings) == 12 and len(result.active) == 11


def test_globs_on_check_and_name_and_omitted_fields_match_anything() -> None:
    result = _scan({"check": "KH-WL-*", "resource": {"name": "legacy-*"}, "expires": "2026-12-31"})
    assert _suppressed(result) == {
        ("KH-WL-001", "Deployment", "legacy-pacs"), ("KH-WL-001", "Service", "legacy-pacs"),
        ("KH-WL-002", "Deployment", "legacy-pacs"), ("KH-WL-002", "Service", "legacy-pacs"),
    }


def test_cluster_scoped_resources_match_an_empty_namespace_only() -> None:
    result = _scan({"check": "KH-RBAC-001", "resource": {"namespace": "clinical"}, "expires": "2026-12-31"})
    assert ("KH-RBAC-001", "ClusterRole", "admin-ish") not in _suppressed(result)
    result = _scan({"check": "KH-RBAC-001", "resource": {"kind": "ClusterRole"}, "expires": "2026-12-31"})
    assert _suppressed(result) == {("KH-RBAC-001", "ClusterRole", "admin-ish")}


@pytest.mark.parametrize(("expires", "live"), [("2026-06-01", True), ("2026-05-31", False)])
def test_an_exception_works_through_its_expiry_date_and_not_after(expires: str, live: bool) -> None:
    result = _scan({"check": "KH-RBAC-001", "expires": expires})
    assert bool(_suppressed(result)) is live
    assert [r.expires.isoformat() for r in result.expired_exceptions] == ([] if live else [expires])


def test_suppression_record_and_threshold() -> None:
    result = _scan({"check": "KH-RBAC-001", "expires": "2026-12-31"})
    finding = next(f for f in result.findings if f.check_id == "KH-RBAC-001")
    assert finding.suppression == {"check": "KH-RBAC-001", "owner": "team", "justification": "because",
                                   "expires": "2026-12-31"}
    assert not [f for f in result.at_or_above(Severity.CRITICAL)]
    assert result.at_or_above(Severity.HIGH)


def test_unused_exceptions_are_reported() -> None:
    result = _scan({"check": "KH-WL-001", "resource": {"namespace": "nowhere"}, "expires": "2026-12-31"})
    assert [r.check for r in result.unused_exceptions] == ["KH-WL-001"]
    assert not _suppressed(result)
