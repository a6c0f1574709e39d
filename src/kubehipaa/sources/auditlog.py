"""Read API-server audit logs: JSON lines, gzip, rotated files, directories, stdin and `EventList` documents,
and the cloud exports that carry the same Events (GKE, AKS, EKS; see `audit_shapes`).

Contract: every input line either becomes an `AuditEvent` or is counted as malformed with its file and line
number (kept in `ReadStats`); a bad line never stops the stream and is never dropped silently. Blank lines
are not events and are skipped. Files are opened by content (gzip magic bytes), not by name, so rotated
`audit.log.1.gz`, `audit-2024-01-01T00-00-00.000.log` and plain files all work; likewise a line's shape
(bare Event or a cloud record around one) is told from its content, line by line, so one file may mix them.

Lines are decoded straight into `AuditEvent` Structs with msgspec (see `engines.auditlog.event` for why);
whole documents (`EventList`, pretty-printed Events, JSON arrays) are parsed with orjson.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec
import orjson

from kubehipaa.engines.auditlog.event import EVENT_DECODER, AuditEvent, has_event_fields, is_event_shaped
from kubehipaa.errors import InputError
from kubehipaa.sources.audit_shapes import expand, split_concatenated, strip_timestamp_prefix
from kubehipaa.sources.gke import gke_to_event, is_gke_entry

MAX_SAMPLES = 1000
"""How many malformed lines are kept with their location; all of them are counted."""

TOO_DEEP = "invalid JSON: nested too deeply"
"""A line nested thousands of levels deep: the decoders refuse it (msgspec with RecursionError)."""

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
"""A pretty-printed (multi-line) document is parsed whole; refuse absurd sizes instead of exhausting memory."""


@dataclass(slots=True, frozen=True)
class Malformed:
    """A line that is not an audit Event: where it is and why (never its content: it may hold secrets)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(slots=True)
class ReadStats:
    """What was read: files, lines (as counted by the newline-split reader; a pretty-printed document counts
    its first line), events, malformed lines (count and the first `MAX_SAMPLES` locations)."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    events: int = 0
    malformed: int = 0
    malformed_samples: list[Malformed] = field(default_factory=list)

    def add_malformed(self, file: str, line: int, message: str) -> None:
        self.malformed += 1
        if len(self.malformed_samples) < MAX_SAMPLES:
            self.malformed_samples.append(Malformed(file, line, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": list(self.files),
            "lines": self.lines,
            "events": self.events,
            "malformed": self.malformed,
            "malformedSamples": [str(m) for m in self.malformed_samples],
        }


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files as given; a directory contributes its regular files, oldest first (rotation order)."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        if os.path.isdir(p):
            entries = [os.path.join(p, n) for n in os.listdir(p) if not n.startswith(".")]
            files = [e for e in entries if os.path.isfile(e)]
            files.sort(key=lambda f: (os.path.getmtime(f), f))
            out.extend(files)
        elif os.path.exists(p):
            out.append(p)
        else:
            raise InputError("no such file or directory", file=p)
    return out


def _open(path: str) -> IO[bytes]:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", file=path) from None
    peek = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if peek == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if path.endswith(".gz") and not isinstance(raw, io.BufferedReader):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


READ_BLOCK = 64 * 1024
"""Bytes read per call. Blocks are cut after their last newline and split into lines by iterating an
`io.BytesIO` over each (memchr in C), chained in C, so no Python frame runs per line. Measured on the bench
log (min of 6 interleaved runs, read + decode): 64 KiB ≈ 2.35 µs/line, iterating the file object ≈ 2.6,
1 MiB blocks ≈ 2.9 (the block no longer stays in cache while its lines are decoded); `bytes.split` is worse
still (a byte-by-byte loop). Memory stays bounded by the block size plus the longest line."""


def _chunks(fh: IO[bytes], block: int) -> Iterator[bytes]:
    """`fh` in pieces of whole lines (each ends with b"\n", except possibly the very last)."""
    read = getattr(fh, "read1", None) or fh.read
    pending: list[bytes] = []  # the start of a line that continues in the next block(s), joined once
    while True:
        data = read(block)
        if not data:
            break
        end = data.rfind(b"\n") + 1
        if not end:
            pending.append(data)
            continue
        if pending:
            pending.append(data)
            data = b"".join(pending)
            pending.clear()
            end = data.rfind(b"\n") + 1
        if end < len(data):
            pending.append(data[end:])
            data = data[:end]
        yield data
    if pending:
        yield b"".join(pending)


def _lines(fh: IO[bytes], block: int = READ_BLOCK) -> Iterator[bytes]:
    """The lines of `fh`, each with its b"\n" (the last one may lack it): exactly the lines iterating the
    file object gives, in the same order."""
    return itertools.chain.from_iterable(map(io.BytesIO, _chunks(fh, block)))


def iter_events(paths: Sequence[str], stats: ReadStats | None = None) -> Iterator[AuditEvent]:
    """Yield every audit Event of `paths` in order; malformed lines go to `stats` (created if None)."""
    return itertools.chain.from_iterable(iter_event_batches(paths, stats))


def iter_event_batches(paths: Sequence[str], stats: ReadStats | None = None) -> Iterator[list[AuditEvent]]:
    """The events of `paths` in order, a block of lines at a time (a list per `READ_BLOCK` of input).

    This is the hot loop of every command. A block whose every line decodes to an Event-shaped document —
    nearly all of a real log — is decoded by `map` over its lines without a Python frame per line: exactly
    the per-line decoding, just driven from C. Any other block (a blank or malformed line, an `EventList`,
    a JSON array, a cloud record, a pretty-printed document) is decoded again line by line by
    `_decode_block_slowly`, which reports each bad line with its number; so the result is the same as the
    line-by-line reader's, event for event and error for error (tests compare the two on hostile input).
    """
    for batch, _ in _iter_batches(paths, stats, False):
        yield batch


def iter_event_batches_with_raw(paths: Sequence[str], stats: ReadStats | None = None
                                ) -> Iterator[tuple[list[AuditEvent], list[bytes | None]]]:
    """`iter_event_batches` (the same batches, events, `ReadStats` and malformed reports), plus, aligned
    with each batch, each event's own JSON: for an event that came one per line, the exact line it was
    decoded from (with its newline, if it had one); for an event that came out of a document (an
    `EventList` or JSON-array item, a pretty-printed file, a GKE entry converted to an audit Event, the Event
    inside an AKS or EKS record), the item re-encoded with orjson — the bytes the event was decoded from.
    Never None today; the type allows it for sources that cannot say.

    For consumers that need every field of the event as logged (Sigma rules on files), not only the ones
    the audit core decodes. Costs one list of lines per block; `iter_event_batches` does not pay it.
    """
    for batch, raws in _iter_batches(paths, stats, True):
        assert raws is not None  # keep_raw=True: both paths of _iter_batches return the lines
        yield batch, raws


def _iter_batches(paths: Sequence[str], stats: ReadStats | None, keep_raw: bool
                  ) -> Iterator[tuple[list[AuditEvent], list[Any] | None]]:
    """The reading loop of both public batch readers; `keep_raw` adds each event's bytes (else None)."""
    st = stats if stats is not None else ReadStats()
    decode = EVENT_DECODER.decode
    # RecursionError: msgspec's answer to a hostile line nested a few thousand levels deep
    decode_errors = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
    for path in expand_paths(paths):
        st.files.append(path)
        fh = _open(path)
        lineno = 0  # lines before the current block
        events = 0
        chunks = _chunks(fh, READ_BLOCK)
        try:
            for chunk in chunks:
                lines: list[bytes] | None = None
                try:
                    if keep_raw:  # the one extra branch per block; nothing extra per event
                        lines = io.BytesIO(chunk).readlines()
                        batch: list[AuditEvent] | None = list(map(decode, lines))
                    else:
                        batch = list(map(decode, io.BytesIO(chunk)))
                except decode_errors:
                    batch = None
                if batch is not None:
                    for ev in batch:  # `not is_event_shaped(ev)`, inlined: this runs for every event
                        if (ev.kind is not None and ev.kind != "Event") or (
                            ev.auditID is None and ev.verb is None and ev.user is None and ev.requestURI is None
                        ):
                            batch = None
                            break
                if batch is not None:
                    lineno += len(batch)
                    events += len(batch)
                    yield batch, lines
                    continue
                slow = _decode_block_slowly(chunk, lineno, path, st, chunks, keep_raw)
                lineno += slow.lines
                events += slow.line_events
                if slow.events:
                    yield slow.events, slow.raws
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            # A truncated or corrupt gzip member: report it where it happened and go on with the next file.
            st.add_malformed(path, lineno + 1, f"cannot read further: {exc}")
        finally:
            st.lines += lineno
            st.events += events
            if path != "-":
                fh.close()


@dataclass(slots=True)
class _SlowBlock:
    events: list[AuditEvent]
    lines: int = 0
    line_events: int = 0
    """Events that came one per line (documents count theirs in `ReadStats.events` themselves)."""
    raws: list[bytes | None] | None = None
    """With `keep_raw`: each event's bytes, aligned with `events`."""


def _decode_block_slowly(chunk: bytes, before: int, path: str, st: ReadStats,
                         rest: Iterator[bytes], keep_raw: bool = False) -> _SlowBlock:
    """One block, line by line: the reference semantics for blank, malformed and document lines.

    `before` is the number of lines of the file before this block. A file whose first line is a lone `{` or
    `[` is a pretty-printed document: the rest of the file (`rest`) is consumed and parsed whole. With
    `keep_raw`, `raws` holds each event's line (or, for a document's items, the item's JSON).
    """
    decode = EVENT_DECODER.decode
    decode_errors = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
    raws: list[bytes | None] | None = [] if keep_raw else None
    out = _SlowBlock([], raws=raws)
    lineno = before
    lines = io.BytesIO(chunk)
    for line in lines:
        lineno += 1
        try:
            ev = decode(line)
        except decode_errors as exc:
            stripped = line.strip()
            if not stripped:
                continue
            if isinstance(exc, RecursionError):
                st.add_malformed(path, lineno, TOO_DEEP)
                continue
            if lineno == 1 and stripped in (b"{", b"["):
                # A pretty-printed document (kubectl-style EventList, one Event, a cloud export): parse it whole.
                remaining = itertools.chain(lines, itertools.chain.from_iterable(map(io.BytesIO, rest)))
                out.events.extend(_whole_document(line, remaining, path, st, raws))
                out.lines = 1
                return out
            message = strip_timestamp_prefix(stripped)  # a CloudWatch Logs export to S3: "<time> <event>"
            if message is not None:
                out.events.extend(_document_events(message, path, lineno, st, raws))
                continue
            if isinstance(exc, msgspec.ValidationError):
                # Valid JSON but not an Event struct: an array, a cloud record (EKS `timestamp` is a number),
                # or an Event with a field of the wrong type (reported as such).
                out.events.extend(_document_events(stripped, path, lineno, st, raws, _describe(exc)))
                continue
            docs = split_concatenated(stripped)  # CloudWatch subscription envelopes as Firehose writes them
            if docs is not None:
                for doc in docs:
                    out.events.extend(_expanded_events(doc, path, lineno, st, raws))
                continue
            st.add_malformed(path, lineno, _describe(exc))
            continue
        kind = ev.kind
        if kind is not None and kind != "Event":
            if kind == "EventList":
                out.events.extend(_document_events(line, path, lineno, st, raws))
            else:
                st.add_malformed(path, lineno, f"not an audit Event (kind {kind!r})")
            continue
        if not has_event_fields(ev):
            # A cloud record around an Event (GKE, AKS, EKS), or not an Event at all: `expand` tells which.
            out.events.extend(_document_events(line, path, lineno, st, raws,
                                               "not an audit Event (no auditID, verb, user or requestURI)"))
            continue
        out.line_events += 1
        out.events.append(ev)
        if raws is not None:
            raws.append(line)
    out.lines = lineno - before
    return out


def _whole_document(first: bytes, rest: Iterator[bytes], path: str, st: ReadStats,
                    raws: list[bytes | None] | None = None) -> Iterator[AuditEvent]:
    chunks = [first]
    size = len(first)
    for line in rest:
        chunks.append(line)
        size += len(line)
        if size > MAX_DOCUMENT_BYTES:
            st.add_malformed(path, 1, f"multi-line JSON document larger than {MAX_DOCUMENT_BYTES} bytes")
            return
    yield from _document_events(b"".join(chunks), path, 1, st, raws)


def _document_events(data: bytes, path: str, lineno: int, st: ReadStats,
                     raws: list[bytes | None] | None = None, fallback: str | None = None) -> Iterator[AuditEvent]:
    """The audit Events in one JSON document: an EventList, a bare Event, a JSON array, or a cloud record or
    envelope around them (`audit_shapes.expand`). Parts that are not Events are counted as malformed at
    `path:lineno` with where in the document they are; `fallback` replaces the message when the document as
    a whole is a single non-Event (so a bad line reads "not an audit Event: ..." as before).

    With `raws`, each yielded event's JSON (the item as re-encoded for decoding) is appended to it just
    before the event is yielded, so a consumer that extends a list with this generator keeps both aligned.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        st.add_malformed(path, lineno, f"invalid JSON: {exc}")
        return
    yield from _expanded_events(doc, path, lineno, st, raws, fallback)


def _expanded_events(doc: Any, path: str, lineno: int, st: ReadStats, raws: list[bytes | None] | None = None,
                     fallback: str | None = None) -> Iterator[AuditEvent]:
    for where, candidate, reason in expand(doc):
        if candidate is None:
            st.add_malformed(path, lineno, f"{where}: {reason}" if where else reason)
            continue
        decoded = _candidate_event(candidate)
        if isinstance(decoded, str):
            st.add_malformed(path, lineno, fallback if fallback and not where else f"{where or 'document'}: "
                             f"{decoded}")
            continue
        st.events += 1
        if raws is not None:
            raws.append(decoded[1])
        yield decoded[0]


def _candidate_event(item: dict[str, Any]) -> tuple[AuditEvent, bytes] | str:
    """The candidate as an audit Event and the JSON it was decoded from, or why it is not one."""
    try:
        data = orjson.dumps(item)  # what `event_from_dict` does; kept, since it is the item's JSON
    except orjson.JSONEncodeError:  # orjson reads 1,024 levels but writes 255: deeper than any Event
        return TOO_DEEP
    try:
        ev = EVENT_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _describe(exc)
    except RecursionError:
        return TOO_DEEP
    if ev.kind is not None and ev.kind != "Event":
        return f"not an audit Event (kind {ev.kind!r})"
    if not is_event_shaped(ev):
        return "not an audit Event (no auditID, verb, user or requestURI)"
    return ev, data


def _item_event(item: Any) -> AuditEvent | None:
    """A webhook item (an Event, or a GKE entry converted to one) as an audit Event; None if it is not one."""
    if not isinstance(item, dict):
        return None
    if is_gke_entry(item):
        item = gke_to_event(item)
    decoded = _candidate_event(item)
    return None if isinstance(decoded, str) else decoded[0]


def events_from_document(data: bytes, *, source: str = "<body>") -> list[AuditEvent]:
    """Decode one webhook body (an `EventList`, or a single Event) strictly; bad input raises InputError.

    For the audit webhook receiver: a batch is accepted whole or rejected whole (HTTP 400), so the API
    server's retry semantics stay simple.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc}", file=source) from None
    if isinstance(doc, dict) and doc.get("kind") == "EventList":
        items = doc.get("items")
        if items is None:
            return []
        if not isinstance(items, list):
            raise InputError("EventList.items is not a list", file=source)
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise InputError("expected an EventList or Event object", file=source)
    events: list[AuditEvent] = []
    for i, item in enumerate(items):
        ev = _item_event(item)
        if ev is None:
            raise InputError(f"items[{i}] is not an audit Event", file=source)
        events.append(ev)
    return events


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, msgspec.ValidationError):
        return f"not an audit Event: {text}"
    return f"invalid JSON: {text}"
