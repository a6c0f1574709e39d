"""The durable spool (server/spool.py) and the detector state it is checkpointed with."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kubehipaa.engines.auditlog import Detector, event_from_dict
from kubehipaa.engines.auditlog.detector import SNAPSHOT_VERSION
from kubehipaa.engines.auditlog.event import keyed_request_signature, request_signature
from kubehipaa.server import spool as spool_mod
from kubehipaa.server.spool import HEADER, Position, Spool, SpoolError, SpoolFull


def _append(sp: Spool, payload: bytes, events: int = 1) -> BaseException | None:
    done = threading.Event()
    result: list[BaseException | None] = []

    def cb(exc: BaseException | None) -> None:
        result.append(exc)
        done.set()

    sp.submit(payload, events, cb)
    assert done.wait(5)
    return result[0]


def _read_all(sp: Spool, start: Position) -> list[bytes]:
    reader = sp.reader(start)
    out = []
    while (rec := reader.next(0)) is not None:
        out.append(rec.payload)
    reader.close()
    return out


def test_records_survive_reopen_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.start()
    for i in range(3):
        assert _append(sp, b'{"n": %d}' % i, 2) is None
    sp.close()
    seg = next(tmp_path.glob("seg-*.spool"))
    with open(seg, "ab") as f:  # a crash in the middle of an append (never acknowledged)
        f.write(HEADER.pack(b"KHS1", 100, 1, 0) + b'{"half')
    sp = Spool(tmp_path, 1 << 20)
    assert sp.repaired_bytes == HEADER.size + 6
    assert _read_all(sp, sp.first_position()) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert sp.count(sp.first_position()) == (6, 3)
    sp.close()


def test_a_second_process_cannot_share_the_spool(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    with pytest.raises(SpoolError, match="in use by another process"):
        Spool(tmp_path, 1 << 20)
    sp.close()
    Spool(tmp_path, 1 << 20).close()


def test_size_cap_counts_batches_still_being_written_and_release_frees_segments(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 16 * 1024, segment_bytes=4096)
    sp.start()
    payload = b"x" * 5000  # larger than a segment: one record per segment
    n = 0
    with pytest.raises(SpoolFull):
        while True:
            assert _append(sp, payload) is None
            n += 1
    assert n == (16 * 1024) // (5000 + HEADER.size)
    assert len(list(tmp_path.glob("seg-*.spool"))) == n
    reader = sp.reader(sp.first_position())
    for _ in range(n - 1):
        assert reader.next(0) is not None
    freed = sp.release(reader.position)
    assert freed == (n - 1) * (5000 + HEADER.size) and sp.used_bytes == 5000 + HEADER.size
    assert _append(sp, payload) is None
    sp.close()


def test_concurrent_batches_share_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = []
    real = os.fdatasync
    gate = threading.Event()

    def slow_sync(fd: int) -> None:
        syncs.append(fd)
        gate.wait(5)  # the first flush is slow: everything submitted meanwhile goes into the next one
        real(fd)

    monkeypatch.setattr(spool_mod.os, "fdatasync", slow_sync)
    sp = Spool(tmp_path, 1 << 20)
    sp.start()
    done = threading.Semaphore(0)
    for i in range(20):
        sp.submit(b"%d" % i, 1, lambda exc: done.release())
    gate.set()
    for _ in range(20):
        assert done.acquire(timeout=5)
    assert len(syncs) <= 2
    assert len(_read_all(sp, sp.first_position())) == 20
    sp.close()


def test_a_failed_append_is_reported_and_leaves_no_partial_record(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    sp = Spool(tmp_path, 1 << 20)
    sp.start()
    assert _append(sp, b"first") is None
    real = spool_mod.write_all

    def half(fd: int, data: Any) -> None:
        real(fd, bytes(data)[: max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_mod, "write_all", half)
    exc = _append(sp, b"second")
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    assert sp.last_error is not None
    monkeypatch.setattr(spool_mod, "write_all", real)
    assert _append(sp, b"third") is None and sp.last_error is None
    assert _read_all(sp, sp.first_position()) == [b"first", b"third"]
    sp.close()


def test_a_corrupt_record_mid_segment_is_skipped_and_counted(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 1 << 20)
    sp.start()
    for p in (b"a" * 40, b"b" * 40, b"c" * 40):
        assert _append(sp, p) is None
    seg = sorted(tmp_path.glob("seg-*.spool"))[0]
    data = bytearray(seg.read_bytes())
    data[HEADER.size + 5] ^= 0xFF  # bit rot in the first record's payload
    seg.write_bytes(bytes(data))
    reader = sp.reader(sp.first_position())
    got = []
    while (rec := reader.next(0)) is not None:
        got.append(rec.payload)
    assert got == [b"b" * 40, b"c" * 40] and reader.corrupt_records == 1
    sp.close()


# -- detector state ----------------------------------------------------------------------------------------

def _failure(i: int) -> dict[str, Any]:
    return {"kind": "Event", "auditID": f"f{i}", "stage": "ResponseComplete", "verb": "get",
            "requestURI": f"/api/v1/namespaces/a/secrets/s{i}", "user": {"username": "mallory"},
            "sourceIPs": ["10.0.0.9"], "objectRef": {"resource": "secrets", "namespace": "a", "name": f"s{i}"},
            "responseStatus": {"code": 403}, "annotations": {"authorization.k8s.io/decision": "forbid"},
            "requestReceivedTimestamp": f"2026-11-20T10:00:{i:02d}Z"}


def test_snapshot_is_msgpack_able_and_restores_windows_dedup_and_held_events() -> None:
    key = os.urandom(16)
    events = [event_from_dict(_failure(i)) for i in range(30)]
    held = event_from_dict({**_failure(99), "auditID": "held-1", "stage": "RequestReceived",
                            "requestObject": {"kind": "Secret", "data": {"k": "dg=="}}})
    straight = Detector(signature=keyed_request_signature(key))
    expected = [a.to_dict() for ev in [*events, held] for a in straight.process(ev)]
    expected += [a.to_dict() for a in straight.flush()]

    first = Detector(signature=keyed_request_signature(key))
    got = [a.to_dict() for ev in events[:12] for a in first.process(ev)]
    blob = msgspec.msgpack.encode(first.snapshot())
    second = Detector(signature=keyed_request_signature(key))  # "the next process"
    assert second.restore(msgspec.msgpack.decode(blob)) == []
    got += [a.to_dict() for ev in [*events[12:], held] for a in second.process(ev)]
    blob = msgspec.msgpack.encode(second.snapshot())
    third = Detector(signature=keyed_request_signature(key))
    third.restore(msgspec.msgpack.decode(blob))
    assert third.pending_count == 1
    got += [a.to_dict() for a in third.flush()]
    assert got == expected and any(a["count"] > 1 for a in got)  # the burst straddled two restarts
    assert third.stats.to_dict() == straight.stats.to_dict()


def test_snapshot_version_is_checked() -> None:
    det = Detector()
    snap = det.snapshot()
    assert snap["version"] == SNAPSHOT_VERSION
    with pytest.raises(ValueError, match="snapshot version"):
        Detector().restore({**snap, "version": SNAPSHOT_VERSION + 1})


def test_keyed_signature_is_stable_per_key_and_matches_the_default_semantics() -> None:
    a, b = event_from_dict(_failure(1)), event_from_dict({**_failure(1), "stage": "ResponseStarted"})
    c = event_from_dict({**_failure(1), "requestURI": "/api/v1/namespaces/a/secrets/other"})
    k1, k2 = keyed_request_signature(b"k" * 16), keyed_request_signature(b"k" * 16)
    assert k1(a) == k2(a) == k1(b) and k1(a) != k1(c)  # same request = same value, in any process
    assert keyed_request_signature(b"x" * 16)(a) != k1(a)
    assert (request_signature(a) == request_signature(b)) and request_signature(a) != request_signature(c)
