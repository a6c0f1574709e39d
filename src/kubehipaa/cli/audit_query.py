"""`kubehipaa audit query`: questions over the audit archive (filters or read-only SQL), answered by DuckDB.

Registered on `audit.app` by importing this module (one line at the end of cli/audit.py). Nothing heavy is
imported here: DuckDB (`archive.query`) and the report are imported when the command runs, so `audit analyze`
does not pay for them at start-up.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.audit import app, time_range
from kubehipaa.cli.common import warn, write_output
from kubehipaa.errors import InputError, KubehipaaError


class QueryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _instant(bound: str | None) -> dt.datetime | None:
    """A bound as `TimeRange` writes it ('YYYY-MM-DDTHH:MM:SS[.fraction]', UTC) → an aware datetime, rounded
    UP to the microsecond (archived times are microseconds: `ts >= ceil(b)` is `ts >= b`, `ts < ceil(b)` is
    `ts < b`)."""
    if bound is None:
        return None
    whole, _, frac = bound.partition(".")
    moment = dt.datetime.fromisoformat(whole).replace(tzinfo=dt.UTC)
    digits = (frac + "0" * 9)[:9]
    micros, rest = divmod(int(digits), 1000)
    return moment + dt.timedelta(microseconds=micros + (1 if rest else 0))


def _columns(text: str | None, full: bool) -> tuple[str, ...] | None:
    from kubehipaa.archive.query import FULL_COLUMNS

    if full:
        return FULL_COLUMNS
    if not text:
        return None
    return tuple(c.strip() for c in text.split(",") if c.strip())


@app.command("query")
def query(
    store: Path = typer.Argument(..., help="The archive directory (made by `audit archive add`)."),
    user: list[str] = typer.Option(None, "--user", help="User (glob; also matches the impersonated user). "
                                   "Repeatable: any of them."),
    group: list[str] = typer.Option(None, "--group", help="A group of the user (glob). Repeatable."),
    verb: list[str] = typer.Option(None, "--verb", help="Verb: get, list, watch, create... Repeatable."),
    resource: list[str] = typer.Option(None, "--resource", help="Resource (secrets: any subresource) or "
                                       "resource/subresource (pods/exec). Repeatable."),
    namespace: list[str] = typer.Option(None, "--namespace", "-n", help="Namespace. Repeatable."),
    name: list[str] = typer.Option(None, "--name", help="Object name. Repeatable. A list or watch of a "
                                   "whole namespace names no object: add --collections for those."),
    collections: bool = typer.Option(False, "--collections", help="With --name: also the requests on the "
                                     "whole collection (list, watch, deletecollection: no object name), in "
                                     "the --namespace or cluster-wide, which return the named object too."),
    source_ip: list[str] = typer.Option(None, "--source-ip", help="Source IP (glob: 10.0.*). Repeatable."),
    code: list[str] = typer.Option(None, "--code", help="Response code: 403, a class 4xx or a range "
                                   "500-599. Repeatable."),
    since: str | None = typer.Option(None, "--since", help="Events at or after this: 24h, 30m, 7d or RFC 3339."),
    until: str | None = typer.Option(None, "--until", help="Events before this: 24h, 30m, 7d or RFC 3339."),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated columns to show (default: ts, "
                                       "user, verb, resource, subresource, namespace, name, code, source_ip)."),
    full: bool = typer.Option(False, "--full", help="Show every column, the whole event (`event`) included."),
    count_by: str | None = typer.Option(None, "--count-by", help="Count matching events per these "
                                        "comma-separated columns (with first and last time) instead of "
                                        "listing them: --count-by user answers 'who'."),
    sql: str | None = typer.Option(None, "--sql", help="A read-only SELECT over the view `events` (every "
                                   "column, plus `day`); no filter options with it."),
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many rows (the report says when more "
                              "match)."),
    fmt: QueryFormat = typer.Option(QueryFormat.table, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the answer to FILE instead of stdout."),
) -> None:
    """Answer questions over the audit archive: filters, or SQL, run by DuckDB over the Parquet files.

    Only the columns a question needs are read, and a --since/--until range skips whole days. Every value
    shown passes through kubehipaa's redaction.

    Examples:

      kubehipaa audit query ./audit-archive --user jane@clinic.example --since 2025-01-01

      kubehipaa audit query ./audit-archive --resource secrets -n clinical --name db --count-by user

      kubehipaa audit query ./audit-archive --sql "select user, count(*) from events group by 1"

    Exit codes: 0 answered (no matching row is an answer); 2 usage error, bad SQL, a missing or empty
    archive, or a --since/--until range with no archived day in it (nothing was examined).
    """
    try:
        from kubehipaa.archive import query as q  # the schema needs pyarrow; queries need DuckDB
    except ImportError as exc:
        raise KubehipaaError(f"audit query needs pyarrow and DuckDB ({exc.name or exc} is missing): "
                             "pip install 'kubehipaa[archive]'") from None
    from kubehipaa.reports.audit_query import AuditQueryReport
    from kubehipaa.reports.base import RenderOptions

    filters_given = any([user, group, verb, resource, namespace, name, source_ip, code, since, until,
                         columns, full, count_by, collections])
    if sql is not None:
        if filters_given:
            raise KubehipaaError("--sql cannot be combined with filter, --columns or --count-by options: "
                                 "put the conditions in the SELECT")
        result = q.run_sql(store, sql, limit)
    else:
        if collections and not name:
            raise KubehipaaError("--collections widens --name: give the object's --name")
        if count_by and (columns or full):
            raise KubehipaaError("--count-by shows its own columns (the keys, events, first, last): drop "
                                 "--columns/--full")
        window = time_range(since, until)
        flt = q.Filters(users=tuple(user or ()), groups=tuple(group or ()), verbs=tuple(verb or ()),
                        resources=tuple(resource or ()), namespaces=tuple(namespace or ()),
                        names=tuple(name or ()), source_ips=tuple(source_ip or ()), codes=tuple(code or ()),
                        since=_instant(window.since), until=_instant(window.until), collections=collections)
        keys = tuple(c.strip() for c in count_by.split(",") if c.strip()) if count_by else ()
        spec = q.Query(filters=flt, columns=_columns(columns, full) or q.DEFAULT_COLUMNS, count_by=keys,
                       limit=limit)
        result = q.run_filters(store, spec)
    if fmt != QueryFormat.table:  # the table says it under the rows; JSON has `warnings`, CSV has no place
        for line in result.warnings:
            warn(line)
    write_output(AuditQueryReport().render(result, fmt.value, RenderOptions()), output)
    if result.outside is not None:  # after the report (which says so too): exit 2, not an empty answer
        raise InputError(result.outside)
