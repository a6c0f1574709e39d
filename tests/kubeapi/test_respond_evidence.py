"""`respond evidence` and `respond report` against the loopback API server with the real client: what the
bundle holds, that its manifest verifies with coreutils' `sha256sum -c`, that it is read-only and never
overwritten, that a refused kind is stated without losing the rest, that the summary shows no PHI or secret,
and that the incident record names a tampered file and a broken action log."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.respond.actions import ActionLog
from tests.kubeapi.server import FakeCluster

NS = "clinical"
POD = "ehr-gw-7d9f8c-x2k4q"
SSN = "123-45-6789"
TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
DIGEST = "sha256:" + "ab" * 32
INIT_DIGEST = "sha256:" + "cd" * 32


def _objects() -> list[dict[str, Any]]:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "ehr-gw", "namespace": NS, "uid": "uid-deploy"},
              "spec": {"selector": {"matchLabels": {"app": "ehr-gw"}}}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "ehr-gw-7d9f8c", "namespace": NS, "uid": "uid-rs",
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "ehr-gw",
                                            "uid": "uid-deploy", "controller": True}]}}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": POD, "namespace": NS, "uid": "uid-pod", "labels": {"app": "ehr-gw"},
                        "creationTimestamp": "2026-12-06T09:00:00Z",
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ehr-gw-7d9f8c",
                                             "uid": "uid-rs", "controller": True}]},
           "spec": {"serviceAccountName": "app-sa", "nodeName": "node-7",
                    "initContainers": [{"name": "migrate", "image": "registry.example/ehr-migrate:1.4"}],
                    "containers": [{"name": "api", "image": "registry.example/ehr-gw:2.1",
                                    "ports": [{"containerPort": 8443, "name": "https"}]}]},
           "status": {"phase": "Running",
                      "initContainerStatuses": [{"name": "migrate", "image": "registry.example/ehr-migrate:1.4",
                                                 "imageID": f"registry.example/ehr-migrate@{INIT_DIGEST}",
                                                 "restartCount": 0,
                                                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                                          "startedAt": "2026-12-06T09:00:05Z",
                                                                          "finishedAt": "2026-12-06T09:00:09Z"}}}],
                      "containerStatuses": [{"name": "api", "image": "registry.example/ehr-gw:2.1",
                                             "imageID": f"registry.example/ehr-gw@{DIGEST}", "restartCount": 1,
                                             "state": {"running": {"startedAt": "2026-12-06T09:30:00Z"}},
                                             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                                          "startedAt": "2026-12-06T09:00:10Z",
                                                                          "finishedAt": "2026-12-06T09:29:58Z"}}}]}}
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-7", "uid": "uid-node", "labels": {"kubernetes.io/os": "linux"}},
            "status": {"nodeInfo": {"kubeletVersion": "v1.31.2", "containerRuntimeVersion": "containerd://1.7.2"}}}
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": f"{POD}.1", "namespace": NS},
             "involvedObject": {"kind": "Pod", "name": POD, "namespace": NS, "uid": "uid-pod"},
             "type": "Warning", "reason": "BackOff", "message": f"Back-off restarting failed container api, patient ssn {SSN}",
             "count": 3, "lastTimestamp": "2026-12-06T09:29:59Z"}
    other_event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "other.1", "namespace": NS},
                   "involvedObject": {"kind": "Pod", "name": "someone-else", "namespace": NS},
                   "type": "Normal", "reason": "Pulled", "message": "not ours", "lastTimestamp": "2026-12-06T09:00:00Z"}
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "ehr-gw-ingress", "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": "ehr-gw"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "portal"}}}],
                                  "ports": [{"port": 8443}]}]}}
    return [deploy, rs, pod, node, event, other_event, deny]


@pytest.fixture
def cluster(fake: FakeCluster) -> FakeCluster:
    fake.add(*_objects())
    fake.logs[(NS, POD, "api", False)] = "".join(f"line {i} request ok\n" for i in range(200)) + \
        f"GET /patients?ssn={SSN} token={TOKEN}\nAuthorization: Bearer {TOKEN}\npatient ssn {SSN} viewed\n"
    fake.logs[(NS, POD, "api", True)] = f"panic: out of memory while exporting ssn {SSN}\n"
    fake.logs[(NS, POD, "migrate", False)] = "migrations applied: 42\n"
    return fake


def _evidence(kubeconfig: Path, out: Path, *extra: str) -> Any:
    return CliRunner().invoke(app, ["respond", "evidence", f"pod/{POD}", "-n", NS, "-o", str(out),
                                    "--kubeconfig", str(kubeconfig), *extra])


def _bundle(out: Path) -> Path:
    bundles = sorted((out / "pods" / NS / POD).iterdir())
    assert len(bundles) == 1
    return bundles[0]


def _json(bundle: Path, name: str) -> Any:
    return json.loads((bundle / name).read_text())


def test_bundle_holds_pod_owners_events_logs_images_rbac_network_node(cluster: FakeCluster, kubeconfig: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    res = _evidence(kubeconfig, out, "--max-log-bytes", "2Ki")
    assert res.exit_code == 0, res.output
    bundle = _bundle(out)
    pod = _json(bundle, "pod.json")
    assert pod["metadata"]["uid"] == "uid-pod" and pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"]
    owners = _json(bundle, "owners.json")
    assert [(o["reference"]["kind"], o["reference"]["name"], o["status"]) for o in owners] == [
        ("ReplicaSet", "ehr-gw-7d9f8c", "found"), ("Deployment", "ehr-gw", "found")]
    assert owners[1]["ownerOf"] == "ReplicaSet/ehr-gw-7d9f8c" and owners[1]["object"]["metadata"]["uid"] == "uid-deploy"
    events = _json(bundle, "events.json")
    assert [e["reason"] for e in events] == ["BackOff"]  # the other pod's event is not ours
    logs = {(e["container"], e["previous"]): e for e in _json(bundle, "logs.json")["logs"]}
    assert set(logs) == {("migrate", False), ("migrate", True), ("api", False), ("api", True)}
    assert logs[("migrate", True)]["status"] == "absent" and "file" not in logs[("migrate", True)]
    assert logs[("api", True)]["status"] == "collected" and not logs[("api", True)]["truncated"]
    assert (bundle / "logs/api.previous.log").read_text() == f"panic: out of memory while exporting ssn {SSN}\n"
    assert (bundle / "logs/migrate.log").read_text() == "migrations applied: 42\n"
    current = logs[("api", False)]
    assert current["truncated"] is True and current["bytes"] == 2048
    assert (bundle / "logs/api.log").read_bytes() == cluster.logs[(NS, POD, "api", False)].encode()[:2048]
    log_queries = [q for m, p, q in cluster.requests if p.endswith(f"/pods/{POD}/log")]
    assert {q["limitBytes"][0] for q in log_queries} == {"2049"}  # max+1: more than max means truncated
    images = {i["container"]: i for i in _json(bundle, "images.json")}
    assert images["api"]["digest"] == DIGEST and images["migrate"]["digest"] == INIT_DIGEST
    assert images["api"]["restartCount"] == 1
    rbac = _json(bundle, "rbac.json")
    assert rbac["username"] == "system:serviceaccount:clinical:app-sa" and rbac["complete"]
    everything = [g for g in rbac["grants"] if g["binding"] == 'RoleBinding "clinical/app-everything"']
    assert everything and everything[0]["rule"] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert everything[0]["scope"] == NS
    network = _json(bundle, "network.json")
    assert network["verification"]["ingressPolicies"] == ["clinical/ehr-gw-ingress"]
    assert network["verification"]["egressPolicies"] == [] and not network["verification"]["contained"]
    assert [p["metadata"]["name"] for p in network["policies"]] == ["ehr-gw-ingress"]
    assert any("NetworkPolicy clinical/ehr-gw-ingress ingress rule #1" in r for r in network["verification"]["openRules"])
    node = _json(bundle, "node.json")
    assert node["status"] == "collected" and node["node"]["status"]["nodeInfo"]["kubeletVersion"] == "v1.31.2"
    # read-only: only GETs were sent
    assert cluster.writes == [] and {m for m, _p, _q in cluster.requests} == {"GET"}
    # recorded in the action log with the manifest's hash
    (record,) = ActionLog(out).records()
    assert record["action"] == "evidence" and record["request"] is None and record["target"] == f"pod/{POD}"
    assert record["extra"]["bundle"] == bundle.relative_to(out).as_posix()
    assert record["extra"]["manifestSha256"] == _sha256(bundle / "MANIFEST.sha256")
    # nothing of the raw evidence on the terminal
    assert SSN not in res.output and TOKEN not in res.output and "line 1 request" not in res.output


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_verifies_with_sha256sum_and_files_are_read_only(cluster: FakeCluster, kubeconfig: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "coreutils sha256sum is required"
    check = subprocess.run([sha256sum, "--strict", "-c", "MANIFEST.sha256"], cwd=bundle, capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = {line.split("  ", 1)[1] for line in (bundle / "MANIFEST.sha256").read_text().splitlines()}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"MANIFEST.sha256"}
    assert listed == on_disk  # every file of the bundle, and only those
    assert {"pod.json", "owners.json", "events.json", "logs.json", "images.json", "rbac.json", "network.json",
            "node.json", "collection.json", "summary.md", "logs/api.log", "logs/api.previous.log",
            "logs/migrate.log"} <= listed
    for path in [*bundle.rglob("*"), bundle]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o555 if path.is_dir() else 0o444), (path, oct(mode))


def test_a_recreated_owner_is_named_not_taken_for_the_original(cluster: FakeCluster, kubeconfig: Path,
                                                               tmp_path: Path) -> None:
    rs = cluster.find("ReplicaSet", NS, "ehr-gw-7d9f8c")
    assert rs is not None
    rs["metadata"]["uid"] = "uid-rs-new"
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    owners = _json(_bundle(out), "owners.json")
    assert len(owners) == 1  # the chain is not followed through an object that is not the pod's owner
    assert owners[0]["status"].startswith("uid mismatch: the object now at this name has uid uid-rs-new")


def test_second_collection_never_overwrites_the_first(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    first = _bundle(out)
    before = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}
    cluster.logs[(NS, POD, "migrate", False)] = "changed later\n"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundles = sorted((out / "pods" / NS / POD).iterdir())
    assert len(bundles) == 2 and first in bundles
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == before
    assert [r["extra"]["bundle"] for r in ActionLog(out).records()] == [b.relative_to(out).as_posix() for b in bundles]
    assert ActionLog(out).verify() is None


def test_forbidden_nodes_are_stated_and_the_rest_kept(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    cluster.forbidden.add("nodes")
    out = tmp_path / "INC-42"
    res = _evidence(kubeconfig, out)
    assert res.exit_code == 2, res.output
    assert "not readable" in res.output and "node node-7" in res.output
    bundle = _bundle(out)
    node = _json(bundle, "node.json")
    assert node["name"] == "node-7" and node["status"] == "not readable (403 Forbidden)"
    unreadable = _json(bundle, "collection.json")["unreadable"]
    assert [(u["what"], u["code"], u["reason"]) for u in unreadable] == [("node node-7", 403, "Forbidden")]
    assert "node node-7: 403 Forbidden" in (bundle / "summary.md").read_text()
    # the rest is there and sealed
    assert _json(bundle, "pod.json")["metadata"]["uid"] == "uid-pod" and (bundle / "logs/api.log").exists()
    assert subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=bundle, capture_output=True,
                          check=False).returncode == 0
    assert ActionLog(out).records()[0]["extra"]["unreadable"] == ["node node-7"]


def test_forbidden_cluster_wide_rbac_falls_back_to_the_namespace_and_says_so(cluster: FakeCluster, kubeconfig: Path,
                                                                              tmp_path: Path) -> None:
    cluster.forbidden.update({"clusterrolebindings", "clusterroles"})
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 2
    rbac = _json(_bundle(out), "rbac.json")
    assert not rbac["complete"] and any("clusterrolebindings not readable (403" in g for g in rbac["gaps"])
    assert any(g["binding"] == 'RoleBinding "clinical/app-everything"' for g in rbac["grants"])


def test_missing_pod_is_one_line_and_writes_nothing(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    res = CliRunner().invoke(app, ["respond", "evidence", "pod/nope", "-n", NS, "-o", str(out),
                                   "--kubeconfig", str(kubeconfig)])
    assert res.exit_code == 2 and "pod clinical/nope not found" in res.output
    assert "Traceback" not in res.output and not out.exists()


def test_bad_max_log_bytes_is_a_usage_error(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    res = _evidence(kubeconfig, tmp_path / "x", "--max-log-bytes", "lots")
    assert res.exit_code == 2 and "--max-log-bytes" in res.output and not (tmp_path / "x").exists()


def test_summary_has_no_phi_or_secret_while_raw_logs_keep_them(cluster: FakeCluster, kubeconfig: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    summary = (bundle / "summary.md").read_text()
    assert "viewed" in summary and "panic: out of memory" in summary  # the log tails are in the summary...
    assert SSN not in summary and TOKEN not in summary  # ...redacted, and so are the events
    assert "Back-off restarting" in summary
    raw = (bundle / "logs/api.log").read_text() + (bundle / "logs/api.previous.log").read_text()
    assert SSN in raw and TOKEN in raw  # evidence kept as served


def test_redact_logs_masks_the_stored_logs(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out, "--redact-logs").exit_code == 0
    bundle = _bundle(out)
    for path in (bundle / "logs").iterdir():
        text = path.read_text()
        assert SSN not in text and TOKEN not in text, path
    assert "<redacted:" in (bundle / "logs/api.log").read_text()
    index = _json(bundle, "logs.json")
    assert index["redacted"] is True and all(e.get("redacted") for e in index["logs"] if "file" in e)
    assert subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=bundle, capture_output=True,
                          check=False).returncode == 0


def test_logs_are_stored_byte_for_byte(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    """Evidence is not re-encoded: bytes that are not UTF-8 (a binary dump, Latin-1 text) survive exactly."""
    raw = b"caf\xe9 \xff\xfe binary \x00 tail\n"
    cluster.logs[(NS, POD, "migrate", False)] = raw
    out = tmp_path / "INC-7"
    assert _evidence(kubeconfig, out).exit_code == 0
    assert (_bundle(out) / "logs/migrate.log").read_bytes() == raw


# ------------------------------------------------------------------------------------------- respond report
def _report(folder: Path, fmt: str = "md", *extra: str) -> Any:
    return CliRunner().invoke(app, ["respond", "report", str(folder), "--format", fmt, *extra])


def _unlock(path: Path) -> None:
    """Root ignores 0444, but a tamperer would chmod first: do the same, so the test works for any user."""
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)


def test_report_of_an_intact_incident(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    res = _report(out)
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "hash chain intact (1 records)" in text
    files = len((_bundle(out) / "MANIFEST.sha256").read_text().splitlines())
    assert f"Bundle {_bundle(out).relative_to(out).as_posix()}: {files} files verified" in text
    assert "| 1 |" in text and "evidence" in text and f"pod/{POD} (clinical)" in text
    assert "2026-12-06T09:29:58Z" in text and "OOMKilled" in text  # the timeline has the container's crash
    assert "BackOff" in text and SSN not in text
    for factor in ("Nature and extent of the PHI involved", "unauthorized person",
                   "actually acquired or viewed", "extent to which the risk to the PHI has been mitigated"):
        assert factor in text
    assert text.count("- [ ] **") == 4
    assert "60 calendar days" in text


def test_report_names_a_tampered_file_and_exits_2(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    target = bundle / "logs" / "api.log"
    _unlock(target)
    target.write_text("nothing to see here\n")
    res = _report(out)
    assert res.exit_code == 2
    assert "FAILED verification" in res.stdout and "changed: logs/api.log" in res.stdout
    assert "changed: logs/api.log" in res.stderr


def test_report_catches_a_recomputed_manifest_and_an_added_file(cluster: FakeCluster, kubeconfig: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    _unlock(bundle / "events.json")
    (bundle / "events.json").write_text("[]\n")
    manifest = bundle / "MANIFEST.sha256"
    _unlock(manifest)
    subprocess.run("sha256sum $(cat MANIFEST.sha256 | cut -c67-) > MANIFEST.sha256.new && "
                   "mv MANIFEST.sha256.new MANIFEST.sha256", shell=True, cwd=bundle, check=True)
    (bundle / "extra.txt").write_text("planted\n")
    res = _report(out)
    assert res.exit_code == 2
    assert "the manifest was rewritten" in res.stdout
    assert "added (not in the manifest): extra.txt" in res.stdout


def test_report_names_a_deleted_file_and_a_missing_bundle(cluster: FakeCluster, kubeconfig: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    os.chmod(bundle, 0o755)
    (bundle / "rbac.json").unlink()
    assert _report(out).exit_code == 2 and "missing: rbac.json" in _report(out).stdout
    for p in [bundle, *bundle.rglob("*")]:
        os.chmod(p, 0o755)
    shutil.rmtree(bundle)
    res = _report(out)
    assert res.exit_code == 2 and "is recorded in actions.jsonl but missing from the folder" in res.stdout


def test_report_says_where_the_action_log_is_broken(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    assert _evidence(kubeconfig, out).exit_code == 0
    log = out / "actions.jsonl"
    lines = log.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["localUser"] = "someone-else"
    log.write_text(lines[0] + "\n" + json.dumps(edited) + "\n")
    res = _report(out)
    assert res.exit_code == 2
    assert "Action log BROKEN** at actions.jsonl line 2" in res.stdout and "edited" in res.stdout
    assert "line 2" in res.stderr


def test_report_of_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    res = _report(tmp_path)
    assert res.exit_code == 2 and "nothing to report" in res.output
    res = _report(tmp_path / "absent")
    assert res.exit_code == 2 and "no such evidence folder" in res.output


def test_report_html_is_written_to_a_file(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    html = tmp_path / "record.html"
    res = _report(out, "html", "-o", str(html))
    assert res.exit_code == 0, res.output
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http://" not in page
    assert SSN not in page and 'id="factors"' in page
    assert _report(out, "pdf").exit_code == 2


def test_lists_page_and_restart_on_an_expired_continue_token(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from kubehipaa.respond import api

    monkeypatch.setattr(api, "PAGE_SIZE", 1)
    cluster.expire_once.add("rolebindings")
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out).exit_code == 0
    bundle = _bundle(out)
    rbac = _json(bundle, "rbac.json")
    assert rbac["complete"] and any(g["binding"] == 'RoleBinding "clinical/app-everything"' for g in rbac["grants"])
    codes = [r["code"] for r in _json(bundle, "collection.json")["requests"] if r["what"] == "rbac rolebindings"]
    assert 410 in codes and codes[-1] == 200 and codes.count(200) > 2  # paged, restarted, completed


def test_json_output_names_the_bundle_and_the_gaps(cluster: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    cluster.forbidden.add("nodes")
    out = tmp_path / "INC-42"
    res = _evidence(kubeconfig, out, "--format", "json")
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    bundle = _bundle(out)
    assert doc["bundle"] == bundle.relative_to(out).as_posix() and "summary.md" in doc["files"]
    assert doc["manifestSha256"] == _sha256(bundle / "MANIFEST.sha256")
    assert [(u["what"], u["code"]) for u in doc["unreadable"]] == [("node node-7", 403)]
    assert SSN not in res.output and TOKEN not in res.output


def test_summary_stays_one_page_for_a_log_of_one_huge_line(cluster: FakeCluster, kubeconfig: Path,
                                                           tmp_path: Path) -> None:
    cluster.logs[(NS, POD, "api", False)] = "x" * 3_000_000 + "\n"
    out = tmp_path / "INC-42"
    assert _evidence(kubeconfig, out, "--max-log-bytes", "4Mi").exit_code == 0
    bundle = _bundle(out)
    assert (bundle / "logs/api.log").stat().st_size == 3_000_001  # the evidence is whole
    summary = (bundle / "summary.md").read_text()
    assert len(summary) < 20_000 and "x" * 300 + " […]" in summary
