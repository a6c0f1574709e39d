"""File sources: every object keeps its file and line; bad documents are one-line problems, never tracebacks."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from kubehipaa.errors import InputError
from kubehipaa.sources import files
from kubehipaa.sources.files import load_paths, load_text

MULTI = """\
# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: clinical
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: clinical
data:
  a: b
---
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: clinical}
"""

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: a
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata:
    name: r
    namespace: x
"""

POD_LIST = """\
apiVersion: v1
kind: PodList
items:
  - kind: Pod
    metadata:
      name: p1
  - kind: Pod
    metadata:
      name: p2
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_multi_document_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "multi.yaml", MULTI)
    result = load_paths([str(path)])
    assert [(o.kind, o.name, o.line) for o in result.objects] == [
        ("Namespace", "clinical", 2), ("ConfigMap", "settings", 7), ("Deployment", "web", 16)
    ]
    assert all(o.file == str(path) for o in result.objects)
    assert result.problems == [] and result.files == 1


def test_list_items_keep_their_own_lines(tmp_path: Path) -> None:
    result = load_paths([str(_write(tmp_path, "list.yaml", LIST))])
    assert [(o.kind, o.name, o.namespace, o.line) for o in result.objects] == [
        ("ServiceAccount", "a", "default", 4), ("Role", "r", "x", 8)  # no namespace: placed in default
    ]


def test_typed_list_items_inherit_api_version() -> None:
    result = load_text(POD_LIST, "pods.yaml")
    assert [(o.kind, o.api_version, o.name, o.line) for o in result.objects] == [
        ("Pod", "v1", "p1", 4), ("Pod", "v1", "p2", 7)
    ]


def test_json_files_and_json_lists(tmp_path: Path) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "n"}},
    ]}
    path = _write(tmp_path, "all.json", json.dumps(doc, indent=2))
    result = load_paths([str(path)])
    assert [(o.kind, o.name, o.line) for o in result.objects] == [("Secret", "s", 5), ("Service", "svc", 13)]


def test_directories_recurse_and_filter(tmp_path: Path) -> None:
    _write(tmp_path, "a/one.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n")
    _write(tmp_path, "a/b/two.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n")
    _write(tmp_path, "a/b/three.json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "three"}}')
    _write(tmp_path, "a/README.md", "kind: not yaml we read\n")
    _write(tmp_path, "a/.hidden/four.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: four}\n")
    _write(tmp_path, "a/.kubehipaa.yaml", "phi: {namespaces: [x]}\n")
    result = load_paths([str(tmp_path / "a")])
    assert sorted(o.name for o in result.objects) == ["one", "three", "two"]
    assert result.problems == []


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(MULTI))
    result = load_paths(["-"])
    assert [o.name for o in result.objects] == ["clinical", "settings", "web"]
    assert {o.file for o in result.objects} == {"<stdin>"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", 5, "malformed YAML"),
        ("apiVersion: v1\nmetadata:\n  name: x\n", 1, "document has no 'kind'"),
        ("- just\n- a list\n", 1, "not a Kubernetes object (a list)"),
        ("kind: Thing\nspec: {}\n", 1, "not a Kubernetes object (Thing without 'apiVersion')"),
        ("a: 1\n---\nplain scalar\n", 3, "not a Kubernetes object (a str)"),
    ],
)
def test_bad_documents_are_problems_naming_file_and_line(text: str, line: int, message: str) -> None:
    result = load_text(text, "bad.yaml")
    assert result.problems, "expected a problem"
    problem = result.problems[-1]
    assert problem.file == "bad.yaml" and problem.line == line
    assert message in problem.message
    assert "\n" not in str(problem)
    assert str(problem).startswith(f"bad.yaml:{line}: ")


def test_good_documents_before_a_syntax_error_are_kept() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\nkind: [\n"
    result = load_text(text, "half.yaml")
    assert [o.name for o in result.objects] == ["ok"]
    assert result.problems[0].line == 6  # libyaml reports where it noticed: the end of the stream


def test_strict_turns_skips_into_an_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nfoo: bar\n")
    assert len(load_paths([str(path)]).objects) == 1
    with pytest.raises(InputError) as err:
        load_paths([str(path)], strict=True)
    assert str(err.value) == f"{path}:5: document has no 'kind'; skipped"


def test_missing_path_is_an_error() -> None:
    with pytest.raises(InputError, match=r"no-such\.yaml: no such file or directory"):
        load_paths(["no-such.yaml"])


def test_non_utf8_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Caf\xe9\n")
    result = load_paths([str(path)])
    assert "not UTF-8" in result.problems[0].message


KUSTOMIZE_BASE = {
    "base/kustomization.yaml": "resources:\n- deploy.yaml\n- cm.yaml\n",
    "base/deploy.yaml": "# a comment first\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    "spec:\n  template:\n    spec:\n      containers: [{name: c, image: nginx}]\n",
    "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n"
    "    team: billing\ndata: {a: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    "overlay/kustomization.yaml": "resources:\n- ../base\nnamespace: clinical\nnamePrefix: prod-\n",
}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_and_points_back_at_source_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in KUSTOMIZE_BASE.items():
        _write(tmp_path, name, text)
    monkeypatch.chdir(tmp_path)
    result = load_paths(["overlay"])
    got = {(o.kind, o.name): (o.namespace, o.file, o.line) for o in result.objects}
    assert got == {
        ("Deployment", "prod-web"): ("clinical", "base/deploy.yaml", 2),
        ("ConfigMap", "prod-settings"): ("clinical", "base/cm.yaml", 1),
        ("ConfigMap", "prod-other"): ("clinical", "base/cm.yaml", 9),
    }
    # The origin annotation used for the mapping is removed; the user's own annotations are kept.
    anns = {o.name: o.doc["metadata"].get("annotations") for o in result.objects}
    assert anns == {"prod-web": None, "prod-settings": {"team": "billing"}, "prod-other": None}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_directory_inside_a_scanned_tree(tmp_path: Path) -> None:
    for name, text in KUSTOMIZE_BASE.items():
        _write(tmp_path, f"repo/{name}", text)
    _write(tmp_path, "repo/plain/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n")
    result = load_paths([str(tmp_path / "repo")])
    # base and overlay are both kustomizations: each is rendered once, plain files are read as they are
    names = sorted(o.name for o in result.objects)
    assert names == ["other", "prod-other", "prod-settings", "prod-web", "sa", "settings", "web"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_failure_is_one_line_and_the_rest_is_loaded(tmp_path: Path) -> None:
    _write(tmp_path, "k/kustomization.yaml", "resources:\n- missing.yaml\n")
    _write(tmp_path, "plain.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n")
    result = load_paths([str(tmp_path / "k"), str(tmp_path / "plain.yaml")])
    [problem] = result.problems
    assert problem.file == str(tmp_path / "k") and problem.lost
    assert "kubectl kustomize failed" in problem.message and "\n" not in problem.message
    assert [o.name for o in result.objects] == ["sa"]


def test_kustomize_without_kubectl_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "k/kustomization.yaml", "resources: []\n")
    monkeypatch.setattr(files.shutil, "which", lambda name: None)
    [problem] = load_paths([str(tmp_path / "k")]).problems
    assert "`kubectl` is not on PATH" in problem.message and problem.lost
    with pytest.raises(InputError, match="`kubectl` is not on PATH"):
        load_paths([str(tmp_path / "k")], strict=True)


VARIED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: varied
  annotations:
    kubehipaa.io/expires: 2026-12-31
    quoted: "2026-12-31"
  labels: &labels {app: x, tier: "1"}
data:
  ints: [1, 0x1f, -3, 1_000, 017, 0o17, 08, 09]
  floats: [1.5, 1e3, 1.0, 6.02e23, 1e21]
  bools: [true, false, yes, no, on, off, True, y, n, Y, N]
  nulls: [~, null, ]
  strs: ["1", '2', plain text, "yes", =, 12:30, 1:30:00, "=", 2001-12-14T21:59:43.10-05:00]
  binary: !!binary aGVsbG8=
  ref: !Ref x
  base: &base {a: 1, b: 2}
  merged:
    <<: *base
    b: 3
  again: *labels
  nested: [[1, [2, {deep: [3]}]]]
  ? plain complex key
  : value
  on: key
  1.5: float key
  017: octal key
  empty_map: {}
  empty_list: []
  multiline: |
    line one
    line two
"""

# json.loads of what sigs.k8s.io/yaml.YAMLToJSON (v1.4.0's go-yaml) printed for VARIED, run through
# scripts/k8s_yaml_oracle. PyYAML differs on `=` (refused: the whole file was skipped), y/n/Y/N (strings),
# 1e3 (a string), 12:30 and 1:30:00 (750 and 5400), 08/09 (strings), 1.0 (a float), the `on:` key (True),
# `!Ref` (refused) and the timestamp (a datetime).
VARIED_AS_KUBERNETES_READS_IT = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "annotations": {"kubehipaa.io/expires": "2026-12-31", "quoted": "2026-12-31"},
        "labels": {"app": "x", "tier": "1"},
        "name": "varied",
    },
    "data": {
        "1.5": "float key",
        "15": "octal key",
        "again": {"app": "x", "tier": "1"},
        "base": {"a": 1, "b": 2},
        "binary": "hello",
        "bools": [True, False, True, False, True, False, True, True, False, True, False],
        "empty_list": [],
        "empty_map": {},
        "floats": [1.5, 1000, 1, 6.02e23, 1e21],
        "ints": [1, 31, -3, 1000, 15, 15, 8, 9],
        "merged": {"a": 1, "b": 3},
        "multiline": "line one\nline two\n",
        "nested": [[1, [2, {"deep": [3]}]]],
        "nulls": [None, None],
        "plain complex key": "value",
        "ref": "x",
        "strs": ["1", "2", "plain text", "yes", "=", "12:30", "1:30:00", "=", "2001-12-14T21:59:43.10-05:00"],
        "true": "key",
    },
}


def _typed(value):
    """The value with the type of every leaf made visible (True == 1 and 1 == 1.0 in Python)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def test_scalars_are_read_as_kubernetes_reads_them() -> None:
    result = load_text(VARIED, "varied.yaml")
    assert not result.problems, result.problems
    (obj,) = result.objects
    assert _typed(obj.doc) == _typed(VARIED_AS_KUBERNETES_READS_IT)
    assert obj.doc["data"]["again"] is obj.doc["metadata"]["labels"]  # aliases share one object


KUBE_PROMETHEUS_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: alertmanagerconfigs.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: AlertmanagerConfig, plural: alertmanagerconfigs}
  scope: Namespaced
  versions:
  - name: v1alpha1
    schema:
      openAPIV3Schema:
        properties:
          matchType:
            enum:
            - '!='
            - =
            - =~
            - '!~'
            type: string
---
apiVersion: v1
kind: Namespace
metadata:
  name: monitoring
"""


def test_an_equals_sign_does_not_lose_the_file(tmp_path: Path) -> None:
    """kube-prometheus's AlertmanagerConfig CRD has `- =`: PyYAML's YAML 1.1 "value" tag, which it cannot
    construct, so the file (and everything after it in the same stream) was skipped."""
    path = _write(tmp_path, "crd.yaml", KUBE_PROMETHEUS_CRD)
    result = load_paths([str(path)])
    assert not result.problems
    assert [o.kind for o in result.objects] == ["CustomResourceDefinition", "Namespace"]
    versions = result.objects[0].doc["spec"]["versions"]
    assert versions[0]["schema"]["openAPIV3Schema"]["properties"]["matchType"]["enum"] == ["!=", "=", "=~", "!~"]


def test_a_kubectl_list_on_stdin_with_an_equals_sign_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ops}\n  data: {op: =, on: y, at: 12:30}\n"
        "- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: sa}\n"
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    result = load_paths(["-"])
    assert not result.problems
    assert [o.name for o in result.objects] == ["ops", "sa"]
    assert result.objects[0].doc["data"] == {"op": "=", "true": True, "at": "12:30"}
    assert [o.line for o in result.objects] == [4, 8]


def test_a_document_kubernetes_refuses_is_one_problem_and_the_others_are_read() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n  weight: .inf\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {~: x}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"
    )
    result = load_text(text, "m.yaml")
    assert [o.name for o in result.objects] == ["a", "d"]
    assert [(p.line, "Kubernetes cannot read this document" in p.message) for p in result.problems] == [
        (9, True),
        (14, True),
    ]
    assert ".inf is not a number JSON can hold" in result.problems[0].message
    assert "null" in result.problems[1].message and "x" not in result.problems[1].message.split("(")[0]


def test_values_are_never_quoted_in_problems() -> None:
    """A Secret with a bad explicit tag must not print the secret in the problem line."""
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: !!int hunter2\n"
    result = load_text(text, "s.yaml")
    (problem,) = result.problems
    assert problem.line == 5 and "hunter2" not in str(problem)
    assert "!!int" in problem.message


def test_alias_bomb_is_refused_in_linear_time() -> None:
    """go-yaml refuses a document whose aliases expand too much ("billion laughs"); so do we, without
    expanding it (4**40 nodes here)."""
    import time

    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:", "  a0: &a0 [x, x, x, x]"]
    for i in range(1, 40):
        prev = f"*a{i - 1}"
        lines.append(f"  a{i}: &a{i} [{', '.join([prev] * 4)}]")
    started = time.perf_counter()
    result = load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - started < 2
    assert not result.objects
    assert "excessive aliasing" in result.problems[0].message and result.problems[0].line == 1


def test_recursive_alias_is_a_problem_not_a_recursive_object() -> None:
    result = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\ndata: &d {self: *d}\n", "r.yaml")
    assert not result.objects
    assert "alias of itself" in result.problems[0].message


def test_a_redefined_anchor_follows_the_latest_definition() -> None:
    """YAML lets an anchor be defined again (libyaml's C composer refused: the file was skipped)."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: &n first}\ndata:\n  a: *n\n  b: &n second\n  c: *n\n"
    result = load_text(text + "---\n" + text.replace("name: &n first", "name: &n again"), "r.yaml")
    assert not result.problems
    assert [o.doc["data"] for o in result.objects] == [{"a": "first", "b": "second", "c": "second"}] * 1 + [
        {"a": "again", "b": "second", "c": "second"}
    ]
    assert [o.line for o in result.objects] == [1, 9]


def test_python_tags_are_refused_with_a_line() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p}\ndata:\n  x: !!python/object/apply:os.system [id]\n"
    (problem,) = load_text(text, "p.yaml").problems
    assert problem.line == 5 and "refused" in problem.message and "!!python/object/apply:os.system" in problem.message


def test_unknown_tags_are_kept_and_collection_keys_are_problems() -> None:
    """go-yaml keeps the value under a tag it does not know (`!Ref x` is "x"); a mapping as a key has
    no JSON form."""
    result = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !Ref x}\n", "cfn.yaml")
    assert not result.problems and result.objects[0].name == "x"
    result = load_text("apiVersion: v1\nkind: ConfigMap\n? {a: 1}\n: x\n", "k.yaml")
    assert result.problems and "invalid map key" in result.problems[0].message
    assert result.problems[0].line == 3


def _yamlish():
    from hypothesis import strategies as st

    pieces = st.sampled_from([
        "apiVersion: v1\n", "kind: ConfigMap\n", "kind: List\n", "items:\n", "- ", "  ", "metadata:\n",
        "name: x\n", "---\n", "{", "}", "[", "]", ": ", "&a ", "*a ", "!!binary ", "!Ref ", "<<: *a\n", "? ",
        '"', "'", "\t", "\n", "2026-13-01\n", "0x1F", "~", "|\n", "%YAML 1.1\n", "\x00", "é",
    ])
    return st.lists(pieces, max_size=30).map("".join)


def test_no_input_text_raises() -> None:
    """Whatever the bytes, loading yields objects and one-line problems, never an exception."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_yamlish())
    def run(text: str) -> None:
        result = load_text(text, "fuzz.yaml")
        for problem in result.problems:
            assert "\n" not in str(problem)
        for obj in result.objects:
            assert obj.kind and obj.api_version and obj.line >= 1

    run()
