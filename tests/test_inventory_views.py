"""The Inventory owns the derived views (issue 13 req 1): built once, lazily, and read by every check.

Before, checks/rbac.py, images.py, _pods.py and skipped.py each kept a cache keyed by the Inventory. Now the
RBAC index, the judged pod specs and containers, the parsed images and the skipped-input list live on the
Inventory; no check keeps a cache of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubehipaa.config import Config
from kubehipaa.engines import rbac as rbac_engine
from kubehipaa.inventory import Inventory, pod_spec_of
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan

CHECKS = Path(__file__).resolve().parent.parent / "src" / "kubehipaa" / "checks"

DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "clinical"},
    "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "app", "image": "registry.example/web:latest"},
        {"name": "side", "image": "registry.example/web:latest"},
    ]}}},
}
ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader", "namespace": "clinical"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
BROKEN_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "broken", "namespace": "clinical"}, "rules": "get secrets"}
BINDING = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": "read", "namespace": "clinical"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
           "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]}
APISERVER = {  # a kubeadm-style static Pod: judged by KH-API, left out of the workload view
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "kube-apiserver-cp1", "namespace": "kube-system",
                 "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
    "spec": {"hostNetwork": True, "containers": [{
        "name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.4",
        "command": ["kube-apiserver", "--authorization-mode=Node,RBAC"]}]},
}


def inventory(*docs: dict[str, Any]) -> Inventory:
    return Inventory([K8sObject(d, "in.yaml", i + 1) for i, d in enumerate(docs)], Config())


def test_each_view_is_built_once() -> None:
    inv = inventory(DEPLOY, ROLE, BINDING, APISERVER)
    for name in ("pod_specs", "pod_view", "images", "rbac", "namespaces", "phi_namespaces"):
        assert getattr(inv, name) is getattr(inv, name), name


def test_pod_view_holds_the_judged_specs_and_their_containers() -> None:
    inv = inventory(DEPLOY, APISERVER)
    assert [ps.owner.name for ps in inv.pod_specs] == ["kube-apiserver-cp1", "web"]
    view = inv.pod_view
    assert [ps.owner.name for ps in view.specs] == ["web"]  # the control-plane static Pod is exempt
    assert [(c.name, c.path) for c in view.containers] == [
        ("app", "spec.template.spec.containers[0]"), ("side", "spec.template.spec.containers[1]")]


def test_images_are_parsed_once_per_reference() -> None:
    inv = inventory(DEPLOY)
    first, second = inv.images
    assert (first.container, first.path, first.image) == ("app", "spec.template.spec.containers[0].image",
                                                          "registry.example/web:latest")
    assert first.ref.tag == "latest" and first.ref is second.ref


def test_a_scan_builds_the_rbac_index_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fourteen RBAC checks read one index."""
    built: list[int] = []
    original = rbac_engine.RbacIndex.from_objects

    def counting(objects: Any, **kw: Any) -> Any:
        built.append(1)
        return original(objects, **kw)

    monkeypatch.setattr(rbac_engine.RbacIndex, "from_objects", counting)
    inv = inventory(DEPLOY, ROLE, BINDING)
    run_scan(inv)
    assert len(built) == 1
    assert inv.rbac.roles  # the index the checks used, kept on the inventory


def test_skipped_input_is_kept_on_the_inventory_and_reported_by_the_scan() -> None:
    inv = inventory(BROKEN_ROLE, ROLE, BINDING)
    result = run_scan(inv)
    [problem] = result.skipped
    assert problem.lost and (problem.file, problem.line) == ("in.yaml", 1)
    assert "rules must be a list" in problem.message
    assert inv.skipped == result.skipped


def test_skip_keeps_a_repeat_once_in_first_reported_order() -> None:
    inv = inventory()
    inv.skip("b.yaml", 2, "second")
    inv.skip("a.yaml", 1, "first")
    inv.skip("b.yaml", 2, "second")
    assert [(p.file, p.line, p.message) for p in inv.skipped] == [("b.yaml", 2, "second"), ("a.yaml", 1, "first")]
    assert all(p.lost for p in inv.skipped)


def test_pod_spec_of_a_pod_is_its_spec() -> None:
    ref = pod_spec_of(K8sObject(APISERVER, "p.yaml", 1))
    assert ref is not None and ref.path == "spec" and ref.template_meta is APISERVER["metadata"]


# checks/network.py keeps `_CACHE` until the `Inventory.netpol` view (issue 13, the netpol helper) replaces it.
def test_no_check_keeps_a_cache_keyed_by_the_inventory() -> None:
    found = []
    for path in sorted(CHECKS.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name}: {needle}" for needle in ("WeakKeyDictionary", "weakref", "id(inv)")
                  if needle in text]
    assert found == []


def test_findings_on_one_object_share_one_redacted_ref_computed_once() -> None:
    """The registry redacts an object's ref once (`Inventory.finding_ref`), not once per finding; findings on
    an object named like a patient identifier carry the redacted name, all sharing one ref."""
    named = {**DEPLOY, "metadata": {"name": "pt-123-45-6789", "namespace": "clinical"}}
    inv = inventory(named)
    obj = inv.objects[0]
    calls: list[Any] = []

    def redact(ref: Any) -> Any:
        calls.append(ref)
        return ref

    assert inv.finding_ref(obj, redact) is inv.finding_ref(obj, redact) is inv.ref(obj)
    assert len(calls) == 1
    findings = [f for f in run_scan(inventory(named)).findings if f.resource.kind == "Deployment"]
    assert len(findings) > 3
    assert all(f.resource is findings[0].resource for f in findings)
    assert "123-45-6789" not in findings[0].resource.name
