"""Deeply nested input (issue 12, req. 5): Kubernetes' decoders accept up to 10,000 levels, Python's stack does
not. Every loader skips and names (or counts) what is too deep, never a RecursionError that loses the run, and
what it keeps can be walked, copied and written back by every reader after it.

Manifests: documents deeper than `k8s_yaml.MAX_DEPTH` (254, orjson's own writing limit) are lost input (exit 2),
the same for YAML (block or flow), JSON files and the items of a List. Audit logs: an event the line reader
cannot decode is one malformed line, in every shape the reader knows; the others around it are kept.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubehipaa.errors import ConfigError, InputError
from kubehipaa.sources import audit_shapes, auditlog, k8s_yaml
from kubehipaa.sources.auditlog import ReadStats, iter_events
from kubehipaa.sources.eventlist import decode_event_list as events_from_document
from kubehipaa.sources.files import load_paths, load_text

MAX = k8s_yaml.MAX_DEPTH
DEPTHS = [MAX - 10, MAX + 1, 300, 990, 1030, 10_000]


def nested_json(levels: int, leaf: str = '"x"') -> str:
    """`levels` mappings inside each other: {"a":{"a":...leaf...}}."""
    return '{"a":' * levels + leaf + "}" * levels


def nested_block_yaml(levels: int, indent: int) -> str:
    lines = []
    for i in range(levels - 1):
        lines.append(" " * (indent + i) + "a:")
    lines.append(" " * (indent + levels - 1) + "a: x")
    return "\n".join(lines) + "\n"


POD_HEAD = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep","namespace":"default"},"spec":'
OK_CM = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok","namespace":"default"},"data":{"a":"b"}}'


def _manifest(shape: str, depth: int) -> tuple[str, str]:
    """(file name, text) of a Pod whose whole document is `depth` levels deep, beside a normal ConfigMap."""
    inner = depth - 1  # the document mapping is level 1, `spec` holds the rest
    if shape == "json":
        return "pod.json", POD_HEAD + nested_json(inner) + "}"
    if shape == "json-list":  # kubectl get -o json: the List and `items` add two levels
        return "list.json", '{"apiVersion":"v1","kind":"List","items":[' + OK_CM + "," + POD_HEAD + nested_json(
            inner - 2) + "}]}"
    if shape == "yaml-flow":
        return "pod.yaml", OK_CM + "\n---\n" + POD_HEAD + nested_json(inner) + "}\n"
    if shape == "yaml-block":
        head = "apiVersion: v1\nkind: Pod\nmetadata: {name: deep, namespace: default}\nspec:\n"
        return "pod.yaml", OK_CM + "\n---\n" + head + nested_block_yaml(inner, 2)
    raise AssertionError(shape)


def _depth(value: Any) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", ["json", "json-list", "yaml-flow", "yaml-block"])
def test_manifests_too_deep_are_lost_input_and_the_rest_is_read(tmp_path: Path, shape: str, depth: int) -> None:
    name, text = _manifest(shape, depth)
    (tmp_path / name).write_text(text)
    result = load_paths([str(tmp_path / name)])
    names = sorted(o.name for o in result.objects)
    if depth <= MAX:
        assert "deep" in names and not result.lost
    else:
        assert "deep" not in names
        [problem] = result.lost
        assert problem.message.startswith(f"nested more than {MAX} levels deep"), problem
        if shape.startswith("yaml") and depth < 1000:  # past libyaml's limit (1000) the rest of the stream is gone
            assert names == ["ok"]
    for obj in result.objects:  # what is kept can be walked, copied and written by every later reader
        assert _depth(obj.doc) <= MAX
        orjson.dumps(obj.doc)
        json.dumps(obj.doc)
        copy.deepcopy(obj.doc)
        repr(obj.doc)


def test_aliases_cannot_build_depth_the_text_does_not_show() -> None:
    """A node built once (memoised) and reached again deeper through an alias: the expanded depth counts."""
    text = "a: &a " + "{x: " * 200 + "1" + "}" * 200 + "\nb: " + "{y: " * 100 + "*a" + "}" * 100 + "\n"
    [doc] = k8s_yaml.iter_documents(text)
    assert doc.unread and doc.error is not None and doc.error.startswith(f"nested more than {MAX}")
    fine = "a: &a " + "{x: " * 100 + "1" + "}" * 100 + "\nb: " + "{y: " * 100 + "*a" + "}" * 100 + "\n"
    [doc] = k8s_yaml.iter_documents(fine)
    assert doc.error is None and _depth(doc.data) == 201


def test_yaml_and_json_agree_on_the_limit() -> None:
    for depth in (MAX, MAX + 1):
        as_yaml = load_text(nested_json(depth), "x.yaml")
        as_json = load_text(nested_json(depth), "x.json", json_hint=True)
        assert [p.lost for p in as_yaml.problems if p.lost] == [p.lost for p in as_json.problems if p.lost]
        assert bool(as_yaml.lost) == (depth > MAX)


def test_a_deep_config_is_one_config_error(tmp_path: Path) -> None:
    from kubehipaa.config import load_config

    path = tmp_path / ".kubehipaa.yaml"
    path.write_text("phi:\n  namespaces: " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(ConfigError, match="nested more than"):
        load_config(str(path))


def test_a_deep_sigma_rule_is_one_input_error(tmp_path: Path) -> None:
    from kubehipaa.pipelines.audit import read_sigma_rules

    path = tmp_path / "rule.yml"
    path.write_text("title: t\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel: "
                    + "{a: " * 3000 + "1" + "}" * 3000 + "\n  condition: sel\n")
    with pytest.raises(InputError, match="nested too deeply"):
        read_sigma_rules([path])


# ---- audit logs: every shape ------------------------------------------------------------------------------

EVENT = ('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%s",'
         '"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/configmaps","verb":"create",'
         '"user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"configmaps",'
         '"namespace":"default","name":"c","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":%s,'
         '"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.1Z"}')


def _log(shape: str, depth: int) -> tuple[str, int]:
    """A log with good events around one whose body is `depth` levels deep; the number of good events."""
    good, deep = EVENT % ("good-1", '{"x":1}'), EVENT % ("deep", nested_json(depth))
    other = EVENT % ("good-2", "{}")
    if shape == "lines":
        return f"{good}\n{deep}\n{other}\n", 2
    if shape == "eventlist":
        return f'{good}\n{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{other},{deep}]}}\n', 2
    if shape == "array":
        return f"{good}\n[{other},{deep}]\n", 2
    if shape == "pretty":
        return f'{{\n"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{good},\n{deep}]}}\n', 1
    if shape == "aks":
        return good + "\n" + json.dumps({"category": "kube-audit", "properties": {"log": deep}}) + "\n", 1
    if shape == "eks":
        return good + "\n" + json.dumps({"message": deep, "timestamp": 1}) + "\n", 1
    if shape == "cloudwatch-export":
        return f"{good}\n2026-01-01T00:00:00.000Z {deep}\n", 1
    if shape == "firehose":
        envelope = json.dumps({"messageType": "DATA_MESSAGE", "logEvents": [{"message": deep}]})
        return f"{good}\n{envelope}{json.dumps({'messageType': 'DATA_MESSAGE', 'logEvents': [{'message': other}]})}\n", 2
    if shape == "gke":
        entry = ('{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"k8s.io",'
                 '"methodName":"io.k8s.core.v1.configmaps.create","resourceName":"core/v1/namespaces/default/'
                 'configmaps/c","authenticationInfo":{"principalEmail":"alice"},"request":' + nested_json(depth)
                 + '},"timestamp":"2026-01-01T00:00:00Z","logName":"projects/p/logs/cloudaudit.googleapis.com%2F'
                 'activity","resource":{"type":"k8s_cluster"}}')
        return f"{good}\n{entry}\n", 1
    raise AssertionError(shape)


SHAPES = ["lines", "eventlist", "array", "pretty", "aks", "eks", "cloudwatch-export", "firehose", "gke"]


@pytest.mark.parametrize("depth", [300, 990, 2000, 10_000])
@pytest.mark.parametrize("shape", SHAPES)
def test_audit_events_too_deep_are_counted_and_the_rest_is_read(tmp_path: Path, shape: str, depth: int) -> None:
    text, good = _log(shape, depth)
    if depth > 1024 and shape in ("eventlist", "array", "pretty"):
        good -= 1  # past orjson's 1024 levels the whole document is one malformed line, its siblings with it
    path = tmp_path / "audit.log"
    path.write_text(text)
    stats = ReadStats()
    events = list(iter_events([str(path)], stats))
    ids = {e.auditID for e in events}
    assert {f"good-{i}" for i in range(1, good + 1)} <= ids, (stats.malformed_samples, ids)
    if "deep" in ids or (shape == "gke" and len(ids) > good):
        assert stats.malformed == 0  # read: as deep as the line reader itself can decode
    else:
        [sample] = stats.malformed_samples
        assert "nested too deeply" in sample.message, sample


@pytest.mark.parametrize("depth", [300, 990, 10_000])
def test_a_webhook_batch_with_a_deep_event_is_decoded_or_refused_never_an_internal_error(depth: int) -> None:
    body = f'{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{EVENT % ("g", "{}")},' \
           f'{EVENT % ("d", nested_json(depth))}]}}'.encode()
    if depth == 300:  # deeper than orjson writes (254), well within what the event decoder reads
        assert [e.auditID for e in events_from_document(body)] == ["g", "d"]
        return
    if depth < 1024:
        # the one EventList decoder (msgspec) reads as deep as Python's recursion limit allows from the
        # caller's stack: the batch is decoded whole, or refused whole as too deep
        try:
            assert [e.auditID for e in events_from_document(body)] == ["g", "d"]
        except InputError as exc:
            assert str(exc) == "request body: invalid JSON: nested too deeply"
        return
    with pytest.raises(InputError, match=re.escape("invalid JSON: nested too deeply")):
        events_from_document(body)


def test_shapes_never_recurse_past_their_own_depth() -> None:
    deep: Any = {}
    for _ in range(5000):
        deep = {"records": [deep]}
    parts = list(audit_shapes.expand(deep))
    assert len(parts) == 1 and parts[0][1] is None and "nested too deeply" in parts[0][2]
    assert auditlog.TOO_DEEP == "invalid JSON: nested too deeply"
