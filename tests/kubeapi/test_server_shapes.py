"""The loopback API server speaks the shapes the official client's own models expect.

The client's typed methods (generated from upstream's OpenAPI document) deserialize every answer into its
models (V1PodList, V1Pod, V1Status, V1APIResourceList, VersionInfo, ...): a field of the wrong type or a
missing required one fails here. So the respond and scan tests exercise the real wire shapes, not our guesses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client as kclient
from kubernetes import config as kconfig
from kubernetes.client.exceptions import ApiException

from tests.kubeapi.server import FakeCluster, KubeAPIServer

NS = "clinical"


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": "a"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], "nodeName": "node-7"}}


@pytest.fixture
def api(kubeapi: KubeAPIServer, fake: FakeCluster, tmp_path: Path) -> kclient.ApiClient:
    fake.add(*(_pod(f"p{i}") for i in range(5)))
    fake.logs[(NS, "p0", "app", False)] = "hello\n"
    return kconfig.new_client_from_config(config_file=str(kubeapi.kubeconfig(tmp_path / "kc.json")))


def _status(exc: ApiException) -> kclient.V1Status:
    status = kclient.ApiClient().deserialize(exc.body, "V1Status", "application/json")
    assert isinstance(status, kclient.V1Status)
    return status


def test_discovery_and_version_deserialize(api: kclient.ApiClient) -> None:
    assert kclient.VersionApi(api).get_code().git_version == "v1.31.2"
    groups = kclient.ApisApi(api).get_api_versions()
    assert "rbac.authorization.k8s.io" in {g.name for g in groups.groups}
    core = kclient.CoreV1Api(api).get_api_resources()
    assert {"pods", "secrets", "events"} <= {r.name for r in core.resources}


def test_typed_lists_page_with_continue(api: kclient.ApiClient) -> None:
    core = kclient.CoreV1Api(api)
    first = core.list_namespaced_pod(NS, limit=2, label_selector="app=a")
    assert isinstance(first, kclient.V1PodList) and len(first.items) == 2
    assert first.metadata.resource_version and first.metadata._continue
    names = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_pod(NS, limit=2, _continue=token, label_selector="app=a")
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert names == [f"p{i}" for i in range(5)]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-7").items
            if p.metadata.namespace == NS] == names


def test_forbidden_and_not_found_are_status_bodies(api: kclient.ApiClient, fake: FakeCluster) -> None:
    fake.forbidden.add("secrets")
    with pytest.raises(ApiException) as denied:
        kclient.CoreV1Api(api).list_namespaced_secret(NS)
    status = _status(denied.value)
    assert (denied.value.status, status.reason, status.code) == (403, "Forbidden", 403)
    with pytest.raises(ApiException) as missing:
        kclient.CoreV1Api(api).read_namespaced_pod("nope", NS)
    assert _status(missing.value).reason == "NotFound"


def test_expired_continue_is_410_with_an_inconsistent_token(api: kclient.ApiClient, fake: FakeCluster) -> None:
    fake.expire_once.add("pods")
    core = kclient.CoreV1Api(api)
    token = core.list_namespaced_pod(NS, limit=2).metadata._continue
    with pytest.raises(ApiException) as gone:
        core.list_namespaced_pod(NS, limit=2, _continue=token)
    assert (gone.value.status, _status(gone.value).reason) == (410, "Expired")
    assert json.loads(gone.value.body)["metadata"]["continue"]


def test_patches_the_client_sends_are_understood(api: kclient.ApiClient, fake: FakeCluster) -> None:
    core = kclient.CoreV1Api(api)
    # a dict body: the client picks its content type from the list upstream's OpenAPI gives for PATCH
    pod = core.patch_namespaced_pod("p0", NS, {"metadata": {"labels": {"quarantine": "true"}}},
                                    _content_type="application/strategic-merge-patch+json")
    assert isinstance(pod, kclient.V1Pod) and pod.metadata.labels == {"app": "a", "quarantine": "true"}
    pod = core.patch_namespaced_pod("p0", NS, {"metadata": {"labels": {"quarantine": None}}},
                                    _content_type="application/merge-patch+json")
    assert pod.metadata.labels == {"app": "a"}
    pod = core.patch_namespaced_pod("p0", NS, [{"op": "add", "path": "/metadata/labels/x", "value": "1"}])
    assert fake.writes[-1][2] == "application/json-patch+json" and pod.metadata.labels["x"] == "1"
    with pytest.raises(ApiException) as stale:
        core.patch_namespaced_pod("p0", NS, {"metadata": {"resourceVersion": "1", "labels": {"y": "2"}}},
                                  _content_type="application/merge-patch+json")
    assert (stale.value.status, _status(stale.value).reason) == (409, "Conflict")


def test_create_conflict_eviction_log_and_delete(api: kclient.ApiClient, fake: FakeCluster) -> None:
    net = kclient.NetworkingV1Api(api)
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    created = net.create_namespaced_network_policy(NS, body)
    assert isinstance(created, kclient.V1NetworkPolicy) and created.metadata.uid
    with pytest.raises(ApiException) as exists:
        net.create_namespaced_network_policy(NS, body)
    assert (exists.value.status, _status(exists.value).reason) == (409, "AlreadyExists")
    core = kclient.CoreV1Api(api)
    assert core.read_namespaced_pod_log("p0", NS, container="app") == "hello\n"
    eviction = kclient.V1Eviction(metadata=kclient.V1ObjectMeta(name="p1", namespace=NS))
    core.create_namespaced_pod_eviction("p1", NS, eviction)
    fake.pdb_blocked.add((NS, "p2"))
    with pytest.raises(ApiException) as budget:
        core.create_namespaced_pod_eviction("p2", NS, kclient.V1Eviction(metadata=kclient.V1ObjectMeta(name="p2")))
    status = _status(budget.value)
    assert (budget.value.status, status.reason, status.details.causes[0].reason) == (
        429, "TooManyRequests", "DisruptionBudget")
    deleted = core.delete_namespaced_pod("p3", NS)
    assert deleted.metadata.name == "p3"
    assert {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=a").items} == {"p0", "p2", "p4"}
