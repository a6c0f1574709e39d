"""`kubehipaa audit query` (issue 16 req 7): filters, raw SQL, formats, redaction, errors, and proof from
DuckDB's own profiler that only the needed columns and days are read.

The CLI runs through `main()` in-process (as the console script does), so option parsing, error mapping and
exit codes are part of what is tested. Archives are written in the layout contract directly
(query_fixtures.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest

from kubehipaa.archive import query as q
from kubehipaa.cli.main import main

from .query_fixtures import T0, days, row, write_archive

D = days(10)  # noon UTC of 2025-01-01 .. 2025-01-10

ROWS = [
    row(D[0], audit_id="a1", user="jane@clinic.example", groups=["system:authenticated", "clinicians"],
        verb="get", resource="secrets", namespace="clinical", name="db", source_ip="10.0.0.5", code=200),
    row(D[1], audit_id="a2", user="bob", groups=["system:masters"], verb="list", resource="secrets",
        namespace="clinical", name=None, source_ip="10.1.0.7", code=200),
    row(D[2], audit_id="a3", user="o'brien", verb="delete", resource="pods", namespace="web", name="p1",
        source_ip="192.168.1.1", code=403),
    row(D[3], audit_id="a4", user="alice", impersonated_user="jane@clinic.example", verb="get",
        resource="secrets", namespace="billing", name="db", source_ip="192.168.1.2", code=404),
    row(D[4], audit_id="a5", user="system:serviceaccount:clinical:app", verb="create", resource="pods",
        subresource="exec", namespace="clinical", name="web-0", source_ip="10.0.0.9", code=101),
    row(D[5], audit_id="a6", user="jane@clinic.example", verb="get", resource="configmaps",
        namespace="clinical", name="db", source_ip="172.16.0.1", code=500),
    row(D[6], audit_id="a7", user="x%_y", verb="patch", resource="deployments", namespace="web", name="api",
        source_ip="172.16.0.2", code=503),
    row(D[7], audit_id="a8", user="xavier", verb="watch", resource="secrets", namespace="web", name=None,
        source_ip="172.16.0.3", code=200),
]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "archive"
    write_archive(path, ROWS)
    return path


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "audit", "query", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def ids(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> list[str]:
    code, out, err = run(monkeypatch, capsys, str(store), *argv, "--columns", "audit_id,ts", "--format", "json")
    assert code == 0, err
    return [r["audit_id"] for r in json.loads(out)["rows"]]


# ---- every filter ---------------------------------------------------------------------------------------

FILTERS = [
    (["--user", "jane@clinic.example"], ["a1", "a4", "a6"]),  # a4: jane impersonated by alice
    (["--user", "o'brien"], ["a3"]),  # a quote is part of a name, not SQL
    (["--user", "system:serviceaccount:clinical:*"], ["a5"]),  # glob
    (["--user", "x%_y"], ["a7"]),  # % and _ are literal, not LIKE wildcards
    (["--user", "x%*"], ["a7"]),  # glob: x% then anything ("xavier" does not start with "x%")
    (["--user", "x' OR '1'='1"], []),  # injection attempt: a user of that name, none
    (["--user", "bob", "--user", "xavier"], ["a2", "a8"]),  # repeated: any of them
    (["--group", "clinicians"], ["a1"]),
    (["--group", "system:mast*"], ["a2"]),
    (["--verb", "get"], ["a1", "a4", "a6"]),
    (["--verb", "list", "--verb", "watch"], ["a2", "a8"]),
    (["--resource", "secrets"], ["a1", "a2", "a4", "a8"]),
    (["--resource", "pods"], ["a3", "a5"]),  # any subresource
    (["--resource", "pods/exec"], ["a5"]),
    (["--namespace", "web"], ["a3", "a7", "a8"]),
    (["-n", "clinical", "-n", "billing"], ["a1", "a2", "a4", "a5", "a6"]),
    (["--name", "db"], ["a1", "a4", "a6"]),
    (["--source-ip", "10.1.0.7"], ["a2"]),
    (["--source-ip", "10.*"], ["a1", "a2", "a5"]),
    (["--code", "403"], ["a3"]),
    (["--code", "4xx"], ["a3", "a4"]),
    (["--code", "500-599"], ["a6", "a7"]),
    (["--code", "1xx", "--code", "403"], ["a3", "a5"]),
    (["--since", "2025-01-08"], ["a8"]),
    (["--until", "2025-01-03"], ["a1", "a2"]),
    (["--since", "2025-01-03", "--until", "2025-01-05"], ["a3", "a4"]),
    # combinations: AND across filters
    (["--user", "jane@clinic.example", "--resource", "secrets", "--since", "2025-01-02"], ["a4"]),
    (["--verb", "get", "--name", "db", "-n", "clinical"], ["a1", "a6"]),
    (["--verb", "get", "--name", "db", "-n", "clinical", "--resource", "secrets"], ["a1"]),
    (["--resource", "secrets", "--verb", "get", "--verb", "list", "--verb", "watch", "--code", "2xx"],
     ["a1", "a2", "a8"]),
]


@pytest.mark.parametrize("argv,expected", FILTERS, ids=[" ".join(a) for a, _ in FILTERS])
def test_each_filter_and_combination_selects_exactly_its_events(
        store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], expected: list[str]) -> None:
    assert ids(monkeypatch, capsys, store, *argv) == expected


def test_no_filter_lists_every_event_in_time_order(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert ids(monkeypatch, capsys, store) == [f"a{i}" for i in range(1, 9)]


def test_time_bounds_are_utc_instants_and_until_is_exclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--since with an offset is an instant: 2025-01-03T00:00+02:00 is 2025-01-02T22:00Z, so the Jan 2
    partition must still be read (pruning by the local date would drop b1); --until is exclusive to the
    microsecond."""
    store = tmp_path / "a"
    write_archive(store, [
        row(dt.datetime(2025, 1, 2, 21, 59, 59, 999999, tzinfo=dt.UTC), audit_id="b0"),
        row(dt.datetime(2025, 1, 2, 23, 0, tzinfo=dt.UTC), audit_id="b1"),
        row(dt.datetime(2025, 1, 3, 23, 59, 59, 999999, tzinfo=dt.UTC), audit_id="b2"),
        row(dt.datetime(2025, 1, 4, 0, 0, tzinfo=dt.UTC), audit_id="b3"),
    ])
    assert ids(monkeypatch, capsys, store, "--since", "2025-01-03T00:00:00+02:00") == ["b1", "b2", "b3"]
    assert ids(monkeypatch, capsys, store, "--until", "2025-01-04T00:00:00Z") == ["b0", "b1", "b2"]
    assert ids(monkeypatch, capsys, store, "--since", "2025-01-02T23:00:00.000000001Z") == ["b2", "b3"]


def test_a_range_beyond_the_archived_days_is_said(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The archive holds 2025-01-01..2025-01-08. Asking from 2024 answers only from 2025-01-01: said in every
    format. Asking about 2026 examines no event at all: the report says so, and the exit code is 2, so an
    empty answer cannot pass for "nobody did it"."""
    code, out, err = run(monkeypatch, capsys, str(store), "--since", "2024-06-01", "--user", "bob",
                         "--format", "json")
    doc = json.loads(out)
    assert code == 0 and [r["user"] for r in doc["rows"]] == ["bob"]
    assert any("before the first archived day (2025-01-01)" in w for w in doc["warnings"]), doc["warnings"]
    code, out, err = run(monkeypatch, capsys, str(store), "--since", "2024-06-01")
    assert code == 0 and "warning: --since starts on 2024-06-01" in " ".join(out.split())
    code, out, err = run(monkeypatch, capsys, str(store), "--since", "2026-01-01", "--format", "json")
    assert code == 2 and "no archived day lies in the --since/--until range" in err
    assert json.loads(out)["count"] == 0 and json.loads(out)["warnings"]
    code, out, err = run(monkeypatch, capsys, str(store), "--until", "2024-12-31T23:59:59Z")
    assert code == 2 and "no event was examined" in err
    code, out, err = run(monkeypatch, capsys, str(store), "--since", "2025-01-02", "--until", "2025-01-04",
                         "--format", "json")
    assert code == 0 and json.loads(out)["warnings"] == []


def test_collections_widens_name_to_the_lists_and_watches_that_return_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Who read secret db in namespace billing: the get of db, and also the list/watch of billing's secrets
    and the cluster-wide list, which returned db too; not the get of another secret, not a list elsewhere."""
    store = tmp_path / "c"
    write_archive(store, [
        row(D[0], audit_id="c1", user="getter", verb="get", namespace="billing", name="db"),
        row(D[0], audit_id="c2", user="lister", verb="list", namespace="billing", name=None),
        row(D[1], audit_id="c3", user="watcher", verb="watch", namespace=None, name=None),
        row(D[1], audit_id="c4", user="other", verb="get", namespace="billing", name="api"),
        row(D[2], audit_id="c5", user="elsewhere", verb="list", namespace="clinical", name=None),
        row(D[2], audit_id="c6", user="db-elsewhere", verb="get", namespace="clinical", name="db"),
    ])
    base = ["--resource", "secrets", "-n", "billing", "--name", "db", "--verb", "get", "--verb", "list",
            "--verb", "watch"]
    assert ids(monkeypatch, capsys, store, *base) == ["c1"]
    assert ids(monkeypatch, capsys, store, *base, "--collections") == ["c1", "c2", "c3"]
    code, _, err = run(monkeypatch, capsys, str(store), "--collections")
    assert code == 2 and "--collections widens --name" in err


def test_count_by_user_answers_who(store: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(store), "--resource", "secrets", "--verb", "get",
                         "--count-by", "user", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["columns"] == ["user", "events", "first", "last"]
    assert [(r["user"], r["events"]) for r in doc["rows"]] == [("alice", 1), ("jane@clinic.example", 1)]
    assert doc["rows"][0]["first"] == "2025-01-04T12:00:00Z"


def test_limit_says_when_more_rows_match(store: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(monkeypatch, capsys, str(store), "--limit", "3", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["count"] == 3 and doc["truncated"] is True
    code, out, _ = run(monkeypatch, capsys, str(store), "--limit", "8", "--format", "json")
    assert json.loads(out)["truncated"] is False
    code, out, _ = run(monkeypatch, capsys, str(store), "--limit", "3")
    assert "more match (--limit 3)" in out


# ---- what is read: DuckDB's profile ---------------------------------------------------------------------


def _scan(store: Path, query: q.Query) -> q.ScanProfile:
    scans = q.profile(store, *q.build_sql(query))
    assert len(scans) == 1, scans
    return scans[0]


def test_filter_query_reads_only_the_needed_columns(store: Path) -> None:
    """'Who read secret X in namespace Y': the scan projects the filter and answer columns, never `event`
    (the widest) nor any other column."""
    query = q.Query(filters=q.Filters(verbs=("get", "list", "watch"), resources=("secrets",),
                                      namespaces=("clinical",), names=("db",)), count_by=("user",))
    scan = _scan(store, query)
    assert set(scan.projections) <= {"user", "verb", "resource", "namespace", "name", "ts"}, scan.projections
    assert "user" in scan.projections
    listing = _scan(store, q.Query(filters=q.Filters(users=("bob",))))
    assert "event" not in listing.projections
    assert set(listing.projections) <= {*q.DEFAULT_COLUMNS, "impersonated_user", "audit_id"}
    full = _scan(store, q.Query(columns=("audit_id", "event")))
    assert "event" in full.projections  # asked for: read


def test_since_prunes_day_partitions_before_opening_files(store: Path) -> None:
    """--since 2025-01-08: only the three last days' files are opened; DuckDB applies the `day` condition to
    the file list (hive filter pushdown). A filter on `ts` alone would open every file to read its footer."""
    since = dt.datetime(2025, 1, 8, tzinfo=dt.UTC)
    scan = _scan(store, q.Query(filters=q.Filters(since=since)))
    assert scan.files_total == 8
    assert scan.files_opened == 1, scan.raw  # days 8 (a8); 9 and 10 hold no event
    assert all("day=2025-01-08" in f for f in scan.files_read), scan.files_read
    assert "day" in scan.file_filters
    until = dt.datetime(2025, 1, 3, tzinfo=dt.UTC)
    scan = _scan(store, q.Query(filters=q.Filters(since=D[0], until=until)))
    assert scan.files_opened == 2, scan.raw


# ---- raw SQL --------------------------------------------------------------------------------------------


def test_sql_select_runs_over_the_events_view(store: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(store), "--sql",
                         "with s as (select * from events where resource = 'secrets') "
                         "select verb, count(*) as n from s group by 1 order by 1;", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["columns"] == ["verb", "n"]
    assert [(r["verb"], r["n"]) for r in doc["rows"]] == [("get", 2), ("list", 1), ("watch", 1)]
    code, out, err = run(monkeypatch, capsys, str(store), "--sql",
                         "select day, count(*) n from events where day >= DATE '2025-01-07' group by 1 order by 1",
                         "--format", "csv")
    assert code == 0, err
    assert out.splitlines() == ["day,n", "2025-01-07,1", "2025-01-08,1"]


REFUSED = [
    "copy (select * from events) to '{store}/events/day=2025-01-01/x.parquet'",
    "copy (select 1) to '{tmp}/out.csv'",
    "create table t as select * from events",
    "create view v as select 1",
    "insert into events values (1)",
    "install httpfs",
    "load httpfs",
    "attach '{tmp}/x.duckdb' as x",
    "set enable_external_access = true",
    "pragma version",
    "export database '{tmp}/dump'",
    "select 1; drop view events",
    "call pragma_version()",
    "explain select 1",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_sql_that_is_not_a_select_is_refused_before_running(store: Path, tmp_path: Path, sql: str,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run(monkeypatch, capsys, str(store), "--sql", sql.format(store=store, tmp=tmp_path))
    assert code == 2, out + err
    assert err.startswith("error: --sql:") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("sql", [
    "select * from read_csv('{outside}')",
    "select * from read_text('{outside}')",
    "select * from glob('/etc/*')",
    "select * from read_parquet('{other}/events/*/*.parquet')",
])
def test_sql_reads_nothing_outside_the_store(store: Path, tmp_path: Path, sql: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret_column\nhunter2\n")
    other = tmp_path / "other"
    write_archive(other, [row(T0, user="someone-else")])
    code, out, err = run(monkeypatch, capsys, str(store), "--sql", sql.format(outside=outside, other=other))
    assert code == 2, out
    assert "hunter2" not in out + err and "someone-else" not in out
    assert err.startswith("error: --sql:") and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("sql,fragment", [
    ("selec user from events", "syntax error"),
    ("select nope from events", "nope"),
    ("", "no statement"),
])
def test_bad_sql_is_one_line_exit_2(store: Path, sql: str, fragment: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(store), "--sql", sql)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --sql:"), err
    assert fragment in err


def test_sql_with_filters_is_a_usage_error(store: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(monkeypatch, capsys, str(store), "--sql", "select 1", "--user", "bob")
    assert code == 2 and "--sql cannot be combined" in err


# ---- the store ------------------------------------------------------------------------------------------


def test_missing_or_empty_store_is_exit_2_not_an_empty_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(tmp_path / "nope"))
    assert code == 2 and "no such archive" in err and out == ""
    empty = tmp_path / "empty"
    (empty / "events" / "day=2025-01-01").mkdir(parents=True)
    (empty / "events" / "day=2025-01-01" / ".seg.parquet.tmp").write_bytes(b"partial")
    (empty / "manifest.jsonl").write_text("")
    for argv in ([str(empty)], [str(empty), "--sql", "select count(*) from events"],
                 [str(empty), "--user", "bob", "--format", "json"]):
        code, out, err = run(monkeypatch, capsys, *argv)
        assert code == 2, out
        assert f"no events in {empty}" in err and out == ""
    afile = tmp_path / "file"
    afile.write_text("x")
    code, _, err = run(monkeypatch, capsys, str(afile))
    assert code == 2 and "not a directory" in err


def test_a_corrupt_segment_is_exit_2_naming_the_store(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    next(store.rglob("*.parquet")).write_bytes(b"PAR1 not really parquet")
    code, out, err = run(monkeypatch, capsys, str(store))
    assert code == 2, out
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_without_duckdb_says_what_to_install(store: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # `import duckdb` raises ImportError
    code, _, err = run(monkeypatch, capsys, str(store))
    assert code == 2 and "kubehipaa[archive]" in err, err


def test_without_pyarrow_says_what_to_install(store: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The archive schema is pyarrow's: without it the command cannot even describe the columns."""
    for mod in [m for m in sys.modules if m == "pyarrow" or m.startswith(("pyarrow.", "kubehipaa.archive"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = run(monkeypatch, capsys, str(store))
    assert code == 2 and "kubehipaa[archive]" in err and "pyarrow" in err, err


@pytest.mark.parametrize("argv,fragment", [
    (["--columns", "user,password"], "unknown column 'password'"),
    (["--columns", 'user" from events; --'], "unknown column"),
    (["--count-by", "nope"], "unknown column 'nope'"),
    (["--code", "4x"], "--code '4x'"),
    (["--code", "599-500"], "--code"),
    (["--since", "2025-01-05", "--until", "2025-01-05"], "holds no time"),
    (["--format", "xml"], "xml"),
    (["--count-by", "user", "--columns", "ts"], "--count-by shows its own columns"),
    (["--limit", "0"], "--limit"),
])
def test_bad_options_are_exit_2(store: Path, argv: list[str], fragment: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(store), *argv)
    assert code == 2 and out == "", out
    assert fragment in err and "Traceback" not in err


# ---- formats --------------------------------------------------------------------------------------------


def test_json_and_csv_carry_the_same_rows(store: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(monkeypatch, capsys, str(store), "--resource", "secrets", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["columns"] == list(q.DEFAULT_COLUMNS) and doc["count"] == 4
    assert doc["query"]["filters"] == {"resources": ["secrets"]}
    assert doc["store"]["segments"] == 8 and doc["store"]["firstDay"] == "2025-01-01"
    code, out, _ = run(monkeypatch, capsys, str(store), "--resource", "secrets", "--format", "csv")
    table = list(csv.reader(io.StringIO(out)))
    assert code == 0 and table[0] == list(q.DEFAULT_COLUMNS)
    assert [r[1] for r in table[1:]] == [r["user"] for r in doc["rows"]]
    assert table[1][0] == "2025-01-01T12:00:00Z" and table[1][-2] == "200"


def test_csv_defuses_formulas_but_keeps_numbers(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(store), "--sql",
                         "select -1 as n, '=HYPERLINK(\"http://x\")' as f, 2.5 as x", "--format", "csv")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [["n", "f", "x"], ["-1", "'=HYPERLINK(\"http://x\")", "2.5"]]


def test_a_store_path_with_quotes_and_glob_characters_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The file list reaches DuckDB as a bound value, not as SQL text or a glob: a store named `it's [a] *`
    is read, and its sibling `it's [a] x` (which `*` would match as a glob) is not."""
    store = tmp_path / "it's [a] *"
    write_archive(store, [row(T0, audit_id="q1")])
    write_archive(tmp_path / "it's [a] x", [row(T0, audit_id="other")])
    assert ids(monkeypatch, capsys, store) == ["q1"]
    code, out, err = run(monkeypatch, capsys, str(store), "--sql", "select count(*) as n from events",
                         "--format", "json")
    assert code == 0 and json.loads(out)["rows"] == [{"n": 1}], err


def test_output_file(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.json"
    code, out, _ = run(monkeypatch, capsys, str(store), "--format", "json", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["count"] == 8


@pytest.mark.parametrize("argv", [
    [],
    ["--full"],
    ["--count-by", "user,namespace"],
    ["--sql", "select user, groups, request_uri, count(*) as n from events group by all"],
])
def test_table_fits_80_columns(store: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run(monkeypatch, capsys, str(store), *argv)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "system:serviceaccount:clinical:app" in out  # a name is never split across lines
    assert "8 event(s)" in out or "row(s)" in out


# ---- redaction ------------------------------------------------------------------------------------------

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    """An archive written by something that did not redact (an older version, or redaction opted out)."""
    path = tmp_path / "leaky"
    write_archive(path, [
        row(T0, audit_id="s1", user="ops", name="patient-123-45-6789",
            request_uri="/api/v1/namespaces/clinical/secrets?token=hunter2hunter2",
            user_agent=f"curl Authorization: Bearer {JWT}",
            event=json.dumps({"annotations": {"password": "hunter2hunter2"}, "jwt": JWT})),
        row(T0, audit_id="s2", user="ops", resource="services", subresource="proxy", name="ehr:80",
            request_uri="/api/v1/namespaces/clinical/services/ehr:80/proxy/patients/4417/records"),
    ])
    return path


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
@pytest.mark.parametrize("argv", [
    ["--full"],
    ["--sql", "select *, upper(request_uri) as computed, request_uri || '' as uri2 from events"],  # new strings
])
def test_every_format_redacts_secrets_and_phi_in_results(leaky: Path, fmt: str, argv: list[str],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(monkeypatch, capsys, str(leaky), *argv, "--format", fmt)
    assert code == 0, err
    for leaked in ("hunter2", "HUNTER2", JWT, "123-45-6789", "eyJzdWIi", "patients/4417"):
        assert leaked not in out, (leaked, out)
    assert "<redacted" in out
    assert "ops" in out  # the rest of the row is shown

