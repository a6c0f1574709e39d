"""A kind the scanning identity cannot read leaves its checks 'not assessed (permission denied)' in the
coverage model, never passed (issue 15 req 1 with issue 14's honest coverage)."""

from __future__ import annotations

from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.pipelines.coverage import scan_coverage
from kubehipaa.pipelines.scan_cluster import ClusterTarget, scan_cluster
from tests.kubeapi.server import FakeCluster


def test_forbidden_secrets_are_not_assessed_with_the_reason(kubeconfig: Path, fake: FakeCluster) -> None:
    fake.forbidden.add("secrets")
    result = scan_cluster(ClusterTarget(str(kubeconfig)), Config()).run.result
    reasons = result.not_assessed["KH-SEC-008"]
    assert any("Secret could not be read from cluster test-ctx (403 Forbidden" in r for r in reasons)
    outcome = {rc.rule_id: rc.outcome for p in scan_coverage(result).paragraphs for rc in p.rules}["KH-SEC-008"]
    assert outcome.state == "not-assessed"
    assert "KH-NS-001" in result.assessed  # what could be read was assessed


def test_cluster_scan_records_the_listing_as_one_hashed_input(kubeconfig: Path) -> None:
    first = scan_cluster(ClusterTarget(str(kubeconfig)), Config()).run.result.inputs
    again = scan_cluster(ClusterTarget(str(kubeconfig)), Config()).run.result.inputs
    assert [i.name for i in first] == ["cluster:test-ctx"] and len(first[0].sha256) == 64
    assert first == again  # same objects, same digest
