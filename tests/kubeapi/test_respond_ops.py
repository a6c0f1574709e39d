"""respond scale / cordon [--drain] / revoke against the loopback API server with the real client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.respond import cordon as cordon_mod
from kubehipaa.respond.actions import ActionLog
from kubehipaa.respond.api import ResponderClient
from kubehipaa.respond.cordon import DrainOptions, drain
from kubehipaa.respond.runner import ActionRunner
from kubehipaa.sources.cluster import ClusterTarget
from tests.kubeapi.server import FakeCluster

RBAC = "rbac.authorization.k8s.io/v1"
TOKEN_VALUE = "c2VjcmV0LXRva2VuLVpaVE9QU0VDUkVUUVE="  # recognizable: must never appear in output or log


def invoke(kubeconfig: Path, evidence: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["respond", *args, "--kubeconfig", str(kubeconfig), "--evidence", str(evidence),
                                    "--format", "json"])


def out(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout)


def sent(fake: FakeCluster) -> list[tuple[str, str, str, Any]]:
    return [(m, p, c, b) for m, p, c, b in fake.writes]


def planned(result: Any) -> list[tuple[str, str, Any]]:
    return [(r["method"], r["path"].split("?")[0], r.get("body")) for r in out(result)["requests"]]


# ---- scale ----------------------------------------------------------------------------------------------


def test_scale_dry_run_prints_exactly_what_a_real_run_sends(fake: FakeCluster, kubeconfig: Path,
                                                            tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    dry = invoke(kubeconfig, ev, "scale", "deploy/ehr-api", "-n", "clinical", "--replicas", "0", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert fake.writes == [] and not (ev / "actions.jsonl").exists()
    real = invoke(kubeconfig, ev, "scale", "deploy/ehr-api", "-n", "clinical", "--replicas", "0")
    assert real.exit_code == 0, real.output
    assert [(m, p, b) for m, p, _c, b in fake.writes] == planned(dry)
    method, path, ctype, body = fake.writes[0]
    assert (method, path, ctype) == ("PATCH", "/apis/apps/v1/namespaces/clinical/deployments/ehr-api",
                                     "application/merge-patch+json")
    assert body["spec"] == {"replicas": 0} and body["metadata"]["resourceVersion"]
    assert fake.find("Deployment", "clinical", "ehr-api")["spec"]["replicas"] == 0
    record = ActionLog(ev).records()[-1]
    assert record["extra"]["previousReplicas"] == 2 and record["extra"]["replicas"] == 0


def test_scale_rerun_is_idempotent(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    assert invoke(kubeconfig, ev, "scale", "sts/ehr-db", "-n", "clinical", "--replicas", "0").exit_code == 0
    writes = len(fake.writes)
    again = invoke(kubeconfig, ev, "scale", "sts/ehr-db", "-n", "clinical", "--replicas", "0")
    assert again.exit_code == 0, again.output
    assert len(fake.writes) == writes
    records = ActionLog(ev).records()
    assert len(records) == 2 and records[-1]["request"] is None and "already" in records[-1]["note"]
    assert ActionLog(ev).verify() is None


def test_scale_conflict_rereads_and_succeeds(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.conflict_once.add(("deployments", "ehr-api"))
    result = invoke(kubeconfig, tmp_path / "ev", "scale", "deploy/ehr-api", "-n", "clinical", "--replicas", "1")
    assert result.exit_code == 0, result.output
    assert [w[0] for w in fake.writes] == ["PATCH", "PATCH"]
    records = ActionLog(tmp_path / "ev").records()
    assert [r["answer"]["code"] for r in records] == [409, 200]
    assert fake.find("Deployment", "clinical", "ehr-api")["spec"]["replicas"] == 1


def test_scale_gives_up_after_bounded_conflicts(fake: FakeCluster, kubeconfig: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    class Always(set):  # every write conflicts: another writer never settles
        def __contains__(self, item: object) -> bool:
            return item == ("deployments", "ehr-api")

        def discard(self, item: object) -> None:
            pass

    fake.conflict_once = Always()
    result = invoke(kubeconfig, tmp_path / "ev", "scale", "deploy/ehr-api", "-n", "clinical", "--replicas", "1")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "3 times" in result.output and len(fake.writes) == 3
    assert fake.find("Deployment", "clinical", "ehr-api")["spec"]["replicas"] == 2


def test_scale_refuses_other_kinds_and_missing_objects(kubeconfig: Path, tmp_path: Path) -> None:
    assert invoke(kubeconfig, tmp_path, "scale", "pod/x", "-n", "clinical", "--replicas", "0").exit_code == 2
    missing = invoke(kubeconfig, tmp_path, "scale", "deploy/nope", "-n", "clinical", "--replicas", "0")
    assert missing.exit_code == 2 and "not found" in missing.output


# ---- cordon / drain -------------------------------------------------------------------------------------


def pod(ns: str, name: str, node: str = "node-7", owner: tuple[str, str] | None = ("ReplicaSet", "app-rs"),
        annotations: dict[str, str] | None = None, volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": "u",
                                    "controller": True}]
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}], "volumes": volumes or []},
            "status": {"phase": "Running"}}


@pytest.fixture
def node_cluster(fake: FakeCluster) -> FakeCluster:
    fake.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-7"}, "spec": {}},
             pod("clinical", "app-1"), pod("clinical", "app-2"), pod("billing", "bill-1"),
             pod("logging", "shipper-x", owner=("DaemonSet", "log-shipper")),
             pod("kube-system", "etcd-node-7", owner=("Node", "node-7"),
                 annotations={"kubernetes.io/config.mirror": "abc"}),
             pod("clinical", "elsewhere", node="node-8"))
    return fake


def evictions(fake: FakeCluster) -> list[str]:
    return [p for m, p, _c, _b in fake.writes if p.endswith("/eviction")]


def test_cordon_dry_run_then_real_and_idempotent(node_cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    dry = invoke(kubeconfig, ev, "cordon", "node-7", "--dry-run")
    assert dry.exit_code == 0 and node_cluster.writes == []
    real = invoke(kubeconfig, ev, "cordon", "node-7")
    assert real.exit_code == 0, real.output
    assert [(m, p, b) for m, p, _c, b in node_cluster.writes] == planned(dry)
    assert node_cluster.writes[0][3]["spec"] == {"unschedulable": True}
    assert node_cluster.find("Node", None, "node-7")["spec"]["unschedulable"] is True
    again = invoke(kubeconfig, ev, "cordon", "node-7")
    assert again.exit_code == 0 and len(node_cluster.writes) == 1
    assert ActionLog(ev).records()[-1]["request"] is None


def test_drain_needs_an_explicit_namespace_fence(node_cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    result = invoke(kubeconfig, tmp_path, "cordon", "node-7", "--drain")
    assert result.exit_code == 2 and node_cluster.writes == []


def test_drain_evicts_inside_fence_skips_daemonset_and_mirror(node_cluster: FakeCluster, kubeconfig: Path,
                                                              tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    dry = invoke(kubeconfig, ev, "cordon", "node-7", "--drain", "-n", "clinical", "--dry-run")
    assert node_cluster.writes == []
    result = invoke(kubeconfig, ev, "cordon", "node-7", "--drain", "-n", "clinical")
    assert [(m, p, b) for m, p, _c, b in node_cluster.writes] == planned(dry)
    assert evictions(node_cluster) == ["/api/v1/namespaces/clinical/pods/app-1/eviction",
                                       "/api/v1/namespaces/clinical/pods/app-2/eviction"]
    body = node_cluster.writes[1][3]
    assert body == {"apiVersion": "policy/v1", "kind": "Eviction",
                    "metadata": {"name": "app-1", "namespace": "clinical"}}
    text = " ".join(out(result)["summary"])
    assert "logging/shipper-x" in text and "DaemonSet" in text
    assert "kube-system/etcd-node-7" in text and "mirror" in text
    # DaemonSet and mirror pods outside the fence are skipped (drain never evicts them), not "left behind"
    assert "NOT evicted: logging" not in text and "NOT evicted: kube-system" not in text
    assert "still runs 1 pod(s)" in text
    # billing was not given with -n: listed as not evicted, still there, exit 2
    assert "NOT evicted: billing/bill-1" in text and node_cluster.find("Pod", "billing", "bill-1") is not None
    assert result.exit_code == 2
    assert node_cluster.find("Pod", "clinical", "elsewhere") is not None
    # re-run: only what is left; nothing evictable → no write
    writes = len(node_cluster.writes)
    again = invoke(kubeconfig, ev, "cordon", "node-7", "--drain", "-n", "clinical")
    assert again.exit_code == 2 and len(node_cluster.writes) == writes
    assert ActionLog(ev).verify() is None


def test_drain_all_namespaces_is_explicit(node_cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    result = invoke(kubeconfig, tmp_path / "ev", "cordon", "node-7", "--drain", "--all-namespaces")
    assert result.exit_code == 0, result.output
    assert sorted(evictions(node_cluster)) == ["/api/v1/namespaces/billing/pods/bill-1/eviction",
                                               "/api/v1/namespaces/clinical/pods/app-1/eviction",
                                               "/api/v1/namespaces/clinical/pods/app-2/eviction"]


def test_drain_pdb_429_retries_with_backoff_then_not_evicted(node_cluster: FakeCluster, kubeconfig: Path,
                                                             tmp_path: Path) -> None:
    node_cluster.pdb_blocked.add(("clinical", "app-1"))
    slept: list[float] = []
    with ResponderClient(ClusterTarget(str(kubeconfig))) as client:
        runner = ActionRunner(client, ActionLog(tmp_path / "ev"), "drain", "node/node-7", None,
                              cluster_scoped=frozenset({"nodes"}))
        lines, complete = drain(runner, "node-7", DrainOptions(frozenset({"clinical"}), backoff=(0.5, 1.0),
                                                               sleep=slept.append))
    assert not complete and slept == [0.5, 1.0]
    assert evictions(node_cluster).count("/api/v1/namespaces/clinical/pods/app-1/eviction") == 3
    assert any("NOT evicted: clinical/app-1" in line and "429" in line for line in lines)
    assert node_cluster.find("Pod", "clinical", "app-2") is None  # the other pod still evicted


def test_drain_pdb_via_cli_exits_2(node_cluster: FakeCluster, kubeconfig: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cordon_mod, "EVICTION_BACKOFF", (0.0,))
    node_cluster.pdb_blocked.add(("clinical", "app-2"))
    result = invoke(kubeconfig, tmp_path / "ev", "cordon", "node-7", "--drain", "-n", "clinical")
    assert result.exit_code == 2
    assert "NOT evicted: clinical/app-2" in " ".join(out(result)["summary"])
    codes = [r["answer"]["code"] for r in ActionLog(tmp_path / "ev").records() if r["request"]]
    assert codes.count(429) == 2


def test_drain_refuses_unmanaged_and_emptydir_pods_without_override(fake: FakeCluster, kubeconfig: Path,
                                                                    tmp_path: Path) -> None:
    fake.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-7"}, "spec": {}},
             pod("clinical", "bare", owner=None), pod("clinical", "scratch", volumes=[{"name": "t", "emptyDir": {}}]))
    result = invoke(kubeconfig, tmp_path / "ev", "cordon", "node-7", "--drain", "-n", "clinical")
    assert result.exit_code == 2 and evictions(fake) == []
    forced = invoke(kubeconfig, tmp_path / "ev", "cordon", "node-7", "--drain", "-n", "clinical", "--force",
                    "--delete-emptydir-data")
    assert forced.exit_code == 0 and len(evictions(fake)) == 2


# ---- revoke ---------------------------------------------------------------------------------------------


@pytest.fixture
def sa_cluster(fake: FakeCluster) -> FakeCluster:
    fake.add(
        {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "shared", "namespace": "clinical"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                      {"kind": "ServiceAccount", "name": "app-sa", "namespace": "clinical"},
                      {"kind": "ServiceAccount", "name": "app-sa", "namespace": "billing"},
                      {"kind": "User", "name": "system:serviceaccount:clinical:app-sa",
                       "apiGroup": "rbac.authorization.k8s.io"}]},
        {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "cross", "namespace": "billing"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
         "subjects": [{"kind": "ServiceAccount", "name": "app-sa", "namespace": "clinical"}]},
        {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "system:basic-user"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:basic-user"},
         "subjects": [{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": "app-sa-legacy", "namespace": "clinical",
                      "annotations": {"kubernetes.io/service-account.name": "app-sa"}},
         "data": {"token": TOKEN_VALUE}},
    )
    for s in fake.objects:
        if s.get("kind") == "Secret" and s["metadata"]["name"] == "app-sa-token":
            s["data"] = {"token": TOKEN_VALUE}
    return fake


def test_revoke_removes_exactly_the_accounts_entries(sa_cluster: FakeCluster, kubeconfig: Path,
                                                     tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    dry = invoke(kubeconfig, ev, "revoke", "sa/app-sa", "-n", "clinical", "--dry-run")
    assert sa_cluster.writes == [] and not (ev / "actions.jsonl").exists()
    result = invoke(kubeconfig, ev, "revoke", "sa/app-sa", "-n", "clinical")
    assert [(m, p, b) for m, p, _c, b in sa_cluster.writes] == planned(dry)
    shared = sa_cluster.find("RoleBinding", "clinical", "shared")
    assert shared["subjects"] == [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
                                  {"kind": "ServiceAccount", "name": "app-sa", "namespace": "billing"}]
    # the example's RoleBinding with an empty subject namespace (defaults to the binding's) and its CRB
    assert sa_cluster.find("RoleBinding", "clinical", "app-everything")["subjects"] == []
    assert sa_cluster.find("ClusterRoleBinding", None, "config-reader")["subjects"] == []
    patch = next(b for m, p, c, b in sa_cluster.writes if p.endswith("/rolebindings/shared"))
    assert patch[0] == {"op": "test", "path": "/subjects/3", "value": {
        "kind": "User", "name": "system:serviceaccount:clinical:app-sa", "apiGroup": "rbac.authorization.k8s.io"}}
    assert [op["op"] for op in patch] == ["test", "remove", "test", "remove"]
    # legacy token Secrets deleted, the other namespace's RoleBinding untouched and reported
    assert sa_cluster.find("Secret", "clinical", "app-sa-legacy") is None
    assert sa_cluster.find("Secret", "clinical", "app-sa-token") is None
    assert sa_cluster.find("RoleBinding", "billing", "cross")["subjects"][0]["name"] == "app-sa"
    summary = " ".join(out(result)["summary"])
    assert "NOT changed: rolebinding/cross (namespace billing)" in summary
    assert "system:basic-user" in summary and "cluster bootstrap default" in summary
    assert "clinical/token-debug" in summary and "quarantine" in summary
    assert result.exit_code == 2
    records = ActionLog(ev).records()
    extra = next(r["extra"] for r in records if r["request"] and r["request"]["path"].endswith("/shared"))
    assert extra["roleRef"]["name"] == "view"
    assert [e["index"] for e in extra["removedSubjects"]] == [1, 3]
    assert {r["extra"]["secret"] for r in records if r["request"] and r["request"]["method"] == "DELETE"} == {
        "app-sa-legacy", "app-sa-token"}
    # no Secret value anywhere: stdout (text and json) and the action log
    log_text = (ev / "actions.jsonl").read_text()
    for text in (result.stdout, dry.stdout, log_text):
        assert TOKEN_VALUE not in text


def test_revoke_rerun_is_idempotent_and_text_has_no_secret(sa_cluster: FakeCluster, kubeconfig: Path,
                                                           tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    first = CliRunner().invoke(app, ["respond", "revoke", "sa/app-sa", "-n", "clinical", "--kubeconfig",
                                     str(kubeconfig), "--evidence", str(ev)])
    assert TOKEN_VALUE not in first.stdout and "DELETE" in first.stdout
    writes = len(sa_cluster.writes)
    again = invoke(kubeconfig, ev, "revoke", "sa/app-sa", "-n", "clinical")
    assert len(sa_cluster.writes) == writes
    new = ActionLog(ev).records()[-1]
    assert new["request"] is None and "nothing sent" in new["note"]
    assert again.exit_code == 2  # the billing RoleBinding still grants access
    assert ActionLog(ev).verify() is None


def test_revoke_conflict_rereads_the_binding(sa_cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    sa_cluster.conflict_once.add(("rolebindings", "shared"))
    invoke(kubeconfig, tmp_path / "ev", "revoke", "sa/app-sa", "-n", "clinical")
    patches = [p for m, p, _c, _b in sa_cluster.writes if p.endswith("/rolebindings/shared")]
    assert len(patches) == 2
    assert len(sa_cluster.find("RoleBinding", "clinical", "shared")["subjects"]) == 2


def test_revoke_group_grant_look_alike_default_fails(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.add({"apiVersion": RBAC, "kind": "ClusterRoleBinding",
              "metadata": {"name": "system:sa-reader", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
              "subjects": [{"kind": "Group", "name": "system:serviceaccounts:clinical",
                            "apiGroup": "rbac.authorization.k8s.io"}]},
             {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "cross", "namespace": "billing"},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
              "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "clinical"}]})
    result = invoke(kubeconfig, tmp_path / "ev", "revoke", "sa/app-sa", "-n", "clinical")
    summary = " ".join(out(result)["summary"])
    assert "clusterrolebinding/system:sa-reader" in summary and "bootstrap default" not in summary
    assert result.exit_code == 2
    assert fake.find("ClusterRoleBinding", None, "system:sa-reader")["subjects"][0]["name"].endswith("clinical")


def test_revoke_without_remaining_access_exits_0(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    result = invoke(kubeconfig, tmp_path / "ev", "revoke", "sa/app-sa", "-n", "clinical")
    assert result.exit_code == 0, result.output


def test_subject_matching_follows_the_rbac_authorizer() -> None:
    from kubehipaa.respond.revoke import subject_is_account

    sa = {"kind": "ServiceAccount", "name": "app-sa"}
    assert subject_is_account(sa, "clinical", "clinical", "app-sa")  # RoleBinding: empty ns = binding's
    assert not subject_is_account(sa, "", "clinical", "app-sa")  # ClusterRoleBinding: empty ns matches nobody
    assert not subject_is_account(sa | {"namespace": "billing"}, "clinical", "clinical", "app-sa")
    assert subject_is_account({"kind": "User", "name": "system:serviceaccount:clinical:app-sa"}, "", "clinical",
                              "app-sa")
    assert not subject_is_account({"kind": "Group", "name": "system:serviceaccounts:clinical"}, "", "clinical",
                                  "app-sa")
