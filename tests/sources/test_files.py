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
  ints: [1, 0x1f, -3, 1_000]
  floats: [1.5, .inf, -.Inf, .nan]
  bools: [true, false, yes, no, on, off, True]
  nulls: [~, null, ]
  strs: ["1", '2', plain text, "yes"]
  binary: !!binary aGVsbG8=
  base: &base {a: 1, b: 2}
  merged:
    <<: *base
    b: 3
  again: *labels
  nested: [[1, [2, {deep: [3]}]]]
  ? plain complex key
  : value
  empty_map: {}
  empty_list: []
  multiline: |
    line one
    line two
"""


def _normalise(value):
    """PyYAML's data with timestamps written back as the text our loader keeps (and NaN made comparable)."""
    import datetime as dt
    import math

    if isinstance(value, dict):
        return {_normalise(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def test_fast_loader_agrees_with_pyyaml_except_timestamps() -> None:
    import yaml

    expected = yaml.load(VARIED, Loader=yaml.CSafeLoader)
    expected["metadata"]["annotations"]["kubehipaa.io/expires"] = "2026-12-31"
    (obj,) = load_text(VARIED, "varied.yaml").objects
    assert _normalise(obj.doc) == _normalise(expected)
    assert obj.doc["metadata"]["annotations"]["kubehipaa.io/expires"] == "2026-12-31"
    assert obj.doc["data"]["again"] is obj.doc["metadata"]["labels"]  # aliases share one object
    assert obj.doc["data"]["merged"] == {"a": 1, "b": 3}
    assert obj.doc["data"]["bools"] == [True, False, True, False, True, False, True]


def test_alias_bomb_is_linear() -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "data:", "  a0: &a0 [x, x, x, x]"]
    for i in range(1, 40):
        prev = f"*a{i - 1}"
        lines.append(f"  a{i}: &a{i} [{', '.join([prev] * 4)}]")
    result = load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert len(result.objects) == 1


def test_unknown_tags_and_unhashable_keys_are_problems() -> None:
    result = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !Ref x}\n", "cfn.yaml")
    assert result.problems and "malformed YAML" in result.problems[0].message
    result = load_text("apiVersion: v1\nkind: ConfigMap\n? {a: 1}\n: x\n", "k.yaml")
    assert result.problems and "unhashable" in result.problems[0].message


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
