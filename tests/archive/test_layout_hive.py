"""The archive layout is plain hive-partitioned Parquet (issue 16 req 8): what Spark, Trino or Athena read.

Read here with DuckDB's own `hive_partitioning` reader over a glob, as an engine that knows nothing of
kubehipaa would (no file list, no kubehipaa code), and with pyarrow's hive dataset reader: both must see every
column of EVENT_SCHEMA with its type, `day` from the directory name only, every row, and prune by `day`.

The archive is written by `write_archive` (the layout contract, archive/schema.py), straight with pyarrow;
once `audit archive add` is merged, the `store` fixture is where a second parametrisation points at it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from kubehipaa.archive.schema import COMPRESSION, EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY

from .query_fixtures import row, write_archive

TIMES = [
    dt.datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC),
    dt.datetime(2025, 1, 1, 13, 30, tzinfo=dt.UTC),
    dt.datetime(2025, 2, 28, 8, 0, tzinfo=dt.UTC),
    dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC),
]
DUCK_TYPES = {"ts": "TIMESTAMP WITH TIME ZONE", "stage_ts": "TIMESTAMP WITH TIME ZONE", "groups": "VARCHAR[]",
              "code": "INTEGER"}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "archive"
    write_archive(path, [row(t, audit_id=f"e{i}", user=f"user-{i}", groups=["g1", f"g{i}"], code=200 + i)
                         for i, t in enumerate(TIMES)])
    return path


def test_files_are_zstd_parquet_in_day_directories_without_a_day_column(store: Path) -> None:
    files = sorted((store / EVENTS_DIR).rglob("*.parquet"))
    assert [f.parent.name for f in files] == [f"{PARTITION_KEY}={d}" for d in
                                              ("2024-12-31", "2025-01-01", "2025-02-28", "2025-03-01")]
    for f in files:
        meta = pq.ParquetFile(f)
        assert meta.schema_arrow.equals(EVENT_SCHEMA, check_metadata=False), meta.schema_arrow
        assert PARTITION_KEY not in meta.schema_arrow.names  # the day lives in the path only
        codecs = {meta.metadata.row_group(0).column(i).compression for i in range(meta.metadata.num_columns)}
        assert codecs == {COMPRESSION.upper()}


def test_duckdb_hive_reader_sees_every_column_and_the_day_partition(store: Path) -> None:
    con = duckdb.connect()
    glob = str(store / EVENTS_DIR / "*" / "*.parquet")
    rel = con.sql("select * from read_parquet($g, hive_partitioning = true)", params={"g": glob})
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    assert list(types) == [*EVENT_SCHEMA.names, PARTITION_KEY]
    assert types[PARTITION_KEY] == "DATE"  # autodetected from day=YYYY-MM-DD, as Spark/Trino type it
    for column, expected in DUCK_TYPES.items():
        assert types[column] == expected, (column, types[column])
    rows = con.execute("select audit_id, day, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d'), groups, code "
                       "from read_parquet($1, hive_partitioning = true) order by ts", [glob]).fetchall()
    assert [r[0] for r in rows] == [f"e{i}" for i in range(len(TIMES))]
    for audit_id, day, ts_day, groups, code in rows:
        assert day.isoformat() == ts_day, audit_id  # the partition is the UTC day of ts
        assert groups[0] == "g1" and code >= 200


def test_duckdb_prunes_partitions_on_day(store: Path) -> None:
    con = duckdb.connect()
    con.execute("PRAGMA enable_profiling = 'json'")
    glob = str(store / EVENTS_DIR / "*" / "*.parquet")
    plan = con.execute("explain analyze select count(*) from read_parquet($1, hive_partitioning = true) "
                       "where day >= DATE '2025-02-01'", [glob]).fetchall()[0][1]
    text = json.dumps(json.loads(plan))
    assert "day=2025-02-28" in text and "day=2025-03-01" in text
    assert "day=2024-12-31" not in text and "day=2025-01-01" not in text
    assert con.execute("select count(*) from read_parquet($1, hive_partitioning = true) "
                       "where day >= DATE '2025-02-01'", [glob]).fetchone() == (2,)


def test_pyarrow_hive_dataset_reads_the_same_rows(store: Path) -> None:
    """pyarrow's dataset reader with `partitioning="hive"`: the reader Spark-style tools and pandas use."""
    dataset = ds.dataset(store / EVENTS_DIR, format="parquet", partitioning="hive")
    assert dataset.schema.names == [*EVENT_SCHEMA.names, PARTITION_KEY]
    table = dataset.to_table(filter=ds.field(PARTITION_KEY) == "2025-01-01")
    assert sorted(table.column("audit_id").to_pylist()) == ["e1", "e2"]
    assert table.schema.field("groups").type == pa.list_(pa.string())
