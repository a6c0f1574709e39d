"""The shapes an API-server audit Event arrives in, and how to get the Event out of each.

Why a module of its own: managed clusters do not hand out the API server's log file. They ship each audit
Event inside their logging service's record, and what users export is that record. One place knows every
wrapper, so every audit command (analyze, timeline, rbac unused/suggest) reads every shape the same way:

- a bare Event, an `EventList`, a JSON array of either (the API server's log and webhook formats);
- GKE: Cloud Logging `LogEntry` with a Cloud Audit Logs `protoPayload` (`sources.gke` converts it);
- AKS: Azure Monitor diagnostic record, `category` `kube-audit` or `kube-audit-admin`, the Event in
  `properties.log` as a JSON string (or, after some pipelines, an object); Log Analytics' `AzureDiagnostics`
  rows carry the same string as `log_s`. Records may come one per line or wrapped in `{"records": [...]}`
  (Event Hubs, older storage-account blobs);
- EKS: CloudWatch Logs events, the Event as a JSON string in `message` (`@message` in Logs Insights
  exports), one per line, or in `aws logs get-log-events` / `filter-log-events` output (`{"events": [...]}`),
  or in a subscription envelope (`{"messageType": "DATA_MESSAGE", "logEvents": [...]}`, as Lambda, Kinesis and
  Firehose receive it; Firehose writes such envelopes back to back on one line). `CONTROL_MESSAGE`
  envelopes (CloudWatch checking the destination) hold no log data.

`expand` never drops a part silently: each part it cannot read as an Event candidate comes back with the
reason, and the reader counts it as malformed. Shapes are told apart by their keys, never by file names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson

from kubehipaa.sources.gke import gke_to_event, is_gke_entry, is_k8s_entry

AKS_AUDIT_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})
MAX_DEPTH = 6
"""Wrappers nest at most four deep in practice (envelope → logEvents → message → Event)."""

_EVENT_KEYS = ("auditID", "verb", "user", "requestURI", "stage", "objectRef")
"""Keys only an audit Event has: a record holding any of them is the Event itself, never a wrapper."""

Part = tuple[str, "dict[str, Any] | None", str]
"""(where in the document, the Event candidate or None, why it is not one)."""


def expand(doc: Any, where: str = "", depth: int = 0) -> Iterator[Part]:
    """Every audit Event candidate in a parsed JSON document, through any wrapper above.

    Yields (location, candidate, "") for each candidate (a dict still to be validated as an Event), and
    (location, None, reason) for each part that is of no known shape or not an audit record. A wrapper that
    holds no events at all (an empty EventList, a CloudWatch control message) yields nothing.
    """
    if depth > MAX_DEPTH:
        yield where, None, "nested too deeply to be an audit record"
        return
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield from expand(item, f"{where}[{i}]", depth + 1)
        return
    if not isinstance(doc, dict):
        yield where, None, f"a JSON {_kind(doc)}, not an audit Event"
        return
    if any(k in doc for k in _EVENT_KEYS):
        kind = doc.get("kind")
        if kind == "EventList":
            yield from _items(doc, "items", where, depth)
        else:
            yield where, doc, ""
        return
    kind = doc.get("kind")
    if kind == "EventList":
        yield from _items(doc, "items", where, depth)
    elif is_gke_entry(doc):
        if is_k8s_entry(doc):
            yield where, gke_to_event(doc), ""
        else:
            service = doc["protoPayload"].get("serviceName") or doc["protoPayload"].get("methodName")
            yield where, None, f"Cloud Audit Logs entry of {str(service)!r}, not of the Kubernetes API"
    elif _category(doc) is not None:
        yield from _azure_record(doc, where, depth)
    elif "records" in doc:
        yield from _items(doc, "records", where, depth)
    elif "logEvents" in doc:
        if doc.get("messageType") != "CONTROL_MESSAGE":
            yield from _items(doc, "logEvents", where, depth)
    elif "events" in doc:
        yield from _items(doc, "events", where, depth)
    elif "message" in doc or "@message" in doc:
        key = "message" if "message" in doc else "@message"
        yield from _embedded(doc[key], _join(where, key), depth)
    else:
        # not a wrapper: the record itself is the candidate (the reader says why it is not an Event)
        yield where, doc, ""


def _items(doc: dict[str, Any], key: str, where: str, depth: int) -> Iterator[Part]:
    items = doc.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        yield _join(where, key), None, f"{key} is not a list"
        return
    base = _join(where, key)
    for i, item in enumerate(items):
        yield from expand(item, f"{base}[{i}]", depth + 1)


def _category(doc: dict[str, Any]) -> str | None:
    """The Azure Monitor diagnostic category of a record (`category`, or `Category` in Log Analytics rows)
    when the record is shaped like one (it has `properties` or a `log_s` column)."""
    cat = doc.get("category", doc.get("Category"))
    if isinstance(cat, str) and ("properties" in doc or "log_s" in doc):
        return cat
    return None


def _azure_record(doc: dict[str, Any], where: str, depth: int) -> Iterator[Part]:
    cat = _category(doc)
    if cat not in AKS_AUDIT_CATEGORIES:
        yield where, None, f"Azure diagnostic record of category {cat!r}, not kube-audit or kube-audit-admin"
        return
    props = doc.get("properties")
    if isinstance(props, dict) and "log" in props:
        yield from _embedded(props["log"], _join(where, "properties.log"), depth)
    elif "log_s" in doc:
        yield from _embedded(doc["log_s"], _join(where, "log_s"), depth)
    else:
        yield where, None, f"AKS {cat} record without properties.log"


def _embedded(value: Any, where: str, depth: int) -> Iterator[Part]:
    """An Event carried as a JSON string (or already as an object) inside a record."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            why = "nested too deeply" if str(exc).startswith("depth limit") else "truncated or plain text"
            yield where, None, f"not a JSON audit Event ({why})"
            return
        if isinstance(value, str) and depth < MAX_DEPTH:  # encoded twice by a log shipper
            yield from _embedded(value, where, depth + 1)
            return
    if not isinstance(value, dict | list):
        yield where, None, f"a JSON {_kind(value)}, not an audit Event"
        return
    yield from expand(value, where, depth + 1)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__)


def split_concatenated(text: bytes) -> list[Any] | None:
    """`{...}{...}{...}` (JSON objects back to back on one line, as Firehose delivers CloudWatch
    subscription records to S3) → the documents; None when the line is not such a sequence."""
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos, end = 0, len(s)
    while pos < end:
        while pos < end and s[pos] in " \t\r\n":
            pos += 1
        if pos == end:
            break
        if s[pos] != "{":
            return None
        try:
            doc, pos = decoder.raw_decode(s, pos)
        except (ValueError, RecursionError):
            return None
        docs.append(doc)
    return docs if len(docs) > 1 else None


def strip_timestamp_prefix(line: bytes) -> bytes | None:
    """`2026-11-27T10:00:00.123Z {...}` (a CloudWatch Logs export to S3: each line is the event's time, a
    space, then the message) → the message; None when the line does not start like that."""
    head, sep, rest = line.partition(b" ")
    if not sep or len(head) < 20 or head[4:5] != b"-" or head[10:11] != b"T" or not head[:4].isdigit():
        return None
    rest = rest.lstrip()
    return rest if rest[:1] == b"{" else None
