"""One namespace rule at load time (issue 11, req. 3): what `kubectl apply [-n NS] -f` would create.

A namespaced object without metadata.namespace is placed in --namespace (else `default`) in the object AND its
document, so every engine reads the same thing; cluster-scoped objects never carry one; with an explicit
--namespace, an object naming another namespace is refused as kubectl refuses it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from kubehipaa.sources.api_scopes import BUILTIN_SCOPES
from kubehipaa.sources.files import LOST, load_paths
from kubehipaa.sources.namespaces import scope_of
from tests.conftest import ROOT

MIXED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: frontend-external}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: sa}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: pinned, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader, namespace: ops}
---
apiVersion: v1
kind: Namespace
metadata: {name: clinical}
"""


def _load(tmp_path: Path, text: str, **kw: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return load_paths([str(path)], **kw)  # type: ignore[arg-type]


def _placed(result) -> dict[str, tuple[str | None, bool, object]]:  # type: ignore[no-untyped-def]
    return {o.name: (o.namespace, o.namespace_assumed, o.doc.get("metadata", {}).get("namespace"))
            for o in result.objects}


def test_namespaced_objects_without_namespace_are_in_default_in_object_and_document(tmp_path: Path) -> None:
    result = _load(tmp_path, MIXED)
    assert _placed(result) == {
        "web": ("default", True, "default"),
        "frontend-external": ("default", True, "default"),
        "deny": ("default", True, "default"),
        "rb": ("default", True, "default"),
        "pinned": ("ops", False, "ops"),
        "reader": (None, False, None),  # cluster-scoped: the API server drops the namespace
        "clinical": (None, False, None),
    }
    assert (result.namespace, result.namespace_assumed, result.namespace_given) == ("default", 4, False)
    assert result.problems == []  # without an explicit -n, a pinned namespace is fine (plain kubectl apply)
    web = next(o for o in result.objects if o.name == "web")
    assert web.ref.namespace_assumed and web.ref.to_dict()["namespaceAssumed"] is True


def test_explicit_namespace_places_them_there_and_refuses_other_namespaces(tmp_path: Path) -> None:
    result = _load(tmp_path, MIXED, namespace="argocd")
    placed = _placed(result)
    assert placed["web"] == ("argocd", True, "argocd") and placed["rb"] == ("argocd", True, "argocd")
    assert placed["reader"] == (None, False, None)
    [problem] = result.problems
    assert problem.lost and (problem.file, problem.line) == (str(tmp_path / "m.yaml"), 20)
    assert "ConfigMap ops/pinned" in problem.message and "'ops' does not match the namespace 'argocd'" in problem.message
    assert placed["pinned"] == ("ops", False, "ops")  # still analysed, where it says it is
    with pytest.raises(Exception, match="does not match the namespace"):
        _load(tmp_path, MIXED, namespace="argocd", strict=True)


def test_an_explicit_namespace_equal_to_the_objects_is_fine(tmp_path: Path) -> None:
    result = _load(tmp_path, MIXED, namespace="ops")
    assert result.problems == [] and _placed(result)["web"] == ("ops", True, "ops")


CRDS = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: example.com/v1
kind: ClusterWidget
metadata: {name: cw, namespace: stray}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clusterwidgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: ClusterWidget, plural: clusterwidgets}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
"""


def test_custom_resources_take_the_scope_of_their_crd_anywhere_in_the_input(tmp_path: Path) -> None:
    placed = _placed(_load(tmp_path, CRDS, namespace="apps"))
    assert placed["w"] == ("apps", True, "apps")
    assert placed["cw"] == (None, False, None)  # cluster-scoped per its CRD (listed after it)
    assert placed["widgets.example.com"] == (None, False, None)


CONFIG_FILES = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources: []
---
apiVersion: audit.k8s.io/v1
kind: Policy
rules: [{level: Metadata}]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
---
apiVersion: v1
kind: Config
clusters: []
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: sm}
"""


def test_config_files_are_not_api_objects_and_unknown_custom_resources_are_namespaced(tmp_path: Path) -> None:
    result = _load(tmp_path, CONFIG_FILES)
    assert [(o.kind, o.namespace, o.namespace_assumed) for o in result.objects] == [
        ("EncryptionConfiguration", None, False),
        ("Policy", None, False),
        ("KubeletConfiguration", None, False),
        ("Config", None, False),
        ("ServiceMonitor", "default", True),  # no CRD in the input: most custom resources are namespaced
    ]
    assert "metadata" not in result.objects[0].doc  # files without metadata are left as they are


@pytest.mark.parametrize(
    ("group", "kind", "namespaced"),
    [  # spot checks against upstream discovery (kubernetes/kubernetes api/discovery/aggregated_v2.json)
        ("apps", "Deployment", True), ("", "Service", True), ("", "ServiceAccount", True),
        ("networking.k8s.io", "NetworkPolicy", True), ("storage.k8s.io", "CSIStorageCapacity", True),
        ("authorization.k8s.io", "LocalSubjectAccessReview", True), ("batch", "CronJob", True),
        ("", "Namespace", False), ("", "PersistentVolume", False), ("", "Node", False),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", False), ("networking.k8s.io", "IngressClass", False),
        ("networking.k8s.io", "IPAddress", False), ("certificates.k8s.io", "CertificateSigningRequest", False),
        ("apiextensions.k8s.io", "CustomResourceDefinition", False), ("storage.k8s.io", "StorageClass", False),
        ("extensions", "Deployment", True), ("policy", "PodSecurityPolicy", False),  # removed APIs
    ],
)
def test_builtin_scopes_agree_with_upstream_discovery(group: str, kind: str, namespaced: bool) -> None:
    assert BUILTIN_SCOPES[(group, kind)] is namespaced
    assert scope_of(group, kind, {}) is namespaced


@pytest.mark.skipif(importlib.util.find_spec("kubernetes") is None, reason="kubernetes client not installed")
def test_scope_table_is_what_the_generator_derives() -> None:
    """api_scopes.py is generated: regenerating it from the installed client gives the same table (or the
    client is older/newer: then only additions are allowed, no kind may change scope)."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_api_scopes.py")], capture_output=True,
                         text=True, check=True).stdout
    namespace: dict[str, object] = {}
    exec(compile(out, "api_scopes", "exec"), namespace)  # our own generator's output
    derived = namespace["BUILTIN_SCOPES"]
    assert isinstance(derived, dict)
    common = set(derived) & set(BUILTIN_SCOPES)
    assert len(common) > 60
    assert {k: derived[k] for k in common} == {k: BUILTIN_SCOPES[k] for k in common}


def test_a_document_whose_metadata_is_not_a_mapping_is_left_alone(tmp_path: Path) -> None:
    result = _load(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: [x]\n")
    [obj] = result.objects
    assert obj.namespace is None and obj.doc["metadata"] == ["x"] and not result.lost


def test_problem_levels() -> None:
    from kubehipaa.sources.files import InputProblem

    assert InputProblem("f", 1, "malformed YAML: x").lost
    assert InputProblem("f", 1, "not UTF-8 text").lost
    assert not InputProblem("f", 1, "document has no 'kind'; skipped").lost
    assert InputProblem("f", 1, "kubectl kustomize failed: x", LOST).lost


@pytest.mark.parametrize("bad", ["", "Argo", "-x", "a_b", "x" * 64, "a.b"])
def test_an_invalid_namespace_option_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(Exception, match="not a valid namespace name"):
        _load(tmp_path, MIXED, namespace=bad)
