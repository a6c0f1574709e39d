"""The one "where does this kind keep its pod template" table (`kubehipaa.workload_kinds`, issue 13 req 1).

It was written six times (Inventory, PSS, NetworkPolicy topology, RBAC escalation, Sigma, audit-log pod facts)
and the copies differed. These tests pin the table to upstream (pod-security-admission's
DefaultPodSpecExtractor: pods, podtemplates, replicationcontrollers, replicasets, deployments, statefulsets,
daemonsets, jobs, cronjobs), prove every reader finds a pod spec where the table says, keep the deliberate
differences (a PodTemplate object runs no pod), and forbid a second copy in src.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from kubehipaa.engines import pss
from kubehipaa.engines.auditlog import podspec
from kubehipaa.engines.netpol.topology import build_topology
from kubehipaa.engines.rbac import RbacIndex
from kubehipaa.engines.rbac.escalation import _pod_service_accounts
from kubehipaa.inventory import Inventory, pod_spec_of
from kubehipaa.model import K8sObject
from kubehipaa.workload_kinds import (
    CONTROLLER_TEMPLATE_PATHS,
    POD_SPEC_PATHS,
    POD_TEMPLATE_PATHS,
    RUNS_PODS,
    WORKLOAD_KINDS,
    pod_spec_path,
)

SRC = Path(__file__).resolve().parent.parent / "src" / "kubehipaa"

UPSTREAM = {  # pod-security-admission's DefaultPodSpecExtractor.ExtractPodSpec, kind -> template field
    "Pod": (),
    "PodTemplate": ("template",),
    "ReplicationController": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def workload(kind: str, sa: str = "runner", ns: str = "clinical") -> dict[str, Any]:
    """A `kind` document with a pod template at the place the table gives, labelled app=<kind>."""
    pod = {"metadata": {"labels": {"app": kind.lower()}},
           "spec": {"serviceAccountName": sa,
                    "containers": [{"name": "app", "image": "registry.example/app:1",
                                    "ports": [{"containerPort": 8080}]}]}}
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": kind.lower(), "namespace": ns}}
    path = POD_TEMPLATE_PATHS[kind]
    if not path:
        doc["metadata"]["labels"] = pod["metadata"]["labels"]
        doc["spec"] = pod["spec"]
        return doc
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = pod
    return doc


def test_table_is_upstreams() -> None:
    assert POD_TEMPLATE_PATHS == UPSTREAM
    assert set(UPSTREAM) == WORKLOAD_KINDS
    assert next(iter(POD_TEMPLATE_PATHS)) == "Pod"  # the Inventory lists Pods first
    assert set(UPSTREAM) - {"PodTemplate"} == RUNS_PODS
    assert set(CONTROLLER_TEMPLATE_PATHS) == set(UPSTREAM) - {"Pod", "PodTemplate"}
    assert POD_SPEC_PATHS == (("spec",), ("spec", "template", "spec"),
                              ("spec", "jobTemplate", "spec", "template", "spec"), ("template", "spec"))
    assert pod_spec_path("CronJob") == ("spec", "jobTemplate", "spec", "template", "spec")
    assert pod_spec_path("ConfigMap") is None


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_every_reader_finds_the_pod_spec_where_the_table_says(kind: str) -> None:
    doc = workload(kind)
    spec_path = ".".join((*UPSTREAM[kind], "spec"))
    ref = pod_spec_of(K8sObject(doc, "w.yaml", 1))
    assert ref is not None and ref.path == spec_path and ref.spec["serviceAccountName"] == "runner"
    assert ref.template_meta["labels"] == {"app": kind.lower()}
    tmpl = pss.extract(doc)
    assert tmpl is not None and tmpl.path == spec_path and tmpl.spec is ref.spec
    assert kind in pss.POD_KINDS
    assert podspec.pod_spec(doc) is ref.spec
    kindless = {k: v for k, v in doc.items() if k != "kind"}
    assert podspec.pod_spec(kindless) is ref.spec  # trimmed bodies: the first template they hold


def test_inventory_lists_every_kinds_pod_spec_pods_first() -> None:
    objs = [K8sObject(workload(kind), "w.yaml", i + 1) for i, kind in enumerate(reversed(list(UPSTREAM)))]
    specs = Inventory(objs).pod_specs
    assert [s.owner.kind for s in specs] == list(POD_TEMPLATE_PATHS)


def test_podtemplate_is_no_network_peer_but_every_controller_and_pod_is() -> None:
    """netpol-analyzer's peers are Pods and the workloads that run them; a PodTemplate object runs none."""
    topo = build_topology([workload(kind) for kind in UPSTREAM])
    kinds = {w.kind for w in topo.workloads}
    assert kinds == set(UPSTREAM) - {"PodTemplate"}


def test_podtemplate_gives_no_exec_path_to_its_service_account() -> None:
    """RBAC escalation: "exec into a pod running as SA" needs a running pod; a PodTemplate has none."""
    docs = [workload(kind, sa=f"sa-{kind.lower()}") for kind in UPSTREAM]
    accounts = _pod_service_accounts(RbacIndex.from_objects(docs))
    assert accounts == {("clinical", f"sa-{kind.lower()}") for kind in UPSTREAM if kind != "PodTemplate"}


def test_audit_pod_body_is_read_by_its_kind_not_a_decoy_template() -> None:
    """The old audit-log reader took `spec.template.spec` of any body that had one, a Pod's too: a decoy
    template (a field a Pod does not have) hid the privileged container the API server would run."""
    body = {"kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "x", "securityContext": {"privileged": True}}],
                     "template": {"spec": {"containers": [{"name": "decoy"}]}}}}
    spec = podspec.pod_spec(body)
    assert [c["name"] for _, c in podspec.containers(spec)] == ["x"]


def test_audit_podtemplate_body_without_kind_is_read_at_its_template() -> None:
    """The old reader knew no top-level `template` (PodTemplate): it found no pod spec at all."""
    body = {"metadata": {"name": "t"}, "template": {"spec": {"containers": [{"name": "x", "image": "i"}]}}}
    assert podspec.images(podspec.pod_spec(body)) == ["i"]


def test_the_table_is_written_once() -> None:
    """No module but workload_kinds spells out a template path: the string "jobTemplate" (the key only a
    hand-written table or walk needs) appears nowhere else in the code (docstrings may mention it).
    Generators (`generate/`) are exempt: they write a CronJob's fields, they do not read template paths."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "workload_kinds.py" or path.relative_to(SRC).parts[0] == "generate":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "jobTemplate":
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
