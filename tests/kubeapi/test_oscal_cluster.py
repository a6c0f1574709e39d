"""`kubehipaa scan --cluster --format oscal`: the loopback API server's objects as OSCAL assessment results,
located as cluster objects, with the cluster listing as the hashed input and no Secret value (issue 15 req 5)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.kubeapi.server import FakeCluster

trestle_ar = pytest.importorskip("trestle.oscal.assessment_results")
SECRET_B64 = "c3VwZXItc2VjcmV0LXZhbHVlLTQy"  # super-secret-value-42


def test_cluster_scan_as_oscal(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "clinical"},
              "data": {"password": SECRET_B64}})
    out = tmp_path / "assessment-results.json"
    res = CliRunner().invoke(app, ["scan", "--cluster", "--kubeconfig", str(kubeconfig), "--format", "oscal",
                                   "-o", str(out), "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert SECRET_B64 not in text and base64.b64decode(SECRET_B64).decode() not in text
    doc = json.loads(text)
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    result = doc["assessment-results"]["results"][0]
    assert result["observations"]
    locations = {p["value"] for i in result["local-definitions"]["inventory-items"] for p in i["props"]
                 if p["name"] == "location"}
    assert "cluster:test-ctx/ClusterRoleBinding/anonymous-view" in locations
    assert all(loc.startswith("cluster:test-ctx/") for loc in locations)
    inputs = [r for r in doc["assessment-results"]["back-matter"]["resources"] if r["title"].startswith("Input:")]
    assert [r["title"] for r in inputs] == ["Input: cluster:test-ctx"]
    assert len(inputs[0]["rlinks"][0]["hashes"][0]["value"]) == 64


def test_unreadable_kind_leaves_paragraphs_not_assessed(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.add("secrets")
    res = CliRunner().invoke(app, ["scan", "--cluster", "--kubeconfig", str(kubeconfig), "-f", "oscal",
                                   "--fail-on", "never"])
    assert res.exit_code == 2  # lost input, never a pass
    doc = json.loads(res.stdout)
    trestle_ar.AssessmentResults.parse_obj(doc["assessment-results"])
    remarks = [f["target"].get("remarks", "") for f in doc["assessment-results"]["results"][0]["findings"]]
    assert any("Secret" in r for r in remarks)
