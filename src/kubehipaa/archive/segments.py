"""Writing segments: the rows of one ingest, one Parquet file (zstd) per UTC day, and their manifest entries.

Why one segment per (ingest, day): a segment is the unit the manifest hashes and `prune` removes, so it must
lie inside one day partition; and a whole ingest per day keeps files large (Parquet readers pay per file),
where one file per webhook request or per log line would leave millions of tiny files over six years.

A segment is written to a hidden temporary file beside its final place (`.<name>.tmp`: the readers' globs
`**/*.parquet` skip it), fsync'ed and hashed; its manifest entry is appended; only then is it renamed into
place (`publish`). So a query never reads a segment the manifest does not list (a crash before the append
leaves only a hidden temporary file, which `verify` mentions), and a crash between the append and the
rename leaves a listed segment under its temporary name, which the next `add`, `prune` or `serve --archive`
renames (`recover`) and `verify` meanwhile reports as `unfinished-segment`.
Memory stays bounded: rows are written as a row group every `ROW_GROUP` rows per day, and at most
`MAX_OPEN_DAYS` days are open at once (about 32 MB of rows each at 1 KB per event) (a log spread over more days seals the least recently used one and
starts a further part for that day if it comes back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kubehipaa.archive.manifest import SEGMENT, fsync_dir
from kubehipaa.archive.rows import Row
from kubehipaa.archive.schema import COMPRESSION, EVENT_SCHEMA, EVENTS_DIR, LAYOUT_VERSION, PARTITION_KEY

ROW_GROUP = 32_768
MAX_OPEN_DAYS = 8
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_us(us: int) -> str:
    """µs since the epoch → `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    d = _EPOCH + dt.timedelta(microseconds=us)
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond:06d}Z"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_ingest_id(now: dt.datetime | None = None) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def partition_dir(day: str) -> str:
    return f"{EVENTS_DIR}/{PARTITION_KEY}={day}"


@dataclass(slots=True)
class _DaySegment:
    day: str
    rel: str
    final: Path
    tmp: Path
    writer: pq.ParquetWriter | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    count: int = 0
    first: int = 0
    last: int = 0

    def add(self, row: Row) -> None:
        if not self.count and not self.rows:
            self.first = self.last = row.ts
        elif row.ts < self.first:
            self.first = row.ts
        elif row.ts > self.last:
            self.last = row.ts
        self.rows.append(row.values)
        if len(self.rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        # column by column (`zip(*rows)` would pass 32,768 arguments and build tuples of them)
        table = pa.Table.from_arrays(
            [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(EVENT_SCHEMA)],
            schema=EVENT_SCHEMA)
        if self.writer is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, EVENT_SCHEMA, compression=COMPRESSION)
        self.writer.write_table(table)
        self.count += table.num_rows

    def seal(self, fsync: bool) -> dict[str, Any] | None:
        """Close, fsync and hash; the segment's entry (without seq/prev/created). Still under its temporary
        name: `Ingest.publish` renames it once the entry is in the manifest."""
        self.flush()
        if self.writer is None:
            return None
        self.writer.close()
        self.writer = None
        h = hashlib.sha256()
        size = 0
        with open(self.tmp, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                size += len(block)
            if fsync:
                os.fsync(fh.fileno())
        return {"kind": SEGMENT, "path": self.rel, "day": self.day, "sha256": h.hexdigest(), "bytes": size,
                "count": self.count, "first": iso_us(self.first), "last": iso_us(self.last)}

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.rows = []
        self.tmp.unlink(missing_ok=True)


class Ingest:
    """The segments of one ingest (one source file, or one flush of the webhook receiver)."""

    def __init__(self, store: Path, source: dict[str, Any], *, fsync: bool = True) -> None:
        self.store = store
        self.source = source
        self.fsync = fsync
        self.id = new_ingest_id()
        self.events = 0
        self._open: OrderedDict[str, _DaySegment] = OrderedDict()
        self._parts: dict[str, int] = {}
        self._sealed: list[dict[str, Any]] = []

    def add(self, row: Row) -> None:
        seg = self._open.get(row.day)
        if seg is None:
            seg = self._start(row.day)
        else:
            self._open.move_to_end(row.day)
        seg.add(row)
        self.events += 1

    def _start(self, day: str) -> _DaySegment:
        if len(self._open) >= MAX_OPEN_DAYS:
            _, oldest = self._open.popitem(last=False)
            self._seal(oldest)
        part = self._parts.get(day, 0)
        self._parts[day] = part + 1
        name = self.id if not part else f"{self.id}-{part}"
        rel = f"{partition_dir(day)}/{name}.parquet"
        final = self.store / rel
        seg = _DaySegment(day, rel, final, temp_path(final))
        self._open[day] = seg
        return seg

    def _seal(self, seg: _DaySegment) -> None:
        entry = seg.seal(self.fsync)
        if entry is not None:
            self._sealed.append(entry)

    def finish(self) -> list[dict[str, Any]]:
        """Seal every segment; their manifest entries (ordered by day), ready for `manifest.chain`."""
        while self._open:
            _, seg = self._open.popitem(last=False)
            self._seal(seg)
        created = now_iso()
        out = []
        for entry in sorted(self._sealed, key=lambda e: (e["day"], e["path"])):
            entry.update({"source": self.source, "ingest": self.id, "layout": LAYOUT_VERSION, "created": created})
            out.append(entry)
        self._sealed = []
        return out

    def publish(self, entries: list[dict[str, Any]]) -> None:
        """Rename sealed segments into place, once their entries are in the manifest."""
        publish(self.store, entries, self.fsync)

    def abort(self, entries: Sequence[dict[str, Any]] = ()) -> None:
        """Remove what this ingest wrote (open, sealed, and the finished `entries` not yet in the manifest)."""
        for seg in self._open.values():
            seg.discard()
        self._open.clear()
        for entry in [*self._sealed, *entries]:
            temp_path(self.store / entry["path"]).unlink(missing_ok=True)
        self._sealed = []


def temp_path(final: Path) -> Path:
    """Where a segment is written before it is published: hidden, beside its final place."""
    return final.parent / f".{final.name}.tmp"


def publish(store: Path, entries: list[dict[str, Any]], fsync: bool = True) -> None:
    dirs = set()
    for entry in entries:
        final = store / entry["path"]
        os.replace(temp_path(final), final)
        dirs.add(final.parent)
    if fsync:
        for d in dirs:
            fsync_dir(d)


def recover(store: Path, entries: list[dict[str, Any]], fsync: bool = True) -> list[str]:
    """Publish listed segments a crash left under their temporary name (hash checked); call under the
    store's lock. Unlisted temporary files are left alone: they may be an ingest in progress elsewhere."""
    done = []
    for entry in entries:
        rel = entry.get("path")
        if entry.get("kind") != SEGMENT or not isinstance(rel, str) or ".." in rel.split("/"):
            continue
        final = store / rel
        tmp = temp_path(final)
        if final.exists() or not tmp.exists() or file_sha256(tmp) != entry.get("sha256"):
            continue
        os.replace(tmp, final)
        if fsync:
            fsync_dir(final.parent)
        done.append(rel)
    return done
