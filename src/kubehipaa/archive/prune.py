"""`archive prune`: remove whole day partitions past retention, and record the removal in the chain.

HIPAA 164.316(b)(2)(i) asks for six years of retention of the documentation of security activity: the
default is 2190 days (6 x 365). A day partition `day=D` goes when every event it can hold is older than the
retention, i.e. D + 1 day <= now - retention: `D < cutoff` with `cutoff = (now - retention).date()`.

Order of operations, for crash safety: the prune entry (cutoff, retention, and every removed segment's
seq, path, SHA-256 and count) is appended to the chain first, then the files are deleted. A crash in between
leaves segments the chain says are gone: `verify` reports them (`pruned-present`) and a second prune
deletes them. The other order would leave segments gone with nothing saying why (`deleted-segment`).
Before anything is removed, each segment's bytes are checked against the manifest: pruning a modified
segment would destroy the evidence of the modification, so prune refuses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubehipaa.archive import manifest
from kubehipaa.archive.manifest import PRUNE, SEGMENT, Signer
from kubehipaa.archive.schema import EVENTS_DIR, MANIFEST
from kubehipaa.archive.segments import now_iso
from kubehipaa.archive.store import recover_listed
from kubehipaa.errors import InputError, KubehipaaError

DEFAULT_RETENTION_DAYS = 2190
"""Six years of 365 days: 164.316(b)(2)(i)."""

_AGE = re.compile(r"^\s*(\d{1,6})\s*([dy]?)\s*$", re.IGNORECASE)


def parse_age(text: str) -> int:
    """`6y` (6 x 365 days), `2190d` or `2190` → days. Raises KubehipaaError."""
    m = _AGE.match(text)
    if m is None:
        raise KubehipaaError(f"--older-than {text!r}: give days or years, e.g. 2190d or 6y")
    n = int(m.group(1)) * (365 if m.group(2).lower() == "y" else 1)
    if n < 1:
        raise KubehipaaError(f"--older-than {text!r}: at least one day")
    return n


class ModifiedSegment(KubehipaaError):
    """A segment to prune does not match its manifest entry."""


@dataclass(slots=True)
class PruneResult:
    cutoff: str
    days: int
    removed: list[dict[str, Any]] = field(default_factory=list)
    """{seq, path, sha256, count, day} of each segment removed (or that would be, with dry_run)."""
    cleaned: list[str] = field(default_factory=list)
    """Files a previous, interrupted prune had recorded but not deleted."""
    entry_seq: int | None = None
    head: tuple[int, str] = (0, manifest.GENESIS)

    @property
    def events(self) -> int:
        return sum(int(r["count"]) for r in self.removed)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def prune(store: Path, days: int = DEFAULT_RETENTION_DAYS, *, dry_run: bool = False, signer: Signer | None = None,
          now: dt.datetime | None = None, fsync: bool = True) -> PruneResult:
    """Remove the day partitions of `store` older than `days`; see the module docstring."""
    moment = now or dt.datetime.now(dt.UTC)
    cutoff = (moment - dt.timedelta(days=days)).strftime("%Y-%m-%d")
    result = PruneResult(cutoff, days)
    if not (store / MANIFEST).is_file():
        raise InputError(f"no {MANIFEST}: not an archive", file=str(store))
    with manifest.locked(store):
        seq, prev = manifest.tail(store, signer, check_signing=not dry_run)
        if not dry_run:
            recover_listed(store, fsync)
        man = manifest.read(store)
        assert man is not None
        pruned: set[int] = set()
        for entry in man.entries():
            if entry.get("kind") == PRUNE:
                for item in entry.get("removed") or []:
                    if isinstance(item, dict) and isinstance(item.get("seq"), int):
                        pruned.add(item["seq"])
        for entry in man.entries():
            if entry.get("kind") != SEGMENT or not isinstance(entry.get("seq"), int):
                continue
            rel, day = entry.get("path"), entry.get("day")
            if not isinstance(rel, str) or not rel.startswith(EVENTS_DIR + "/") or ".." in rel.split("/"):
                continue
            path = store / rel
            if entry["seq"] in pruned:
                if path.exists():
                    result.cleaned.append(rel)
                continue
            if not isinstance(day, str) or not day < cutoff:
                continue
            if not path.exists():
                raise ModifiedSegment(f"{rel} (seq {entry['seq']}) is missing: run `kubehipaa audit archive "
                                      "verify`; prune does not record a removal it did not make")
            if _sha256(path) != entry.get("sha256"):
                raise ModifiedSegment(f"{rel} (seq {entry['seq']}) does not match its manifest entry: run "
                                      "`kubehipaa audit archive verify`; pruning it would destroy the evidence")
            result.removed.append({"seq": entry["seq"], "path": rel, "sha256": entry["sha256"],
                                   "count": count if isinstance(count := entry.get("count"), int) else 0,
                                   "day": day})
        if dry_run:
            result.head = (seq, prev)
            return result
        if result.removed:
            record = {"kind": PRUNE, "cutoff": cutoff, "older_than_days": days, "created": now_iso(),
                      "segments": len(result.removed), "events": result.events, "removed": result.removed}
            data, seq, prev = manifest.chain([record], seq, prev, signer)
            manifest.append(store, data, fsync=fsync)
            result.entry_seq = seq
        for rel in [r["path"] for r in result.removed] + result.cleaned:
            path = store / rel
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the day partition, once empty
        if fsync and (result.removed or result.cleaned) and (store / EVENTS_DIR).is_dir():
            manifest.fsync_dir(store / EVENTS_DIR)
        result.head = (seq, prev)
    return result
