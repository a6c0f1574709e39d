"""The audit archive: audit events kept for years as hive-partitioned Parquet with a hash-chained manifest.

Why a package of its own: the archive is written and read on disk (an outside-world boundary, like `sources/`
and `server/`), it has its own dependencies (pyarrow, DuckDB; the `archive` extra), and its layout is a
contract other engines (Spark, Trino, Athena) read unchanged. See docs/audit-archive.md.

Layout (a contract; `schema.LAYOUT_VERSION` names it):

    <store>/manifest.jsonl                       one JSON object per line, each chained to the one before
    <store>/events/day=YYYY-MM-DD/<segment>.parquet   one segment = the events of one ingest for one day
"""
