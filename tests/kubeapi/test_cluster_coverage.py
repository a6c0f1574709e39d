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


def test_the_generated_cronjob_command_saves_each_run_to_the_history(kubeconfig: Path, tmp_path: Path) -> None:
    """The in-cluster scanner's exact command line (from `generate cronjob --history-secret`), run against the
    loopback API server with the Secret's URL substituted as the kubelet would: each run lands in the shared
    history, where `history list` finds it."""
    import json

    import yaml
    from typer.testing import CliRunner

    from kubehipaa.cli.main import app

    runner = CliRunner()
    digest = "a" * 64
    out = runner.invoke(app, ["generate", "cronjob", "--image", f"reg/kubehipaa:1@sha256:{digest}",
                              "--history-secret", "hist-db", "--cluster-name", "prod-east"])
    assert out.exit_code == 0, out.output
    cron = next(d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "CronJob")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    args = [url if a == "$(KUBEHIPAA_HISTORY_URL)" else str(tmp_path / "report.json") if a.startswith("/tmp/")
            else a for a in container["args"]]
    env = {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}
    for _ in range(2):
        res = runner.invoke(app, [*args, "--kubeconfig", str(kubeconfig)], env=env)
        assert res.exit_code == 0, res.output
    listed = runner.invoke(app, ["history", "list", "--history-url", url, "-f", "json"])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)["scans"]) == 2
