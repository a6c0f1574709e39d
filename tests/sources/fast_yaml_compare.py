"""Helpers for the fast-vs-exact YAML tests: run both paths over one text and put the results side by side."""

from __future__ import annotations

from typing import Any

import orjson

from kubehipaa.sources import fast_yaml, files, k8s_yaml


def _dump(value: Any) -> bytes | str:
    """Byte-exact form of a value (types and key order included: 1 and 1.0 differ); repr where JSON has none."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return repr(value)


def _documents(docs: Any) -> list[tuple[Any, ...]]:
    out = []
    for d in docs:
        if d.error is None and d.data is None:
            continue  # an empty or null document: neither path adds anything for it
        out.append((_dump(d.data) if d.error is None else None, d.line, d.error, d.reason, d.fatal, d.unread,
                    list(d.warnings)))
    return out


def documents_both(text: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(exact, fast) documents of `text`: data (byte-exact), line, error, warnings."""
    exact = _documents(k8s_yaml.iter_documents(text))
    with fast_yaml.quiet_stderr():
        fast = _documents(fast_yaml.iter_documents(text.encode("utf-8"), text))
    return exact, fast


def _load(text: str, exact: bool) -> tuple[list[tuple[Any, ...]], list[str]]:
    fast_yaml.set_exact(exact)
    try:
        result = files.load_text(text, "in.yaml")
    finally:
        fast_yaml.set_exact(None)
    objects = [(_dump(o.doc), o.file, o.line) for o in result.objects]
    return objects, [f"{p.level}|{p}" for p in result.problems]


def loads_both(text: str) -> tuple[Any, Any]:
    """(exact, fast) LoadResult views of `text` as files.py gives them: objects with file:line (List items
    included), and every problem line."""
    return _load(text, True), _load(text, False)
