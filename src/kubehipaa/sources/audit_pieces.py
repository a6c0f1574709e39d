"""Cut audit logs into pieces that separate processes can read (`audit analyze --jobs N`).

A plain (uncompressed) log file is cut into byte ranges at line boundaries: each piece starts just after a
newline and ends just after one, so every line is read whole by exactly one piece, with the same bytes, and
the events of the pieces, in order, are the file's events. A gzip stream cannot be entered in the middle,
so a compressed file is one piece (several rotated `.gz` files are read in parallel, one per worker); so is
a pretty-printed document (a file whose first line is a lone `{` or `[`, parsed whole), and a file smaller
than one piece. Standard input and other streams (`-`, `/dev/fd/N`) cannot be read twice or by two
processes: `plan` answers None and the caller reads everything in one process.

Each piece is read by the ordinary reader (`sources.auditlog`), so malformed lines, long lines and
documents are handled and reported as when the whole file is read; line numbers count from the start of
the piece, and the caller adds the lines of the file's earlier pieces (`ReadStats` of a piece).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from kubehipaa.engines.auditlog import AuditEvent
from kubehipaa.errors import InputError
from kubehipaa.sources import limits, reading
from kubehipaa.sources.auditlog import ReadStats, _file_batches, _open, expand_paths

PIECE_BYTES = 32 * 1024 * 1024
"""Target size of a piece: small enough that the workers stay busy until the end and that what a worker
sends back (about 100 bytes per event) stays small, large enough that the per-piece cost (a process
round trip, one pickled result) is noise."""


@dataclass(frozen=True, slots=True)
class Piece:
    """`path` from byte `start` to byte `end` (None: to the end of the file). `whole`: the file is read by
    the ordinary reader from its start (gzip, documents, small files)."""

    path: str
    start: int = 0
    end: int | None = None
    whole: bool = True

    @property
    def first(self) -> bool:
        """The piece begins the file (its first line is the file's first line)."""
        return self.start == 0


def plan(paths: Sequence[str], piece_bytes: int = PIECE_BYTES, skipped: list[str] | None = None
         ) -> list[Piece] | None:
    """The pieces of `paths` (directories expanded, in reading order), or None when an input is a stream.

    Every file is opened here as the reader would open it, so an unreadable file raises the same InputError
    before any work starts."""
    caps = limits.current()
    pieces: list[Piece] = []
    for path in expand_paths(paths, skipped):
        if path == "-" or reading.is_stream_path(path):
            return None
        fh = _open(path, caps)
        try:
            pieces.extend(_cut(path, fh, max(1, piece_bytes)))
        finally:
            fh.close()
    return pieces


def _cut(path: str, fh: IO[bytes], piece_bytes: int) -> list[Piece]:
    if not isinstance(fh, io.BufferedReader):  # gzip
        return [Piece(path)]
    size = os.fstat(fh.fileno()).st_size
    if size <= piece_bytes or fh.readline(64 * 1024).strip() in (b"{", b"["):
        return [Piece(path)]
    n = -(-size // piece_bytes)
    bounds = [0]
    for k in range(1, n):
        at = _line_start(fh, k * size // n)
        if at >= size:
            break
        if at > bounds[-1]:
            bounds.append(at)
    ends: list[int | None] = [*bounds[1:], None]  # the last piece reads to the end, as the reader would
    return [Piece(path, start, end, whole=False) for start, end in zip(bounds, ends, strict=True)]


def _line_start(fh: IO[bytes], at: int) -> int:
    """The offset just after the first newline at or after `at - 1` (a line starting at `at` stays whole)."""
    fh.seek(at - 1)
    pos = at - 1
    while True:
        block = fh.read(64 * 1024)
        if not block:
            return pos
        nl = block.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        pos += len(block)


class _Range:
    """Reads of a file that stop at `end` (None: at the end of the file)."""

    def __init__(self, raw: IO[bytes], end: int | None, start: int) -> None:
        self.raw = raw
        self.left = None if end is None else end - start

    def read1(self, size: int = -1) -> bytes:
        left = self.left
        if left is None:
            return self.raw.read(size)
        if left <= 0:
            return b""
        data = self.raw.read(left if size < 0 or size > left else size)
        self.left = left - len(data)
        return data

    read = read1

    def close(self) -> None:
        self.raw.close()


def iter_piece_batches(piece: Piece, stats: ReadStats) -> Iterator[list[AuditEvent]]:
    """The events of `piece` in order, a block at a time; malformed lines go to `stats` with line numbers
    counted from the start of the piece. The file is not added to `stats.files` (the caller lists each
    file once)."""
    caps = limits.current()
    if piece.whole:
        fh: IO[bytes] = _open(piece.path, caps)
    else:
        try:
            raw = open(piece.path, "rb", buffering=0)  # noqa: SIM115 - closed by _file_batches
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", file=piece.path) from None
        raw.seek(piece.start)
        fh = _Range(raw, piece.end, piece.start)  # type: ignore[assignment]
    for batch, _ in _file_batches(fh, piece.path, stats, False, caps, at_file_start=piece.first):
        yield batch
