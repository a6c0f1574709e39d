"""The one decoder of audit `EventList` documents, and the one test of "is this an audit Event".

Why one: the API server's webhook backend POSTs an `audit.k8s.io/v1 EventList`, and `kubectl get --raw`,
log shippers and hand-made fixtures put the same document in files. The webhook receiver and the file
reader (`sources.auditlog`) must agree on what such a document holds and on what counts as an Event, or a
batch accepted on one path would be read differently on the other. So both decode it here:

- the receiver with `decode_event_list_raw` (all or nothing: a batch is acknowledged whole or refused with
  400, so the API server's retry semantics stay simple);
- the reader first the same way; when that refuses the document (an item that is not an Event, a cloud
  record inside), it goes item by item through `audit_shapes.expand`, which names each bad item and keeps
  the good ones (a file is never rejected whole for one bad line).

Decoding is msgspec straight into `AuditEvent` Structs: no intermediate dicts, about 5x faster than a
generic JSON parse, which matters on the webhook's request path. Error messages never quote the document
(`_reason`): they name types, schema fields and offsets only.
"""

from __future__ import annotations

import re

import msgspec

from kubehipaa.engines.auditlog import EVENT_DECODER, AuditEvent
from kubehipaa.errors import InputError


class _EventList(msgspec.Struct, gc=False):
    """`audit.k8s.io/v1 EventList` (apiVersion/metadata are not needed)."""

    kind: str | None = None
    items: list[AuditEvent] | None = None


class _RawEventList(msgspec.Struct, gc=False):
    """The same document with each item kept as its JSON bytes (for Sigma, which may read any field)."""

    kind: str | None = None
    items: list[msgspec.Raw] | None = None


_LIST_DECODER = msgspec.json.Decoder(_EventList)
_RAW_LIST_DECODER = msgspec.json.Decoder(_RawEventList)

_SAFE_REASON = re.compile(r"(Expected `[a-z0-9 |]+`, got `[a-z0-9 ]+`|Object missing required field `\w+`|"
                          r"JSON is malformed: [a-z ',]+|Input data was truncated|Invalid UTF-8 sequence)"
                          r"( - at `\$[\w.\[\]]*`)?( \(byte \d+\))?")


def is_audit_event(ev: AuditEvent) -> bool:
    """Whether a decoded document is an audit Event: no other `kind` (an `EventList`, a `Pod`), and at least
    one field only an Event has (auditID, verb, user, requestURI; the API server always writes all four,
    so a `{}` or `{"kind": "Event"}` line is not one). Present counts, empty or not: `"auditID": ""` is the
    API server's own serialisation of an unset id. The file reader's hot loop inlines this expression."""
    return (ev.kind is None or ev.kind == "Event") and not (
        ev.auditID is None and ev.verb is None and ev.user is None and ev.requestURI is None
    )


def _reason(exc: Exception) -> str:
    """msgspec's message when it is one of the shapes known to quote only types, schema field names and
    offsets; else a generic phrase. Error answers and logs must never echo request content."""
    msg = str(exc)
    return msg if len(msg) < 200 and _SAFE_REASON.fullmatch(msg) else "wrong type or value"


def decode_event_list(body: bytes | bytearray, *, source: str = "request body") -> list[AuditEvent]:
    """An EventList (or a single Event) decoded straight into `AuditEvent`s, all or nothing.

    Raises InputError naming `source` and the problem (never quoting the body)."""
    return decode_event_list_raw(body, keep_raw=False, source=source)[0]


def decode_event_list_raw(body: bytes | bytearray, *, keep_raw: bool = True, source: str = "request body",
                          ) -> tuple[list[AuditEvent], list[bytes]]:
    """`decode_event_list`, plus (with `keep_raw`) every item's own JSON bytes, in the same order.

    The audit core's `AuditEvent` declares only the fields its detections read; a Sigma rule may name any
    field of the Event (`responseStatus.reason`, `user.extra`, other annotations), so Sigma gets the item as
    it was sent."""
    try:
        if keep_raw:
            raw_list = _RAW_LIST_DECODER.decode(body)
            kind, raw_items = raw_list.kind, raw_list.items
        else:
            decoded = _LIST_DECODER.decode(body)
            kind, raw_items = decoded.kind, None
    except msgspec.DecodeError as exc:
        raise InputError(f"invalid JSON: {_reason(exc)}", file=source) from None
    except msgspec.ValidationError as exc:
        raise InputError(f"not an audit EventList: {_reason(exc)}", file=source) from None
    except RecursionError:  # a hostile body nested thousands of levels deep
        raise InputError("invalid JSON: nested too deeply", file=source) from None
    raws: list[bytes] = []
    if kind == "EventList":
        if keep_raw:
            events = []
            for i, item in enumerate(raw_items or []):
                try:
                    events.append(EVENT_DECODER.decode(item))
                except msgspec.ValidationError as exc:
                    raise InputError(f"items[{i}] is not an audit Event: {_reason(exc)}", file=source) from None
                except RecursionError:
                    raise InputError(f"items[{i}]: nested too deeply", file=source) from None
                raws.append(bytes(item))
        else:
            events = decoded.items or []
    elif kind in (None, "Event") and (raw_items if keep_raw else decoded.items) is None:
        try:
            events = [EVENT_DECODER.decode(body)]
        except msgspec.ValidationError as exc:
            raise InputError(f"not an audit Event: {_reason(exc)}", file=source) from None
        except RecursionError:
            raise InputError("invalid JSON: nested too deeply", file=source) from None
        raws = [bytes(body)] if keep_raw else []
    else:
        raise InputError("expected an audit EventList or Event (got another kind)", file=source)
    for i, ev in enumerate(events):
        if not is_audit_event(ev):
            raise InputError(f"items[{i}] is not an audit Event", file=source)
    return events, raws
