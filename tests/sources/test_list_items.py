"""List items: typed lists lend their kind, JSON Lists give each item its own line (agreeing with libyaml)."""

from __future__ import annotations

import json

import pytest
import yaml

from kubehipaa.sources.files import _json_item_lines, load_text


def test_typed_list_items_without_kind_take_the_list_kind() -> None:
    text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n- kind: Pod\n  metadata: {name: b}\n"
    result = load_text(text, "pods.yaml")
    assert [(o.kind, o.api_version, o.name, o.line) for o in result.objects] == [
        ("Pod", "v1", "a", 4), ("Pod", "v1", "b", 5)
    ]
    assert result.problems == []


def test_plain_list_items_without_kind_are_still_skipped() -> None:
    result = load_text("apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n", "list.yaml")
    assert result.objects == []
    assert [(p.line, p.message) for p in result.problems] == [(4, "document has no 'kind'; skipped")]


def test_json_typed_list_lines_and_kinds() -> None:
    doc = {"apiVersion": "v1", "kind": "NamespaceList", "items": [{"metadata": {"name": f"n{i}"}} for i in range(3)]}
    result = load_text(json.dumps(doc, indent=4), "ns.json", json_hint=True)
    assert [(o.kind, o.name, o.line) for o in result.objects] == [
        ("Namespace", "n0", 5), ("Namespace", "n1", 10), ("Namespace", "n2", 15)
    ]


DOCS = [
    {"apiVersion": "v1", "kind": "List", "metadata": {},
     "items": [{"a": [1, {"items": [5]}], "b": 'x"y]\\ {'}, 3, "s", None, {"kind": "Pod"}, [], {}]},
    {"metadata": {"items": [1, 2]}, "items": [{"x": 1}, [1, [2]], {"y": {"z": []}}, -1.5e3, True]},
    {"items": [{"é": "ü\u2028"}, {"k": "\t"}], "kind": "List"},
]


@pytest.mark.parametrize("doc", DOCS)
@pytest.mark.parametrize("indent", [None, 1, 4])
def test_json_item_lines_agree_with_libyaml(doc: dict, indent: int | None) -> None:
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    node = yaml.compose(text, Loader=yaml.CSafeLoader)
    (items,) = [v for k, v in node.value if k.value == "items"]
    assert _json_item_lines(text, len(doc["items"])) == [c.start_mark.line + 1 for c in items.value]


def test_json_item_lines_give_up_on_a_count_mismatch() -> None:
    assert _json_item_lines('{"items": [1, 2]}', 3) is None


def test_json_item_lines_count_line_breaks_as_libyaml_does() -> None:
    for sep in ("\r\n", "\r", "\n"):
        text = sep.join(['{"kind": "List", "apiVersion": "v1", "items": [', '{"a": "\u2028\x85"},', "{}", "]}"])
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
        (items,) = [v for k, v in node.value if k.value == "items"]
        assert _json_item_lines(text, 2) == [c.start_mark.line + 1 for c in items.value]
