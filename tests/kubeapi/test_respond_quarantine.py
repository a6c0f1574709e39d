"""`respond quarantine` / `respond release` against the loopback API server with the real client."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.respond.actions import ActionLog
from kubehipaa.respond.api import MERGE_PATCH, ApiRequest, ResponderClient
from kubehipaa.respond.netcheck import pod_network
from kubehipaa.respond.quarantine import (
    POLICY_NAME,
    Refused,
    detach_changes,
    policy_body,
    selector_matches,
)
from kubehipaa.respond.runner import ActionRunner, OutsideNamespace
from kubehipaa.sources.cluster import ClusterTarget
from tests.kubeapi.server import FakeCluster

cli = CliRunner()
NS = "clinical"
POD = "ehr-api-7d9f-abcde"
SIBLING = "ehr-api-7d9f-fghij"
RS = "ehr-api-7d9f"
RS_SELECTOR = {"matchLabels": {"app": "ehr-api", "pod-template-hash": "7d9f"}}
POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"


def _pod(name: str, labels: dict[str, str], owner: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": dict(labels)}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["name"],
                                    "uid": owner["uid"], "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "api", "image": "registry.example/api@sha256:" + "a" * 64}], **spec},
            "status": {"phase": "Running"}}


@pytest.fixture
def workload(fake: FakeCluster) -> FakeCluster:
    """clinical/ehr-api's ReplicaSet and two of its pods, as the Deployment controller makes them."""
    labels = {"app": "ehr-api", "pod-template-hash": "7d9f"}
    fake.add({"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": RS, "namespace": NS, "uid": "rs-uid-1", "labels": labels},
              "spec": {"replicas": 2, "selector": copy.deepcopy(RS_SELECTOR),
                       "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "api"}]}}}})
    owner = {"kind": "ReplicaSet", "name": RS, "uid": "rs-uid-1"}
    fake.add(_pod(POD, labels, owner), _pod(SIBLING, labels, owner))
    return fake


def _invoke(kubeconfig: Path, evidence: Path, *args: str) -> Any:
    return cli.invoke(app, ["respond", *args, "-n", NS, "--kubeconfig", str(kubeconfig),
                            "--evidence", str(evidence)])


def _labels(fake: FakeCluster, name: str = POD) -> dict[str, str]:
    pod = fake.find("Pod", NS, name)
    assert pod is not None
    return dict(pod["metadata"].get("labels") or {})


def _policies(fake: FakeCluster) -> list[dict[str, Any]]:
    return sorted((copy.deepcopy(o) for o in fake.objects if o.get("kind") == "NetworkPolicy"),
                  key=lambda o: (o["metadata"].get("namespace"), o["metadata"]["name"]))


def _printed_requests(stdout: str) -> list[dict[str, Any]]:
    return [{"method": r["method"], "path": r["path"], "body": r.get("body")} for r in json.loads(stdout)["requests"]]


def _sent(fake: FakeCluster) -> list[dict[str, Any]]:
    return [{"method": m, "path": p, "body": b} for m, p, _ct, b in fake.writes]


# --- dry run, first run, idempotent re-run --------------------------------------------------------------


def test_dry_run_prints_the_exact_requests_a_real_run_then_sends(workload: FakeCluster, kubeconfig: Path,
                                                                  tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    dry = _invoke(kubeconfig, evidence, "quarantine", f"pod/{POD}", "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.stderr
    assert workload.writes == []
    assert not evidence.exists()  # --dry-run writes no file
    planned = _printed_requests(dry.stdout)
    assert [r["method"] for r in planned] == ["POST", "PATCH"]
    assert planned[0]["path"] == POLICIES and planned[0]["body"] == policy_body(NS)
    assert planned[1]["body"]["metadata"]["labels"] == {"quarantine": "true"}
    assert planned[1]["body"]["metadata"]["resourceVersion"]  # the precondition
    assert any("after this plan: verified: no ingress or egress connection to pod clinical/" + POD in line
               for line in json.loads(dry.stdout)["summary"])

    real = _invoke(kubeconfig, evidence, "quarantine", f"pod/{POD}", "--format", "json")
    assert real.exit_code == 0, real.stderr
    assert _sent(workload) == planned
    assert [ct for _m, _p, ct, _b in workload.writes][1] == MERGE_PATCH


def test_quarantine_labels_the_pod_creates_the_policy_and_verifies(workload: FakeCluster, kubeconfig: Path,
                                                                    tmp_path: Path) -> None:
    before = _labels(workload)
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 0, res.stderr
    assert _labels(workload) == before | {"quarantine": "true"}
    policy = workload.find("NetworkPolicy", NS, POLICY_NAME)
    assert policy is not None
    assert policy["spec"] == {"podSelector": {"matchLabels": {"quarantine": "true"}},
                              "policyTypes": ["Ingress", "Egress"]}
    assert policy["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubehipaa"}
    assert f"verified: no ingress or egress connection to pod {NS}/{POD} remains allowed" in res.stdout
    assert _labels(workload, SIBLING) == before  # the sibling is untouched
    records = ActionLog(tmp_path / "ev").records()
    labelled = [r for r in records if (r.get("extra") or {}).get("labelChanges")]
    assert labelled[0]["extra"]["previousLabels"] == before
    assert labelled[0]["extra"]["labelChanges"] == {"quarantine": "true"}
    verification = records[-1]
    assert verification["request"] is None and verification["extra"]["contained"] is True
    assert verification["extra"]["ingressPolicies"] == [f"{NS}/{POLICY_NAME}"]


def test_idempotent_rerun_sends_nothing_and_records_one_line(workload: FakeCluster, kubeconfig: Path,
                                                             tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    assert _invoke(kubeconfig, evidence, "quarantine", POD).exit_code == 0
    writes, lines = len(workload.writes), len(ActionLog(evidence).records())
    again = _invoke(kubeconfig, evidence, "quarantine", POD)
    assert again.exit_code == 0, again.stderr
    assert len(workload.writes) == writes
    new = ActionLog(evidence).records()[lines:]
    nothing = [r for r in new if "already quarantined" in r["note"]]
    assert len(nothing) == 1 and nothing[0]["request"] is None
    # the other new line is the verification (no request either)
    assert all(r["request"] is None for r in new) and len(new) == 2


def test_a_users_policy_of_the_same_name_is_never_modified(workload: FakeCluster, kubeconfig: Path,
                                                          tmp_path: Path) -> None:
    users = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": POLICY_NAME, "namespace": NS},
             "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}}
    workload.add(users)
    snapshot = copy.deepcopy(users)
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 2
    assert "not managed by kubehipaa" in res.stderr and "refusing to modify a user's policy" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert workload.writes == [] and workload.find("NetworkPolicy", NS, POLICY_NAME) == snapshot
    assert "quarantine" not in _labels(workload)


# --- --detach -------------------------------------------------------------------------------------------


def test_detach_moves_the_pod_out_of_its_controllers_selector(workload: FakeCluster, kubeconfig: Path,
                                                              tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    res = _invoke(kubeconfig, evidence, "quarantine", f"pod/{POD}", "--detach")
    assert res.exit_code == 0, res.stderr
    labels = _labels(workload)
    assert labels == {"quarantine": "true"}
    assert not selector_matches(RS_SELECTOR, labels)
    assert selector_matches(RS_SELECTOR, _labels(workload, SIBLING))
    assert "ReplicaSet/ehr-api-7d9f releases the pod and starts a replacement" in res.stdout
    detach = next(r["extra"]["detach"] for r in ActionLog(evidence).records() if (r.get("extra") or {}).get("detach"))
    assert detach == {"owner": f"ReplicaSet/{RS}", "selector": RS_SELECTOR,
                      "changes": {"app": None, "pod-template-hash": None}}


@pytest.mark.parametrize(("selector", "labels"), [
    ({"matchLabels": {"app": "a"}}, {"app": "a", "tier": "x"}),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, {"app": "b"}),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": "z"}),
    ({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}, {"app": "a"}),
    ({"matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary", "beta"]}]}, {"app": "a"}),
    ({"matchLabels": {"quarantine": "true", "app": "a"}}, {"quarantine": "true", "app": "a"}),
])
def test_detach_changes_break_every_selector_shape(selector: dict[str, Any], labels: dict[str, str]) -> None:
    changes = detach_changes(selector, labels)
    after = {k: v for k, v in {**labels, **changes}.items() if v is not None}
    assert changes and not selector_matches(selector, after)
    assert after.get("quarantine") == labels.get("quarantine")  # never removes the quarantine label


def test_detach_refuses_an_empty_selector() -> None:
    with pytest.raises(Refused, match="matches every pod"):
        detach_changes({}, {"app": "a"})


def test_detach_refuses_a_controller_whose_selector_it_cannot_read(fake: FakeCluster, kubeconfig: Path,
                                                                  tmp_path: Path) -> None:
    fake.add(_pod("r-1", {"app": "r"}, {"kind": "Rollout", "name": "r", "uid": "u-r"}))
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", "r-1", "--detach")
    assert res.exit_code == 2 and "Rollout/r" in res.stderr and fake.writes == []


# --- conflicts, namespace fence, not found -----------------------------------------------------------------


def test_a_409_conflict_is_reread_and_retried(workload: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    workload.conflict_once.add(("pods", POD))
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 0, res.stderr
    patches = [w for w in workload.writes if w[0] == "PATCH"]
    assert len(patches) == 2 and _labels(workload)["quarantine"] == "true"
    codes = [r["answer"]["code"] for r in ActionLog(tmp_path / "ev").records() if r["request"]]
    assert codes == [201, 409, 200]


def test_conflicts_that_never_end_fail_clearly(workload: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    class Always(set):  # type: ignore[type-arg]
        """Another writer changes the pod before every write of ours: the conflict never goes away."""

        def discard(self, item: Any) -> None:
            return None

    workload.conflict_once = Always({("pods", POD)})
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 2 and "still conflicting after 3 tries" in res.stderr
    assert len([w for w in workload.writes if w[0] == "PATCH"]) == 3
    assert "quarantine" not in _labels(workload)


def test_a_pod_named_in_the_wrong_namespace_is_not_found(workload: FakeCluster, kubeconfig: Path,
                                                         tmp_path: Path) -> None:
    res = cli.invoke(app, ["respond", "quarantine", POD, "-n", "billing", "--kubeconfig", str(kubeconfig),
                           "--evidence", str(tmp_path / "ev")])
    assert res.exit_code == 2 and f"pod '{POD}' not found in namespace 'billing'" in res.stderr
    assert workload.writes == [] and "Traceback" not in res.stderr


def test_the_runner_refuses_a_plan_outside_the_namespace(workload: FakeCluster, kubeconfig: Path,
                                                         tmp_path: Path) -> None:
    with ResponderClient(ClusterTarget(str(kubeconfig))) as client:
        runner = ActionRunner(client, ActionLog(tmp_path / "ev"), "quarantine", f"pod/{POD}", NS)
        stray = ApiRequest("POST", "/apis/networking.k8s.io/v1/namespaces/billing/networkpolicies",
                           policy_body("billing"))
        with pytest.raises(OutsideNamespace):
            runner.send(stray)
    assert workload.writes == []


# --- release ------------------------------------------------------------------------------------------------


def test_quarantine_then_release_restores_labels_and_policies_exactly(workload: FakeCluster, kubeconfig: Path,
                                                                      tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    pod_before = copy.deepcopy(workload.find("Pod", NS, POD))
    policies_before = _policies(workload)
    assert _invoke(kubeconfig, evidence, "quarantine", POD, "--detach").exit_code == 0
    assert _labels(workload) != pod_before["metadata"]["labels"]
    res = _invoke(kubeconfig, evidence, "release", f"pod/{POD}")
    assert res.exit_code == 0, res.stderr
    pod_after = workload.find("Pod", NS, POD)
    assert pod_after["metadata"]["labels"] == pod_before["metadata"]["labels"]
    strip = ("resourceVersion",)
    assert {k: v for k, v in pod_after["metadata"].items() if k not in strip} == \
        {k: v for k, v in pod_before["metadata"].items() if k not in strip}
    assert _policies(workload) == policies_before
    deletes = [w for w in workload.writes if w[0] == "DELETE"]
    assert len(deletes) == 1 and deletes[0][3]["preconditions"]["uid"]
    # idempotent: a second release sends nothing and records one line
    writes, lines = len(workload.writes), len(ActionLog(evidence).records())
    again = _invoke(kubeconfig, evidence, "release", POD)
    assert again.exit_code == 0 and len(workload.writes) == writes
    assert len(ActionLog(evidence).records()) == lines + 1


def test_release_keeps_the_policy_while_another_pod_is_quarantined(workload: FakeCluster, kubeconfig: Path,
                                                                   tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    assert _invoke(kubeconfig, evidence, "quarantine", POD).exit_code == 0
    assert _invoke(kubeconfig, evidence, "quarantine", SIBLING).exit_code == 0
    res = _invoke(kubeconfig, evidence, "release", POD)
    assert res.exit_code == 0, res.stderr
    assert "kept: other pods are still quarantined" in res.stdout
    assert workload.find("NetworkPolicy", NS, POLICY_NAME) is not None
    assert "quarantine" not in _labels(workload)
    assert _invoke(kubeconfig, evidence, "release", SIBLING).exit_code == 0
    assert workload.find("NetworkPolicy", NS, POLICY_NAME) is None


def test_release_never_deletes_a_policy_quarantine_did_not_create(workload: FakeCluster, kubeconfig: Path,
                                                                  tmp_path: Path) -> None:
    ours_by_hand = policy_body(NS)
    workload.add(ours_by_hand)  # the same policy, created by someone else before the incident
    evidence = tmp_path / "ev"
    assert _invoke(kubeconfig, evidence, "quarantine", POD).exit_code == 0
    assert not [w for w in workload.writes if w[0] == "POST"]
    res = _invoke(kubeconfig, evidence, "release", POD)
    assert res.exit_code == 0, res.stderr
    assert workload.find("NetworkPolicy", NS, POLICY_NAME) is not None
    assert "was not created by a quarantine recorded in this action log" in res.stdout


def test_release_of_a_pod_never_quarantined_is_refused(workload: FakeCluster, kubeconfig: Path,
                                                       tmp_path: Path) -> None:
    res = _invoke(kubeconfig, tmp_path / "ev", "release", POD)
    assert res.exit_code == 2 and "never quarantined according to the action log" in res.stderr
    assert workload.writes == []


def test_release_dry_run_prints_what_a_real_release_sends(workload: FakeCluster, kubeconfig: Path,
                                                          tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    assert _invoke(kubeconfig, evidence, "quarantine", POD, "--detach").exit_code == 0
    start = len(workload.writes)
    lines = len(ActionLog(evidence).records())
    dry = _invoke(kubeconfig, evidence, "release", POD, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.stderr
    assert len(workload.writes) == start and len(ActionLog(evidence).records()) == lines
    planned = _printed_requests(dry.stdout)
    assert planned[0]["body"]["metadata"]["labels"] == {"quarantine": None, "app": "ehr-api",
                                                        "pod-template-hash": "7d9f"}
    assert _invoke(kubeconfig, evidence, "release", POD).exit_code == 0
    assert _sent(workload)[start:] == planned


# --- the NetworkPolicy verification ---------------------------------------------------------------------------


def test_a_users_allow_policy_is_reported_as_still_open(workload: FakeCluster, kubeconfig: Path,
                                                        tmp_path: Path) -> None:
    workload.add({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "api-from-portal", "namespace": NS},
                  "spec": {"podSelector": {"matchLabels": {"app": "ehr-api"}},
                           "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "portal"}}}],
                                        "ports": [{"port": 8443}]}]}})
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 2
    assert f"NOT CONTAINED: connections to or from pod {NS}/{POD} remain allowed" in res.stdout
    assert f"NetworkPolicy {NS}/api-from-portal ingress rule #1 allows TCP 8443 from podSelector app=portal" \
        in res.stdout
    # with --detach the user's policy no longer selects the pod (its app label is gone): contained
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD, "--detach")
    assert res.exit_code == 0, res.stdout
    assert "verified: no ingress or egress connection" in res.stdout


def test_a_host_network_pod_is_honestly_not_contained(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.add(_pod("node-agent", {"app": "agent"}, hostNetwork=True))
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", "node-agent")
    assert res.exit_code == 2
    assert "NOT CONTAINED: pod clinical/node-agent uses hostNetwork" in res.stdout
    assert _labels(fake, "node-agent")["quarantine"] == "true"  # the label and policy are still applied
    last = ActionLog(tmp_path / "ev").records()[-1]
    assert last["extra"]["hostNetwork"] is True and last["extra"]["contained"] is False


def test_pod_network_evaluates_the_pod_not_its_owner() -> None:
    owner = {"kind": "ReplicaSet", "name": RS, "uid": "u"}
    quarantined = _pod(POD, {"app": "ehr-api", "quarantine": "true"}, owner)
    sibling = _pod(SIBLING, {"app": "ehr-api"}, owner)
    # the sibling is listed FIRST: an owner-level answer would speak with its labels
    objects = [sibling, quarantined, policy_body(NS)]
    mine = pod_network(objects, NS, POD)
    assert mine.contained and mine.peer.text == f"{NS}/{POD}[Pod]"
    theirs = pod_network(objects, NS, SIBLING)
    assert not theirs.contained and not theirs.ingress_policies
    assert (f"{NS}/{POD}[Pod]", f"{NS}/{SIBLING}[Pod]", "All Connections") not in theirs.rows()


# --- the record ---------------------------------------------------------------------------------------------


def test_the_action_log_verifies_and_names_a_tampered_line(workload: FakeCluster, kubeconfig: Path,
                                                           tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    assert _invoke(kubeconfig, evidence, "quarantine", POD, "--detach").exit_code == 0
    assert _invoke(kubeconfig, evidence, "release", POD).exit_code == 0
    log = ActionLog(evidence)
    assert log.verify() is None
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[2])
    record["note"] = record["note"] + " (edited)"
    lines[2] = json.dumps(record)
    log.path.write_text("\n".join(lines) + "\n")
    broken = log.verify()
    assert broken is not None and broken.line == 3
    # release will not undo from an altered record
    res = _invoke(kubeconfig, evidence, "release", POD)
    assert res.exit_code == 2 and "actions.jsonl:3: the action log's hash chain is broken" in res.stderr


def test_an_edited_kubehipaa_policy_is_not_overwritten(workload: FakeCluster, kubeconfig: Path,
                                                       tmp_path: Path) -> None:
    edited = policy_body(NS)
    edited["spec"]["ingress"] = [{}]  # someone opened it up
    workload.add(edited)
    res = _invoke(kubeconfig, tmp_path / "ev", "quarantine", POD)
    assert res.exit_code == 2 and "no longer the deny-all (it was edited)" in res.stderr
    assert workload.writes == []


def test_pod_network_is_exact_per_pod_when_siblings_differ() -> None:
    owner = {"kind": "ReplicaSet", "name": RS, "uid": "u"}
    earlier = _pod("ehr-api-7d9f-00000", {"app": "ehr-api", "quarantine": "true"}, owner)  # first of its owner
    objects = [earlier, _pod(POD, {"app": "ehr-api"}, owner), _pod(SIBLING, {"app": "ehr-api"}, owner),
               policy_body(NS)]
    mine = pod_network(objects, NS, POD)
    assert not mine.contained and not mine.problems
    assert (f"{NS}/{SIBLING}[Pod]", f"{NS}/{POD}[Pod]", "All Connections") in mine.rows()
    assert all("ehr-api-7d9f-00000" not in src for src, _dst, _c in mine.rows())  # quarantined: no egress
