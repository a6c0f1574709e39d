"""One bad file never hides the good ones (issue 11, req. 5), at the source layer.

Duplicates (same kind, namespace and name in two places) are analysed once, the last definition as
`kubectl apply` leaves it, with one warning naming both places; a Helm template, a Kustomize Component or a
Kustomize directory that fails to render is a problem of that input only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubehipaa.sources import files
from kubehipaa.sources.files import DUPLICATE, LOST, NOTE, load_paths

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: api-allow{ns}}}
spec:
  podSelector: {{matchLabels: {{app: api}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: {peer}}}}}}}]}}]
"""


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_duplicate_across_two_variants_keeps_the_last_and_names_both(tmp_path: Path) -> None:
    first = _write(tmp_path, "app-v1/netpol.yaml", POLICY.format(ns="", peer="web"))
    second = _write(tmp_path, "app-v2/netpol.yaml", POLICY.format(ns="", peer="gateway"))
    result = load_paths([str(tmp_path)])
    [obj] = result.objects
    assert obj.file == str(second) and obj.doc["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {
        "app": "gateway"}
    [problem] = result.problems
    assert problem.severity == DUPLICATE and not problem.lost
    assert (problem.file, problem.line) == (str(first), 1)
    assert f"defined again at {second}:1" in problem.message and "a different definition" in problem.message
    assert "NetworkPolicy default/api-allow" in problem.message
    assert result.duplicates == 1
    assert obj.extra["redefines"][0].file == str(first)


def test_identical_copies_say_so_and_three_copies_give_two_lines(tmp_path: Path) -> None:
    for d in ("a", "b", "c"):
        _write(tmp_path, f"{d}/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n")
    result = load_paths([str(tmp_path)])
    assert [o.file for o in result.objects] == [str(tmp_path / "c" / "sa.yaml")]
    assert [p.file for p in result.problems] == [str(tmp_path / "a" / "sa.yaml"), str(tmp_path / "b" / "sa.yaml")]
    assert all("an identical copy" in p.message and f"{tmp_path}/c/sa.yaml:1" in p.message for p in result.problems)


def test_what_is_not_a_duplicate(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", """\
apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: one}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: same, namespace: two}
---
apiVersion: batch/v1
kind: Job
metadata: {generateName: migrate-}
---
apiVersion: batch/v1
kind: Job
metadata: {generateName: migrate-}
---
apiVersion: example.com/v1
kind: Thing
metadata: {name: same}
---
apiVersion: other.io/v1
kind: Thing
metadata: {name: same}
---
apiVersion: audit.k8s.io/v1
kind: Policy
rules: []
---
apiVersion: audit.k8s.io/v1
kind: Policy
rules: []
""")
    result = load_paths([str(tmp_path)])
    assert len(result.objects) == 8 and result.problems == []


def test_a_namespace_assumed_object_duplicates_the_same_object_written_with_it(tmp_path: Path) -> None:
    # `kubectl apply` puts both in default: one object. Also: the old and the new API group of one kind.
    _write(tmp_path, "a.yaml", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\n")
    _write(tmp_path, "b.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n")
    result = load_paths([str(tmp_path)])
    assert [o.file for o in result.objects] == [str(tmp_path / "b.yaml")]
    assert result.duplicates == 1
    # with -n elsewhere they are two objects again (and b.yaml names another namespace: refused, analysed)
    result = load_paths([str(tmp_path)], namespace="apps")
    assert len(result.objects) == 2 and result.duplicates == 0 and [p.severity for p in result.problems] == [LOST]


HELM = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
"""


def test_a_helm_template_is_one_problem_and_the_other_files_are_loaded(tmp_path: Path) -> None:
    _write(tmp_path, "chart/templates/deployment.yaml", HELM)
    _write(tmp_path, "chart/templates/_helpers.tpl", "{{- define \"x\" -}}{{- end }}\n")
    _write(tmp_path, "plain/pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["p"]
    [problem] = result.problems
    assert problem.lost and problem.file.endswith("deployment.yaml") and problem.line is not None
    assert "render it first" in problem.message and "helm template" in problem.message


def test_a_kustomize_component_is_skipped_with_a_note_without_running_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "components/netpol/kustomization.yaml",
           "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [np.yaml]\n")
    _write(tmp_path, "components/netpol/np.yaml", POLICY.format(ns="", peer="web"))
    _write(tmp_path, "sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n")
    monkeypatch.setattr(files.shutil, "which", lambda name: pytest.fail("kubectl must not be run"))
    result = load_paths([str(tmp_path)])
    assert [o.name for o in result.objects] == ["app"]
    [problem] = result.problems
    assert problem.severity == NOTE and not problem.lost
    assert problem.file == str(tmp_path / "components" / "netpol") and "Kustomize Component" in problem.message
    assert load_paths([str(tmp_path)], strict=True).objects  # a note is not a skipped document


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_an_overlay_using_a_component_is_rendered_with_it(tmp_path: Path) -> None:
    _write(tmp_path, "components/netpol/kustomization.yaml",
           "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [np.yaml]\n")
    _write(tmp_path, "components/netpol/np.yaml", POLICY.format(ns="", peer="web"))
    _write(tmp_path, "base/kustomization.yaml", "resources: [sa.yaml]\n")
    _write(tmp_path, "base/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app}\n")
    _write(tmp_path, "overlay/kustomization.yaml",
           "namespace: shop\nresources: [../base]\ncomponents: [../components/netpol]\n")
    result = load_paths([str(tmp_path)])
    got = sorted((o.kind, o.namespace, o.name) for o in result.objects)
    # base alone (namespace assumed) and the overlay (namespace shop, with the component's policy)
    assert got == [("NetworkPolicy", "shop", "api-allow"), ("ServiceAccount", "default", "app"),
                   ("ServiceAccount", "shop", "app")]
    assert [p.severity for p in result.problems] == [NOTE]
