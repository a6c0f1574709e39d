"""The `audit analyze --state FILE` file: what the detections learnt, kept between runs.

Why a file: first-seen rules (KH-AUDLOG-023) and baselines (KH-AUDLOG-026) learn what is normal; a daily
`audit analyze` that starts from nothing warms up again every day (an hour without first-seen alerts, every
identity's first minute unjudged) and forgets yesterday's normal. The file carries the detector's windows
(`Detector.snapshot()["windows"]`, the same state `audit serve` checkpoints) from one run to the next.

The format: one JSON object (readable with `jq`; it holds user names, source IPs, user agents and secret
names, never secret values or request bodies; written 0600):

    {"format": "kubehipaa-audit-state", "version": 1, "written": "2026-12-07T09:00:00Z",
     "detector": <Detector.snapshot() without per-request tables>}

Guarantees:
- versioned: a file of another format or version, or one that is not JSON, is refused with one line naming
  the file (`StateFileError`, exit 2), never silently replaced: learning may have taken weeks. Deleting the
  file is always safe: an absent file means "start learning", and the run says so.
- written atomically: a temporary file in the same directory, fsync'ed, renamed over the old one, then the
  directory fsync'ed, so a crash or a full disk leaves the old state or the new one, never a mix; the
  temporary file is removed on failure.
- bounded: reading refuses files over `MAX_STATE_BYTES`; what is written is bounded by the windows' own
  bounds (`DetectorConfig.max_keys` keys per rule).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import msgspec

from kubehipaa.errors import InputError
from kubehipaa.sources.atomic import replace_file

STATE_FORMAT = "kubehipaa-audit-state"
STATE_VERSION = 1
MAX_STATE_BYTES = 1 << 30
"""1 GiB: far above what max_keys allows in practice (a few hundred MB in the worst case), far below a mistake
such as `--state audit.log`."""
_FRESH_HINT = "delete it to start learning afresh"


class StateFileError(InputError):
    """The state file exists but cannot be used (unreadable, corrupt, another format or version), or the new
    one cannot be written. One line, naming the file; exit 2."""


def read_state(path: Path) -> dict[str, Any] | None:
    """The detector state saved in `path` (`Detector.snapshot()`'s layout), or None when there is no file."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read the state file: {exc.strerror or exc}") from None
    if path.is_dir():
        raise StateFileError(f"{path}: is a directory, not a state file")
    if size > MAX_STATE_BYTES:
        raise StateFileError(f"{path}: {size} bytes is larger than a state file can be ({MAX_STATE_BYTES}); "
                             f"is this the right file? ({_FRESH_HINT})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read the state file: {exc.strerror or exc}") from None
    try:
        doc = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):  # (nesting deeper than the decoder follows)
        raise StateFileError(f"{path}: not a kubehipaa audit state file (not JSON: corrupt or truncated); "
                             f"{_FRESH_HINT}") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if type(version) is int and version > STATE_VERSION:  # (said first: a newer writer may change the rest too)
        raise StateFileError(f"{path}: state file version {version} was written by a newer kubehipaa (this "
                             f"one reads version {STATE_VERSION}); upgrade, or {_FRESH_HINT}")
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise StateFileError(f"{path}: not a kubehipaa audit state file (no \"format\": \"{STATE_FORMAT}\"); "
                             f"{_FRESH_HINT}")
    if type(version) is not int or version != STATE_VERSION:  # (`true == 1` in Python: not a version)
        raise StateFileError(f"{path}: unsupported state file version {version!r} (this kubehipaa reads "
                             f"version {STATE_VERSION}); {_FRESH_HINT}")
    detector = doc.get("detector")
    if not isinstance(detector, dict) or not isinstance(detector.get("windows"), dict):
        raise StateFileError(f"{path}: state file without detector windows (corrupt); {_FRESH_HINT}")
    return detector


def check_writable(path: Path) -> None:
    """Before a run: fail at once (not after an hour of analysis) when the state cannot be written there."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise StateFileError(f"{path}: is a directory, not a state file")
    if not parent.is_dir():
        raise StateFileError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StateFileError(f"{path}: cannot write to directory {parent} (permission denied)")


def write_state(path: Path, detector: dict[str, Any], *, fsync: bool = True) -> int:
    """Replace `path` with `detector` (a `Detector.snapshot()`) atomically; returns the bytes written."""
    doc = {"format": STATE_FORMAT, "version": STATE_VERSION,
           "written": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "detector": detector}
    data = msgspec.json.encode(doc)
    try:
        replace_file(path, data, mode=0o600, sync_dir=fsync)
    except OSError as exc:
        raise StateFileError(f"{path}: cannot write the state file: {exc.strerror or exc} (the previous state, "
                             f"if any, is unchanged)") from None
    return len(data)
