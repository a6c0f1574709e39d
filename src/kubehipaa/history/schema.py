"""The history schema (SQLAlchemy Core) and its versioned migrations, one list for SQLite and PostgreSQL.

Why not Alembic: the schema is a handful of tables owned by one tool, every migration must run unattended
inside `scan --save` (a CronJob has nobody to run `alembic upgrade`), and the same Python function has to
apply to both backends under the store's own lock. A `schema_migrations` table (version, name, applied_at)
and an ordered list of functions written in SQLAlchemy Core give exactly that, with no second config file
or script directory to ship. docs/history.md says more.

Rules for a new migration: append it (never edit an applied one), use Core constructs (or plain SQL such as
`ALTER TABLE ... ADD COLUMN`) that both dialects accept; `SCHEMA_VERSION` is the last migration's version.
tests/history/test_store.py shows a second migration upgrading an existing history on both backends.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", String(32), nullable=False),
)

scans = Table(
    "scans", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(32), nullable=False),  # ISO 8601 UTC, `...Z`: sorts as text on both backends
    Column("target", Text, nullable=False),  # the inputs' names, one per line: what `--baseline last` matches
    Column("tool_version", String(64), nullable=False),
    Column("catalog_version", String(200), nullable=False),
    Column("fingerprint_version", String(64), nullable=False),
    Column("command", Text, nullable=False),  # redacted
    Column("config_source", Text),
    Column("objects", Integer, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("suppressed", Integer, nullable=False),
    Column("critical", Integer, nullable=False),
    Column("high", Integer, nullable=False),
    Column("medium", Integer, nullable=False),
    Column("low", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("content_digest", String(64), nullable=False),
    Column("report_encoding", String(32), nullable=False),
    Column("report", LargeBinary, nullable=False),
)
Index("ix_scans_created_at", scans.c.created_at)

scan_inputs = Table(
    "scan_inputs", metadata,
    Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # file | stdin | cluster
    Column("name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),  # of the file, or of the canonical JSON of a listing
    Column("objects", Integer, nullable=False),
)
Index("ix_scan_inputs_scan", scan_inputs.c.scan_id)

scan_findings = Table(
    "scan_findings", metadata,
    Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("check_id", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("api_version", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("namespace", Text),
    Column("name", Text, nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("safeguard", String(64), nullable=False),
    Column("paragraphs", Text, nullable=False),  # space-separated HIPAA paragraph ids
    Column("suppressed", Boolean, nullable=False),
    Column("exception_key", String(64)),
)
Index("ix_scan_findings_scan", scan_findings.c.scan_id)

scan_exceptions = Table(
    "scan_exceptions", metadata,
    Column("scan_id", Integer, ForeignKey("scans.id", ondelete="CASCADE"), nullable=False),
    Column("exception_key", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("check_pattern", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("approver", Text),
    Column("expires", String(10), nullable=False),
    Column("status", String(16), nullable=False),  # active | expired | unused (on the day of that scan)
    Column("matched", Integer, nullable=False),
    Column("record", Text, nullable=False),  # the exception as report data (JSON, redacted)
)
Index("ix_scan_exceptions_scan", scan_exceptions.c.scan_id)
Index("ix_scan_exceptions_key", scan_exceptions.c.exception_key)

V1_TABLES = (scans, scan_inputs, scan_findings, scan_exceptions)


def _v1(conn: Connection) -> None:
    for table in V1_TABLES:
        table.create(conn)  # with its indexes


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "scans, inputs, findings, exceptions", _v1),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
