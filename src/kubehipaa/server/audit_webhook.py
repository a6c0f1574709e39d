"""The API server's audit webhook backend: acknowledge a batch only once it is on disk, detect from the disk.

Why this shape: the API server's webhook backend (batch mode) sends each batch in its own goroutine and
retries any failed answer with backoff (10 s, then x1.5, five attempts; any non-2xx or connection error
counts), then drops the batch. So an answer of 200 is the moment responsibility for the events moves to
this process, and it must mean "kept":

- The handler reads the body within a deadline and a size cap, validates it whole (400 when it is not an
  `EventList` of audit Events, 413 when too large, so nothing half-processed is acknowledged), appends it
  to the durable spool (`spool.py`: fsync before the answer, concurrent requests share one fsync) and only
  then answers 200. When the spool is full the answer is 429, when the disk fails or too many bodies are
  in memory 503, both with `Retry-After`: the API server keeps the batch and retries, nothing is dropped.
- One worker thread reads batches back from the spool (one at a time: memory does not grow with the
  backlog), runs the audit core's streaming `Detector` (and, optionally, Sigma rules) and writes alerts
  as whole JSON lines (`alerts_out.py`). If alerts cannot be written it retries and does not move on.
- Periodically (and at shutdown) the worker checkpoints the spool offset, the detector's state (windows,
  first-seen tables, de-duplication tables, held events) and the alerts file's size in one atomic file
  (`checkpoint.py`). After a crash the batches since the checkpoint are processed again from the same
  state, giving the same alerts; those already in the alerts file (written after the checkpoint, before
  the crash) are recognised line for line and not written twice. So with `--alerts-out FILE` every
  acknowledged event is processed and each alert is written once; with stdout or a Python callable, the
  alerts of the last checkpoint interval (about a second) may be repeated after a crash (at-least-once).
- Shutdown drains the spool until a deadline, checkpoints, and logs exactly how many events remain
  spooled (processed at the next start).

Metrics live in their own prometheus-client registry (several apps in one process, e.g. tests, must not
collide in the global one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter as Multiset
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.requests import ClientDisconnect

from kubehipaa.engines.auditlog import AuditEvent, Detector, DetectorConfig, keyed_request_signature
from kubehipaa.errors import InputError
from kubehipaa.server import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_SPOOL_HIGH_WATER,
    DEFAULT_SPOOL_MAX_BYTES,
)
from kubehipaa.server import checkpoint as ckpt
from kubehipaa.server.alerts_out import AlertFile, AlertOutput, CallableOutput, StreamOutput
from kubehipaa.server.http import ConnectionLimits
from kubehipaa.server.spool import Position, Record, Spool, SpoolClosed, SpoolFull
from kubehipaa.sources.eventlist import decode_event_list_raw

log = logging.getLogger("kubehipaa.audit_webhook")

WEBHOOK_PATH = "/audit"

AlertSink = Callable[[dict[str, Any]], None]
JsonLinesSink = StreamOutput
"""Alerts as JSON lines on a binary stream (kept name; `AlertFile` is the durable one)."""


@dataclass(slots=True)
class WebhookSettings:
    """How the receiver behaves; every field has a safe default."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    detector_config: DetectorConfig | None = None
    sigma: Any = None
    """An optional `SigmaRuleSet` (`kubehipaa.engines.auditlog`) run on every event the detector evaluates."""
    flush_idle_s: float = 5.0
    """After this long without batches, evaluate RequestReceived events still waiting for a later stage."""
    spool_dir: Path | None = None
    """Where accepted batches and the checkpoint live. None: a private temporary directory, removed on
    stop, so nothing survives a restart (tests, embedding); the CLI always gives a directory."""
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    spool_high_water: float = DEFAULT_SPOOL_HIGH_WATER
    spool_segment_bytes: int | None = None
    fsync: bool = True
    """fsync spooled batches before answering, alerts per batch, checkpoints. Off only for tests."""
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    checkpoint_interval_s: float = 1.0
    """At least this long between checkpoints (longer when a snapshot is slow: at most 5% of the time)."""
    retry_after_s: int = 5
    archive: Any = None
    """An optional `kubehipaa.archive.live.LiveSettings` (`audit serve --archive`): every accepted event is
    also archived, in segments flushed by size and time; the spool keeps each batch until it is archived."""


class WebhookMetrics:
    """The Prometheus series of one receiver."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches = Counter("kubehipaa_audit_batches_received", "EventList batches accepted (spooled, 200)",
                               registry=r)
        self.events = Counter("kubehipaa_audit_events_received", "Audit events in accepted batches", registry=r)
        self.processed = Counter("kubehipaa_audit_events_processed", "Audit events run through the detector",
                                 registry=r)
        self.malformed = Counter("kubehipaa_audit_batches_malformed", "Batches rejected with 400 or 413",
                                 ["reason"], registry=r)
        self.refused = Counter("kubehipaa_audit_batches_refused",
                               "Valid batches answered 429/503 (the API server retries them)", ["reason"],
                               registry=r)
        self.aborted = Counter("kubehipaa_audit_requests_aborted",
                               "Requests whose body did not arrive (deadline, client disconnected)", ["reason"],
                               registry=r)
        self.connections_closed = Counter("kubehipaa_audit_connections_closed",
                                          "Connections closed by the server's limits", ["reason"], registry=r)
        self.alerts = Counter("kubehipaa_audit_alerts", "Alerts written, by rule", ["rule_id", "severity"],
                              registry=r)
        self.suppressed = Counter("kubehipaa_audit_alerts_replay_suppressed",
                                  "Alerts produced again after a restart and not written twice", registry=r)
        self.spool_bytes = Gauge("kubehipaa_audit_spool_bytes", "Bytes in the spool's segment files", registry=r)
        self.spool_events = Gauge("kubehipaa_audit_spool_events", "Accepted events not yet processed", registry=r)
        self.inflight_bytes = Gauge("kubehipaa_audit_inflight_bytes", "Request bodies held in memory",
                                    registry=r)
        self.worker_errors = Counter("kubehipaa_audit_worker_errors", "Batches the worker failed on", registry=r)
        self.sink_errors = Counter("kubehipaa_audit_alert_write_errors",
                                   "Failed attempts to write alerts (retried)", registry=r)
        self.checkpoints = Counter("kubehipaa_audit_checkpoints", "Checkpoints written", registry=r)
        self.checkpoint_errors = Counter("kubehipaa_audit_checkpoint_errors", "Checkpoints that failed",
                                         registry=r)
        self.repaired = Counter("kubehipaa_audit_torn_bytes_repaired",
                                "Bytes of a torn tail (left by a crash) cut off at start", ["file"], registry=r)


class _GiveUp(Exception):
    """Shutdown deadline reached while alerts could not be written."""


@dataclass(slots=True)
class _Reservation:
    """Request-body bytes held in memory, counted against `max_inflight_bytes` (event-loop thread only)."""

    receiver: AuditReceiver
    held: int = 0

    def grow(self, n: int) -> bool:
        rec = self.receiver
        if rec.inflight - self.held > 0 and rec.inflight + n > rec.settings.max_inflight_bytes:
            return False  # (a body alone is always allowed: the cap bounds bodies held *together*)
        rec.inflight += n
        self.held += n
        rec.metrics.inflight_bytes.set(rec.inflight)
        return True

    def release(self) -> None:
        self.receiver.inflight -= self.held
        self.held = 0
        self.receiver.metrics.inflight_bytes.set(self.receiver.inflight)


class AuditReceiver:
    """Spool + worker thread + detector; the FastAPI app is a thin shell around it.

    The spool is opened (and its writer started) at construction, so a receiver accepts batches at once;
    `start()` starts the detection worker, `stop()` drains and checkpoints.
    """

    def __init__(self, settings: WebhookSettings | None = None, sink: AlertSink | AlertOutput | None = None,
                 ) -> None:
        self.settings = s = settings or WebhookSettings()
        self.metrics = WebhookMetrics()
        if sink is None:
            self.output: AlertOutput = CallableOutput(lambda alert: None)
        elif hasattr(sink, "write") and hasattr(sink, "lines_after"):
            self.output = sink  # type: ignore[assignment]
        else:
            self.output = CallableOutput(sink)  # type: ignore[arg-type]
        if isinstance(self.output, AlertFile) and self.output.repaired_bytes:
            self.metrics.repaired.labels("alerts").inc(self.output.repaired_bytes)
            log.warning("%s: removed a torn last line (%d bytes) left by an interrupted write; its alerts are "
                        "written again when the batch is replayed", self.output.path, self.output.repaired_bytes)
        self._tmpdir: str | None = None
        self._archive: Any = None
        self._archive_failing = False
        self._last_archive_log = -1e9
        if s.spool_dir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="kubehipaa-spool-")
            spool_dir = Path(self._tmpdir)
        else:
            spool_dir = s.spool_dir
        self.spool = Spool(spool_dir, s.spool_max_bytes, segment_bytes=s.spool_segment_bytes, fsync=s.fsync)
        if self.spool.repaired_bytes:
            self.metrics.repaired.labels("spool").inc(self.spool.repaired_bytes)
            log.warning("%s: cut off a torn last record (%d bytes, never acknowledged) left by a crash",
                        spool_dir, self.spool.repaired_bytes)
        try:
            self._restore()
        except BaseException:  # e.g. an --archive store that cannot be appended to: release the spool's lock
            self.spool.close(timeout=0.1)
            raise
        self._sigma_view: Any = None
        if s.sigma is not None:  # (imported only then: pySigma costs ~0.6 s of start-up)
            from kubehipaa.engines.auditlog import RawEventView, with_sigma

            self._sigma_view = RawEventView()  # Sigma sees each event as posted (every field)
            with_sigma(self.detector, s.sigma, to_dict=self._sigma_view)
        self.spool.start()
        self.inflight = 0
        self._thread: threading.Thread | None = None
        self._stop_deadline: float | None = None
        self._ckpt_lock = threading.Lock()
        self._frozen = False
        self._poisoned = False
        self._dirty = False
        self._last_ckpt = time.monotonic()
        self._ckpt_interval = s.checkpoint_interval_s
        self._write_failing = False
        self._ckpt_failing = False
        self._last_sink_log = -1e9
        self.remaining_at_stop: int | None = None
        """Events still spooled (unprocessed) when `stop()` returned."""
        self.metrics.spool_bytes.set_function(lambda: self.spool.used_bytes)
        self.metrics.spool_events.set_function(lambda: self.queued)
        if self._fresh:
            # the reference point for a crash before the first periodic checkpoint: which alert lines were
            # already in the file before this spool's first batch
            self._checkpoint()

    # -- restart -----------------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        doc: dict[str, Any] | None = None
        try:
            doc = ckpt.read(self.spool.directory)
        except ckpt.CheckpointError as exc:
            log.error("%s; processing every spooled batch again with empty detector state", exc)
        key = doc.get("key") if doc else None
        self._key: bytes = key if isinstance(key, bytes) and len(key) >= 16 else os.urandom(16)
        self.detector = Detector(config=s.detector_config, signature=keyed_request_signature(self._key))
        self._suppress: Multiset[bytes] = Multiset()
        self._fresh = doc is None
        if doc is None:
            self._position = self.spool.first_position()
        else:
            seg, off = doc["spool"]
            self._position = Position(int(seg), int(off))
            try:
                fresh = self.detector.restore(doc["detector"])
                if fresh:
                    log.info("detector state restored; windowed rules without saved state: %s", ", ".join(fresh))
                self._restore_sigma(doc.get("sigma") or [])
            except (ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
                self.detector = Detector(config=s.detector_config, signature=keyed_request_signature(self._key))
                log.error("cannot restore the detector state from the checkpoint (%s): windows start empty",
                          type(exc).__name__)
            out_pos = doc.get("output")
            if out_pos:
                after = self.output.lines_after(out_pos)
                if after is None:
                    log.info("the alerts output changed since the last checkpoint: alerts of replayed batches "
                             "may be written again")
                else:
                    self._suppress = Multiset(after)
        if self._position > self.spool.durable_end:
            log.error("the checkpoint points past the end of the spool in %s (segments removed?): starting at "
                      "the first spooled batch", self.spool.directory)
            self._position = self.spool.first_position()
        self._ckpt_position = self._position
        self._detect_from = self._position
        self._archive_pos = self._restore_archive(doc)
        self._ckpt_archive_pos = self._archive_pos
        self._archive_fed: Position | None = None
        self._reader = self.spool.reader(min(self._position, self._archive_pos))
        self._backlog_base, records = self.spool.count(self._position)
        self._processed_here = 0
        if self._backlog_base:
            log.warning("replaying %d spooled events (%d batches) from %s", self._backlog_base, records,
                        self.spool.directory)
        if self._suppress:
            log.info("%d alerts were written after the last checkpoint; the replay will not write them again",
                     sum(self._suppress.values()))

    def _restore_archive(self, doc: dict[str, Any] | None) -> Position:
        """Where archiving resumes: the checkpoint's archive position, or past what the manifest already
        holds from this spool (a flush after the last checkpoint), never past the detector's start when
        the checkpoint predates `--archive` (events processed before were not meant to be archived)."""
        s = self.settings
        if s.archive is None:
            return self._position
        from kubehipaa.archive.live import LiveArchive

        saved = doc.get("archive") if doc else None
        spool_id = saved.get("id") if isinstance(saved, dict) else None
        if not isinstance(spool_id, str):
            spool_id = os.urandom(8).hex()
        self._archive = LiveArchive(s.archive, spool_id)
        pos = self._position
        if isinstance(saved, dict) and isinstance(saved.get("position"), list | tuple):
            seg, off = saved["position"]
            pos = min(Position(int(seg), int(off)), self._position)
        recorded = self._archive.recorded_end()
        if recorded is not None:
            pos = max(pos, Position(*recorded))
        first = self.spool.first_position()
        if pos < first:
            log.error("the spool no longer holds the events between the archive's position and %s: they are "
                      "missing from the archive", self.spool.directory)
            pos = first
        if pos < self._position:
            log.info("archiving spooled events the detector already processed (from the last archive flush)")
        return pos

    def _sigma_state(self) -> list[list[Any]]:
        rules = self.settings.sigma
        if rules is None:
            return []
        return [[c.rule_id, [[[list(k) for k in key], [[t, v] for t, v in window]]
                             for key, window in c.groups.items()]] for c in rules.correlations]

    def _restore_sigma(self, state: list[list[Any]]) -> None:
        rules = self.settings.sigma
        if rules is None or not state:
            return
        from collections import deque

        saved = {rid: groups for rid, groups in state}
        for c in rules.correlations:
            groups = saved.get(c.rule_id)
            if groups is None:
                continue
            c.groups.clear()
            for key, window in groups:
                c.groups[tuple(tuple(k) for k in key)] = deque((float(t), v) for t, v in window)

    # -- request side (event loop) ----------------------------------------------------------------------
    def reserve(self) -> _Reservation:
        return _Reservation(self)

    async def spool_batch(self, body: bytes | bytearray, events: int) -> None:
        """Append to the spool and wait until it is durable. Raises SpoolFull, SpoolClosed or OSError."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def settle(exc: BaseException | None) -> None:
            if fut.done():
                return
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

        def done(exc: BaseException | None) -> None:  # writer thread
            with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown): nobody is waiting
                loop.call_soon_threadsafe(settle, exc)

        self.spool.submit(body, events, done)
        await fut

    @property
    def queued(self) -> int:
        """Accepted events not yet processed (spooled behind the worker)."""
        return max(0, self._backlog_base + self.spool.appended_events - self._processed_here)

    def health(self) -> list[str]:
        """Why the receiver is unhealthy (empty when healthy)."""
        reasons = []
        if not self.alive:
            reasons.append("detection worker not running")
        if self._write_failing:
            reasons.append("alerts cannot be written")
        if self.spool.last_error is not None:
            reasons.append("spool cannot be written")
        if self.spool.used_bytes > self.settings.spool_high_water * self.settings.spool_max_bytes:
            reasons.append("spool over its high-water mark")
        if self._ckpt_failing:
            reasons.append("checkpoint cannot be written")
        if self._archive_failing:
            reasons.append("archive cannot be written")
        return reasons

    # -- worker ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop_deadline = None
            self._thread = threading.Thread(target=self._run, name="kubehipaa-audit-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new batches, process what is spooled until `timeout` (default: the shutdown budget left
        after in-flight requests), checkpoint, and log how many events remain spooled."""
        limits = self.settings.limits
        if timeout is None:
            timeout = max(0.5, limits.shutdown_timeout - limits.connection_drain_s)
        deadline = time.monotonic() + timeout
        self.spool.close_intake()
        thread = self._thread
        if thread is not None:
            self._stop_deadline = deadline
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
            if thread.is_alive():
                log.error("the detection worker is still busy with one batch at the shutdown deadline; the "
                          "batches since the last checkpoint are processed again at the next start")
        with self._ckpt_lock:
            self._frozen = True  # from here the checkpoint on disk is final for this process
            position = min(self._ckpt_position, self._ckpt_archive_pos)
        self.spool.close(timeout=max(0.5, deadline - time.monotonic()))
        remaining, records = self.spool.count(position)
        self.remaining_at_stop = remaining
        self._thread = None
        if self._tmpdir is not None:
            if remaining:
                log.error("%d accepted events were not processed and are lost: no spool directory", remaining)
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        elif remaining:
            log.warning("stopped with %d events (%d batches) still spooled in %s; they are processed at the "
                        "next start", remaining, records, self.spool.directory)
        else:
            log.info("stopped: every accepted event was processed (0 events remain spooled)")

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """For tests and benchmarks: wait until every batch spooled so far has been processed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._position >= self.spool.durable_end and not self.spool.writing:
                return True
            time.sleep(0.005)
        return False

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        s = self.settings
        last_batch = time.monotonic()
        flushed = True
        drained = False
        try:
            while True:
                stopping = self._stop_deadline is not None
                if stopping and time.monotonic() >= self._stop_deadline:  # type: ignore[operator]
                    break
                if self._archive_blocked():
                    continue
                rec = self._reader.next(timeout=0.05 if stopping else min(s.flush_idle_s, 0.25))
                if rec is None:
                    if stopping:
                        if not self.spool.writing and self._reader.position >= self.spool.durable_end:
                            drained = True
                            break
                        continue
                    if not flushed and time.monotonic() - last_batch >= s.flush_idle_s:
                        flushed = True
                        if self.detector.pending_count:
                            self._write_alerts(self.detector.flush())
                            # at once: a flush depends on wall-clock idleness, which a replay would not repeat
                            self._dirty = True
                            self._checkpoint()
                    if self._archive is not None and self._archive.due():
                        self._flush_archive()
                    if self._dirty and time.monotonic() - self._last_ckpt >= self._ckpt_interval:
                        self._checkpoint()
                    continue
                self._handle(rec)
                if self._archive is not None and self._archive.due():
                    self._flush_archive()
                last_batch = time.monotonic()
                flushed = False
                if time.monotonic() - self._last_ckpt >= self._ckpt_interval:
                    self._checkpoint()
            if drained and self._tmpdir is not None:
                # nothing survives this process: evaluate held events now rather than never
                self._write_alerts(self.detector.flush())
            if self._archive is not None:
                self._flush_archive()  # graceful shutdown: what was read is archived, not left pending
            if self._dirty:
                self._checkpoint()
        except _GiveUp:
            self._poisoned = True
        except Exception:  # pragma: no cover - a bug here must be visible, and must not write a checkpoint
            self._poisoned = True
            self.metrics.worker_errors.inc()
            log.exception("audit worker stopped")

    def _handle(self, rec: Record) -> None:
        s = self.settings
        alerts: list[Any] = []
        try:
            events, raws = decode_spooled(rec.payload, keep_raw=s.sigma is not None or self._archive is not None)
        except InputError:
            self.metrics.worker_errors.inc()
            log.error("spooled batch at %d:%d is not an audit EventList; skipped", rec.start.segment,
                      rec.start.offset)
            events, raws = [], []
        if self._archive is not None and rec.start >= self._archive_pos:
            self._archive.feed(raws, (rec.start.segment, rec.start.offset), (rec.end.segment, rec.end.offset))
            self._archive_fed = rec.end
        if rec.start < self._detect_from:  # archived only: the detector processed it before the restart
            return
        view = self._sigma_view
        try:
            if view is not None:
                view.set_batch(events, raws)
            process = self.detector.process
            for ev in events:
                alerts.extend(process(ev))
        except Exception as exc:  # a bug must not wedge the spool: count, log (no event content), move on
            self.metrics.worker_errors.inc()
            log.error("audit worker failed on a batch of %d events: %s (details at debug level)", len(events),
                      type(exc).__name__)
            log.debug("audit worker failure", exc_info=True)
        finally:
            if view is not None:
                view.clear()
        self._write_alerts(alerts)
        self.metrics.processed.inc(len(events))
        self._processed_here += rec.events
        self._position = rec.end
        self._dirty = True

    def _flush_archive(self) -> None:
        """Seal the pending archive segments into the chain; then the spool may release their batches."""
        live = self._archive
        if live is None:
            return
        fed = self._archive_fed
        if not live.open:
            if fed is not None and fed > self._archive_pos:
                self._archive_pos = fed
            return
        try:
            n = live.flush()
        except Exception as exc:  # disk full, a damaged manifest: keep the events spooled, retry, say so
            self._archive_failing = True
            now = time.monotonic()
            if now - self._last_archive_log >= 60:
                self._last_archive_log = now
                log.error("cannot write the archive: %s; retrying (the spool keeps the batches; further errors "
                          "this minute not logged)", str(exc) or type(exc).__name__)
            return
        self._archive_failing = False
        if live.skipped:
            log.warning("%d received events had no usable timestamp and were not archived", live.skipped)
            live.skipped = 0
        if fed is not None:
            self._archive_pos = fed
        log.debug("archived %d events", n)
        self._dirty = True
        self._checkpoint()

    def _archive_blocked(self) -> bool:
        """While the archive cannot be written and holds a full batch of pending events, read no further
        (memory stays bounded; the spool fills and the API server is answered 429): retry once a second."""
        live = self._archive
        if live is None or not self._archive_failing or live.pending < live.settings.flush_events:
            return False
        if self._stop_deadline is not None:
            return False
        time.sleep(1.0)
        self._flush_archive()
        return self._archive_failing

    def _write_alerts(self, alerts: Sequence[Any]) -> None:
        """Write the alerts of one batch, retrying until they are written (or the shutdown deadline)."""
        if not alerts:
            return
        dicts = [a.to_dict() for a in alerts]
        lines = [orjson.dumps(d) + b"\n" for d in dicts]
        if self._suppress:
            keep = []
            for i, line in enumerate(lines):
                if self._suppress[line] > 0:
                    self._suppress[line] -= 1
                    self.metrics.suppressed.inc()
                else:
                    keep.append(i)
            self._suppress = +self._suppress
            dicts, lines = [dicts[i] for i in keep], [lines[i] for i in keep]
        backoff = 0.05
        while dicts:
            try:
                self.output.write(dicts, lines)
            except Exception as exc:
                written = getattr(exc, "written", 0)
                self._count_alerts(dicts[:written])
                dicts, lines = dicts[written:], lines[written:]
                self.metrics.sink_errors.inc()
                self._write_failing = True
                now = time.monotonic()
                if now - self._last_sink_log >= 60:
                    self._last_sink_log = now
                    cause = exc.__cause__ or exc
                    log.error("cannot write alerts: %s; retrying (the spool keeps the batches; further errors "
                              "this minute not logged)", getattr(cause, "strerror", None) or type(cause).__name__)
                if self._stop_deadline is not None and now >= self._stop_deadline:
                    raise _GiveUp() from None
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            self._count_alerts(dicts)
            break
        self._write_failing = False

    def _count_alerts(self, dicts: Sequence[dict[str, Any]]) -> None:
        for d in dicts:
            self.metrics.alerts.labels(d.get("ruleId", "?"), d.get("severity", "?")).inc()

    def _checkpoint(self) -> None:
        with self._ckpt_lock:
            if self._frozen or self._poisoned:
                return
            started = time.monotonic()
            position = self._position
            # without --archive, nothing waits for the archive: the detector's position is the archive's
            archived = self._archive_pos if self._archive is not None else position
            self._ckpt_archive_pos = archived
            doc = {"spool": [position.segment, position.offset], "key": self._key,
                   "output": self.output.position(), "detector": self.detector.snapshot(),
                   "sigma": self._sigma_state()}
            if self._archive is not None:
                doc["archive"] = {"id": self._archive.spool_id, "position": [archived.segment, archived.offset]}
            try:
                ckpt.write(self.spool.directory, doc, fsync=self.settings.fsync)
            except OSError as exc:
                self.metrics.checkpoint_errors.inc()
                if not self._ckpt_failing:
                    log.error("cannot write the checkpoint: %s (batches since the last one would be processed "
                              "again after a restart; spool segments are kept)", exc.strerror or exc)
                self._ckpt_failing = True
                self._last_ckpt = time.monotonic()
                return
            self._ckpt_failing = False
            self._ckpt_position = position
            self._dirty = False
            self._last_ckpt = now = time.monotonic()
            # a slow snapshot (large state) is taken less often: at most ~5% of the worker's time
            self._ckpt_interval = max(self.settings.checkpoint_interval_s, min(30.0, 20 * (now - started)))
        self.metrics.checkpoints.inc()
        # a batch leaves the spool once detected AND (with --archive) archived
        self.spool.release(min(position, archived))


# -- decoding -----------------------------------------------------------------------------------------------

def decode_spooled(payload: bytes, *, keep_raw: bool) -> tuple[list[AuditEvent], list[bytes]]:
    """A spooled body as the worker needs it: decoded by the one EventList decoder (`sources.eventlist`, as
    when it was accepted), and a RequestReceived event's bodies copied out of the payload, because the
    detector may hold that event (waiting for its later stage) long after the batch, and a zero-copy
    `msgspec.Raw` would keep the whole payload alive."""
    events, raws = decode_event_list_raw(payload, keep_raw=keep_raw)
    for i, ev in enumerate(events):
        if ev.stage == "RequestReceived" and (ev.requestObject or ev.responseObject):
            events[i] = msgspec.structs.replace(ev, requestObject=ev.requestObject.copy(),
                                                responseObject=ev.responseObject.copy())
    return events, raws


# -- the app ------------------------------------------------------------------------------------------------

class _TooLarge(Exception):
    pass


class _OverBudget(Exception):
    pass


async def _read_body(request: Request, limit: int, reservation: _Reservation) -> bytearray:
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _TooLarge()
        grow = len(body) + len(chunk) - reservation.held
        if grow > 0 and not reservation.grow(grow):
            raise _OverBudget()
        body += chunk
    return body


def _error(status: int, message: str, *, retry_after: int | None = None, close: bool = False) -> JSONResponse:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if close:  # the body may not have been read (whole): do not reuse the connection
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(receiver: AuditReceiver | None = None, settings: WebhookSettings | None = None) -> FastAPI:
    """The ASGI app: `POST /audit` (also `POST /`), `GET /metrics`, `GET /healthz`, `GET /livez`.

    The receiver's worker starts and stops with the app's lifespan.
    """
    rec = receiver or AuditReceiver(settings)
    s = rec.settings

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        rec.start()
        try:
            yield
        finally:
            await asyncio.to_thread(rec.stop)

    app = FastAPI(title="kubehipaa audit webhook", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.receiver = rec
    m = rec.metrics

    async def receive(request: Request) -> Response:
        try:
            return await _receive(request)
        except asyncio.CancelledError:
            # uvicorn's graceful-shutdown deadline passed with this request unfinished (a slow body): answer
            # instead of dying with a traceback; nothing was acknowledged, the API server retries
            m.aborted.labels("shutdown").inc()
            log.info("a request was still unfinished at the shutdown deadline: answered 503")
            return _error(503, "shutting down; retry", retry_after=s.retry_after_s, close=True)

    async def _receive(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        started = time.perf_counter()
        limit = s.max_body_bytes
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else None
        if size is not None and size > limit:
            m.malformed.labels("oversized").inc()
            log.warning("rejected audit batch from %s: declared body of %d bytes exceeds --max-body-bytes %d",
                        client, size, limit)
            return _error(413, f"request body exceeds the limit of {limit} bytes", close=True)
        reservation = rec.reserve()
        try:
            if size and not reservation.grow(size):
                m.refused.labels("memory").inc()
                return _error(503, "too many request bodies in memory; retry", retry_after=1, close=True)
            try:
                async with asyncio.timeout(s.limits.body_timeout):
                    body = await _read_body(request, limit, reservation)
            except TimeoutError:
                m.aborted.labels("body_timeout").inc()
                log.warning("audit batch from %s: body not received within %gs; connection closed", client,
                            s.limits.body_timeout)
                return _error(408, "request body not received in time", close=True)
            except ClientDisconnect:
                m.aborted.labels("client_disconnect").inc()
                log.info("audit batch from %s: client disconnected before sending the whole body", client)
                return Response(status_code=400)  # never delivered: the connection is gone
            except _TooLarge:
                m.malformed.labels("oversized").inc()
                log.warning("rejected audit batch from %s: body exceeds --max-body-bytes %d", client, limit)
                return _error(413, f"request body exceeds the limit of {limit} bytes", close=True)
            except _OverBudget:
                m.refused.labels("memory").inc()
                return _error(503, "too many request bodies in memory; retry", retry_after=1, close=True)
            data = bytes(body)  # one immutable copy for the spool; the read buffer goes now
            del body
            try:
                # the same decoder as the worker's, so a batch accepted here is one it can read back
                n = len(decode_event_list_raw(data, keep_raw=s.sigma is not None)[0])
            except InputError as exc:
                m.malformed.labels("invalid").inc()
                log.warning("rejected audit batch from %s: %s", client, exc)
                return _error(400, str(exc))
            if n:
                try:
                    await rec.spool_batch(data, n)
                except SpoolFull:
                    m.refused.labels("spool_full").inc()
                    log.warning("spool full (%d bytes): answered 429 to a batch of %d events from %s; the API "
                                "server retries it", rec.spool.used_bytes, n, client)
                    return _error(429, "spool full; retry later", retry_after=s.retry_after_s)
                except SpoolClosed:
                    m.refused.labels("shutting_down").inc()
                    return _error(503, "shutting down; retry", retry_after=s.retry_after_s, close=True)
                except OSError as exc:
                    m.refused.labels("spool_error").inc()
                    log.error("cannot spool a batch of %d events from %s: %s; answered 503", n, client,
                              exc.strerror or type(exc).__name__)
                    return _error(503, "cannot store the batch; retry", retry_after=s.retry_after_s)
        finally:
            reservation.release()
        m.batches.inc()
        m.events.inc(n)
        return JSONResponse({"accepted": n, "ms": round((time.perf_counter() - started) * 1000, 3)})

    app.add_api_route(WEBHOOK_PATH, receive, methods=["POST"])
    app.add_api_route("/", receive, methods=["POST"])

    async def metrics() -> Response:
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz() -> Response:
        reasons = rec.health()
        return JSONResponse({"status": "unhealthy" if reasons else "ok", "reasons": reasons,
                             "spooledEvents": rec.queued, "spoolBytes": rec.spool.used_bytes},
                            status_code=503 if reasons else 200)

    async def livez() -> Response:
        ok = rec.alive
        return JSONResponse({"status": "ok" if ok else "worker stopped"}, status_code=200 if ok else 503)

    app.add_api_route("/metrics", metrics, methods=["GET"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/livez", livez, methods=["GET"])
    return app


__all__ = [
    "WEBHOOK_PATH",
    "AlertFile",
    "AuditReceiver",
    "JsonLinesSink",
    "StreamOutput",
    "WebhookMetrics",
    "WebhookSettings",
    "create_app",
    "decode_spooled",
]
