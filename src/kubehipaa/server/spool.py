"""A durable, size-capped on-disk spool of accepted webhook batches: what makes "acknowledged" mean "kept".

The receiver answers 200 only after the batch is here and fsync'ed, so a crash, a kill -9, a slow detector
or a SIGTERM can no longer lose an acknowledged event: the worker reads batches back from the spool and a
restart continues from the last checkpoint. When the spool is full (or the disk fails) `submit` refuses, and
the receiver answers 429/503 so the API server keeps the batch and retries it.

Layout of the spool directory (mode 0700):

- `seg-<20 digits>.spool` segment files, appended in order. Each record is a 16-byte little-endian header
  (magic `KHS1`, payload length u32, event count u32, CRC-32 of the payload u32) and the payload: the
  request body exactly as accepted (an `EventList` or `Event` JSON document).
- `lock`: held with `flock` for the life of the process, so two receivers never share one spool.
- `checkpoint`: written by the receiver (see `checkpoint.py`), not by this module.

Durability policy: one writer thread appends every batch waiting at that moment and calls `fdatasync`
once for all of them before their requests are answered (group commit: concurrent requests share one
flush, so the rate of batches is not bounded by the disk's flush latency). A new segment is created with
`O_EXCL` and the directory is fsync'ed so the file survives a power loss too. A failed write is truncated
back, so no torn record follows a good one; a record torn by a crash (never acknowledged) is cut off when
the spool is opened. A record whose CRC does not match in the middle of a segment (disk corruption) is
logged and counted, and reading resumes at the next record whose header and CRC check out.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("kubehipaa.audit_webhook")

HEADER = struct.Struct("<4sIII")
MAGIC = b"KHS1"
_SEGMENT = re.compile(r"^seg-(\d{20})\.spool$")

Done = Callable[[BaseException | None], None]
"""Called from the writer thread once a submitted batch is durable (None) or could not be written."""


class SpoolError(Exception):
    """The spool cannot be used (locked by another process, not a directory, ...)."""


class SpoolFull(Exception):
    """Accepting this batch would exceed the spool's size cap; the caller answers 429."""


class SpoolClosed(Exception):
    """The spool no longer accepts batches (shutting down)."""


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the spool: segment number and byte offset in it (records are read from here on)."""

    segment: int
    offset: int


@dataclass(slots=True)
class Record:
    payload: bytes
    events: int
    start: Position
    end: Position
    """Where the next record starts: what a checkpoint stores once this record is processed."""


def _segment_name(n: int) -> str:
    return f"seg-{n:020d}.spool"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """`os.write` until every byte is written (a regular file may take a large write in parts)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _scan(fd: int, size: int) -> tuple[int, int, int]:
    """(bytes of whole valid records from the start, their events, their count): where a torn tail begins."""
    offset = events = records = 0
    while offset + HEADER.size <= size:
        head = os.pread(fd, HEADER.size, offset)
        magic, length, n, crc = HEADER.unpack(head)
        end = offset + HEADER.size + length
        if magic != MAGIC or end > size:
            break
        if zlib.crc32(os.pread(fd, length, offset + HEADER.size)) != crc:
            break
        offset, events, records = end, events + n, records + 1
    return offset, events, records


class Spool:
    """Segment files under one directory; thread-safe `submit` (any thread) and one `SpoolReader`."""

    def __init__(self, directory: Path, max_bytes: int, *, segment_bytes: int | None = None,
                 fsync: bool = True) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(4096, min(max_bytes // 16, 64 << 20))
        self.fsync = fsync
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"{directory}: cannot use as spool directory: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SpoolError(f"{directory}: spool directory in use by another process") from None
        self._cv = threading.Condition()
        self._queue: deque[tuple[bytes, int, Done, int]] = deque()
        self._reserved = 0
        self._closing = False
        self._writer: threading.Thread | None = None
        self.last_error: OSError | None = None
        """The last append failure, until an append succeeds again (for /healthz)."""
        self.repaired_bytes = 0
        """Bytes of a torn last record (never acknowledged) cut off when the spool was opened."""
        self.appended_events = 0
        """Events appended since the spool was opened (with `backlog_at_open`: the backlog gauge)."""
        self._sizes: dict[int, int] = {}
        try:
            self._open_segments()
        except OSError as exc:
            os.close(self._lock_fd)
            raise SpoolError(f"{directory}: cannot read the spool: {exc.strerror or exc}") from None

    # -- opening ---------------------------------------------------------------------------------------
    def _open_segments(self) -> None:
        numbers = sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := _SEGMENT.match(p.name)))
        for n in numbers:
            self._sizes[n] = (self.directory / _segment_name(n)).stat().st_size
        if numbers:
            last = numbers[-1]
            fd = os.open(self.directory / _segment_name(last), os.O_RDWR | os.O_APPEND)
            valid, _, _ = _scan(fd, self._sizes[last])
            if valid < self._sizes[last]:
                self.repaired_bytes = self._sizes[last] - valid
                os.ftruncate(fd, valid)
                os.fsync(fd)
                self._sizes[last] = valid
            self._active, self._active_fd = last, fd
        else:
            self._active, self._active_fd = self._create_segment(0)
        self._durable = Position(self._active, self._sizes[self._active])
        self._bytes = sum(self._sizes.values())

    def _create_segment(self, n: int) -> tuple[int, int]:
        fd = os.open(self.directory / _segment_name(n), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        with self._cv:  # the reader iterates the table under the same lock
            self._sizes[n] = 0
        if self.fsync:
            _fsync_dir(self.directory)
        return n, fd

    # -- state -----------------------------------------------------------------------------------------
    @property
    def used_bytes(self) -> int:
        """Bytes in segment files (including processed records of segments not yet released)."""
        return self._bytes

    @property
    def durable_end(self) -> Position:
        return self._durable

    @property
    def writing(self) -> bool:
        """Batches submitted and not yet durable (or failed)."""
        with self._cv:
            return bool(self._queue) or self._reserved > 0

    def first_position(self) -> Position:
        with self._cv:
            return Position(min(self._sizes), 0)

    # -- appending -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="kubehipaa-audit-spool", daemon=True)
            self._writer.start()

    def submit(self, payload: bytes | bytearray, events: int, done: Done) -> None:
        """Queue `payload` for the next group commit; `done` is called once it is durable or failed.

        Raises SpoolFull (nothing queued) when it would take the spool past `max_bytes`, SpoolClosed when
        shutting down. The size check counts batches still waiting to be written, so concurrent requests
        cannot overshoot the cap together.
        """
        size = HEADER.size + len(payload)
        with self._cv:
            if self._closing:
                raise SpoolClosed()
            if self._bytes + self._reserved + size > self.max_bytes:
                raise SpoolFull()
            self._reserved += size
            self._queue.append((payload if isinstance(payload, bytes) else bytes(payload), events, done, size))
            self._cv.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closing:
                    self._cv.wait()
                if not self._queue:
                    return
                group = list(self._queue)
                self._queue.clear()
            error: OSError | None = None
            try:
                end = self._append(group)
            except OSError as exc:
                error = exc
            with self._cv:
                self._reserved -= sum(g[3] for g in group)
                if error is None:
                    self._bytes += sum(g[3] for g in group)
                    self._durable = end
                    self.appended_events += sum(g[1] for g in group)
                    self.last_error = None
                else:
                    self.last_error = error
                self._cv.notify_all()
            for _, _, done, _ in group:
                try:
                    done(error)
                except Exception:  # a callback bug must not stop the writer
                    log.exception("spool completion callback failed")

    def _append(self, group: list[tuple[bytes, int, Done, int]]) -> Position:
        if self._sizes[self._active] >= self.segment_bytes:
            self._rotate()
        fd, seg = self._active_fd, self._active
        start = self._sizes[seg]
        parts: list[bytes] = []
        for payload, events, _, _ in group:
            parts.append(HEADER.pack(MAGIC, len(payload), events, zlib.crc32(payload)))
            parts.append(payload)
        try:
            for part in parts:
                write_all(fd, part)
            if self.fsync:
                os.fdatasync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # leave no torn record behind a good one
                os.ftruncate(fd, start)
            raise
        end = start + sum(len(p) for p in parts)
        with self._cv:
            self._sizes[seg] = end
        return Position(seg, end)

    def _rotate(self) -> None:
        old_fd = self._active_fd
        n, fd = self._create_segment(self._active + 1)
        with self._cv:
            self._active, self._active_fd = n, fd
        os.close(old_fd)

    # -- consuming -------------------------------------------------------------------------------------
    def release(self, upto: Position) -> int:
        """Delete segments wholly before `upto` (a checkpointed position); returns the bytes freed."""
        with self._cv:
            doomed = [n for n, size in self._sizes.items() if n != self._active
                      and (n < upto.segment or (n == upto.segment and upto.offset >= size))]
        freed = 0
        for n in doomed:
            try:
                os.unlink(self.directory / _segment_name(n))
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cannot delete spool segment %s: %s", _segment_name(n), exc.strerror or exc)
                continue
            with self._cv:
                size = self._sizes.pop(n, 0)
                self._bytes -= size
                freed += size
        return freed

    def count(self, start: Position) -> tuple[int, int]:
        """(events, records) durable from `start` to the end: how much is still to be processed."""
        events = records = 0
        with self._cv:
            sizes = dict(self._sizes)
        for n in sorted(sizes):
            if n < start.segment:
                continue
            offset = start.offset if n == start.segment else 0
            try:
                fd = os.open(self.directory / _segment_name(n), os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                while offset + HEADER.size <= sizes[n]:
                    magic, length, k, _ = HEADER.unpack(os.pread(fd, HEADER.size, offset))
                    if magic != MAGIC:
                        break
                    events, records, offset = events + k, records + 1, offset + HEADER.size + length
            finally:
                os.close(fd)
        return events, records

    def reader(self, start: Position) -> SpoolReader:
        return SpoolReader(self, start)

    def wait_durable_after(self, pos: Position, timeout: float) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: self._durable > pos or self._closing, timeout)

    # -- closing ---------------------------------------------------------------------------------------
    def close_intake(self) -> None:
        """Refuse new batches; batches already submitted are still written."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        self.close_intake()
        if self._writer is not None:
            self._writer.join(timeout)
        with contextlib.suppress(OSError):
            os.close(self._active_fd)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


class SpoolReader:
    """Reads records in order from a position, waiting for new ones; used by one thread (the worker)."""

    def __init__(self, spool: Spool, start: Position) -> None:
        self.spool = spool
        self.position = start
        self._fd: int | None = None
        self._fd_segment = -1
        self.corrupt_records = 0

    def next(self, timeout: float) -> Record | None:
        """The next durable record, waiting up to `timeout` seconds for one; None if none came."""
        sp = self.spool
        while True:
            with sp._cv:
                if not sp._cv.wait_for(lambda: sp._durable > self.position, timeout):
                    return None
                sizes = sp._sizes
                pos = self.position
                size = sizes.get(pos.segment)
                later = [n for n in sizes if n > pos.segment]
            if size is None or pos.offset >= size:
                if not later:
                    return None  # (cannot happen while durable > position; kept as a guard)
                self.position = Position(min(later), 0)
                continue
            record = self._read(pos, size)
            if record is not None:
                self.position = record.end
                return record
            # corrupt (disk damage): continue at the next record whose header and CRC check out
            self.corrupt_records += 1
            resume = self._resync(pos, size)
            log.error("spool segment %s is corrupt at byte %d: skipped %d bytes", _segment_name(pos.segment),
                      pos.offset, resume - pos.offset)
            self.position = Position(pos.segment, resume)

    def _read(self, pos: Position, size: int) -> Record | None:
        if self._fd_segment != pos.segment:
            self.close()
            self._fd = os.open(self.spool.directory / _segment_name(pos.segment), os.O_RDONLY)
            self._fd_segment = pos.segment
        fd = self._fd
        assert fd is not None
        head = os.pread(fd, HEADER.size, pos.offset)
        if len(head) < HEADER.size:
            return None
        magic, length, events, crc = HEADER.unpack(head)
        end = pos.offset + HEADER.size + length
        if magic != MAGIC or end > size:
            return None
        payload = os.pread(fd, length, pos.offset + HEADER.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return None
        return Record(payload, events, pos, Position(pos.segment, end))

    def _resync(self, pos: Position, size: int) -> int:
        """Offset of the next valid record after a corrupt one at `pos` (the segment's end if none)."""
        fd = self._fd
        assert fd is not None
        offset = pos.offset + 1
        while offset < size:
            block = os.pread(fd, min(1 << 20, size - offset), offset)
            i = block.find(MAGIC)
            while i >= 0:
                if self._read(Position(pos.segment, offset + i), size) is not None:
                    return offset + i
                i = block.find(MAGIC, i + 1)
            offset += max(1, len(block) - len(MAGIC) + 1)
        return size

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._fd_segment = -1


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
