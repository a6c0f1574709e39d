"""The history store: the only code that talks to the history database (SQLite or PostgreSQL).

Concurrency: every write is one transaction that takes the store's write lock first. On SQLite that is
`BEGIN IMMEDIATE` (the write lock at the start, so two savers never deadlock upgrading a read lock) on a
WAL database with a busy timeout; on PostgreSQL a transaction-scoped advisory lock. Saves are short (a few
thousand rows), so serialising them costs little and makes retention pruning and "last scan" exact.
"""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from kubehipaa.history import schema as s
from kubehipaa.history.location import HistoryError, HistoryLocation, HistoryMissing
from kubehipaa.redaction import redact_text

REPORT_ENCODING = "json+zlib"
BUSY_TIMEOUT_MS = 60_000
LOCK_KEY = 0x6B6869  # "khi": the advisory lock every PostgreSQL writer takes


@dataclass(frozen=True, slots=True)
class InputRecord:
    kind: str  # file | stdin | cluster
    name: str
    sha256: str
    bytes: int
    objects: int


@dataclass(frozen=True, slots=True)
class FindingRecord:
    fingerprint: str
    check_id: str
    severity: str
    api_version: str
    kind: str
    namespace: str | None
    name: str
    file: str
    line: int
    safeguard: str
    paragraphs: tuple[str, ...]
    suppressed: bool
    exception_key: str | None = None


@dataclass(frozen=True, slots=True)
class ExceptionUse:
    """One exception of the config as it stood at a saved scan: its status that day and what it matched."""

    exception_key: str
    position: int
    check: str
    owner: str
    approver: str | None
    expires: str
    status: str
    matched: int
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScanMeta:
    """A saved scan's header: everything but its findings and report."""

    id: int
    created_at: str
    target: str
    tool_version: str
    catalog_version: str
    fingerprint_version: str
    command: str
    config_source: str | None
    objects: int
    findings: int
    suppressed: int
    by_severity: dict[str, int]
    errors: int
    skipped: int
    content_digest: str


@dataclass(slots=True)
class ScanRecord:
    """What `save` writes (built by pipelines.history from a scan result)."""

    created_at: str
    target: str
    tool_version: str
    catalog_version: str
    fingerprint_version: str
    command: str
    config_source: str | None
    objects: int
    findings_active: int
    suppressed: int
    by_severity: dict[str, int]
    errors: int
    skipped: int
    content_digest: str
    report: dict[str, Any]
    inputs: list[InputRecord] = field(default_factory=list)
    findings: list[FindingRecord] = field(default_factory=list)
    exceptions: list[ExceptionUse] = field(default_factory=list)


def _fail(location: HistoryLocation, what: str, exc: BaseException) -> HistoryError:
    """One line naming the database (password masked) and the driver's reason (redacted, first line)."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return HistoryError(f"history {location.display}: cannot {what}: {redact_text(reason)}")


class HistoryStore:
    """An open history database, schema migrated to `schema.SCHEMA_VERSION`."""

    def __init__(self, location: HistoryLocation, engine: Engine) -> None:
        self.location = location
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    # ---- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, location: HistoryLocation, *, create: bool = True) -> HistoryStore:
        """Open (and with `create`, create and migrate) the database; `create=False` refuses a missing file."""
        if location.backend == "sqlite":
            path = Path(location.url.removeprefix("sqlite:///"))
            if not path.exists():
                if not create:
                    raise HistoryMissing(f"history {location.display}: no saved scans yet (the file does not exist; "
                                       "save one with `kubehipaa scan ... --save`)")
                _create_private_file(path, location)
            engine = create_engine(location.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_events(engine)
        else:
            try:
                engine = create_engine(location.url, connect_args={"connect_timeout": 15})
            except (SQLAlchemyError, ImportError) as exc:
                raise _fail(location, "connect (is kubehipaa[history-pg] installed?)", exc) from None
        store = cls(location, engine)
        try:
            store._migrate()
        except SQLAlchemyError as exc:
            engine.dispose()
            raise _fail(location, "open the database", exc) from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction holding the store's lock (see the module docstring)."""
        with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE (the `begin` event)
            if self.postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            yield conn

    def _migrate(self) -> None:
        with self._write() as conn:
            if not inspect(conn).has_table("schema_migrations"):
                s.schema_migrations.create(conn)
            applied = set(conn.execute(select(s.schema_migrations.c.version)).scalars())
            newer = {v for v in applied if v > s.SCHEMA_VERSION}
            if newer:
                raise HistoryError(
                    f"history {self.location.display}: schema version {max(newer)} is newer than this kubehipaa "
                    f"knows ({s.SCHEMA_VERSION}); upgrade kubehipaa to read it")
            for version, name, migrate in s.MIGRATIONS:
                if version not in applied:
                    migrate(conn)
                    conn.execute(s.schema_migrations.insert().values(
                        version=version, name=name, applied_at=_now_iso()))

    def schema_versions(self) -> list[int]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(s.schema_migrations.c.version)).scalars())

    # ---- writing -------------------------------------------------------------------------------------------
    def save(self, record: ScanRecord, *, retention_days: int,
             now: dt.datetime | None = None) -> tuple[int, list[ScanMeta]]:
        """Insert the scan; prune scans older than `retention_days`; return (new id, pruned scans)."""
        now = now or dt.datetime.now(dt.UTC)
        cutoff = _iso(now - dt.timedelta(days=retention_days))
        blob = zlib.compress(orjson.dumps(record.report), 6)
        try:
            with self._write() as conn:
                scan_id = conn.execute(s.scans.insert().values(
                    created_at=record.created_at, target=record.target, tool_version=record.tool_version,
                    catalog_version=record.catalog_version, fingerprint_version=record.fingerprint_version,
                    command=record.command, config_source=record.config_source, objects=record.objects,
                    findings=record.findings_active, suppressed=record.suppressed,
                    critical=record.by_severity.get("critical", 0), high=record.by_severity.get("high", 0),
                    medium=record.by_severity.get("medium", 0), low=record.by_severity.get("low", 0),
                    errors=record.errors, skipped=record.skipped, content_digest=record.content_digest,
                    report_encoding=REPORT_ENCODING, report=blob,
                ).returning(s.scans.c.id)).scalar_one()
                if record.inputs:
                    conn.execute(s.scan_inputs.insert(), [
                        {"scan_id": scan_id, "position": i, "kind": r.kind, "name": r.name, "sha256": r.sha256,
                         "bytes": r.bytes, "objects": r.objects} for i, r in enumerate(record.inputs)])
                if record.findings:
                    conn.execute(s.scan_findings.insert(), [
                        {"scan_id": scan_id, "fingerprint": f.fingerprint, "check_id": f.check_id,
                         "severity": f.severity, "api_version": f.api_version, "kind": f.kind,
                         "namespace": f.namespace, "name": f.name, "file": f.file, "line": f.line,
                         "safeguard": f.safeguard, "paragraphs": " ".join(f.paragraphs),
                         "suppressed": f.suppressed, "exception_key": f.exception_key} for f in record.findings])
                if record.exceptions:
                    conn.execute(s.scan_exceptions.insert(), [
                        {"scan_id": scan_id, "exception_key": e.exception_key, "position": e.position,
                         "check_pattern": e.check, "owner": e.owner, "approver": e.approver,
                         "expires": e.expires, "status": e.status, "matched": e.matched,
                         "record": orjson.dumps(e.record).decode()} for e in record.exceptions])
                pruned = [_meta(row) for row in conn.execute(
                    select(s.scans).where(s.scans.c.created_at < cutoff, s.scans.c.id != scan_id)
                    .order_by(s.scans.c.id))]
                ids = [m.id for m in pruned]
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    for table in (s.scan_inputs, s.scan_findings, s.scan_exceptions):
                        conn.execute(delete(table).where(table.c.scan_id.in_(chunk)))
                    conn.execute(delete(s.scans).where(s.scans.c.id.in_(chunk)))
        except SQLAlchemyError as exc:
            raise _fail(self.location, "save the scan", exc) from None
        return scan_id, pruned

    # ---- reading -------------------------------------------------------------------------------------------
    def _read(self, what: str, stmt: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(stmt))
        except SQLAlchemyError as exc:
            raise _fail(self.location, what, exc) from None

    def scans(self, limit: int | None = None) -> list[ScanMeta]:
        """Saved scans, oldest first (the newest `limit` when given)."""
        stmt = select(*_META_COLUMNS).order_by(s.scans.c.id.desc())
        if limit:
            stmt = stmt.limit(limit)
        return [_meta(r) for r in reversed(self._read("list scans", stmt))]

    def get(self, scan_id: int) -> ScanMeta:
        rows = self._read("read the scan", select(*_META_COLUMNS).where(s.scans.c.id == scan_id))
        if not rows:
            raise HistoryError(f"history {self.location.display}: no saved scan #{scan_id} "
                               "(see `kubehipaa history list`)")
        return _meta(rows[0])

    def resolve(self, ref: str, target: str | None = None) -> ScanMeta | None:
        """`last` (the newest scan, of `target` when given; None if there is none) or a scan id."""
        if ref == "last":
            stmt = select(*_META_COLUMNS).order_by(s.scans.c.id.desc()).limit(1)
            if target is not None:
                stmt = stmt.where(s.scans.c.target == target)
            rows = self._read("read the last scan", stmt)
            return _meta(rows[0]) if rows else None
        try:
            scan_id = int(ref.removeprefix("#"))
        except ValueError:
            raise HistoryError(f"{ref!r} is not a saved scan: give `last` or a scan id from "
                               "`kubehipaa history list`") from None
        return self.get(scan_id)

    def inputs(self, scan_id: int) -> list[InputRecord]:
        rows = self._read("read the scan's inputs", select(s.scan_inputs).where(
            s.scan_inputs.c.scan_id == scan_id).order_by(s.scan_inputs.c.position))
        return [InputRecord(r.kind, r.name, r.sha256, r.bytes, r.objects) for r in rows]

    def findings(self, scan_id: int) -> list[FindingRecord]:
        rows = self._read("read the scan's findings", select(s.scan_findings).where(
            s.scan_findings.c.scan_id == scan_id))
        return [FindingRecord(r.fingerprint, r.check_id, r.severity, r.api_version, r.kind, r.namespace, r.name,
                              r.file, r.line, r.safeguard, tuple(r.paragraphs.split()), bool(r.suppressed),
                              r.exception_key) for r in rows]

    def fingerprints(self, scan_id: int) -> set[str]:
        rows = self._read("read the scan's findings", select(s.scan_findings.c.fingerprint).where(
            s.scan_findings.c.scan_id == scan_id, s.scan_findings.c.suppressed.is_(False)))
        return {r[0] for r in rows}

    def exceptions(self, scan_id: int | None = None) -> list[tuple[int, str, ExceptionUse]]:
        """(scan id, scan time, exception use) for one scan, or every saved scan (oldest first)."""
        stmt = (select(s.scan_exceptions, s.scans.c.created_at)
                .join(s.scans, s.scans.c.id == s.scan_exceptions.c.scan_id)
                .order_by(s.scan_exceptions.c.scan_id, s.scan_exceptions.c.position))
        if scan_id is not None:
            stmt = stmt.where(s.scan_exceptions.c.scan_id == scan_id)
        rows = self._read("read the exceptions", stmt)
        return [(r.scan_id, r.created_at, ExceptionUse(
            r.exception_key, r.position, r.check_pattern, r.owner, r.approver, r.expires, r.status, r.matched,
            orjson.loads(r.record))) for r in rows]

    def safeguard_counts(self, scan_ids: Sequence[int] | None = None) -> list[tuple[int, str, int]]:
        """(scan id, safeguard, unsuppressed findings) for the trend."""
        f = s.scan_findings
        stmt = (select(f.c.scan_id, f.c.safeguard, func.count()).where(f.c.suppressed.is_(False))
                .group_by(f.c.scan_id, f.c.safeguard))
        if scan_ids is not None:
            stmt = stmt.where(f.c.scan_id.in_(list(scan_ids)))
        return [(r[0], r[1], int(r[2])) for r in self._read("read the trend", stmt)]

    def report(self, scan_id: int) -> dict[str, Any]:
        """The saved JSON report, decompressed."""
        rows = self._read("read the saved report", select(s.scans.c.report_encoding, s.scans.c.report).where(
            s.scans.c.id == scan_id))
        if not rows:
            raise HistoryError(f"history {self.location.display}: no saved scan #{scan_id}")
        encoding, blob = rows[0]
        if encoding != REPORT_ENCODING:
            raise HistoryError(f"saved scan #{scan_id}: unknown report encoding {encoding!r}")
        try:
            tree: dict[str, Any] = orjson.loads(zlib.decompress(blob))
        except (zlib.error, orjson.JSONDecodeError) as exc:
            raise HistoryError(f"saved scan #{scan_id}: the stored report is damaged ({exc})") from None
        return tree


_META_COLUMNS = tuple(c for c in s.scans.c if c.name != "report")


def _meta(row: Any) -> ScanMeta:
    return ScanMeta(
        row.id, row.created_at, row.target, row.tool_version, row.catalog_version, row.fingerprint_version,
        row.command, row.config_source, row.objects, row.findings, row.suppressed,
        {"critical": row.critical, "high": row.high, "medium": row.medium, "low": row.low},
        row.errors, row.skipped, row.content_digest)


def _sqlite_events(engine: Engine) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE` for every transaction (the pysqlite driver's own implicit
    transactions are turned off so SQLAlchemy's `begin` is the only one)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: Path, location: HistoryLocation) -> None:
    """The history holds findings about a PHI cluster: its directory and file are the user's alone."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    except OSError as exc:
        raise HistoryError(f"history {location.display}: cannot create the file: "
                           f"{exc.strerror or type(exc).__name__}") from None


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _now_iso() -> str:
    return _iso(dt.datetime.now(dt.UTC))

