"""Read API-server audit logs: JSON lines, gzip, rotated files, directories, stdin and `EventList` documents,
and the cloud exports that carry the same Events (GKE, AKS, EKS; see `audit_shapes`).

Contract: every input line either becomes an `AuditEvent` or is counted as malformed with its file and line
number (kept in `ReadStats`); a bad line never stops the stream and is never dropped silently. Blank lines
are not events and are skipped. Files are opened by content (gzip magic bytes), not by name, so rotated
`audit.log.1.gz`, `audit-2024-01-01T00-00-00.000.log` and plain files all work; likewise a line's shape
(bare Event or a cloud record around one) is told from its content, line by line, so one file may mix them.

Lines are decoded straight into `AuditEvent` Structs with msgspec (see `engines.auditlog.event` for why);
an `EventList` goes through the one EventList decoder (`sources.eventlist`, the webhook's too); other whole
documents (pretty-printed Events, JSON arrays, cloud records), and an EventList with an item that is not an
Event, are parsed with orjson and taken apart by `audit_shapes.expand`.
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

from kubehipaa.engines.auditlog import EVENT_DECODER, AuditEvent
from kubehipaa.errors import InputError
from kubehipaa.sources import limits, reading
from kubehipaa.sources.audit_shapes import expand, split_concatenated, strip_timestamp_prefix
from kubehipaa.sources.eventlist import decode_event_list_raw, is_audit_event
from kubehipaa.sources.limits import Limits, format_size

MAX_SAMPLES = 1000
"""How many malformed lines are kept with their location; all of them are counted."""

TOO_DEEP = "invalid JSON: nested too deeply"
"""A line nested thousands of levels deep: the decoders refuse it (msgspec with RecursionError)."""

# Bounds (`sources.limits`): a line longer than `--max-line-bytes` is one malformed line and reading goes on
# after its end; a pretty-printed (multi-line) document, parsed whole, is bounded by `--max-file-bytes`; a
# gzip file may inflate to `--max-gzip-ratio` times the compressed bytes read (never less than 64 MiB), past
# which the rest of that file is one malformed line: memory stays bounded by the caps, time by the input.


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
    skipped: list[str] = field(default_factory=list)
    """Entries of a directory that were not read, one line each: a FIFO, socket or device is no log file."""

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
            "skipped": list(self.skipped),
        }


def expand_paths(paths: Sequence[str], skipped: list[str] | None = None) -> list[str]:
    """Files as given; a directory contributes its regular files, oldest first (rotation order).

    Only regular files are read (`sources.reading`): a FIFO, socket or device in a directory is listed in
    `skipped` ("path: why"); given explicitly, it is an InputError, unless it names an open descriptor
    (`/dev/stdin`, `/dev/fd/63` from `<(zcat x.gz)`), read as a stream like "-". A directory that cannot be
    listed is an InputError: its logs would be missing from the answer.
    """
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        try:
            kind = reading.explicit_kind(p)
        except FileNotFoundError:
            raise InputError("no such file or directory", file=p) from None
        except reading.NotRegular as exc:
            raise InputError(exc.reason + reading.STREAM_HINT, file=p) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=p) from None
        if kind != "dir":
            out.append(p)
            continue
        try:
            with os.scandir(p) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except OSError as exc:
            raise InputError(f"cannot read directory: {exc.strerror or exc}", file=p) from None
        files: list[tuple[float, str]] = []
        for entry in entries:
            what = reading.entry_kind(entry)
            if what == "dir":
                continue  # rotated logs sit side by side; subdirectories are not searched
            if what is not None:
                if skipped is not None:
                    skipped.append(f"{entry.path}: is {what}, not a regular file; skipped")
                continue
            try:
                mtime = entry.stat().st_mtime
            except OSError:
                mtime = 0.0  # a broken symlink: opening it says why
            files.append((mtime, entry.path))
        files.sort()
        out.extend(f for _, f in files)
    return out


class _Counted:
    """The compressed side of a gzip stream, counting the bytes the decompressor has taken."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


class _GzipTooLarge(Exception):
    """A gzip stream inflated past its allowance (`Limits.gzip_allowance`)."""


class _Inflating:
    """`read1`/`read` over a gzip stream that stop once more came out than `--max-gzip-ratio` allows for
    what went in (a 4.6 MB gzip of zeros inflates to 4.7 GB): checked once per block read."""

    def __init__(self, raw: IO[bytes], caps: Limits) -> None:
        self.raw = raw
        self.counted = _Counted(raw)
        self.gz = gzip.GzipFile(fileobj=self.counted, mode="rb")  # type: ignore[call-overload]
        self.caps = caps
        self.out = 0

    def read1(self, size: int = -1) -> bytes:
        data = self.gz.read1(size)
        self.out += len(data)
        if self.out > self.caps.gzip_allowance(self.counted.count):
            raise _GzipTooLarge
        return data

    read = read1

    def close(self) -> None:
        self.gz.close()
        if self.raw is not sys.stdin.buffer:
            self.raw.close()


def _open(path: str, caps: Limits) -> IO[bytes]:
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        try:
            if reading.is_stream_path(path):
                raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
            else:
                raw = reading.open_regular(path)  # buffered: peek works
        except reading.NotRegular as exc:
            raise InputError(exc.reason, file=path) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", file=path) from None
    peek = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if peek == b"\x1f\x8b" or (path.endswith(".gz") and not isinstance(raw, io.BufferedReader)):
        return _Inflating(raw, caps)  # type: ignore[return-value]
    return raw


READ_BLOCK = 64 * 1024
"""Bytes read per call. Blocks are cut after their last newline and split into lines by iterating an
`io.BytesIO` over each (memchr in C), chained in C, so no Python frame runs per line. Measured on the bench
log (min of 6 interleaved runs, read + decode): 64 KiB ≈ 2.35 µs/line, iterating the file object ≈ 2.6,
1 MiB blocks ≈ 2.9 (the block no longer stays in cache while its lines are decoded); `bytes.split` is worse
still (a byte-by-byte loop). Memory stays bounded by the block size plus the longest line."""


def _chunks(fh: IO[bytes], block: int, max_line: int) -> Iterator[bytes | None]:
    """`fh` in pieces of whole lines (each ends with b"\n", except possibly the very last); None stands for
    a line longer than `max_line` bytes (newline not counted), which is dropped as it streams by: memory
    stays bounded by the cap and the block, whatever the input (no newline at all: `/dev/zero`)."""
    read = getattr(fh, "read1", None) or fh.read
    block = min(block, max_line + 1)  # a line inside one block is then never over the cap
    pending: list[bytes] = []  # the start of a line that continues in the next block(s), joined once
    size = 0  # bytes in `pending`
    skipping = False  # inside a line that was too long: drop until its newline
    while True:
        data = read(block)
        if not data:
            break
        if pending or skipping:
            nl = data.find(b"\n")
            if nl < 0:
                if not skipping:
                    pending.append(data)
                    size += len(data)
                    if size > max_line:
                        pending.clear()
                        size, skipping = 0, True
                        yield None
                continue
            if skipping:
                skipping = False
                data = data[nl + 1 :]
            elif size + nl > max_line:
                pending.clear()
                size = 0
                yield None
                data = data[nl + 1 :]
            else:
                pending.append(data)
                data = b"".join(pending)
                pending.clear()
                size = 0
            if not data:
                continue
        end = data.rfind(b"\n") + 1
        if end < len(data):
            size = len(data) - end
            if size > max_line:
                skipping = True
                yield data[:end] if end else None
                if end:
                    yield None
                continue
            pending.append(data[end:])
            data = data[:end]
            if not end:
                continue
        yield data
    if pending:
        yield b"".join(pending)


def _lines(fh: IO[bytes], block: int = READ_BLOCK) -> Iterator[bytes]:
    """The lines of `fh`, each with its b"\n" (the last one may lack it): exactly the lines iterating the
    file object gives, in the same order (no line cap)."""
    chunks = _chunks(fh, block, 1 << 62)
    return itertools.chain.from_iterable(map(io.BytesIO, chunks))  # type: ignore[arg-type]


def _line_too_long(caps: Limits) -> str:
    return f"line longer than {format_size(caps.line_bytes)} ({limits.line_cap_hint()}); skipped"


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
    caps = limits.current()
    for path in expand_paths(paths, st.skipped):
        st.files.append(path)
        yield from _file_batches(_open(path, caps), path, st, keep_raw, caps)


def _file_batches(fh: IO[bytes], path: str, st: ReadStats, keep_raw: bool, caps: Limits,
                  at_file_start: bool = True) -> Iterator[tuple[list[AuditEvent], list[Any] | None]]:
    """The batches of one open file (closed at the end unless it is stdin); line numbers count from the
    start of `fh`. `at_file_start` False: `fh` starts inside the file (a byte range of `iter_range_batches`),
    so its first line is not the first line of a pretty-printed document."""
    decode = EVENT_DECODER.decode
    # RecursionError: msgspec's answer to a hostile line nested a few thousand levels deep
    decode_errors = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
    lineno = 0  # lines before the current block
    events = 0
    chunks = _chunks(fh, READ_BLOCK, caps.line_bytes)
    try:
        for chunk in chunks:
            if chunk is None:  # a line over --max-line-bytes, dropped as it streamed by
                lineno += 1
                st.add_malformed(path, lineno, _line_too_long(caps))
                continue
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
                for ev in batch:  # `not is_audit_event(ev)`, inlined: this runs for every event
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
            slow = _decode_block_slowly(chunk, lineno, path, st, chunks, keep_raw, caps, at_file_start)
            lineno += slow.lines
            events += slow.line_events
            if slow.events:
                yield slow.events, slow.raws
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # A truncated or corrupt gzip member: report it where it happened and go on with the next file.
        st.add_malformed(path, lineno + 1, f"cannot read further: {exc}")
    except _GzipTooLarge:
        st.add_malformed(path, lineno + 1, f"gzip data inflates to more than {caps.gzip_ratio} times its "
                         f"compressed size (a decompression bomb?); rest of the file skipped "
                         f"({limits.gzip_cap_hint()})")
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
                         rest: Iterator[bytes | None], keep_raw: bool = False, caps: Limits | None = None,
                         at_file_start: bool = True) -> _SlowBlock:
    """One block, line by line: the reference semantics for blank, malformed and document lines.

    `before` is the number of lines of the file before this block. A file whose first line is a lone `{` or
    `[` is a pretty-printed document: the rest of the file (`rest`) is consumed and parsed whole. With
    `keep_raw`, `raws` holds each event's line (or, for a document's items, the item's JSON).
    `at_file_start` False: line numbers count from inside the file (a byte range), whose first line is not
    the file's first line.
    """
    decode = EVENT_DECODER.decode
    decode_errors = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
    raws: list[bytes | None] | None = [] if keep_raw else None
    out = _SlowBlock([], raws=raws)
    if chunk.isspace():  # blank lines only (a log, or a gzip bomb, of newlines): counted in C, not one by one
        out.lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
        return out
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
                # msgspec gave up on the nesting; orjson reads up to 1024 levels, so an EventList or a cloud
                # record keeps its other events and only the deep one is counted as malformed
                out.events.extend(_document_events(stripped, path, lineno, st, raws, TOO_DEEP))
                continue
            if lineno == 1 and at_file_start and stripped in (b"{", b"["):
                # A pretty-printed document (kubectl-style EventList, one Event, a cloud export): parse it whole.
                remaining = itertools.chain(lines, _rest_lines(rest))
                out.events.extend(_whole_document(line, remaining, path, st, raws, caps or limits.current()))
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
                out.events.extend(_event_list_events(line, path, lineno, st, raws))
            else:
                st.add_malformed(path, lineno, f"not an audit Event (kind {kind!r})")
            continue
        if not is_audit_event(ev):
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


def _rest_lines(rest: Iterator[bytes | None]) -> Iterator[bytes | None]:
    """The lines of the remaining blocks; None for a line over the line cap."""
    for chunk in rest:
        if chunk is None:
            yield None
        else:
            yield from io.BytesIO(chunk)


def _whole_document(first: bytes, rest: Iterator[bytes | None], path: str, st: ReadStats,
                    raws: list[bytes | None] | None = None, caps: Limits | None = None) -> Iterator[AuditEvent]:
    """A pretty-printed document (the rest of the file), parsed whole: bounded by --max-file-bytes. Past the
    cap, or at a line over the line cap, the document is one malformed line and the rest of the file, which
    is the rest of that document, is skipped without being kept."""
    caps = caps or limits.current()
    chunks = [first]
    size = len(first)
    problem = None
    for line in rest:
        if line is None:
            problem = f"multi-line JSON document with a {_line_too_long(caps)}"
            break
        chunks.append(line)
        size += len(line)
        if size > caps.file_bytes:
            problem = f"multi-line JSON document {reading.too_large_message(caps.file_bytes)}"
            break
    if problem is None:
        yield from _event_list_events(b"".join(chunks), path, 1, st, raws)
        return
    st.add_malformed(path, 1, problem)
    chunks.clear()
    for _ in rest:
        pass


def _event_list_events(data: bytes, path: str, lineno: int, st: ReadStats,
                       raws: list[bytes | None] | None = None) -> Iterator[AuditEvent]:
    """The events of a document that may be an `EventList` (or a single Event): the one EventList decoder
    first (`sources.eventlist`, as the webhook; items decoded straight from their bytes, no dicts built),
    and when it refuses the document (an item that is not an Event, a wrapper, an array, bad JSON),
    `_document_events`, which keeps the good items and names each bad one. Both give the same events for
    a document the decoder accepts; raws are appended just before each event is yielded, as there."""
    try:
        events, items = decode_event_list_raw(data, keep_raw=raws is not None, source=path)
    except InputError:
        yield from _document_events(data, path, lineno, st, raws)
        return
    st.events += len(events)
    if raws is None:
        yield from events
        return
    for ev, item in zip(events, items, strict=True):
        raws.append(item)
        yield ev


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
        st.add_malformed(path, lineno, _json_error(exc))
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
    except orjson.JSONEncodeError:  # orjson writes at most 254 levels; the line reader takes deeper events
        try:
            data = msgspec.json.encode(item)
        except RecursionError:
            return TOO_DEEP
    try:
        ev = EVENT_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _describe(exc)
    except RecursionError:
        return TOO_DEEP
    if ev.kind is not None and ev.kind != "Event":
        return f"not an audit Event (kind {ev.kind!r})"
    if not is_audit_event(ev):
        return "not an audit Event (no auditID, verb, user or requestURI)"
    return ev, data


def _json_error(exc: orjson.JSONDecodeError) -> str:
    """orjson's message, or TOO_DEEP for its nesting limit (1024 levels): the same cause, said the same way."""
    return TOO_DEEP if str(exc).startswith("depth limit") else f"invalid JSON: {exc}"


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, msgspec.ValidationError):
        return f"not an audit Event: {text}"
    return f"invalid JSON: {text}"
