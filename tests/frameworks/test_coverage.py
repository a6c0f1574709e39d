"""Coverage per HIPAA paragraph (issue 15 req 1): assessed / passed / failed / not assessed (why) /
attestation required, never omitted; Required/Addressable with the proposed-rule switch."""

from __future__ import annotations

from pathlib import Path

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.frameworks import load_hipaa
from kubehipaa.frameworks.coverage import RuleOutcome, coverage
from kubehipaa.pipelines.check_inputs import GAP_CHECKS, KIND_CHECKS, kinds_of
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan import ControlPlaneFiles, scan
from kubehipaa.sources.files import load_paths
from tests.conftest import EXAMPLES

INSECURE = EXAMPLES / "clinic-insecure"


def _coverage(*paths: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    run = scan(load_paths([str(p) for p in paths]), Config(), **kwargs)  # type: ignore[arg-type]
    return scan_coverage(run.result), run.result


def test_every_check_has_known_inputs() -> None:
    """A check the input map does not know could never be 'not assessed': it would pass on no input."""
    for chk in all_checks():
        if chk.meta.scope == "control-plane" or chk.meta.id in GAP_CHECKS:
            assert chk.meta.area in ("apiserver", "encryption", "audit", "kubelet"), chk.meta.id
        else:
            assert kinds_of(chk.meta.id), f"{chk.meta.id} reads no kind in KIND_CHECKS"
    assert set(KIND_CHECKS) >= {"Namespace", "Secret", "NetworkPolicy", "RoleBinding", "Deployment", "Pod"}


def test_every_paragraph_is_listed_and_uncovered_ones_need_attestation() -> None:
    cov, _ = _coverage(INSECURE)
    catalog = load_hipaa()
    expected = [p.id for p in catalog.paragraphs.values() if p.safeguard != "organizational"]
    assert [p.id for p in cov.paragraphs] == expected
    workforce = next(p for p in cov.paragraphs if p.id == "164.308(a)(5)(ii)(A)")  # security reminders
    assert workforce.state == "attestation-required" and not workforce.rules
    assert all(p.paragraph.evidence for p in cov.paragraphs)
    physical = cov.score("physical")
    assert physical.percent is None and physical.attestation == len(cov.by_safeguard()["physical"])


def test_rbac_only_input_never_passes_encryption_or_network() -> None:
    """What was not in the input is 'not assessed' with the reason, never 'passed'."""
    cov, result = _coverage(INSECURE / "rbac.yaml")
    by_id = {p.id: p for p in cov.paragraphs}
    in_transit = by_id["164.312(e)(2)(ii)"]  # TLS flags and Ingress TLS: none of it in RBAC manifests
    assert in_transit.state == "not-assessed"
    assert any("no kube-apiserver configuration" in r for r in in_transit.reasons)
    encryption = by_id["164.312(a)(2)(iv)"]  # failed through KH-RBAC-005 (who can read Secrets), but partial
    assert encryption.state == "failed" and encryption.partial
    assert any("no EncryptionConfiguration" in r for r in encryption.reasons)
    assert "KH-ENC-001" not in result.assessed
    assert result.not_assessed["KH-NET-009"] == ["no input of kind Ingress"]
    assert by_id["164.312(a)(1)"].state == "failed"  # RBAC findings are there


def test_failed_passed_and_partial() -> None:
    insecure, _ = _coverage(INSECURE)
    hardened, _ = _coverage(EXAMPLES / "clinic-hardened")
    i = {p.id: p for p in insecure.paragraphs}
    h = {p.id: p for p in hardened.paragraphs}
    assert i["164.312(a)(2)(iv)"].state == "failed" and i["164.312(a)(2)(iv)"].open_findings > 0
    assert h["164.312(a)(2)(iv)"].state == "passed"
    # a standard with no rule of its own rolls up from its implementation specifications
    assert i["164.308(a)(1)(i)"].state == "failed" and h["164.308(a)(1)(i)"].state == "passed"
    # audit-log detections are not run by a scan: the paragraph passes only partially, and says why
    audit = h["164.312(b)"]
    assert audit.partial and any("audit analyze" in r for r in audit.reasons)


def test_managed_control_plane_is_not_assessed_managed() -> None:
    cov, result = _coverage(INSECURE / "workloads.yaml", control_plane=ControlPlaneFiles(managed="eks"))
    assert any("managed control plane (EKS)" in r for r in result.not_assessed["KH-API-001"])
    assert "KH-API-001" not in result.assessed
    enc = {p.id: p for p in cov.paragraphs}["164.312(a)(2)(iv)"]
    assert enc.state != "passed" or enc.partial


def test_unknown_rule_is_not_evaluated_never_passed() -> None:
    cov = coverage(load_hipaa(), {})
    assert {p.state for p in cov.paragraphs} <= {"not-assessed", "attestation-required"}
    assert cov.score().percent is None


def test_score_is_share_of_assessed_paragraphs_that_passed() -> None:
    catalog = load_hipaa()
    rules = {r for p in catalog.paragraphs.values() for r in (*p.satisfied_by, *p.supported_by)}
    all_pass = coverage(catalog, {r: RuleOutcome("passed") for r in rules})
    assert all_pass.score().percent == 100
    one_fail = coverage(catalog, {r: RuleOutcome("failed", (), {"high": 1}) if r == "KH-ENC-001"
                                  else RuleOutcome("passed") for r in rules})
    s = one_fail.score()
    assert s.failed >= 1 and s.percent == round(100 * s.passed / (s.passed + s.failed))


def test_proposed_rule_makes_addressable_required() -> None:
    cov, _ = _coverage(INSECURE)
    addressable = [p.id for p in cov.paragraphs if p.requirement == "addressable"]
    assert addressable
    proposed = scan_coverage(_coverage(INSECURE)[1], proposed_rule=True)
    assert not [p for p in proposed.paragraphs if p.requirement == "addressable"]
    assert {p.id: p.requirement for p in proposed.paragraphs if p.id in addressable} == dict.fromkeys(
        addressable, "required")
