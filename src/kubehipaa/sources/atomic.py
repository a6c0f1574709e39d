"""Replace a file whole or not at all: the one implementation every writer of user-visible files uses.

Why one: reports (`-o`), the audit state file, generated keys and `fix`'s edits all promise that a crash, a
full disk or a concurrent reader never sees half a file, and that a key is never readable by others, not
even for a moment. A temporary file is created beside the target by `mkstemp` (mode 0600 from the start),
written, fsynced, given its final mode, and renamed over the target; a symlink is followed (its target is
replaced, the link stays a link).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask (a new file gets the mode `open()` would have given it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_file(path: Path, data: bytes, *, mode: int | None = None, sync_dir: bool = False) -> None:
    """Replace `path` by `data`. `mode`: the final mode (0600 for secrets); default: the existing file's mode,
    else what `open()` would give a new file. `sync_dir`: also fsync the directory, so the rename itself
    survives a crash. Raises OSError (the caller names the file in its own words); no temporary file is left."""
    target = Path(os.path.realpath(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        with contextlib.suppress(OSError):
            dfd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
