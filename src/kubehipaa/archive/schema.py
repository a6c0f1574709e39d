"""The archive's column schema and layout constants: the one place that names them.

Why fixed, typed columns and not one JSON blob: questions over six years ("who read secret X in namespace Y,
ever") must read only the columns they filter on (DuckDB/Trino projection and filter pushdown), so the fields
a question filters on are columns of their own. The whole event (Secret bodies removed, PHI-shaped values
masked) is kept too, in `event`, so nothing the API server logged is lost.

The day partition column (`day`, `YYYY-MM-DD`, UTC day of `ts`) is not stored inside the files: it lives in
the hive directory name (`events/day=2025-01-31/...`), which is how DuckDB's `hive_partitioning`, Spark, Trino
and Athena read it.
"""

from __future__ import annotations

import pyarrow as pa

LAYOUT_VERSION = 1
"""Bumped when a column changes meaning or type; recorded in every manifest entry."""

MANIFEST = "manifest.jsonl"
EVENTS_DIR = "events"
PARTITION_KEY = "day"
COMPRESSION = "zstd"

EVENT_SCHEMA = pa.schema([
    pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=True),  # requestReceivedTimestamp (else timestamp)
    pa.field("stage_ts", pa.timestamp("us", tz="UTC"), nullable=True),  # stageTimestamp
    pa.field("audit_id", pa.string()),
    pa.field("stage", pa.string()),
    pa.field("level", pa.string()),
    pa.field("verb", pa.string()),
    pa.field("user", pa.string()),  # user.username
    pa.field("groups", pa.list_(pa.string())),  # user.groups
    pa.field("impersonated_user", pa.string()),  # impersonatedUser.username
    pa.field("source_ip", pa.string()),  # the last sourceIPs entry (closest to the API server)
    pa.field("user_agent", pa.string()),
    pa.field("api_group", pa.string()),
    pa.field("api_version", pa.string()),
    pa.field("resource", pa.string()),
    pa.field("subresource", pa.string()),
    pa.field("namespace", pa.string()),
    pa.field("name", pa.string()),
    pa.field("request_uri", pa.string()),
    pa.field("code", pa.int32()),  # responseStatus.code
    pa.field("decision", pa.string()),  # annotations["authorization.k8s.io/decision"]
    pa.field("event", pa.string()),  # the whole event as JSON: Secret bodies removed, PHI-shaped values masked
])
"""Column order and types of every segment file; `day` is the hive partition, not a column in the file."""

COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)
