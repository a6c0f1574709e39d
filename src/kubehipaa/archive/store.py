"""`archive add`: audit log files into the store, each file one ingest, appended to the chain.

Idempotence is per source file: a file whose SHA-256 (of its bytes as stored, compressed or not) is already
recorded by a segment entry is not read again. Two files that overlap (the same events in a rotated and a
re-exported copy) are both stored: per-event de-duplication would need an index of every auditID+stage
ever archived, and a row twice in the archive is visible (same auditID and stage) where a row missing is not.

Events are read by the project's one reader (`sources.auditlog`: plain, gzip, EventList, cloud exports);
malformed lines are counted with file:line there. An event without a usable timestamp cannot be placed in a
day partition (nor ever pruned): it is not stored, and reported by file and position (`event #N` of that
file, with its auditID), like a malformed line; the command then exits 2 with the rest stored.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubehipaa.archive import manifest
from kubehipaa.archive.rows import Row, to_row
from kubehipaa.archive.segments import Ingest, file_sha256, recover
from kubehipaa.errors import InputError
from kubehipaa.sources.auditlog import Malformed, ReadStats, expand_paths, iter_event_batches_with_raw

MAX_REPORTED = 1000
"""Events without a timestamp kept with their location (all are counted)."""


@dataclass(slots=True)
class AddResult:
    stats: ReadStats = field(default_factory=ReadStats)
    stored: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    """"FILE: already archived (…)" for each file skipped by idempotence."""
    untimed: int = 0
    untimed_samples: list[str] = field(default_factory=list)
    head: tuple[int, str] = (0, manifest.GENESIS)

    def add_untimed(self, where: str) -> None:
        self.untimed += 1
        if len(self.untimed_samples) < MAX_REPORTED:
            self.untimed_samples.append(where)


def known_sources(store: Path) -> dict[str, int]:
    """source sha256 → seq of the first segment entry that recorded it."""
    man = manifest.read(store)
    out: dict[str, int] = {}
    if man is None:
        return out
    for entry in man.entries():
        src = entry.get("source")
        if entry.get("kind") == manifest.SEGMENT and isinstance(src, dict) and isinstance(src.get("sha256"), str):
            out.setdefault(src["sha256"], entry.get("seq", 0))
    return out


def _stdin_copy() -> tuple[str, str]:
    """'-' is copied to a private temporary file first: its SHA-256 (idempotence) needs all of it, and the
    reader then reads that file. Returns (path, temporary directory)."""
    tmpdir = tempfile.mkdtemp(prefix="kubehipaa-archive-")
    path = os.path.join(tmpdir, "stdin")
    with open(path, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
    return path, tmpdir


def add_files(store: Path, paths: list[str], *, keep_phi: bool = False, signer: manifest.Signer | None = None,
              fsync: bool = True, jobs: int = 1) -> AddResult:
    """Ingest `paths` (files, directories, '-') into `store` under its lock; see the module docstring.
    `jobs` > 1 builds the rows (parsing and redaction, most of the work) in that many worker processes;
    reading, the segments and the manifest stay in this one, in the log's order: the store is the same."""
    if jobs > 1:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            return _add_files(store, paths, keep_phi, signer, fsync, pool, jobs)
    return _add_files(store, paths, keep_phi, signer, fsync, None, 1)


def _add_files(store: Path, paths: list[str], keep_phi: bool, signer: manifest.Signer | None, fsync: bool,
               pool: Executor | None, jobs: int) -> AddResult:
    result = AddResult()
    tmpdirs: list[str] = []
    files: list[tuple[str, str]] = []  # (path read, name recorded)
    for p in expand_paths(paths, result.stats.skipped):
        if p == "-":
            copy, tmpdir = _stdin_copy()
            tmpdirs.append(tmpdir)
            files.append((copy, "-"))
        else:
            files.append((p, p))
    try:
        with manifest.locked(store):
            seq, prev = manifest.tail(store, signer)
            recover_listed(store, fsync)
            known = known_sources(store)
            for path, name in files:
                try:
                    digest = file_sha256(Path(path))
                except OSError as exc:
                    raise InputError(f"cannot read: {exc.strerror or exc}", file=name) from None
                if digest in known:
                    result.duplicates.append(f"{name}: already archived (same SHA-256 as the source of manifest "
                                             f"entry seq {known[digest]}); not stored again")
                    continue
                ingest = Ingest(store, {"name": os.path.basename(name) if name != "-" else "-", "sha256": digest},
                                fsync=fsync)
                entries = _ingest_file(ingest, path, name, keep_phi, result, pool, jobs)
                if not entries:
                    continue
                data, seq, prev = manifest.chain(entries, seq, prev, signer)
                try:
                    manifest.append(store, data, fsync=fsync)
                except BaseException:
                    ingest.abort(entries)
                    raise
                ingest.publish(entries)
                known[digest] = entries[0]["seq"]
                result.segments.extend(entries)
            result.head = (seq, prev)
    finally:
        _rename_stdin(result.stats, {p: n for p, n in files if n == "-"})
        for d in tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    return result


def _rename_stdin(stats: ReadStats, copies: dict[str, str]) -> None:
    """Malformed lines of stdin are reported as `-:LINE`, not under the private copy's path."""
    if not copies:
        return
    stats.files = [copies.get(f, f) for f in stats.files]
    stats.malformed_samples = [Malformed(copies.get(m.file, m.file), m.line, m.message)
                               for m in stats.malformed_samples]


def recover_listed(store: Path, fsync: bool = True) -> list[str]:
    """Finish the publication of listed segments a crash left under their temporary names (under lock)."""
    man = manifest.read(store)
    return recover(store, list(man.entries()), fsync) if man is not None else []


def rows_of(raws: list[bytes | None], keep_phi: bool) -> list[Row | str]:
    """The rows of one batch, in order; an event that cannot be stored is the reason why (a str). Runs in a
    worker process with `--jobs` (a Row pickles as its values)."""
    out: list[Row | str] = []
    for raw in raws:
        try:
            out.append(to_row(raw if raw is not None else b"", keep_phi=keep_phi))
        except ValueError as exc:  # NoTimestamp included
            out.append(str(exc))
    return out


def _ingest_file(ingest: Ingest, path: str, name: str, keep_phi: bool, result: AddResult,
                 pool: Executor | None = None, jobs: int = 1) -> list[dict[str, Any]]:
    position = 0

    def store(events: list[Any], rows: list[Row | str]) -> None:
        nonlocal position
        for ev, row in zip(events, rows, strict=True):
            position += 1
            if isinstance(row, str):
                result.add_untimed(f"{name}: event #{position} (auditID {ev.auditID or '-'}): {row}; not archived")
            else:
                ingest.add(row)

    pending: deque[tuple[list[Any], Future[list[Row | str]]]] = deque()
    try:
        for events, raws in iter_event_batches_with_raw([path], result.stats):
            if pool is None:
                store(events, rows_of(raws, keep_phi))
                continue
            # rows are made in the workers, stored here in the order of the log: the same segments as --jobs 1
            pending.append((events, pool.submit(rows_of, raws, keep_phi)))
            while len(pending) > 2 * jobs:  # bounded: at most 2 batches per worker in flight
                done_events, future = pending.popleft()
                store(done_events, future.result())
        while pending:
            done_events, future = pending.popleft()
            store(done_events, future.result())
        entries = ingest.finish()
    except BaseException:
        ingest.abort()
        raise
    result.stored += sum(e["count"] for e in entries)
    return entries
