"""The webhook receiver's archive: events from the spool, batched into segments, flushed by size or time.

Why batch and not one segment per request: the API server posts a batch every second or so; a Parquet file
(and a manifest line) per request would leave 86,400 tiny files a day. Events are fed as the receiver's
worker reads them from its durable spool and written to the ingest's day segments (`segments.Ingest`:
row groups go to temporary files, memory stays bounded); a flush seals them and appends their entries to
the chain. Until then the spool keeps the batches: the receiver releases spool segments only up to the
position of the last flushed event (see `server.audit_webhook`), so an acknowledged event is in the spool
or in the archive, whatever happens.

Each flushed entry records where in the spool its events came from (`source.spool`: the spool's id, start
and end positions). After a crash between a flush and the next checkpoint, the receiver resumes archiving
after the furthest end recorded in the manifest for its spool, so a flush is not stored twice. (A spool
whose checkpoint was lost gets a new id: its replay may then store some events a second time — duplicates,
never gaps.)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubehipaa.archive import manifest
from kubehipaa.archive.rows import to_row
from kubehipaa.archive.segments import Ingest
from kubehipaa.archive.store import recover_listed

WEBHOOK_SOURCE = "webhook"


@dataclass(slots=True)
class LiveSettings:
    store: Path
    flush_s: float = 300.0
    """Flush at least this often while events are pending (the spool holds them until then)."""
    flush_events: int = 200_000
    keep_phi: bool = False
    signer: manifest.Signer | None = None
    fsync: bool = True


class LiveArchive:
    """Feed (raw event, spool end) pairs; `flush` when `due`. Used by one thread (the receiver's worker)."""

    def __init__(self, settings: LiveSettings, spool_id: str) -> None:
        self.settings = settings
        self.spool_id = spool_id
        self._ingest: Ingest | None = None
        self._hash = hashlib.sha256()
        self._start: list[int] | None = None
        self._end: list[int] | None = None
        self._since = 0.0
        self._entries: list[dict[str, Any]] | None = None
        self.pending = 0
        self.archived = 0
        self.skipped = 0
        """Events that could not be placed (no timestamp, not JSON): counted, logged by the caller."""
        settings.store.mkdir(parents=True, exist_ok=True)
        with manifest.locked(settings.store):
            manifest.tail(settings.store, settings.signer)  # a torn or differently signed store: refused now
            recover_listed(settings.store, settings.fsync)

    def recorded_end(self) -> tuple[int, int] | None:
        """The furthest spool position this spool's flushes recorded in the manifest (None: none)."""
        man = manifest.read(self.settings.store)
        best: tuple[int, int] | None = None
        if man is None:
            return None
        for entry in man.entries():
            src = entry.get("source")
            spool = src.get("spool") if isinstance(src, dict) else None
            if not isinstance(spool, dict) or spool.get("id") != self.spool_id:
                continue
            end = spool.get("end")
            if isinstance(end, list) and len(end) == 2 and all(isinstance(x, int) for x in end):
                pos = (end[0], end[1])
                best = pos if best is None or pos > best else best
        return best

    def feed(self, raws: list[bytes], start: tuple[int, int], end: tuple[int, int]) -> None:
        """The events of one spooled batch (their JSON), and where the batch lies in the spool."""
        if self._ingest is None:
            self._ingest = Ingest(self.settings.store, {}, fsync=self.settings.fsync)
            self._since = time.monotonic()
            self._start = list(start)
            self._hash = hashlib.sha256()
        self._end = list(end)
        for raw in raws:
            self._hash.update(raw)
            try:
                row = to_row(raw, keep_phi=self.settings.keep_phi)
            except ValueError:
                self.skipped += 1
                continue
            self._ingest.add(row)
            self.pending += 1

    @property
    def open(self) -> bool:
        """A batch was fed since the last flush (even one whose events were all skipped)."""
        return self._ingest is not None

    def due(self, now: float | None = None) -> bool:
        if self._ingest is None:
            return False
        if self.pending >= self.settings.flush_events:
            return True
        return (now if now is not None else time.monotonic()) - self._since >= self.settings.flush_s

    def flush(self) -> int:
        """Seal the pending segments and chain them into the manifest; the number of events archived.
        On an error the pending segments are kept for the next attempt (the spool still holds their events)."""
        ingest = self._ingest
        if ingest is None:
            return 0
        ingest.source = {"name": WEBHOOK_SOURCE, "sha256": self._hash.hexdigest(),
                         "spool": {"id": self.spool_id, "start": self._start, "end": self._end}}
        store = self.settings.store
        with manifest.locked(store):
            seq, prev = manifest.tail(store, self.settings.signer)  # a damaged manifest: nothing sealed, everything stays pending
            if self._entries is None:
                self._entries = ingest.finish()  # sealed once; a failed append retries with the same segments
            if self._entries:
                data, _, _ = manifest.chain(self._entries, seq, prev, self.settings.signer)
                manifest.append(store, data, fsync=self.settings.fsync)
                ingest.publish(self._entries)
        self._entries = None
        n = self.pending
        self.archived += n
        self.pending = 0
        self._ingest = None
        return n

    def abandon(self) -> None:
        """Remove unflushed segment files (their events stay in the spool and are fed again on restart)."""
        if self._ingest is not None:
            self._ingest.abort(self._entries or [])
            self._entries = None
            self._ingest = None
            self.pending = 0


def status(live: LiveArchive | None) -> dict[str, Any]:
    if live is None:
        return {}
    return {"pending": live.pending, "archived": live.archived, "skipped": live.skipped}
