"""Questions over the archive: filters and read-only SQL, answered by DuckDB over the hive-partitioned Parquet.

Why DuckDB over the files, and not a database we load: the archive is the evidence. Reading it in place means
the answer comes from exactly the bytes `archive verify` checks, nothing has to be kept in sync, and the same
files are read unchanged by Spark, Trino or Athena (docs/audit-archive.md).

Why the query is shaped the way it is:

- **Only the needed columns are read.** A filter query selects the columns it shows and filters on the ones
  it is given; DuckDB reads nothing else from the Parquet files (projection pushdown). The `event` column
  (the whole event, by far the widest) is read only when asked for (`--full`, `--columns event`).
- **Old days are not opened.** A time range also constrains the hive partition column `day` (the UTC day of
  `ts`), which DuckDB applies to the file list before opening a file (hive filter pushdown); `ts` itself is
  then checked against Parquet row-group statistics. `profile()` returns DuckDB's own account of a query
  (which columns, which files) so tests and the bench can prove both.
- **Values are bound, never pasted into SQL.** Every user-given value is a parameter (`$1`, `$2`...): a user
  name with a quote in it is a user name. Column names come from the fixed schema only.
- **`--sql` is read-only and reads only the store.** The statement is parsed by DuckDB itself
  (`extract_statements`) and run only when it is a single SELECT (WITH, VALUES, FROM-first, DESCRIBE and
  SUMMARIZE included); COPY, CREATE, INSTALL, ATTACH, SET, PRAGMA... are refused before anything runs. The
  connection is in-memory, extension auto-install/auto-load are off, file access outside the store's
  `events/` directory is disabled (`enable_external_access=false` + `allowed_directories`) and the
  configuration is locked, so a SELECT cannot read `/etc/passwd` either.

DuckDB is imported when a query runs (it is an optional dependency: `kubehipaa[archive]`), never at import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubehipaa.archive.schema import COLUMNS, EVENTS_DIR, PARTITION_KEY
from kubehipaa.errors import InputError, KubehipaaError

if TYPE_CHECKING:
    import duckdb

INSTALL_HINT = "audit query needs DuckDB: pip install 'kubehipaa[archive]'"

VIEW = "events"
"""The name queries (and `--sql`) use for the whole archive."""

QUERY_COLUMNS: tuple[str, ...] = (*COLUMNS, PARTITION_KEY)
"""What a query may select: the file columns and the partition column."""

DEFAULT_COLUMNS: tuple[str, ...] = ("ts", "user", "verb", "resource", "subresource", "namespace", "name",
                                    "code", "source_ip")
"""Who did what to which object, with what outcome, from where: enough to answer most questions without
reading `event`, the widest column."""

FULL_COLUMNS: tuple[str, ...] = QUERY_COLUMNS
DEFAULT_LIMIT = 1000

_DAY_DIR = re.compile(rf"{PARTITION_KEY}=(\d{{4}}-\d{{2}}-\d{{2}})")
_CODE_CLASS = re.compile(r"([1-5])xx", re.IGNORECASE)
_CODE_RANGE = re.compile(r"(\d{3})-(\d{3})")
_CODE = re.compile(r"\d{3}")


class QueryError(KubehipaaError):
    """A query that cannot be run as asked (bad SQL, a refused statement, an unknown column): one line."""


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters of `audit query`. Values of one filter are alternatives (OR); filters combine with AND.

    `users`, `groups` and `source_ips` may be globs (`*`, `?`); `users` also match the impersonated user (as
    `audit timeline --user` does). `resources` are `secrets` (any subresource) or `pods/exec`. `codes` are
    `403`, `4xx` or `500-599`. `since` is inclusive and `until` exclusive (UTC instants).
    """

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    collections: bool = False
    """With `names`: also the requests on a whole collection (no object name: a list, watch or
    deletecollection), in `namespaces` or across all namespaces, which return or touch the named objects too.
    "Who read secret X" is not answered by the requests that name X alone."""

    def to_dict(self) -> dict[str, Any]:
        """The filters that were given, for the report (times in RFC 3339)."""
        out: dict[str, Any] = {}
        for key in ("users", "groups", "verbs", "resources", "namespaces", "names", "source_ips", "codes"):
            values = getattr(self, key)
            if values:
                out["sourceIPs" if key == "source_ips" else key] = list(values)
        if self.since is not None:
            out["since"] = iso(self.since)
        if self.until is not None:
            out["until"] = iso(self.until)
        if self.collections:
            out["collections"] = True
        return out


@dataclass(frozen=True, slots=True)
class Query:
    """A filter query: which rows (`filters`), which columns, or counts per `count_by` columns."""

    filters: Filters = field(default_factory=Filters)
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    count_by: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT


@dataclass(slots=True)
class QueryResult:
    """Rows as DuckDB returned them (Python values: str, int, datetime, list...) under `columns`.

    `truncated`: more rows matched than `limit` (only `limit` are here). `files`/`days`: the segments and day
    partitions the store holds (what the question was asked over, not what was opened).
    """

    store: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    limit: int
    truncated: bool
    files: int
    days: int
    first_day: str | None
    last_day: str | None
    filters: dict[str, Any] = field(default_factory=dict)
    count_by: list[str] = field(default_factory=list)
    sql: str | None = None
    warnings: list[str] = field(default_factory=list)
    """The time range reaches beyond the archived days: rows before the first (or after the last) archived
    day cannot be in the answer, and "no row" there does not mean "nobody did it"."""
    outside: str | None = None
    """Set when the time range holds no archived day at all: the question was not asked of any event."""


def iso(moment: dt.datetime) -> str:
    """An instant as RFC 3339 UTC (`Z`), with microseconds only when there are some."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    text = moment.replace(tzinfo=None).isoformat()
    return text + "Z"


# ---- the store ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segments:
    files: list[str]
    days: list[str]


def segments(store: Path) -> Segments:
    """Every segment file of the store (`events/day=YYYY-MM-DD/*.parquet`), sorted; anything else under
    `events/` (a temporary file of an ingest in progress, a stray directory) is not part of the archive.

    Raises InputError (exit 2) when the store does not exist or holds no segment: an empty store gives no
    answer, and "no rows" from it must not read as "nobody did it"."""
    if not store.exists():
        raise InputError(f"{store}: no such archive (expected a directory made by `kubehipaa audit archive add`)")
    if not store.is_dir():
        raise InputError(f"{store}: not a directory (an archive is a directory with {EVENTS_DIR}/ and a manifest)")
    root = store / EVENTS_DIR
    files: list[str] = []
    days: list[str] = []
    try:
        parts = sorted(os.scandir(root), key=lambda e: e.name) if root.is_dir() else []
        for part in parts:
            m = _DAY_DIR.fullmatch(part.name)
            if m is None or not part.is_dir():
                continue
            found = sorted(e.path for e in os.scandir(part.path)
                           if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file())
            if found:
                files.extend(found)
                days.append(m.group(1))
    except OSError as exc:
        raise InputError(f"{store}: cannot read the archive: {exc.strerror or exc}") from None
    if not files:
        raise InputError(f"no events in {store} (no {EVENTS_DIR}/{PARTITION_KEY}=YYYY-MM-DD/*.parquet segment)")
    return Segments(files, days)


def _import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise KubehipaaError(INSTALL_HINT) from None
    return duckdb


@contextlib.contextmanager
def connect(store: Path, seg: Segments, *, profiling: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the view `events` over the segments, sandboxed (module doc).

    The file list is handed to DuckDB as a bound parameter (DuckDB quotes it), so a store path with a quote
    or a glob character in it is a path. Spilling goes to a private temporary directory, removed afterwards.
    """
    duckdb = _import_duckdb()
    events_dir = os.path.realpath(store / EVENTS_DIR)
    with tempfile.TemporaryDirectory(prefix="kubehipaa-query-") as spill:
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                 "autoload_known_extensions": False})
        try:
            with contextlib.suppress(duckdb.Error):  # ICU may be absent: times are converted to UTC anyway
                con.execute("SET TimeZone = 'UTC'")
            con.execute("SET temp_directory = $1", [spill])
            con.execute("SET allowed_directories = $1", [[events_dir + os.sep, spill + os.sep]])
            con.execute("SET enable_external_access = false")
            if profiling:
                con.execute("PRAGMA enable_profiling = 'json'")
            con.execute("SET lock_configuration = true")
            files = [os.path.realpath(f) for f in seg.files]
            try:
                con.sql(f"SELECT * FROM read_parquet($files, hive_partitioning = true, "
                        f"hive_types = {{'{PARTITION_KEY}': DATE}})", params={"files": files}).create_view(VIEW)
            except duckdb.Error as exc:
                raise InputError(f"{store}: cannot read the archive: {one_line(exc)}") from None
            yield con
        finally:
            con.close()


def one_line(exc: BaseException) -> str:
    """DuckDB's message without its multi-line hints and caret drawings."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


# ---- filter queries -------------------------------------------------------------------------------------


def _quote(column: str) -> str:
    if column not in QUERY_COLUMNS:
        raise QueryError(f"unknown column {column!r} (columns: {', '.join(QUERY_COLUMNS)})")
    return f'"{column}"'


def is_glob(value: str) -> bool:
    return "*" in value or "?" in value


def glob_to_like(pattern: str) -> str:
    """A shell glob (`*`, `?`) as a LIKE pattern with `\\` as the escape character (`%`, `_` and `\\` in
    the glob are literal)."""
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def parse_code(text: str) -> tuple[int, int]:
    """`403` → (403, 403); `4xx` → (400, 499); `500-599` → (500, 599). QueryError otherwise."""
    t = text.strip()
    if _CODE.fullmatch(t):
        return int(t), int(t)
    m = _CODE_CLASS.fullmatch(t)
    if m:
        base = int(m.group(1)) * 100
        return base, base + 99
    m = _CODE_RANGE.fullmatch(t)
    if m and int(m.group(1)) <= int(m.group(2)):
        return int(m.group(1)), int(m.group(2))
    raise QueryError(f"--code {text!r}: expected a status code (403), a class (4xx) or a range (500-599)")


class _Params:
    """Collects bound values; `add` returns the placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _text_match(column: str, values: Sequence[str], p: _Params, *, globs: bool) -> str:
    """`column` equal to one of `values` (globs, when allowed, as LIKE patterns), as one condition."""
    exact = [v for v in values if not (globs and is_glob(v))]
    parts: list[str] = []
    if len(exact) == 1:
        parts.append(f"{column} = {p.add(exact[0])}")
    elif exact:
        parts.append(f"{column} IN ({', '.join(p.add(v) for v in exact)})")
    parts += [f"{column} LIKE {p.add(glob_to_like(v))} ESCAPE '\\'" for v in values if globs and is_glob(v)]
    return "(" + " OR ".join(parts) + ")"


def where_clause(f: Filters, p: _Params) -> list[str]:
    """The conditions of `f`, every value a parameter of `p`."""
    conds: list[str] = []
    if f.users:
        conds.append(f"({_text_match('user', f.users, p, globs=True)} OR "
                     f"{_text_match('impersonated_user', f.users, p, globs=True)})")
    if f.groups:
        exact = [g for g in f.groups if not is_glob(g)]
        parts = [f"list_has_any(groups, {p.add(exact)}::VARCHAR[])"] if exact else []
        parts += [f"EXISTS (SELECT 1 FROM unnest(groups) AS g(grp) WHERE grp LIKE {p.add(glob_to_like(g))} "
                  f"ESCAPE '\\')" for g in f.groups if is_glob(g)]
        conds.append("(" + " OR ".join(parts) + ")")
    if f.verbs:
        conds.append(_text_match("verb", f.verbs, p, globs=False))
    if f.resources:
        parts = []
        for r in f.resources:
            res, _, sub = r.partition("/")
            if sub:
                parts.append(f"(resource = {p.add(res)} AND subresource = {p.add(sub)})")
            else:
                parts.append(f"resource = {p.add(res)}")
        conds.append("(" + " OR ".join(parts) + ")")
    widen = f.collections and bool(f.names)
    if f.namespaces:
        match = _text_match("namespace", f.namespaces, p, globs=False)
        conds.append(f"({match} OR (namespace IS NULL AND name IS NULL))" if widen else match)
    if f.names:
        match = _text_match("name", f.names, p, globs=False)
        conds.append(f"({match} OR name IS NULL)" if widen else match)
    if f.source_ips:
        conds.append(_text_match("source_ip", f.source_ips, p, globs=True))
    if f.codes:
        parts = []
        for c in f.codes:
            lo, hi = parse_code(c)
            parts.append(f"code = {p.add(lo)}" if lo == hi else f"code BETWEEN {p.add(lo)} AND {p.add(hi)}")
        conds.append("(" + " OR ".join(parts) + ")")
    if f.since is not None:
        # the partition first: days before --since are dropped from the file list before any file is opened
        conds.append(f"{PARTITION_KEY} >= {p.add(f.since.astimezone(dt.UTC).date())}")
        conds.append(f"ts >= {p.add(f.since)}")
    if f.until is not None:
        last = (f.until - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
        conds.append(f"{PARTITION_KEY} <= {p.add(last)}")
        conds.append(f"ts < {p.add(f.until)}")
    return conds


def build_sql(q: Query) -> tuple[str, list[Any]]:
    """The SQL of a filter query and its parameters (every value bound; column names from the schema)."""
    p = _Params()
    conds = where_clause(q.filters, p)
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    if q.count_by:
        keys = ", ".join(_quote(c) for c in q.count_by)
        sql = (f"SELECT {keys}, count(*) AS events, min(ts) AS first, max(ts) AS last FROM {VIEW}{where} "
               f"GROUP BY {keys} ORDER BY events DESC, {keys}")
    else:
        cols = ", ".join(_quote(c) for c in q.columns)
        sql = f"SELECT {cols} FROM {VIEW}{where} ORDER BY ts NULLS LAST, audit_id"
    sql += f" LIMIT {p.add(q.limit + 1)}"  # one more than shown: tells "there are more" from "that was all"
    return sql, p.values


def run_filters(store: Path, q: Query) -> QueryResult:
    """Answer a filter query."""
    sql, params = build_sql(q)
    seg = segments(store)
    with connect(store, seg) as con:
        cur = _execute(con, sql, params)
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    warnings, outside = coverage(q.filters, seg)
    return _result(store, seg, columns, rows, q.limit, filters=q.filters.to_dict(), count_by=list(q.count_by),
                   warnings=warnings, outside=outside)


def coverage(f: Filters, seg: Segments) -> tuple[list[str], str | None]:
    """How the --since/--until range sits against the archived days: warnings when it starts before the first
    or ends after the last, and a reason when it holds none of them (module `QueryResult.outside`)."""
    if not seg.days or (f.since is None and f.until is None):
        return [], None
    first, last = seg.days[0], seg.days[-1]
    lo = f.since.astimezone(dt.UTC).date().isoformat() if f.since is not None else None
    hi = (f.until - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date().isoformat() \
        if f.until is not None else None
    span = f"the archive holds {first} to {last}"
    if (lo is not None and lo > last) or (hi is not None and hi < first):
        return [], f"no archived day lies in the --since/--until range ({span}): no event was examined"
    warnings: list[str] = []
    if lo is not None and lo < first:
        warnings.append(f"--since starts on {lo}, before the first archived day ({first}): events before "
                        f"{first} are not in the archive (never archived, or pruned)")
    if hi is not None and hi > last:
        warnings.append(f"--until ends on {hi}, after the last archived day ({last}): later events are not "
                        f"in the archive (yet)")
    return warnings, None


# ---- raw SQL --------------------------------------------------------------------------------------------


def check_select(sql: str) -> str:
    """The one SELECT statement in `sql` (a trailing `;` allowed), or QueryError saying what was refused.

    Parsed by DuckDB itself, so what counts as a SELECT is what DuckDB would run as one."""
    duckdb = _import_duckdb()
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"--sql: {one_line(exc)}") from None
    if not statements:
        raise QueryError("--sql: no statement given")
    if len(statements) > 1:
        raise QueryError(f"--sql: one statement at a time ({len(statements)} given)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise QueryError(f"--sql: only SELECT queries are run over the archive (read-only); this is {name}")
    return str(statements[0].query).strip().rstrip(";").strip()


def run_sql(store: Path, sql: str, limit: int = DEFAULT_LIMIT) -> QueryResult:
    """Answer a read-only SELECT over the view `events` (at most `limit` rows kept)."""
    text = check_select(sql)
    seg = segments(store)
    duckdb = _import_duckdb()
    with connect(store, seg) as con:
        try:
            rel = con.sql(text)
            if rel is None:  # pragma: no cover - a SELECT always gives a relation
                raise QueryError("--sql: the statement returned no result")
            columns = list(rel.columns)
            rows = rel.limit(limit + 1).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"--sql: {one_line(exc)}") from None
    return _result(store, seg, columns, rows, limit, sql=text)


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> duckdb.DuckDBPyConnection:
    duckdb = _import_duckdb()
    try:
        return con.execute(sql, params)
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {one_line(exc)}") from None


def _result(store: Path, seg: Segments, columns: list[str], rows: list[tuple[Any, ...]], limit: int,
            **extra: Any) -> QueryResult:
    truncated = len(rows) > limit
    return QueryResult(store=str(store), columns=columns, rows=rows[:limit], limit=limit, truncated=truncated,
                       files=len(seg.files), days=len(seg.days), first_day=seg.days[0] if seg.days else None,
                       last_day=seg.days[-1] if seg.days else None, **extra)


# ---- proof of pushdown ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanProfile:
    """What DuckDB's profiler says one Parquet scan of a query did.

    `projections`: the columns read from the files; `files_read`: the files opened (paths, as far as DuckDB
    lists them), `files_opened` how many; `files_total`: files before pruning; `file_filters`:
    the conditions applied to the file list (hive partitions); `filters`: those pushed into the Parquet
    reader (row-group statistics); `bytes_scanned`: what the scan read from the files (None when this
    DuckDB version does not say)."""

    projections: list[str]
    files_read: list[str]
    files_opened: int
    files_total: int
    file_filters: str
    filters: list[str]
    bytes_scanned: int | None
    raw: dict[str, Any]


def profile(store: Path, sql: str, params: Sequence[Any] = ()) -> list[ScanProfile]:
    """Run `sql` under EXPLAIN ANALYZE and return each Parquet scan's profile (DuckDB's JSON profile)."""
    seg = segments(store)
    with connect(store, seg, profiling=True) as con:
        rows = _execute(con, f"EXPLAIN ANALYZE {sql}", list(params)).fetchall()
    tree = json.loads(rows[0][1])
    scans: list[ScanProfile] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        if node.get("type") == "TABLE_SCAN" and "PARQUET" in str(info.get("Function", "")).upper():
            projections = info.get("Projections", [])
            if isinstance(projections, str):
                projections = [c for c in projections.split("\n") if c]
            names = info.get("Filename(s)", "")
            files = [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else list(names)
            total = str(info.get("Scanning Files", "")).partition("/")[2]
            read = str(info.get("Total Files Read", ""))
            filters = info.get("Filters", [])
            scans.append(ScanProfile(
                projections=list(projections), files_read=files,
                files_opened=int(read) if read.isdigit() else len(files),
                files_total=int(total) if total.isdigit() else len(seg.files),
                file_filters=str(info.get("File Filters", "")),
                filters=[filters] if isinstance(filters, str) else list(filters),
                bytes_scanned=node.get("bytes_scanned"), raw=info))
        for child in node.get("children", []):
            walk(child)

    for top in tree.get("operator", [tree]) if "operator" in tree else [tree]:
        walk(top)
    return scans
