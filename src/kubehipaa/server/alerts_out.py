"""Where the receiver's alerts go: whole JSON lines, written per batch, never half a line.

Why per batch and all-or-nothing: the worker writes the alerts of one spooled batch, then (periodically)
checkpoints the spool offset. If a write fails (disk full) the worker keeps the lines and retries, and does
not move past the batch; /healthz says so. A write that failed half-way is truncated back, and a torn last
line left by a crash (power loss, kill -9 in the middle of a write) is cut off when the file is opened and
counted: the batch that produced it was not checkpointed, so its alerts are produced again.

`AlertFile` is durable (fsync per batch) and can tell the receiver which lines were written after a
checkpoint, so a restart does not repeat them (see `AuditReceiver`); standard output and Python callables
are best effort (a restart may repeat the alerts of the last second).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from kubehipaa.server.spool import write_all


class AlertOutput(Protocol):
    def write(self, alerts: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        """Write every alert (`lines` are their JSON lines, newline included) or raise OSError with none
        (or only whole lines) written."""

    def position(self) -> dict[str, Any] | None:
        """Where the output stands (for a checkpoint), or None when it cannot tell."""

    def lines_after(self, position: dict[str, Any]) -> list[bytes] | None:
        """The lines written after `position` (a crash between writing alerts and checkpointing), or None
        when unknown (another file, rotated, truncated)."""

    def close(self) -> None: ...


class AlertFile:
    """Appends to a JSON-lines file: one write + fdatasync per batch, torn tail repaired at open."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self.repaired_bytes = self._repair()
        """Bytes of a torn last line removed when the file was opened (0 when it ended cleanly)."""
        self._size = os.fstat(self._fd).st_size
        self._failed = False

    def _repair(self) -> int:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        with open(self.path, "rb") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            end = size - 1
            while end > 0:  # find the last newline, reading backwards in blocks
                start = max(0, end - 65536)
                f.seek(start)
                block = f.read(end - start)
                i = block.rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                end = start
            else:
                keep = 0
        os.ftruncate(self._fd, keep)
        if self.fsync:
            os.fsync(self._fd)
        return size - keep

    def write(self, alerts: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        if not lines:
            return
        data = b"".join(lines)
        with self._lock:
            size = os.fstat(self._fd).st_size
            if self._failed and size > self._size:
                os.ftruncate(self._fd, self._size)  # a failed write left part of a line: remove it first
                size = self._size
            self._failed = False
            try:
                write_all(self._fd, data)
                if self.fsync:
                    os.fdatasync(self._fd)
            except OSError:
                self._failed = True
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
            self._size = size + len(data)

    def position(self) -> dict[str, Any] | None:
        st = os.fstat(self._fd)
        return {"path": str(self.path.resolve()), "dev": st.st_dev, "ino": st.st_ino, "size": self._size}

    def lines_after(self, position: dict[str, Any]) -> list[bytes] | None:
        st = os.fstat(self._fd)
        if (position.get("dev"), position.get("ino")) != (st.st_dev, st.st_ino):
            return None
        start = int(position.get("size", -1))
        if start < 0 or start > st.st_size:
            return None
        with open(self.path, "rb") as f:
            f.seek(start)
            return [line + b"\n" for line in f.read().split(b"\n") if line]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class StreamOutput:
    """Standard output (or any binary stream): flushed per batch, not durable, no restart de-duplication."""

    def __init__(self, stream: IO[bytes], *, owned: bool = False) -> None:
        self._stream = stream
        self._owned = owned
        self._lock = threading.Lock()

    def write(self, alerts: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        if lines:
            with self._lock:
                self._stream.write(b"".join(lines))
                self._stream.flush()

    def position(self) -> dict[str, Any] | None:
        return None

    def lines_after(self, position: dict[str, Any]) -> list[bytes] | None:
        return None

    def close(self) -> None:
        if self._owned:
            with contextlib.suppress(OSError):
                self._stream.close()


def open_alerts(path: Path) -> AlertOutput:
    """`AlertFile` for a regular file (created when missing); a FIFO or device (`/dev/stdout`, a log
    shipper's pipe) cannot be fsync'ed or truncated, so it is written as a stream. Opening a FIFO nobody
    reads fails at once (ENXIO) instead of blocking the start-up. Raises OSError."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return AlertFile(path)
    if stat.S_ISREG(mode):
        return AlertFile(path)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return StreamOutput(os.fdopen(fd, "ab"), owned=True)


class PartialWrite(OSError):
    """The first `written` alerts of a batch were delivered, the rest were not (`__cause__` says why)."""

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.written = written


class CallableOutput:
    """A Python callable per alert (tests, embedding). An exception is a failed write: the worker retries
    from the alert that failed."""

    def __init__(self, sink: Callable[[dict[str, Any]], None]) -> None:
        self._sink = sink

    def write(self, alerts: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        for i, alert in enumerate(alerts):
            try:
                self._sink(alert)
            except Exception as exc:
                raise PartialWrite(i, exc) from exc

    def position(self) -> dict[str, Any] | None:
        return None

    def lines_after(self, position: dict[str, Any]) -> list[bytes] | None:
        return None

    def close(self) -> None:
        pass
