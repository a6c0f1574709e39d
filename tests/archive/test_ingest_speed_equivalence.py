"""The fast ingest stores exactly what the straightforward one stored: the same row values, the same `event` JSON
bytes, the same Parquet rows (issue 16 req 6: making ingest faster must not weaken what is archived).

The reference is the cleaning as it was written before the memoized walker: `redact_tree` over the whole event,
each time. It is compared with `to_row` on the tests' hostile events (Secret bodies, embedded Secrets, PHI,
exec URIs, odd types), each repeated and interleaved so later ones come from the memo, and, when the bench log
exists on this machine (/tmp/bench/a100k.jsonl, made by bench/), on its first 20,000 events.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubehipaa.archive import rows
from kubehipaa.archive.rows import SECRET_BODIES, NoTimestamp, Row
from kubehipaa.redaction import redact_tree
from tests.archive.support import SSN, cli, read_store, sensitive_events, write_log
from tests.archive.test_archive_rows import EXEC, SHELL
from tests.auditlog.helpers import raw_event

BENCH = Path(os.environ.get("KUBEHIPAA_BENCH_LOG", "/tmp/bench/a100k.jsonl"))


def reference_clean(event: dict[str, Any], *, keep_phi: bool = False) -> dict[str, Any]:
    """`clean_event` as it was: every node of every event through `redact_tree`."""
    if rows.is_secret_request(event):
        event = {k: v for k, v in event.items() if k not in SECRET_BODIES}
    else:
        for key in SECRET_BODIES:
            body = event.get(key)
            if isinstance(body, dict | list) and b'"Secret"' in orjson.dumps(body):
                event = {**event, key: rows._strip_embedded_secrets(body)}
    if keep_phi:
        cleaned: dict[str, Any] = rows._credentials_only(event)
        return cleaned
    uri = event.get("requestURI")
    cleaned = redact_tree({k: v for k, v in event.items() if k != "requestURI"})
    if isinstance(uri, str):
        cleaned["requestURI"] = rows.redact_request_uri(uri)
    elif "requestURI" in event:
        cleaned["requestURI"] = redact_tree(uri)
    return cleaned


def _row(raw: bytes, monkeypatch: pytest.MonkeyPatch | None = None) -> Row | str:
    try:
        if monkeypatch is None:
            return rows.to_row(raw)
        with monkeypatch.context() as m:
            m.setattr(rows, "clean_event", reference_clean)
            return rows.to_row(raw)
    except (NoTimestamp, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _compare(lines: list[bytes], monkeypatch: pytest.MonkeyPatch) -> int:
    want = [_row(line, monkeypatch) for line in lines]
    got = [_row(line) for line in lines]
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if isinstance(w, str) or isinstance(g, str):
            assert w == g, f"line {i + 1}"
            continue
        assert (g.day, g.ts) == (w.day, w.ts), f"line {i + 1}"
        assert g.values == w.values, f"line {i + 1}: {lines[i][:200]!r}"
        assert g.values[-1].encode() == w.values[-1].encode()  # the `event` JSON, byte for byte
    return len(lines)


def hostile_events() -> list[dict[str, Any]]:
    """What the archive tests feed it, and odd shapes around the memo (equal parts in different key orders,
    numbers that look alike, nested Secrets, PHI in keys)."""
    evs = sensitive_events()
    base = raw_event("get", "pods", name="p")
    odd = copy.deepcopy(base)
    odd["user"] = {"groups": ["system:authenticated"], "username": "jane@hospital.org"}  # same parts, new order
    odd["responseStatus"] = {"code": 200.0, "metadata": {}}
    odd["annotations"] = {"note": f"patient ssn {SSN}", f"x-{SSN}": "1", "dob": "1980-02-29"}
    weird = copy.deepcopy(base)
    weird["responseStatus"] = {"code": 1 << 40, "message": "password=hunter2 Bearer abcDEF1234567890xyz"}
    weird["user"] = {"username": ["not", "a", "string"], "groups": ["ok", 7, None, True, 1.5]}
    weird["requestURI"] = ["not", "a", "uri"]
    weird["sourceIPs"] = []
    hl7 = raw_event("create", "configmaps", name="hl7", body={"kind": "ConfigMap", "data": {
        "msg": "MSH|^~\\&|EHR|clinic|||20260101||ADT^A01|1|P|2.5\rPID|1||12345^^^MRN||Doe^Jane||19800229"}})
    nested = raw_event("create", "lists", body={"kind": "List", "items": [{"kind": "List", "items": [
        {"kind": "Secret", "metadata": {"name": "deep", "annotations": {"a": "b"}}, "data": {"k": "c2VjcmV0"}}]}]})
    return [*evs, base, odd, weird, hl7, nested,
            raw_event("create", "pods", sub="exec", uri=EXEC), raw_event("create", "pods", sub="exec", uri=SHELL),
            raw_event("get", "pods", uri="/api/v1/namespaces/a/pods?labelSelector=ssn%3D123-45-6789&token=abc"),
            raw_event("get", "services", sub="proxy", uri="/api/v1/namespaces/a/services/ehr/proxy/patients/123-45-6789?x=1")]


def test_hostile_events_are_stored_exactly_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [orjson.dumps(e) for e in hostile_events()]
    # twice, then interleaved with ordinary events: the second time, parts come from the memo
    lines = [*lines, *lines, *[x for line in lines for x in (line, orjson.dumps(raw_event("list", "pods")))]]
    lines += [b'{"requestReceivedTimestamp":"2026-11-27T10:00:00Z","a":1,"a":{"b":"123-45-6789"}}', b"[1]",
              b'{"requestReceivedTimestamp":"2026-11-27T10:00:00Z","x":"\\u0031\\u0032\\u0033-45-6789"}']
    assert _compare(lines, monkeypatch) == len(lines)


@pytest.mark.skipif(not BENCH.is_file(), reason="no bench log on this machine (bench/ makes one)")
def test_the_bench_log_is_stored_exactly_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    with BENCH.open("rb") as fh:
        lines = [line for _, line in zip(range(20_000), fh, strict=False)]
    assert _compare(lines, monkeypatch) == len(lines)


def test_the_parquet_rows_are_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = [*hostile_events(), *[raw_event("get", "pods", name=f"p{i % 7}", audit_id=f"id-{i}",
                                             time=f"2026-11-27T10:00:{i % 60:02d}.{i:06d}Z") for i in range(500)]]
    log = write_log(tmp_path / "a.log", events * 2)
    got = cli("add", str(log), "--store", str(tmp_path / "fast"))
    with monkeypatch.context() as m:
        m.setattr(rows, "clean_event", reference_clean)
        want = cli("add", str(log), "--store", str(tmp_path / "ref"))
    assert got.exit_code == want.exit_code  # 2: the reader refuses the events whose username or URI is a list
    fast, ref = read_store(tmp_path / "fast"), read_store(tmp_path / "ref")
    assert fast.num_rows == ref.num_rows >= len(events) * 2 - 4
    assert fast.to_pylist() == ref.to_pylist()


def test_jobs_store_the_same_as_one_process(tmp_path: Path) -> None:
    """`add --jobs 2`: rows made in worker processes, stored in the log's order: the same segments (same
    Parquet bytes, same SHA-256), counts and refusals as `--jobs 1`, over many read batches and two days."""
    events = [raw_event("get", "pods", name=f"p{i % 13}", audit_id=f"id-{i}",
                        time=f"2026-11-{27 + i % 2}T10:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z") for i in range(6000)]
    for i in range(0, 6000, 500):
        events[i:i] = hostile_events()
    untimed = raw_event("get", "pods")
    del untimed["requestReceivedTimestamp"], untimed["stageTimestamp"]
    events.insert(3000, untimed)
    log = write_log(tmp_path / "a.log", events, extra=b"{not json\n")
    results = {}
    for jobs in ("1", "2"):
        out = cli("add", str(log), "--store", str(tmp_path / jobs), "--jobs", jobs)
        lines = [orjson.loads(x) for x in (tmp_path / jobs / "manifest.jsonl").read_bytes().splitlines()]
        results[jobs] = (out.exit_code, out.stderr.replace(str(tmp_path / jobs), "STORE"),
                         [(e["day"], e["count"], e["first"], e["last"], e["sha256"]) for e in lines],
                         read_store(tmp_path / jobs).to_pylist())
    assert results["1"][0] == 2 and "1 event(s) without a timestamp" in results["1"][1]
    assert results["1"] == results["2"]
