"""Render `audit query` answers (rows from the archive): table, JSON, CSV.

Why redaction here too: the archive masks PHI-shaped values and drops Secret bodies when events are stored,
but a query can return any column, including `event` and `request_uri`, of archives written by older versions
or with redaction opted out, and `--sql` can compute new strings from them. So every cell goes through the
one redaction layer (`kubehipaa.redaction`) on its way out, whichever format: a request URI with
`redact_uri` (query string, proxy paths), every other string with `redact_text`. Tables go through
`terminal.fit_table` (fits the reader's width, 80 columns in a pipe); CSV through `csv_text` (formula-safe).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import RenderableType
from rich.text import Text

from kubehipaa import __version__
from kubehipaa.redaction import redact_text, redact_uri
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.csv_text import csv_text
from kubehipaa.reports.terminal import Column, fit_table, render_text

if TYPE_CHECKING:
    from kubehipaa.archive.query import QueryResult

URI_COLUMNS = frozenset({"request_uri"})
"""Columns holding a request URI: redacted with `redact_uri` (the query string goes whole, and the
application path behind `/proxy/`), as is any string value starting with `/`."""
KEY_COLUMNS = frozenset({"ts", "first", "last", "user", "impersonated_user", "verb", "namespace", "name",
                         "source_ip", "code", "events", "day", "audit_id", "resource", "subresource"})
"""Name-like columns that a table must never split inside a word (terminal.fit_table)."""
RIGHT = frozenset({"code", "events"})


def _instant(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    return value.isoformat()


def plain(value: Any, column: str = "") -> Any:
    """A DuckDB value as JSON data (str, int, float, bool, None, list, dict), every string redacted."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if value.startswith(("{", "[")):
            return _redact_json_text(value)
        return _redact_string(value, column)
    if isinstance(value, dt.datetime):
        return _instant(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"  # a blob is not shown: it could be anything
    if isinstance(value, dict):
        return {redact_text(str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, column) for v in value]
    return redact_text(str(value))


def _redact_string(value: str, column: str = "") -> str:
    """A request URI, also one computed by --sql under another name, loses the path behind /proxy/ and its
    query string (redact_uri); any other path-like text gets the same (harmless) treatment; the rest is text."""
    return redact_uri(value) if column in URI_COLUMNS or value.startswith("/") else redact_text(value)


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return _redact_string(value)
    if isinstance(value, dict):
        return {redact_text(str(k)): _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v) for v in value]
    return value


def _redact_json_text(value: str) -> str:
    """JSON text (the `event` column: a whole audit event) redacted as text first (a value is a secret by its
    key: `"password": "..."`), then value by value, so the `requestURI` inside gets the URI rules as the
    `request_uri` column does. Should the text pass leave something that no longer parses, it is shown as
    the text pass left it (redacted, just not re-checked value by value)."""
    text = redact_text(value)
    try:
        tree = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return orjson.dumps(_redact_tree(tree)).decode("utf-8")


def cell_text(value: Any, column: str = "") -> str:
    """A value as one table/CSV cell: lists joined with `, `, null as empty."""
    v = plain(value, column)
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join("" if x is None else str(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items())
    return str(v)


def unique_names(columns: list[str]) -> list[str]:
    """Column names made unique (`name`, `name_2`): a JSON row is an object, and `select a.x, b.x` would
    otherwise lose one of them."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for c in columns:
        n = seen.get(c, 0) + 1
        seen[c] = n
        out.append(c if n == 1 else f"{c}_{n}")
    return out


def report_dict(result: QueryResult) -> dict[str, Any]:
    names = unique_names(result.columns)
    query: dict[str, Any] = {"sql": result.sql} if result.sql is not None else {"filters": result.filters}
    if result.count_by:
        query["countBy"] = result.count_by
    return {
        "tool": {"name": "kubehipaa", "version": __version__},
        "store": {"path": result.store, "segments": result.files, "days": result.days,
                  "firstDay": result.first_day, "lastDay": result.last_day},
        "query": query,
        "columns": names,
        "count": len(result.rows),
        "limit": result.limit,
        "truncated": result.truncated,
        "warnings": result.warnings + ([result.outside] if result.outside else []),
        "rows": [{n: plain(v, c) for n, c, v in zip(names, result.columns, row, strict=True)}
                 for row in result.rows],
    }


def summary_lines(result: QueryResult) -> list[str]:
    what = "row(s)" if result.sql is not None or result.count_by else "event(s)"
    lines = [f"{len(result.rows)} {what}" + (f" shown; more match (--limit {result.limit})"
                                              if result.truncated else "")]
    span = f", {result.first_day} to {result.last_day}" if result.first_day else ""
    lines.append(f"archive: {result.store}")
    lines.append(f"{result.files} segment(s) over {result.days} day(s){span}")
    lines.extend(f"warning: {w}" for w in result.warnings)
    if result.outside:
        lines.append(result.outside)
    return lines


OBJECT_PARTS = ("resource", "subresource", "namespace", "name")


def _object(values: dict[str, str]) -> str:
    """`secrets clinical/db`, `pods/exec clinical/web-0`: the object as `audit timeline` shows it."""
    res = "/".join(v for v in (values.get("resource", ""), values.get("subresource", "")) if v)
    target = "/".join(v for v in (values.get("namespace", ""), values.get("name", "")) if v)
    return f"{res} {target}".strip()


def table_rows(result: QueryResult) -> tuple[list[Column], list[list[str]]]:
    """Columns and cells of the table. When resource, namespace and name are all shown, they (and
    subresource) become one `object` column, where the first of them was: nine columns cannot fit 80, and
    the object reads as `kubectl` names it. JSON and CSV keep every column as it is."""
    names = list(result.columns)
    merge = all(c in names for c in ("resource", "namespace", "name")) and not result.sql
    shown: list[str] = []
    for c in names:
        if merge and c in OBJECT_PARTS:
            if "object" not in shown:
                shown.append("object")
            continue
        shown.append(c)
    columns = [Column(c, key=c in KEY_COLUMNS, justify="right" if c in RIGHT else "left") for c in shown]
    rows: list[list[str]] = []
    for row in result.rows:
        cells = {c: cell_text(v, c) for c, v in zip(names, row, strict=True)}
        if merge:
            cells["object"] = _object(cells)
        rows.append([cells[c] for c in shown])
    return columns, rows


def render_table(result: QueryResult, *, width: int) -> str:
    columns, rows = table_rows(result)
    parts: list[RenderableType] = []
    if rows:
        parts.append(fit_table(columns, rows, width))
    else:
        parts.append(Text("no event matches" if result.sql is None else "no row"))
    parts.extend(Text(line) for line in summary_lines(result))
    return render_text(parts, width=width)


def csv_cell(value: Any, column: str = "") -> Any:
    """A CSV cell: numbers stay numbers (`-1` is not a formula to defuse), everything else as in the table."""
    v = plain(value, column)
    return v if isinstance(v, int | float) else cell_text(value, column)


def render_csv(result: QueryResult) -> str:
    return csv_text(unique_names(result.columns),
                    ([csv_cell(v, c) for c, v in zip(result.columns, row, strict=True)] for row in result.rows))


class AuditQueryReport:
    """`Report` for an archive query's `QueryResult` (reports/base.py)."""

    formats: tuple[str, ...] = ("table", "json", "csv")

    def render(self, result: QueryResult, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text(report_dict(result))
        if fmt == "csv":
            return render_csv(result)
        return render_table(result, width=options.width)
