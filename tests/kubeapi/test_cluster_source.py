"""The live source (sources/cluster.py) with the real `kubernetes` client against the loopback API server."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kubehipaa.errors import InputError
from kubehipaa.sources.cluster import SECRET_MASK, ClusterTarget, load_cluster
from tests.kubeapi.server import FakeCluster

SECRET_B64 = "aHVudGVyMi1zdXBlci1zZWNyZXQ="  # hunter2-super-secret
SECRET_PLAIN = "Pl41nT3xt-p4ssw0rd"


def _pods(n: int) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i:03d}", "namespace": "bulk"},
             "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}} for i in range(n)]


def test_pagination_sees_every_object_once_across_pages(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.add(*_pods(25))
    load = load_cluster(ClusterTarget(str(kubeconfig), page_size=4))
    names = [(o.namespace, o.name) for o in load.objects if o.kind == "Pod"]
    assert len(names) == len(set(names)) == 25 + 4  # 25 bulk pods + the 4 in the example
    assert fake.lists["pods"] == 8  # ceil(29 / 4) pages, each a list request with limit=4
    pod_queries = [q for _, p, q in fake.requests if p == "/api/v1/pods"]
    assert all(q["limit"] == ["4"] for q in pod_queries)
    assert sum("continue" in q for q in pod_queries) == 7
    # list items carry no kind/apiVersion on the wire; the source sets them from the list
    assert all(o.kind == "Pod" and o.api_version == "v1" and o.doc["kind"] == "Pod" for o in load.objects
               if o.file.startswith("cluster:test-ctx/Pod/"))


def test_expired_continue_token_restarts_the_list(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.add(*_pods(10))
    fake.expire_once.add("pods")
    load = load_cluster(ClusterTarget(str(kubeconfig), page_size=3))
    names = [o.name for o in load.objects if o.kind == "Pod"]
    assert load.restarts == 1
    assert len(names) == len(set(names)) == 14
    assert not load.unreadable


def test_forbidden_kind_is_unreadable_not_empty(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.add("secrets")
    load = load_cluster(ClusterTarget(str(kubeconfig)))
    assert [(u.kind, u.status) for u in load.unreadable] == [("Secret", 403)]
    assert "Forbidden" in load.unreadable[0].reason
    assert "Secret" not in load.counts
    assert load.counts["ConfigMap"] >= 1


def test_only_get_requests_are_sent(fake: FakeCluster, kubeconfig: Path) -> None:
    load_cluster(ClusterTarget(str(kubeconfig)))
    assert fake.requests and {m for m, _, _ in fake.requests} == {"GET"}


def test_locations_name_context_kind_namespace_name(kubeconfig: Path) -> None:
    load = load_cluster(ClusterTarget(str(kubeconfig)))
    files = {o.file for o in load.objects}
    assert "cluster:test-ctx/Namespace/clinical" in files
    assert any(f.startswith("cluster:test-ctx/Deployment/clinical/") for f in files)
    assert all(o.line == 0 for o in load.objects)


def test_namespaces_limit_the_lists(fake: FakeCluster, kubeconfig: Path) -> None:
    load = load_cluster(ClusterTarget(str(kubeconfig), namespaces=("clinical",)))
    namespaced = {o.namespace for o in load.objects if o.namespace}
    assert namespaced == {"clinical"}
    assert [o.name for o in load.objects if o.kind == "Namespace"] == ["clinical"]
    assert not any(p == "/api/v1/pods" for _, p, _ in fake.requests)


def test_secret_values_never_reach_the_objects(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.add({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "db", "namespace": "clinical", "annotations": {
                  "kubectl.kubernetes.io/last-applied-configuration": orjson.dumps(
                      {"data": {"password": SECRET_B64}}).decode()}},
              "data": {"password": SECRET_B64}, "stringData": {"token": SECRET_PLAIN}})
    load = load_cluster(ClusterTarget(str(kubeconfig)))
    secret = next(o for o in load.objects if o.kind == "Secret" and o.name == "db")
    assert secret.doc["data"] == {"password": SECRET_MASK}
    assert secret.doc["stringData"] == {"token": SECRET_MASK}
    everything = orjson.dumps([o.doc for o in load.objects]).decode()
    assert SECRET_B64 not in everything and SECRET_PLAIN not in everything


@pytest.mark.parametrize(("version", "provider_id", "managed"), [
    ("v1.30.4-eks-a737599", "", "eks"),
    ("v1.29.6-gke.1038001", "", "gke"),
    ("v1.30.3", "azure:///subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachineScaleSets/z/0",
     "aks"),
    ("v1.30.3", "aws:///us-east-1a/i-0abc", "eks"),
    ("v1.30.3", "gce://proj/us-central1-a/node-1", "gke"),
    ("v1.30.3", "", None),
    ("v1.30.3", "kind://docker/kind/kind-control-plane", None),
])
def test_managed_control_plane_detection(fake: FakeCluster, kubeconfig: Path, version: str, provider_id: str,
                                         managed: str | None) -> None:
    fake.git_version = version
    if provider_id:
        fake.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"providerID": provider_id}})
    load = load_cluster(ClusterTarget(str(kubeconfig)))
    assert load.managed == managed
    assert not any(o.kind == "Node" for o in load.objects)


@pytest.mark.parametrize(("label", "managed"), [
    ("eks.amazonaws.com/nodegroup", "eks"), ("cloud.google.com/gke-nodepool", "gke"),
    ("kubernetes.azure.com/cluster", "aks"), ("node-role.kubernetes.io/control-plane", None),
])
def test_managed_node_labels(fake: FakeCluster, kubeconfig: Path, label: str, managed: str | None) -> None:
    fake.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {label: "x"}}, "spec": {}})
    assert load_cluster(ClusterTarget(str(kubeconfig))).managed == managed


def test_in_cluster_config_when_there_is_no_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kubernetes import config as kconfig

    from tests.kubeapi.server import KubeAPIServer

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with KubeAPIServer() as server:
        server.cluster.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clinical"}})

        def fake_incluster(client_configuration: object) -> None:  # the service-account files, pointed here
            client_configuration.host = server.url  # type: ignore[attr-defined]

        monkeypatch.setattr(kconfig, "load_incluster_config", fake_incluster)
        load = load_cluster(ClusterTarget())
    assert load.context == "in-cluster"
    assert [o.file for o in load.objects] == ["cluster:in-cluster/Namespace/clinical"]


def test_unreachable_server_is_an_input_error(tmp_path: Path) -> None:
    from tests.kubeapi.server import KubeAPIServer

    with KubeAPIServer() as server:
        kc = server.kubeconfig(tmp_path / "kc.json")
    with pytest.raises(InputError, match="no answer"):
        load_cluster(ClusterTarget(str(kc)))


def test_unknown_context_is_an_input_error(kubeconfig: Path) -> None:
    with pytest.raises(InputError, match="context 'prod' not in kubeconfig"):
        load_cluster(ClusterTarget(str(kubeconfig), context="prod"))


@pytest.mark.parametrize(("text", "match"), [
    (None, "kubeconfig not found"),
    ("not: [yaml", "not a usable kubeconfig"),
    ("- a\n- b\n", "not a usable kubeconfig|cannot load"),
    ("{}", "cannot load|not a usable"),
])
def test_bad_kubeconfig_is_an_input_error_naming_the_file(tmp_path: Path, text: str | None, match: str) -> None:
    kc = tmp_path / "kc.yaml"
    if text is not None:
        kc.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_cluster(ClusterTarget(str(kc)))
    assert err.value.file == str(kc)



def test_a_repeated_continue_token_stops_the_list_as_unreadable(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.add(*_pods(6))
    fake.repeat_token.add("pods")
    load = load_cluster(ClusterTarget(str(kubeconfig), page_size=5))
    assert [u.kind for u in load.unreadable] == ["Pod"]
    assert "repeats continue token" in load.unreadable[0].reason
    assert fake.lists["pods"] == 2  # the first page hands out "again", the second hands it out again: stop


def test_null_items_is_an_empty_list(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.null_items.add("podtemplates")
    load = load_cluster(ClusterTarget(str(kubeconfig)))
    assert load.counts["PodTemplate"] == 0 and not load.unreadable
