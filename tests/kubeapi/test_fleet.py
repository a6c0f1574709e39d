"""`scan --cluster` over several contexts: one report, each finding located by its cluster, listed concurrently
(bounded), one unreachable cluster named without hiding the others."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.pipelines import scan_cluster as fleet
from tests.kubeapi.conftest import clinic_objects
from tests.kubeapi.server import FakeCluster, KubeAPIServer

runner = CliRunner()


def _role_binding(name: str, namespace: str) -> dict[str, Any]:
    """A RoleBinding granting `cluster-admin` to every authenticated user in `namespace` (KH-RBAC finding)."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]}


def _namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def write_kubeconfig(path: Path, servers: dict[str, str]) -> Path:
    """One kubeconfig with a cluster, user and context per (context → server URL); current: the first."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": next(iter(servers)),
        "clusters": [{"name": f"c-{ctx}", "cluster": {"server": url}} for ctx, url in servers.items()],
        "users": [{"name": "scanner", "user": {"token": "test-token"}}],
        "contexts": [{"name": ctx, "context": {"cluster": f"c-{ctx}", "user": "scanner"}} for ctx in servers],
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[FakeCluster, FakeCluster, Path]]:
    """Cluster `east` (examples/clinic-insecure) and cluster `west` (a PHI namespace with one broad binding)."""
    east, west = FakeCluster(), FakeCluster()
    east.add(*clinic_objects())
    west.add(_namespace("billing", {"kubehipaa.io/phi": "true"}), _role_binding("everyone-admin", "billing"))
    with KubeAPIServer(east) as a, KubeAPIServer(west) as b:
        yield east, west, write_kubeconfig(tmp_path / "kc.json", {"east": a.url, "west": b.url})


def _scan(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["scan", "--cluster", "--kubeconfig", str(kubeconfig), *args])
    return res.exit_code, res.stdout, res.stderr


def _clusters(report: dict[str, Any]) -> set[str]:
    return {f["resource"]["file"].split("/", 1)[0] for f in report["findings"]}


def test_two_contexts_one_report_located_by_context(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    _, _, kc = two
    code, out, err = _scan(kc, "--context", "east", "--context", "west", "-f", "json")
    assert code == 1, err
    report = json.loads(out)
    assert _clusters(report) == {"cluster:east", "cluster:west"}
    files = {f["resource"]["file"] for f in report["findings"]}
    assert "cluster:west/RoleBinding/billing/everyone-admin" in files
    assert "cluster:east/ClusterRoleBinding/anonymous-view" in files
    # each cluster's objects were counted once, and per-cluster warnings name their cluster
    east_alone = json.loads(_scan(kc, "--context", "east", "-f", "json")[1])
    assert report["summary"]["objects"] == east_alone["summary"]["objects"] + 2
    assert sorted(map(json.dumps, east_alone["findings"])) == sorted(
        json.dumps(f) for f in report["findings"] if f["resource"]["file"].startswith("cluster:east/"))
    assert all("cluster east" in w["message"] or "cluster west" in w["message"] for w in report["warnings"]
               if w["code"] != "broad-exception")


def test_all_contexts_scans_every_context(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    _, _, kc = two
    code, out, _ = _scan(kc, "--all-contexts", "-f", "json")
    assert code == 1
    assert _clusters(json.loads(out)) == {"cluster:east", "cluster:west"}


def test_same_namespace_name_in_two_clusters_is_not_conflated(tmp_path: Path) -> None:
    """`clinical` is PHI in east only: the PHI namespace label of one cluster must not raise the severity of
    the other cluster's findings (each cluster has its own Inventory)."""
    east, west = FakeCluster(), FakeCluster()
    east.add(_namespace("clinical", {"kubehipaa.io/phi": "true"}), _role_binding("wide", "clinical"))
    west.add(_namespace("clinical"), _role_binding("wide", "clinical"))
    with KubeAPIServer(east) as a, KubeAPIServer(west) as b:
        kc = write_kubeconfig(tmp_path / "kc.json", {"east": a.url, "west": b.url})
        _, out, _ = _scan(kc, "--all-contexts", "-f", "json", "--fail-on", "never")
        alone_east = json.loads(_scan(kc, "--context", "east", "-f", "json", "--fail-on", "never")[1])
        alone_west = json.loads(_scan(kc, "--context", "west", "-f", "json", "--fail-on", "never")[1])

    def by_cluster(report: dict[str, Any], ctx: str) -> list[tuple[str, str, str]]:
        return sorted((f["checkId"], f["severity"], f["resource"]["file"]) for f in report["findings"]
                      if f["resource"]["file"].startswith(f"cluster:{ctx}/"))

    merged = json.loads(out)
    assert by_cluster(merged, "east") == by_cluster(alone_east, "east")
    assert by_cluster(merged, "west") == by_cluster(alone_west, "west")
    assert by_cluster(merged, "east") != [(c, s, f.replace("east", "west")) for c, s, f in by_cluster(merged, "west")]


def test_one_cluster_down_others_still_reported_exit_2(two: tuple[FakeCluster, FakeCluster, Path],
                                                       tmp_path: Path) -> None:
    _, _, kc = two
    config = json.loads(kc.read_text())
    config["clusters"].append({"name": "c-down", "cluster": {"server": "http://127.0.0.1:9"}})
    config["contexts"].append({"name": "down", "context": {"cluster": "c-down", "user": "scanner"}})
    kc.write_text(json.dumps(config))
    for fmt in ("json", "sarif", "table"):
        code, out, err = _scan(kc, "--all-contexts", "-f", fmt, "--fail-on", "never", "--max-rows", "0")
        assert code == 2, (fmt, err)
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if "cluster down not scanned" in line]
        assert len(lines) == 1, err
        assert "cluster:east/ClusterRoleBinding/anonymous-view" in out
        assert "cluster:west/RoleBinding/billing/everyone-admin" in out
    report = json.loads(_scan(kc, "--all-contexts", "-f", "json")[1])
    assert [w for w in report["warnings"] if w["code"] == "cluster-not-scanned" and "down" in w["message"]]
    assert {"file": "cluster:down/*", "line": None} in [{k: s[k] for k in ("file", "line")} for s in report["skipped"]]


def test_every_cluster_down_is_an_input_error_without_report(tmp_path: Path) -> None:
    kc = write_kubeconfig(tmp_path / "kc.json", {"a": "http://127.0.0.1:9", "b": "http://127.0.0.1:9"})
    code, out, err = _scan(kc, "--all-contexts", "-f", "json")
    assert code == 2
    assert "no cluster could be scanned" in err and "a:" in err and "b:" in err
    assert '"findings"' not in out


def test_unknown_context_among_several_is_a_usage_error(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    east, west, kc = two
    code, _, err = _scan(kc, "--context", "east", "--context", "nope")
    assert code == 2
    assert "'nope' not in kubeconfig" in err
    assert not east.requests and not west.requests  # nothing listed before the mistake was reported


def test_context_and_all_contexts_are_exclusive(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    _, _, kc = two
    assert _scan(kc, "--context", "east", "--all-contexts")[0] == 2
    assert runner.invoke(app, ["scan", "x.yaml", "--all-contexts"]).exit_code == 2


def test_repeated_context_is_scanned_once(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    east, _, kc = two
    _, out, _ = _scan(kc, "--context", "east", "--context", "east", "-f", "json")
    assert json.loads(out)["summary"]["objects"] == json.loads(_scan(kc, "-f", "json")[1])["summary"]["objects"]
    assert east.lists["pods"] == 2  # once per run: the repeated context and the plain scan


class SlowCluster(FakeCluster):
    """A cluster whose every list answer takes `list_delay` seconds; records how many clusters list at once."""

    list_delay = 0.05
    gauge: dict[str, int]
    lock = threading.Lock()

    def selected(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        with self.lock:
            self.gauge["now"] += 1
            self.gauge["max"] = max(self.gauge["max"], self.gauge["now"])
        try:
            time.sleep(self.list_delay)
            return super().selected(kind, namespace)
        finally:
            with self.lock:
                self.gauge["now"] -= 1


def test_clusters_are_listed_concurrently_and_bounded(tmp_path: Path) -> None:
    """Six slow clusters: listed 4 at a time (FLEET_WORKERS), so the run takes well under the sum of the six
    single-cluster runs, and no more than 4 lists are ever in flight together."""
    gauge = {"now": 0, "max": 0}
    clusters = []
    for _ in range(6):
        c = SlowCluster()
        c.gauge = gauge
        c.add(_namespace("clinical"))
        clusters.append(c)
    servers = [KubeAPIServer(c) for c in clusters]
    for s in servers:
        s.__enter__()
    try:
        kc = write_kubeconfig(tmp_path / "kc.json", {f"c{i}": s.url for i, s in enumerate(servers)})
        started = time.perf_counter()
        assert _scan(kc, "--context", "c0", "-f", "json", "--fail-on", "never")[0] == 0
        one = time.perf_counter() - started
        assert gauge["max"] == 1
        started = time.perf_counter()
        code, out, err = _scan(kc, "--all-contexts", "-f", "json", "--fail-on", "never")
        wall = time.perf_counter() - started
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    assert code == 0, err
    assert json.loads(out)["summary"]["objects"] == 6
    assert gauge["max"] == fleet.FLEET_WORKERS  # concurrent, and never more than the bound
    assert wall < 6 * one * 0.6, (wall, one)


def test_listing_progress_sums_every_cluster(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    _, _, kc = two
    from kubehipaa.config import Config
    from kubehipaa.pipelines.scan_cluster import ClusterTarget, scan_fleet

    seen: list[tuple[str, int, int]] = []
    done = scan_fleet([ClusterTarget(str(kc), "east"), ClusterTarget(str(kc), "west")], Config(),
                      listing=lambda kind, n, objects: seen.append((kind, n, objects)))
    assert max(n for _, n, _ in seen) == 2 * len(fleet.CLUSTER_KINDS)
    assert max(o for _, _, o in seen) == done.run.result.objects
    assert {k.split(":")[0] for k, _, _ in seen} == {"east", "west"}
    assert [load.context for load in done.loads] == ["east", "west"]
    assert all(not load.objects for load in done.loads)  # released once checked


@pytest.mark.parametrize(("name", "expected"), [("prod-east", "prod-east"), ("", "in-cluster")])
def test_in_cluster_locations_carry_the_configured_cluster_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kubeapi: KubeAPIServer, name: str, expected: str,
) -> None:
    """In-cluster (the `generate cronjob` scanner) there is no context: KUBEHIPAA_CLUSTER_NAME names the
    cluster in every location, so many clusters' runs stay apart in one history."""
    from kubernetes import config as kconfig

    from kubehipaa.sources.cluster import ClusterTarget, load_cluster

    def fake_incluster(client_configuration: Any = None, **_: Any) -> None:
        client_configuration.host = kubeapi.url
        client_configuration.api_key = {"authorization": "Bearer test-token"}

    monkeypatch.setattr(kconfig, "load_incluster_config", fake_incluster)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBEHIPAA_CLUSTER_NAME", name)
    load = load_cluster(ClusterTarget())
    assert load.context == expected
    assert load.objects and all(o.file.startswith(f"cluster:{expected}/") for o in load.objects)


def test_fleet_progress_only_on_a_terminal_and_not_for_json(monkeypatch: pytest.MonkeyPatch,
                                                            two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    from kubehipaa.cli import scan as scan_cli

    _, _, kc = two
    seen: list[object] = []
    real = scan_cli.scan_fleet

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("listing"))
        return real(*args, **kwargs)

    monkeypatch.setattr(scan_cli, "scan_fleet", spy)
    assert _scan(kc, "--all-contexts")[0] == 1  # CliRunner: stderr is not a terminal
    monkeypatch.setattr(scan_cli.common, "interactive", lambda: True)
    assert _scan(kc, "--all-contexts", "-f", "json")[0] == 1
    code, out, _ = _scan(kc, "--all-contexts", "-f", "table", "--max-rows", "0")
    assert code == 1 and "cluster:west/RoleBinding/billing/everyone-admin" in out
    assert seen[:2] == [None, None]
    assert callable(seen[2])


def test_fleet_json_report_validates_against_the_published_schema(two: tuple[FakeCluster, FakeCluster, Path]) -> None:
    """Every warning a cluster scan adds (cluster-not-scanned, not-readable, managed-control-plane) is a code
    the published report schema knows."""
    import jsonschema

    from kubehipaa.reports.json_report import report_schema

    east, west, kc = two
    east.forbidden.add("configmaps")
    west.git_version = "v1.30.4-eks-a737599"
    config = json.loads(kc.read_text())
    config["clusters"].append({"name": "c-down", "cluster": {"server": "http://127.0.0.1:9"}})
    config["contexts"].append({"name": "down", "context": {"cluster": "c-down", "user": "scanner"}})
    kc.write_text(json.dumps(config))
    code, out, _ = _scan(kc, "--all-contexts", "-f", "json")
    assert code == 2
    report = json.loads(out)
    assert {"cluster-not-scanned", "not-readable", "managed-control-plane"} <= {w["code"] for w in report["warnings"]}
    schema = report_schema()  # the one published schema (generated from reports.json_model)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
                                    ).validate(report)
