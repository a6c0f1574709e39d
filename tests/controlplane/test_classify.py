"""The one control-plane classifier (engines/controlplane/classify.py) and the view `Inventory.control_plane`.

The flag parser and the classifier read a container's command line through the same `entrypoint`, so a
container is judged as the component whose flags were read (issue 13, req 1).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubehipaa.config import Config
from kubehipaa.engines.controlplane import (
    ControlPlane,
    container_component,
    container_flags,
    entrypoint,
    runs_one_command,
    script_commands,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan

KOPS = ("mkfifo /tmp/pipe; (tee -a /var/log/kube-apiserver.log < /tmp/pipe & ) ; exec /usr/local/bin/kube-apiserver "
        "--allow-privileged=true --anonymous-auth=false --x=\"a;b\" > /tmp/pipe 2>&1")


def _obj(doc: dict[str, Any]) -> K8sObject:
    return K8sObject(doc, "x.yaml", 1)


def _pod(name: str, *containers: dict[str, Any], namespace: str = "kube-system") -> K8sObject:
    return _obj({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                 "spec": {"containers": list(containers)}})


@pytest.mark.parametrize("container,component", [
    ({"command": ["kube-apiserver", "--a=b"]}, "kube-apiserver"),
    ({"command": ["/usr/local/bin/kube-apiserver"]}, "kube-apiserver"),
    ({"command": ["/bin/sh", "-c", "kube-apiserver --a=b"]}, "kube-apiserver"),
    ({"command": ["bash", "-c", "exec /usr/local/bin/kube-controller-manager --v=2 1>>/var/log/kcm.log 2>&1"]},
     "kube-controller-manager"),
    ({"command": ["/bin/sh", "-c"], "args": ["kube-scheduler --v=2"]}, "kube-scheduler"),
    ({"command": ["/go-runner", "--log-file=/var/log/etcd.log", "--also-stdout=false", "/usr/local/bin/etcd"]},
     "etcd"),
    ({"command": ["etcd", "--data-dir=/var/lib/etcd"]}, "etcd"),
    # kops: a log pipe set up before the API server is exec'd
    ({"command": ["/bin/sh", "-c", KOPS]}, "kube-apiserver"),
    # no command: the image's entrypoint runs; a kube-* image or name says which component
    ({"image": "registry.k8s.io/kube-apiserver-amd64:v1.10.0", "args": ["--a=b"]}, "kube-apiserver"),
    ({"name": "kube-scheduler", "image": "example.org/sched:1"}, "kube-scheduler"),
    ({"command": "kube-apiserver --a=b", "image": "registry.k8s.io/kube-apiserver:v1.30.0"}, "kube-apiserver"),
    # not components
    ({"image": "quay.io/coreos/etcd:v3.5.0"}, None),  # an application's etcd, judged by its command only
    ({"command": ["sh", "-c", "echo kube-apiserver"]}, None),
    ({"command": ["sh", "kube-apiserver"]}, None),
    ({"command": ["envoy"], "image": "registry.k8s.io/kube-apiserver:v1.30.0"}, None),
    ({"image": "nginx"}, None),
])
def test_container_component(container: dict[str, Any], component: str | None) -> None:
    assert container_component(container) == component


def test_wrappers_are_taken_off_the_same_way_for_the_flags() -> None:
    kube_up = {"command": ["/bin/sh", "-c", "exec /usr/local/bin/kube-apiserver --anonymous-auth=false "
                           "--v=2 1>>/var/log/kube-apiserver.log 2>&1"]}
    pf = container_flags(kube_up)
    assert pf.binary == "/usr/local/bin/kube-apiserver" and entrypoint(kube_up).name == "kube-apiserver"
    assert pf.boolean("anonymous-auth") is False and pf.get("v") == "2"
    assert pf.positional == []  # the redirections are the shell's
    # every flag of a script points at the script's list item
    assert {(f.source, f.index) for n in pf.names() for f in pf.occurrences[n]} == {("command", 2)}

    kops = container_flags({"command": ["/bin/sh", "-c", KOPS]})
    assert kops.binary == "/usr/local/bin/kube-apiserver" and kops.positional == []
    assert kops.boolean("anonymous-auth") is False and kops.get("x") == "a;b"

    split = container_flags({"command": ["/bin/sh", "-c"], "args": ["kube-apiserver --a=1", "--b=2"]})
    assert split.binary == "kube-apiserver" and not split.has("c")
    a, b = split.flag("a"), split.flag("b")
    assert a is not None and (a.source, a.index) == ("args", 0)
    assert b is not None and (b.source, b.index) == ("args", 1)

    runner = container_flags({"command": ["/go-runner", "--log-file", "/var/log/a.log", "--redirect-stderr=true",
                                          "/usr/local/bin/kube-apiserver", "--a=1"], "args": ["--b=2"]})
    assert runner.binary == "/usr/local/bin/kube-apiserver" and runner.names() == ["a", "b"]
    a = runner.flag("a")
    assert a is not None and (a.source, a.index) == ("command", 5)


@pytest.mark.parametrize("script,commands", [
    ("kube-apiserver --a=b", ["kube-apiserver --a=b"]),
    ("a; b && c || d | e & f", ["a", " b ", " c ", " d ", " e ", " f"]),
    ("(a &) ; b", ["a ", " b"]),
    ("a 2>&1 >/x <&3 &>/y", ["a 2>&1 >/x <&3 &>/y"]),
    ("a '--x=;' \"--y=|\\\";\" \\; b", ["a '--x=;' \"--y=|\\\";\" \\; b"]),
    ("a \\\n b\nc # d; e\n#f;g\nh", ["a \\\n b", "c ", "h"]),
    ("a --x=#1; b", ["a --x=#1", " b"]),
])
def test_script_commands(script: str, commands: list[str]) -> None:
    assert script_commands(script) == commands


@pytest.mark.parametrize("script,one", [
    ("kube-apiserver --a=b", True),
    ("exec kube-apiserver \\\n  --a=b 1>>/var/log/x.log 2>&1", True),
    ("kube-apiserver --advertise-address=$(POD_IP) --b=${B}", True),  # kubelet / shell variables
    ("kube-apiserver; id", False),
    ("kube-apiserver && id", False),
    ("kube-apiserver | tee /x", False),
    ("kube-apiserver --a=`id`", False),
    ("kube-apiserver --a=$(id -u)", False),
    ("kube-apiserver\nid", False),
])
def test_runs_one_command(script: str, one: bool) -> None:
    assert runs_one_command(script) is one


def _doc_kinds() -> list[K8sObject]:
    api = {"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.0",
           "command": ["kube-apiserver", "--anonymous-auth=false"]}
    return [
        _pod("kube-apiserver-cp", api),
        _pod("etcd-cp", {"name": "etcd", "image": "registry.k8s.io/etcd:3.5.15-0", "command": ["etcd"]}),
        _pod("kube-scheduler-cp", {"name": "kube-scheduler", "image": "registry.k8s.io/kube-scheduler:v1.30.0",
                                   "command": ["kube-scheduler"]}),
        _pod("broken-api", {"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.0",
                            "command": ["kube-apiserver"], "args": "--a=b"}),
        _pod("web", {"name": "web", "image": "nginx"}, namespace="default"),
        _obj({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration", "resources": []}),
        _obj({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "metadata": {"name": "audit"}, "rules": []}),
        _obj({"apiVersion": "kyverno.io/v1", "kind": "Policy", "metadata": {"name": "kyverno", "namespace": "a"}}),
        _obj({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}),
        _obj({"apiVersion": "kubehipaa.io/v1alpha1", "kind": "KubeAPIServerFlags",
              "metadata": {"name": "kube-apiserver"}, "spec": {"args": ["--profiling=false"]}}),
    ]


def test_the_view_groups_components_and_configuration_by_kind() -> None:
    cp = Inventory(_doc_kinds(), Config()).control_plane
    assert [(a.obj.name, a.prefix) for a in cp.apiservers] == [("kube-apiserver-cp", "spec.containers[0]"),
                                                              ("kube-apiserver", "spec")]
    assert cp.apiservers[0].flags.boolean("anonymous-auth") is False
    assert cp.apiservers[1].flags.boolean("profiling") is False
    assert [e.obj.name for e in cp.etcd] == ["etcd-cp"]
    assert [(o.obj.name, o.component) for o in cp.others] == [("kube-scheduler-cp", "kube-scheduler")]
    assert [(u.obj.name, u.problem) for u in cp.unreadable] == [("broken-api", "args must be a list of strings, "
                                                                 "not a string")]
    assert [o.kind for o in cp.encryption_configs] == ["EncryptionConfiguration"]
    assert [o.name for o in cp.audit_policies] == ["audit"]  # a Kyverno Policy is no audit Policy
    assert [o.kind for o in cp.kubelet_configs] == ["KubeletConfiguration"]
    assert {p.name for p, _ in cp.static_pods} == {"kube-apiserver-cp", "etcd-cp", "kube-scheduler-cp",
                                                    "broken-api"}
    assert cp.has_evidence()
    assert not ControlPlane().has_evidence()


def test_the_view_is_built_once_per_inventory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every KH-API/ENC/AUD/KUB check reads `inv.control_plane`: classified once per scan, not per check."""
    built: list[ControlPlane] = []
    post_init = ControlPlane.__post_init__

    def counting(self: ControlPlane) -> None:
        built.append(self)
        post_init(self)

    monkeypatch.setattr(ControlPlane, "__post_init__", counting)
    inv = Inventory(_doc_kinds(), Config())
    first = inv.control_plane
    assert inv.control_plane is first
    result = run_scan(inv, Config())
    assert {"KH-API-021", "KH-ENC-001", "KH-AUD-002", "KH-KUB-004"} <= {f.check_id for f in result.findings}
    assert len(built) == 1 and built[0] is first
    assert Inventory(_doc_kinds(), Config()).control_plane is not first  # per inventory, not global
