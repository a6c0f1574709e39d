"""`kubehipaa scan --cluster`: same checks, reports and exit codes as files, and honest coverage."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.conftest import EXAMPLES
from tests.kubeapi.server import RESOURCES, FakeCluster

SECRET_B64 = "c3VwZXItc2VjcmV0LXZhbHVlLTQy"  # super-secret-value-42
runner = CliRunner()


def _scan(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["scan", "--cluster", "--kubeconfig", str(kubeconfig), *args])
    return res.exit_code, res.stdout, res.stderr


def test_findings_exit_1_and_locations_name_the_cluster(kubeconfig: Path) -> None:
    code, out, _ = _scan(kubeconfig, "-f", "json")
    assert code == 1
    report = json.loads(out)
    files = {f["resource"]["file"] for f in report["findings"]}
    assert "cluster:test-ctx/ClusterRoleBinding/anonymous-view" in files
    assert all(f.startswith("cluster:test-ctx/") for f in files)
    assert not [w for w in report["warnings"] if w["code"] == "not-readable"]


def test_fail_on_never_exits_0_when_everything_was_read(kubeconfig: Path) -> None:
    code, _, _ = _scan(kubeconfig, "-f", "json", "--fail-on", "never")
    assert code == 0


def test_table_shows_the_location_without_a_line(kubeconfig: Path) -> None:
    code, out, _ = _scan(kubeconfig, "--max-rows", "0")
    assert code == 1
    assert "cluster:test-ctx/ClusterRoleBinding/anonymous-view" in out
    assert "anonymous-view:0" not in out


def test_forbidden_secrets_are_not_assessed_and_exit_2(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.add("secrets")
    code, out, err = _scan(kubeconfig, "-f", "json", "--fail-on", "never")
    assert code == 2  # lost input: never a pass, whatever --fail-on says
    warnings = [w for w in json.loads(out)["warnings"] if w["code"] == "not-readable"]
    assert len(warnings) == 1
    assert "Secret" in warnings[0]["message"] and "KH-SEC-008" in warnings[0]["message"]
    assert "KH-RBAC-012" in warnings[0]["message"]
    assert "not assessed" in err
    # the checks that read Secrets found nothing, because nothing was read: no KH-RBAC-012 finding
    assert not [f for f in json.loads(out)["findings"] if f["checkId"] == "KH-RBAC-012"]


def test_forbidden_kind_is_a_sarif_notification(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.add("configmaps")
    code, out, _ = _scan(kubeconfig, "-f", "sarif")
    assert code == 2
    notes = json.loads(out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any(n["descriptor"]["id"] == "not-readable" and "ConfigMap" in n["message"]["text"]
               and "KH-SEC-002" in n["message"]["text"] for n in notes)


def test_forbidden_kind_in_the_table(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.add("networkpolicies")
    code, out, err = _scan(kubeconfig)
    assert code == 2
    assert "NetworkPolicy could not be read" in err and "KH-NET-001" in err
    assert "not-readable" in out  # the table names the warning it carries


def test_nothing_readable_exits_2_without_a_report(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.update(r[2] for r in RESOURCES)
    code, out, err = _scan(kubeconfig, "-f", "json")
    assert code == 2
    assert "nothing could be read" in err
    assert '"findings"' not in out


def test_unreachable_cluster_exits_2(tmp_path: Path) -> None:
    kc = tmp_path / "kc.json"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "x", "user": "u"}}]}))
    code, _, err = _scan(kc)
    assert code == 2
    assert "Traceback" not in err


def test_managed_control_plane_is_not_assessed(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.git_version = "v1.30.4-eks-a737599"
    code, out, _ = _scan(kubeconfig, "-f", "json", "--fail-on", "never")
    assert code == 0
    report = json.loads(out)
    managed = [w for w in report["warnings"] if w["code"] == "managed-control-plane"]
    assert len(managed) == 1 and "eks" in managed[0]["message"]
    control = [f for f in report["findings"] if f["checkId"].startswith(("KH-API", "KH-ENC", "KH-AUD", "KH-KUB"))]
    assert control and all("not assessed (managed control plane, EKS)" in f["message"] for f in control)


def test_apiserver_flags_come_from_the_visible_static_pod(fake: FakeCluster, kubeconfig: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "clinic-insecure" / "control-plane" / "kube-apiserver.yaml").read_text())
    doc["metadata"]["name"] = "kube-apiserver-cp-1"
    doc["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc", "kubernetes.io/config.source": "file"}
    fake.add(doc)
    _, out, _ = _scan(kubeconfig, "-f", "json")
    api = [f for f in json.loads(out)["findings"] if f["checkId"].startswith("KH-API")
           and f["resource"]["file"] == "cluster:test-ctx/Pod/kube-system/kube-apiserver-cp-1"]
    assert api and not any("not assessed" in f["message"] for f in api)


def test_secret_values_are_in_no_output(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.add({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "db", "namespace": "clinical"}, "data": {"password": SECRET_B64}})
    for fmt in ("table", "json", "sarif", "junit"):
        _, out, err = _scan(kubeconfig, "-f", fmt, "--max-rows", "0")
        assert SECRET_B64 not in out + err
        assert "super-secret-value-42" not in out + err
    # a cluster's Secret is not a committed manifest: KH-SEC-008 does not fire on the masked values
    _, out, _ = _scan(kubeconfig, "-f", "json")
    assert not [f for f in json.loads(out)["findings"] if f["checkId"] == "KH-SEC-008"]


def test_cluster_and_paths_are_exclusive(kubeconfig: Path) -> None:
    res = runner.invoke(app, ["scan", "x.yaml", "--cluster", "--kubeconfig", str(kubeconfig)])
    assert res.exit_code == 2
    res = runner.invoke(app, ["scan", "x.yaml", "--context", "prod"])
    assert res.exit_code == 2


def test_listing_progress_only_on_a_terminal_and_not_for_json(monkeypatch, kubeconfig: Path) -> None:
    from kubehipaa.cli import scan as scan_cli

    seen: list[object] = []
    real = scan_cli.scan_cluster

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("listing"))
        return real(*args, **kwargs)

    monkeypatch.setattr(scan_cli, "scan_cluster", spy)
    _scan(kubeconfig, "-f", "table")  # CliRunner: stderr is not a terminal
    monkeypatch.setattr(scan_cli.common, "interactive", lambda: True)
    _scan(kubeconfig, "-f", "json")
    _scan(kubeconfig, "-f", "sarif")
    _scan(kubeconfig, "-f", "table")
    assert seen[:3] == [None, None, None]
    assert callable(seen[3])


def test_sarif_locations_are_cluster_uris(kubeconfig: Path) -> None:
    _, out, _ = _scan(kubeconfig, "-f", "sarif")
    locations = [r["locations"][0]["physicalLocation"] for r in json.loads(out)["runs"][0]["results"]]
    assert locations
    assert all(loc["artifactLocation"]["uri"].startswith("cluster:test-ctx/") for loc in locations)
    assert all("uriBaseId" not in loc["artifactLocation"] for loc in locations)
    assert {"uri": "cluster:test-ctx/ClusterRoleBinding/anonymous-view"} in [loc["artifactLocation"]
                                                                             for loc in locations]
