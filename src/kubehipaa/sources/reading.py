"""Reading inputs within bounds: regular files only (and the streams the user names), never past a cap.

Why one module: every reader of the tool (manifests, audit logs, control-plane files, Sigma rules, the
config) met the same hazards. A FIFO named `*.yaml` blocks `open()` forever; `/dev/zero` never ends; a
directory that cannot be listed was skipped in silence by `os.walk`, so an unreadable folder of manifests
scanned as "0 findings". Here:

- a *walk* yields regular files (and symlinks to them); a FIFO, socket or device found in a directory is
  skipped with one line naming it (`Refused`, not lost), and a directory that cannot be listed is a
  `Refused` that is lost (the caller fails the run with exit 2 after the results);
- a path given *explicitly* must be a regular file or directory, except the names of an already open
  descriptor (`/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`: what `<(cmd)` process substitution gives),
  which are read as a stream like `-`; anything else (`/dev/zero`, a FIFO made with mkfifo) is refused;
- files are opened with O_NONBLOCK and checked with `fstat` on the open descriptor, so a file swapped for a
  FIFO after the walk still cannot block, and read at most cap + 1 bytes (`TooLarge` past the cap).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NamedTuple

from kubehipaa.sources.limits import file_cap_hint, format_size


class ReadRefused(Exception):
    """A path that was not read; `reason` is the one line to show (never any content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotRegular(ReadRefused):
    """Not a regular file: a FIFO, socket or device (or a directory where a file was expected)."""


class TooLarge(ReadRefused):
    """More bytes than the cap allows."""


class Refused(NamedTuple):
    """An entry of a walk that is not read: `lost` when it may hold input (a directory that cannot be listed),
    not lost when it cannot hold any (a FIFO, socket or device)."""

    path: Path
    reason: str
    lost: bool


_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_STREAM_PATH = re.compile(r"/dev/stdin|/dev/fd/[0-9]+|/proc/(?:self|[0-9]+)/fd/[0-9]+")


def describe(mode: int) -> str | None:
    """What a file of this mode is, said for a message; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_file(path: str | os.PathLike[str]) -> bool:
    """`Path.is_file()` that answers False where Python 3.11's raises (PermissionError for a path inside a
    directory that may not be searched: such a directory is reported by the walk, not a crash)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_dir(path: str | os.PathLike[str]) -> bool:
    """`Path.is_dir()` that answers False instead of raising (see `is_file`)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_stream_path(raw: str) -> bool:
    """Does `raw` name an already open descriptor (`/dev/stdin`, `/dev/fd/63` from `<(cmd)`)? Such a path is
    read as a stream, within the caps, like `-`: the user opened it on purpose."""
    return _STREAM_PATH.fullmatch(os.path.normpath(raw)) is not None


def not_regular_message(what: str) -> str:
    return f"is {what}, not a regular file"


STREAM_HINT = " (to read a stream, pipe it in and give '-', or use process substitution <(command))"
"""Said after `not_regular_message` by the readers that take a stream (manifests, audit logs)."""


def explicit_kind(raw: str) -> str:
    """How to read a path the user gave: "dir", "file" or "stream". Raises FileNotFoundError when it does not
    exist, NotRegular for a FIFO, socket or device that is not a stream path."""
    if is_stream_path(raw):
        os.stat(raw)  # FileNotFoundError for a descriptor that is not open
        return "stream"
    st = os.stat(raw)
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    what = describe(st.st_mode)
    if what is not None:
        raise NotRegular(not_regular_message(what))
    return "file"


def read_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file, at most `limit` of them.

    Raises NotRegular (a FIFO, device, socket or directory: checked on the open descriptor, which O_NONBLOCK
    keeps from blocking on a FIFO), TooLarge, or OSError (cannot open or read). Plain `os.read` calls on the
    descriptor: one for the whole file (its size + 1, which also sees the end), no file object around it.
    """
    fd = os.open(path, _O_FLAGS)
    try:
        st = os.fstat(fd)
        what = describe(st.st_mode)
        if what is not None:
            raise NotRegular(not_regular_message(what))
        if st.st_size > limit:
            raise TooLarge(too_large_message(limit))
        parts: list[bytes] = []
        total = 0
        want = min(st.st_size, limit) + 1
        while True:
            data = os.read(fd, want)
            if not data:
                break
            parts.append(data)
            total += len(data)
            if total > limit:  # it grew since fstat
                raise TooLarge(too_large_message(limit))
            want = min(1 << 20, limit + 1 - total)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def read_capped(fh: IO[bytes], limit: int, first: int = 1 << 20) -> bytes:
    """Read `fh` to its end, never more than `limit` + 1 bytes (TooLarge past `limit`).

    `first` is the size of the first read (a regular file's size + 1 reads it in one go and sees its end);
    the rest comes in 1 MiB pieces, so a stream that never ends costs at most `limit` bytes.
    """
    parts: list[bytes] = []
    total = 0
    want = min(first, limit + 1)
    while True:
        data = fh.read(want)
        if not data:
            break
        parts.append(data)
        total += len(data)
        if total > limit:
            raise TooLarge(too_large_message(limit))
        want = min(1 << 20, limit + 1 - total)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_text_capped(fh: IO[str], limit: int) -> str:
    """`read_capped` for a text stream (a test's `io.StringIO` standing in for stdin); the cap counts
    characters."""
    parts: list[str] = []
    total = 0
    while True:
        data = fh.read(min(1 << 20, limit + 1 - total))
        if not data:
            return "".join(parts)
        parts.append(data)
        total += len(data)
        if total > limit:
            raise TooLarge(too_large_message(limit))


def read_path(raw: str, limit: int) -> bytes:
    """A path the user gave: a regular file, or a stream path read as a stream; within `limit`."""
    if is_stream_path(raw):
        with open(raw, "rb") as fh:
            return read_capped(fh, limit)
    return read_file(raw, limit)


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """A regular file opened for streaming (the audit reader); NotRegular otherwise, never blocking."""
    fd = os.open(path, _O_FLAGS)
    try:
        what = describe(os.fstat(fd).st_mode)
        if what is not None:
            raise NotRegular(not_regular_message(what))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_large_message(limit: int) -> str:
    return f"larger than {format_size(limit)} ({file_cap_hint()})"


def entry_kind(entry: os.DirEntry[str]) -> str | None:
    """"dir", None for a regular file (or a symlink to one, or an entry whose type cannot be told: its
    reader says what is wrong with it, e.g. a broken symlink), else what it is (`describe`)."""
    try:
        if entry.is_dir():
            return "dir"
        if entry.is_file():
            return None
        return describe(entry.stat().st_mode)
    except OSError:
        return None


def walk(root: Path, accept: Callable[[str], bool], unit_dir: Callable[[Path], bool] | None = None,
         ) -> Iterator[Path | Refused]:
    """The files under `root` whose name `accept`s, sorted, depth first as `os.walk` visits them (a
    directory's files before its subdirectories); names starting with "." are skipped, as are symlinked
    directories (a link loop cannot recurse). A directory for which `unit_dir` is true is yielded itself
    (before the files beside it) and not entered. An explicit stack, so deep trees cannot exhaust Python's.
    """
    stack = [root]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=_name)
        except OSError as exc:
            yield Refused(here, f"cannot read directory: {exc.strerror or exc}; the files in it were not read",
                          True)
            continue
        units: list[Path] = []
        files: list[Path | Refused] = []
        subdirs: list[Path] = []
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            try:
                is_dir = entry.is_dir()  # the entry's type from the directory listing: no system call
            except OSError:
                is_dir = False
            if is_dir:
                path = here / name
                if unit_dir is not None and unit_dir(path):
                    units.append(path)
                elif not entry.is_symlink():
                    subdirs.append(path)
            elif accept(name):
                kind = entry_kind(entry)
                files.append(here / name if kind is None else
                             Refused(here / name, f"is {kind}, not a regular file; skipped", False))
        yield from units
        yield from files
        stack.extend(reversed(subdirs))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name
