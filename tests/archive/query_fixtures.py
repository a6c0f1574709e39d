"""Archives for the query tests, written directly in the archive layout with pyarrow.

Why not through `audit archive add`: the query side must be testable on its own, against the layout contract
(archive/schema.py), whatever writer produced the files: `events/day=YYYY-MM-DD/<segment>.parquet`, zstd,
columns `EVENT_SCHEMA`, `day` only in the directory name.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from kubehipaa.archive.schema import COMPRESSION, EVENT_SCHEMA, EVENTS_DIR, PARTITION_KEY

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def row(ts: dt.datetime | None = None, *, verb: str = "get", user: str = "jane@clinic.example",
        groups: list[str] | None = None, resource: str = "secrets", subresource: str | None = None,
        namespace: str | None = "clinical", name: str | None = "db", code: int = 200,
        source_ip: str = "10.0.0.5", impersonated_user: str | None = None, audit_id: str | None = None,
        request_uri: str | None = None, user_agent: str = "kubectl/v1.31", **extra: Any) -> dict[str, Any]:
    """One archived event as a dict of EVENT_SCHEMA columns (`event` is the JSON of the fields given)."""
    ts = ts or T0
    uri = request_uri or f"/api/v1/namespaces/{namespace}/{resource}/{name or ''}"
    out: dict[str, Any] = {
        "ts": ts, "stage_ts": ts + dt.timedelta(milliseconds=5), "audit_id": audit_id or f"id-{ts.timestamp()}",
        "stage": "ResponseComplete", "level": "Metadata", "verb": verb, "user": user,
        "groups": groups if groups is not None else ["system:authenticated"],
        "impersonated_user": impersonated_user, "source_ip": source_ip, "user_agent": user_agent,
        "api_group": "", "api_version": "v1", "resource": resource, "subresource": subresource,
        "namespace": namespace, "name": name, "request_uri": uri, "code": code, "decision": "allow",
    }
    out.update(extra)
    if "event" not in out:
        out["event"] = orjson.dumps({"verb": verb, "user": {"username": user}, "requestURI": uri}).decode()
    return out


def write_archive(store: Path, rows: Iterable[dict[str, Any]], *, segment: str = "seg-0001") -> list[Path]:
    """Write `rows` as one segment per UTC day of `ts`; returns the files written."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_day[r["ts"].astimezone(dt.UTC).date().isoformat()].append(r)
    written: list[Path] = []
    for day, day_rows in sorted(by_day.items()):
        part = store / EVENTS_DIR / f"{PARTITION_KEY}={day}"
        part.mkdir(parents=True, exist_ok=True)
        path = part / f"{segment}.parquet"
        pq.write_table(pa.Table.from_pylist(day_rows, schema=EVENT_SCHEMA), path, compression=COMPRESSION)
        written.append(path)
    (store / "manifest.jsonl").touch()
    return written


def days(n: int, start: dt.datetime = T0) -> list[dt.datetime]:
    """Noon of `n` consecutive days from `start`."""
    return [start + dt.timedelta(days=i, hours=12) for i in range(n)]
