"""The receiver's checkpoint: spool offset + detector state + alerts-file position, replaced atomically.

Why one file: the offset and the state must describe the same moment, or a restart either processes a batch
twice against state that already counted it (a burst alerted twice) or skips it. The file is msgpack (no
pickle: loading it never runs code), written to a temporary name, fsync'ed, renamed over the old one, and
the directory fsync'ed, so a crash leaves the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import msgspec

from kubehipaa.server.spool import write_all

CHECKPOINT_VERSION = 1
NAME = "checkpoint"


class CheckpointError(Exception):
    """The checkpoint exists but cannot be used (corrupt, another version)."""


def read(directory: Path) -> dict[str, Any] | None:
    path = directory / NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        raise CheckpointError(f"{path}: not a checkpoint (corrupt)") from None
    if not isinstance(doc, dict) or doc.get("version") != CHECKPOINT_VERSION:
        version = doc.get("version") if isinstance(doc, dict) else None
        raise CheckpointError(f"{path}: checkpoint version {version!r}, expected {CHECKPOINT_VERSION}")
    return doc


def write(directory: Path, doc: dict[str, Any], *, fsync: bool = True) -> int:
    """Replace the checkpoint with `doc` (the version is added); returns its size in bytes."""
    data = msgspec.msgpack.encode({**doc, "version": CHECKPOINT_VERSION})
    tmp = directory / (NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / NAME)
    if fsync:
        dfd = os.open(directory, os.O_RDONLY)
        with contextlib.suppress(OSError):
            os.fsync(dfd)
        os.close(dfd)
    return len(data)
