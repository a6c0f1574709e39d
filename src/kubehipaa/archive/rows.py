"""One audit event → one archive row: Secret bodies removed, PHI and credentials masked, columns extracted.

Why the row is built from the event's own JSON (the bytes the reader decoded it from) and not from the
`AuditEvent` Struct: the Struct keeps only the fields the detections read, while the archive keeps the whole
event (`event` column) for questions nobody has thought of yet. The typed columns are then read from the
same cleaned tree, so a column never holds a value the `event` column masked.

What never reaches the archive:
- the `requestObject` / `responseObject` of any request on `secrets` (any verb, any API group, also when
  only the request URI says so): a Secret's data, its `stringData` and the last-applied annotation that
  copies them. Inside any other body, an embedded object of kind `Secret` (a `List` item, a Helm release
  payload) loses `data`, `stringData` and annotations the same way;
- unless the user opts out (`keep_phi`), PHI-shaped values and credentials, masked by the one redaction
  layer (`redaction.redact_tree`, the pass every report uses). With `keep_phi`, credentials (tokens,
  passwords, private keys: `redact_credentials`) are still masked: only patient data is kept as logged.

The request URI is redacted with its structure, where it is still known (as the redaction layer asks of
its callers): the path with `redact_uri`, the `command=` parameters of an exec/attach as one argv with
`redact_argv`, a parameter whose name says secret (`token`, `password`, `key`...) masked whole, every other
parameter's name and value with `redact_text`. The plain text pass would mask
the whole query string (`exec?<redacted:query>`), and an archive kept for forensics must still say which
command ran in a pod, or which label selector a list used, years later.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

from kubehipaa.redaction import redact_argv, redact_text, redact_uri
from kubehipaa.redaction.credentials import SECRET_NAME, redact_credentials
from kubehipaa.redaction.masks import SECRET
from kubehipaa.redaction.text import TreeRedactor

SECRET_BODIES = ("requestObject", "responseObject")
_SECRET_KINDS = frozenset({"Secret"})
_SECRET_FIELDS = ("data", "stringData")
_SECRET_URI = re.compile(r"^/(?:api/[^/?]+|apis/[^/?]+/[^/?]+)/(?:namespaces/[^/?]+/)?secrets(?:[/?]|$)")
"""A request URI on the `secrets` resource (core or any group), for an event whose objectRef is missing."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class NoTimestamp(ValueError):
    """The event has no usable `requestReceivedTimestamp` (or v1beta1 `timestamp`): it cannot be placed in a
    day partition, and so could neither be found by time nor pruned by retention."""


@dataclass(slots=True)
class Row:
    """One event as stored: the column values (EVENT_SCHEMA order) and its UTC day."""

    values: tuple[Any, ...]
    day: str
    ts: int
    """Microseconds since the epoch (UTC) of `ts`, for the segment's first/last."""


def parse_ts(text: Any) -> int | None:
    """RFC 3339 (as the API server writes `MicroTime`; `Z` or an offset, any fraction) → µs since the epoch,
    or None when absent or not an instant with a time zone."""
    if not isinstance(text, str) or not 20 <= len(text) <= 40 or text[10:11] not in ("T", "t"):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


_US_PER_DAY = 86_400_000_000


@functools.lru_cache(maxsize=4096)
def _day_name(days: int) -> str:
    d = _EPOCH + dt.timedelta(days=days)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"  # (strftime's %Y does not pad years before 1000)


def day_of(us: int) -> str:
    """The UTC day (`YYYY-MM-DD`) of a µs timestamp: the hive partition value (a log spans few days: cached)."""
    return _day_name(us // _US_PER_DAY)


def is_secret_request(event: dict[str, Any]) -> bool:
    """Any request on `secrets`: by objectRef.resource, or by the request URI when objectRef is absent."""
    ref = event.get("objectRef")
    if isinstance(ref, dict) and ref.get("resource") == "secrets":
        return True
    uri = event.get("requestURI")
    return isinstance(uri, str) and _SECRET_URI.match(uri) is not None


def _strip_embedded_secrets(value: Any) -> Any:
    """Inside a body that is not a Secret request: any object of kind Secret keeps its name, not its data."""
    if isinstance(value, dict):
        if value.get("kind") in _SECRET_KINDS:
            value = {k: v for k, v in value.items() if k not in _SECRET_FIELDS}
            meta = value.get("metadata")
            if isinstance(meta, dict) and "annotations" in meta:
                value["metadata"] = {k: v for k, v in meta.items() if k != "annotations"}
            return value
        return {k: _strip_embedded_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_embedded_secrets(v) for v in value]
    return value


def _credentials_only(value: Any) -> Any:
    """`--keep-phi`: strings keep patient data but still lose credentials."""
    if isinstance(value, str):
        return redact_credentials(value)
    if isinstance(value, dict):
        return {(redact_credentials(k) if isinstance(k, str) else k): _credentials_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_credentials_only(v) for v in value]
    return value


def redact_request_uri(uri: str) -> str:
    """A request URI with its query kept but each part redacted (see the module docstring). Idempotent."""
    path, sep, query = uri.partition("?")
    if not sep or "/proxy/" in path or path.endswith("/proxy"):
        return redact_uri(uri)  # behind /proxy/ the query is the application's: masked whole
    query, _, _fragment = query.partition("#")  # a fragment never reaches the API server: not kept
    out = redact_uri(path)
    params = parse_qsl(query, keep_blank_values=True)
    commands = redact_argv([v for k, v in params if k == "command"])
    parts = []
    for k, v in params:
        if k == "command":
            v = commands.pop(0)
        elif SECRET_NAME.search(k) or k.lower() == "key":  # ?token=, ?password=, ?key= (an API key)
            k, v = redact_text(k), SECRET
        else:
            k, v = redact_text(k), redact_text(v, key=k)
        parts.append(f"{quote(k, safe='')}={quote(v, safe='')}")
    return out + "?" + "&".join(parts)


@functools.lru_cache(maxsize=65536)
def _cached_uri(uri: str) -> str:
    """Logs repeat the same URIs (list, watch, get of the same objects): a hit is a dictionary lookup."""
    return redact_request_uri(uri)


def clean_event(event: dict[str, Any], *, keep_phi: bool = False) -> dict[str, Any]:
    """The event as archived: Secret bodies dropped, embedded Secrets' data dropped, values masked."""
    if is_secret_request(event):
        event = {k: v for k, v in event.items() if k not in SECRET_BODIES}
    else:
        for key in SECRET_BODIES:
            body = event.get(key)
            if isinstance(body, dict | list) and b'"Secret"' in orjson.dumps(body):
                event = {**event, key: _strip_embedded_secrets(body)}
    if keep_phi:
        cleaned: dict[str, Any] = _credentials_only(event)
        return cleaned
    uri = event.get("requestURI")
    cleaned = _REDACTOR.mapping(event, drop="requestURI")  # = redact_tree, remembering repeated parts
    if isinstance(uri, str):
        cleaned["requestURI"] = _cached_uri(uri) if len(uri) <= 1024 else redact_request_uri(uri)
    elif "requestURI" in event:
        cleaned["requestURI"] = _REDACTOR.tree(uri)
    return cleaned


_REDACTOR = TreeRedactor()
"""One per process: consecutive events share most of their parts. Its results are shared between events,
so the cleaned event is read, never modified, after `clean_event` (`to_row` only reads it)."""


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sub(event: dict[str, Any], key: str) -> dict[str, Any]:
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def to_row(raw: bytes | dict[str, Any], *, keep_phi: bool = False) -> Row:
    """One event (its JSON bytes, or the decoded dict) as an archive row. Raises NoTimestamp, or ValueError
    when the bytes are not a JSON object."""
    event = orjson.loads(raw) if isinstance(raw, bytes | bytearray | memoryview) else raw
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    ts = parse_ts(event.get("requestReceivedTimestamp"))
    if ts is None:
        ts = parse_ts(event.get("timestamp"))
    if ts is None:
        raise NoTimestamp("no usable requestReceivedTimestamp or timestamp (RFC 3339 with a time zone)")
    ev = clean_event(event, keep_phi=keep_phi)
    user, imp, ref = _sub(ev, "user"), _sub(ev, "impersonatedUser"), _sub(ev, "objectRef")
    groups = user.get("groups")
    ips = ev.get("sourceIPs")
    status, notes = _sub(ev, "responseStatus"), _sub(ev, "annotations")
    code = status.get("code")
    values = (
        ts,
        parse_ts(ev.get("stageTimestamp")),
        _s(ev.get("auditID")),
        _s(ev.get("stage")),
        _s(ev.get("level")),
        _s(ev.get("verb")),
        _s(user.get("username")),
        [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else None,
        _s(imp.get("username")),
        _s(ips[-1]) if isinstance(ips, list) and ips else None,
        _s(ev.get("userAgent")),
        _s(ref.get("apiGroup")),
        _s(ref.get("apiVersion")),
        _s(ref.get("resource")),
        _s(ref.get("subresource")),
        _s(ref.get("namespace")),
        _s(ref.get("name")),
        _s(ev.get("requestURI")),
        code if isinstance(code, int) and not isinstance(code, bool) and -(2**31) <= code < 2**31 else None,
        _s(notes.get("authorization.k8s.io/decision")),
        orjson.dumps(ev).decode(),
    )
    return Row(values, day_of(ts), ts)

