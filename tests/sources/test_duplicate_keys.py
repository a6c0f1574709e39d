"""A key written twice in one mapping (issue 12, req. 5): the last value is read, as `kubectl apply -f` reads
it (go-yaml v2 non-strict, Go's encoding/json), and a warning names file:line and the key path, never a
value: a duplicate can hide `privileged: true` behind `privileged: false`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubehipaa.sources import json_keys, k8s_yaml
from kubehipaa.sources.files import DUPLICATE_KEY, load_paths, load_text

from ..conftest import CASES, CONFORMANCE, EXAMPLES

HIDDEN_PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  containers:
  - name: app
    image: nginx
    securityContext:
      privileged: true
      runAsNonRoot: true
      privileged: false
"""


def test_yaml_keeps_the_last_value_and_names_the_earlier_one(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(HIDDEN_PRIVILEGED)
    result = load_paths([str(path)])
    [obj] = result.objects
    assert obj.doc["spec"]["containers"][0]["securityContext"] == {"privileged": False, "runAsNonRoot": True}
    [problem] = result.problems
    assert (problem.file, problem.line, problem.severity, problem.lost) == (str(path), 11, DUPLICATE_KEY, False)
    assert str(problem).startswith(f"{path}:11: duplicate key spec.containers[0].securityContext.privileged")
    assert "also at line 9" in problem.message
    assert "true" not in problem.message and "false" not in problem.message  # never a value


def test_json_keeps_the_last_value_and_names_the_earlier_one(tmp_path: Path) -> None:
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "app", "image": "nginx", "securityContext": {"privileged": True}}]}}
    text = json.dumps(doc, indent=2).replace('"privileged": true', '"privileged": true,\n          "privileged": false')
    path = tmp_path / "pod.json"
    path.write_text(text)
    result = load_paths([str(path)])
    [obj] = result.objects
    assert obj.doc["spec"]["containers"][0]["securityContext"] == {"privileged": False}
    [problem] = result.problems
    assert problem.severity == DUPLICATE_KEY and problem.line == text.splitlines().index(
        '          "privileged": false') + 1
    assert "duplicate key spec.containers[0].securityContext.privileged" in problem.message


@pytest.mark.parametrize("text", [
    '{"a": 1, "a": 2}',
    '{"a" : 1, "a" : 2}',  # whitespace before the colon: the fast count cannot see these keys
    '{"a" : 1, "b": {"c": 1, "c": 2}}',  # one key hidden from the fast count, one duplicate: counts would tie
    '{"x": "\\":", "a": 1, "a": 2}',  # a value holding `":` (escaped quote)
    '{"x\\\\": 1, "a": 1, "a": 2}',  # a key ending in a backslash
    '{"a\\u0062": 1, "ab": 2}',  # the same key written two ways
    '{"items": [{"k": 1, "k": 2}]}',
])
def test_json_duplicates_are_found_however_the_text_is_written(text: str) -> None:
    data = json.loads(text)
    too_deep, found = json_keys.inspect(text, data)
    assert not too_deep and len(found) == 1 and found[0][1].startswith("duplicate key ")


@pytest.mark.parametrize("text", [
    '{"a": 1, "b": 2}',
    '{"a" : 1, "b" : {"a": 1}}',
    '{"x": "\\":\\":", "y": "a\\\\", "z": ["\\"", "\\\\\\":"]}',
    '{"kubectl.kubernetes.io/last-applied-configuration": "{\\"a\\":1,\\"a\\":2}"}',  # JSON inside a string
    '[]',
    '"text"',
])
def test_json_without_duplicates_says_nothing(text: str) -> None:
    assert json_keys.inspect(text, json.loads(text)) == (False, [])


def test_yaml_merge_keys_and_aliases_are_not_duplicates() -> None:
    text = """\
base: &base {a: 1, b: 2}
one:
  <<: *base
  b: 3
two: *base
"""
    [doc] = k8s_yaml.iter_documents(text)
    assert doc.data["one"] == {"a": 1, "b": 3} and not doc.warnings


def test_yaml_keys_that_become_the_same_json_key_are_duplicates() -> None:
    """`1:` and `"1":` are two keys to go-yaml, one key ("1") in the JSON Kubernetes decodes."""
    [doc] = k8s_yaml.iter_documents('data:\n  1: a\n  "1": b\n  ? |-\n    k\n  : c\n  k: d\n')
    assert doc.data == {"data": {"1": "b", "k": "d"}}
    assert [(line, m.split(" (")[0]) for line, m in doc.warnings] == [(3, "duplicate key data.1"), (7, "duplicate key data.k")]


def test_odd_keys_are_quoted_in_the_path_and_long_ones_cut() -> None:
    long_key = "k" * 300
    text = f'metadata:\n  annotations:\n    "a.b/c": x\n    "a.b/c": y\n    {long_key}: x\n    {long_key}: y\n'
    [doc] = k8s_yaml.iter_documents(text)
    messages = [m for _, m in doc.warnings]
    assert messages[0].startswith('duplicate key metadata.annotations["a.b/c"] ')
    assert messages[1].startswith('duplicate key metadata.annotations["' + "k" * 80 + '..."] ')


def test_many_duplicates_are_counted_not_listed() -> None:
    text = "a:\n" + "".join(f"  k{i}: 1\n  k{i}: 2\n" for i in range(25))
    problems = [p for p in load_text(text, "x.yaml").problems if p.severity == DUPLICATE_KEY]
    assert len(problems) == k8s_yaml.DUPLICATE_KEYS_SHOWN + 1
    assert problems[-1].message == "... and 15 more duplicate key(s) in this document"


def test_no_duplicate_key_in_the_real_manifests_we_ship_or_test_against() -> None:
    """No false alarm on real input: examples, check cases and the upstream conformance manifests."""
    roots = [p for p in (EXAMPLES, CASES, CONFORMANCE / "pss", CONFORMANCE / "netpol", CONFORMANCE / "kyverno")
             if p.exists()]
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            found += [str(p) for p in load_text(text, str(path), json_hint=path.suffix == ".json").problems
                      if p.severity == DUPLICATE_KEY]
    assert found == []
