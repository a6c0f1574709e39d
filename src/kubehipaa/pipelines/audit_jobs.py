"""`audit analyze --jobs N`: the same analysis on N processes, with the same result as one.

How (engines/auditlog/split.py says why this split is exact): the logs are cut into pieces
(`sources.audit_pieces`: byte ranges of plain files at line boundaries, whole gzip files); N forked workers
each read pieces, run the per-event half of the detector and send back a compact `SplitPart`; the parent
takes the pieces in log order, merges what was read (files, lines, malformed lines with their file:line,
the --since/--until counts) and replays each part through the stateful half (`SplitMerger`), adding the
alerts to the collector in the order one process would have.

At most `IN_FLIGHT` x N pieces are in flight, so memory stays bounded whatever the log's length. Workers are forked
(the rules hold functions, which cannot be pickled, and the per-process hash seed of request signatures
must be the parent's). Not used, and the caller reads in one process, when an input is a stream (stdin),
when the logs make a single piece, or with Sigma rules (evaluated in one process with each event's line).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubehipaa.engines.auditlog import (
    RULES,
    AlertCollector,
    AuditEvent,
    Detector,
    DetectorConfig,
    Rule,
    SplitMerger,
    SplitPart,
    SplitWorker,
    TimeRange,
    splittable,
)
from kubehipaa.sources import audit_pieces
from kubehipaa.sources.audit_pieces import Piece, iter_piece_batches, plan
from kubehipaa.sources.auditlog import MAX_SAMPLES, Malformed, ReadStats

IN_FLIGHT = 4
"""Pieces submitted per worker ahead of the one the parent merges: the parent merges in log order, and on a
busy machine it is scheduled less often than its workers; with a deeper queue they keep working meanwhile
(each waiting result is a few MB)."""


def default_jobs() -> int:
    """The cores this process may run on (its CPU affinity, as `os.process_cpu_count` in Python 3.13)."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return max(1, counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(slots=True)
class _PieceResult:
    stats: ReadStats
    window: TimeRange
    part: SplitPart


_WORKER: tuple[SplitWorker, str | None, str | None] | None = None
"""The worker's detector and window bounds: set in the parent just before the pool forks."""


def _work(piece: Piece) -> _PieceResult:
    assert _WORKER is not None
    gc.disable()  # as in `run_analysis`: no reference cycles are made, the collector would only re-walk
    det, since, until = _WORKER
    stats = ReadStats()
    window = TimeRange(since, until)
    part = SplitPart()
    select, split = window.select, det.split
    for batch in iter_piece_batches(piece, stats):
        split(select(batch), part)
    part.finish()
    return _PieceResult(stats, window, part)


def run_parallel(paths: Sequence[str], jobs: int, *, rules: Sequence[Rule] | None, config: DetectorConfig | None,
                 collector: AlertCollector, stats: ReadStats, window: TimeRange,
                 piece_bytes: int | None = None,
                 prepare: Callable[[Detector], None] | None = None) -> tuple[TimeRange, SplitMerger] | None:
    """Analyze `paths` on `jobs` processes into `collector`/`stats`; the window's counts and the merged
    detector (for its stats). None, with nothing read, when the input cannot be split (see the module doc).
    `piece_bytes`: the size of a piece (default `audit_pieces.PIECE_BYTES`). `prepare` is called with the
    merger (the detector that keeps the windows) before anything is read: `--state` restores into it."""
    if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():  # (Windows: no fork)
        return None
    if not splittable(RULES if rules is None else rules):  # a stateful rule the merger cannot replay yet
        return None
    skipped: list[str] = []
    pieces = plan(paths, piece_bytes or audit_pieces.PIECE_BYTES, skipped)
    if pieces is None or len(pieces) < 2:
        return None
    stats.skipped.extend(skipped)
    since, until = window.since, window.until
    cache: dict[int, list[AuditEvent]] = {}

    def fetch(k: int, i: int) -> AuditEvent:
        """Event i of piece k, read again (a reused auditID: its `auditid` rules need the event)."""
        if k not in cache:
            cache.clear()
            rng = TimeRange(since, until)
            cache[k] = [ev for batch in iter_piece_batches(pieces[k], ReadStats()) for ev in rng.select(batch)]
        return cache[k][i]

    merger = SplitMerger(rules, config, fetch=fetch)
    if prepare is not None:
        prepare(merger)
    merged = TimeRange(since, until)
    global _WORKER
    _WORKER = (SplitWorker(rules, config), since, until)
    line_base: dict[str, int] = {}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(jobs, len(pieces))) as pool:
            queue = deque(pool.apply_async(_work, (p,)) for p in pieces[:IN_FLIGHT * jobs])
            submitted = len(queue)
            for k, piece in enumerate(pieces):
                result: _PieceResult = queue.popleft().get()
                if submitted < len(pieces):
                    queue.append(pool.apply_async(_work, (pieces[submitted],)))
                    submitted += 1
                _merge_read(stats, piece, result.stats, line_base)
                merged.merge(result.window)
                for a in merger.replay(result.part, k):
                    collector.add(a)
            for a in merger.flush():
                collector.add(a)
    finally:
        _WORKER = None
        if was_enabled:
            gc.enable()
    return merged, merger


def _merge_read(stats: ReadStats, piece: Piece, got: ReadStats, line_base: dict[str, int]) -> None:
    """Add a piece's reading counts to `stats`, its malformed lines renumbered from the start of the file."""
    if piece.first:
        stats.files.append(piece.path)
        line_base[piece.path] = 0
    base = line_base[piece.path]
    for m in got.malformed_samples:
        if len(stats.malformed_samples) >= MAX_SAMPLES:
            break
        stats.malformed_samples.append(Malformed(m.file, base + m.line, m.message))
    stats.malformed += got.malformed
    stats.lines += got.lines
    stats.events += got.events
    line_base[piece.path] = base + got.lines

