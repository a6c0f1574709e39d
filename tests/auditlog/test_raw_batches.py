"""`iter_event_batches_with_raw` is `iter_event_batches` plus each event's bytes, on any input.

Same hostile mixes as test_fastpath.py's block-decoder test (good lines, blank, malformed, EventList, arrays,
GKE entries, a last line without newline), read with several block sizes: the two readers must give the same
batches and the same `ReadStats`, and each event's bytes must decode to that event — the exact input line for
an event that came one per line, the item's JSON for one that came out of a document.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubehipaa.engines.auditlog.event import EVENT_DECODER
from kubehipaa.sources import auditlog as src
from kubehipaa.sources.auditlog import ReadStats

from .test_fastpath import _GOOD, _ODD_LINES


def _read_both(paths: list[str]) -> tuple[Any, Any, list[tuple[list[Any], list[bytes | None]]]]:
    plain_stats, raw_stats = ReadStats(), ReadStats()
    plain = [[ev.to_dict() for ev in batch] for batch in src.iter_event_batches(paths, plain_stats)]
    with_raw = list(src.iter_event_batches_with_raw(paths, raw_stats))
    return (plain, plain_stats.to_dict()), ([[ev.to_dict() for ev in b] for b, _ in with_raw],
                                            raw_stats.to_dict()), with_raw


def _check_raws(with_raw: list[tuple[list[Any], list[bytes | None]]], input_lines: set[bytes]) -> int:
    """Every event's bytes decode to it; returns how many events came with their exact input line."""
    exact = 0
    for batch, raws in with_raw:
        assert len(batch) == len(raws)
        for ev, raw in zip(batch, raws, strict=True):
            assert raw is not None
            assert EVENT_DECODER.decode(raw).to_dict() == ev.to_dict()
            if raw in input_lines:
                exact += 1
            else:  # out of a document: the item as orjson writes it
                assert orjson.dumps(orjson.loads(raw)) == raw
    return exact


@pytest.mark.parametrize("seed", range(40))
def test_raw_reader_equals_plain_reader_on_hostile_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    good = 0
    for i in range(rng.randint(1, 120)):
        if rng.random() < 0.8:
            lines.append(_GOOD % (i, i))
            good += 1
        else:
            lines.append(rng.choice(_ODD_LINES))
    data = b"\n".join(lines) + rng.choice([b"", b"\n"])
    path = tmp_path / ("log.gz" if seed % 5 == 0 else "log")
    path.write_bytes(gzip.compress(data) if seed % 5 == 0 else data)
    input_lines = set(io.BytesIO(data))  # split on b"\n" only, each line with its newline
    for block in (1, 97, 700, 4096, 1 << 20):
        monkeypatch.setattr(src, "READ_BLOCK", block)
        plain, raw, with_raw = _read_both([str(path)])
        assert raw == plain, (seed, block)
        # every good line is an event of its own, given with its exact line (newline included, if any)
        assert _check_raws(with_raw, input_lines) >= good, (seed, block)


def test_raw_reader_on_documents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretty-printed EventList, JSON array and one-line EventList: the item's JSON, every field kept."""
    item = {"kind": "Event", "level": "RequestResponse", "auditID": "p1", "verb": "get",
            "user": {"username": "u", "extra": {"k": ["v"]}}, "annotations": {"a/b": "c"}}
    pretty = tmp_path / "pretty.json"
    pretty.write_bytes(b'{\n  "kind": "EventList",\n  "items": [\n    ' + orjson.dumps(item) + b"\n  ]\n}\n")
    array = tmp_path / "array.log"
    array.write_bytes(orjson.dumps([item, 3, item | {"auditID": "p2"}]) + b"\n")
    one_line = tmp_path / "list.log"
    one_line.write_bytes(orjson.dumps({"kind": "EventList", "items": [item]}))
    for block in (5, 4096):
        monkeypatch.setattr(src, "READ_BLOCK", block)
        plain, raw, with_raw = _read_both([str(pretty), str(array), str(one_line)])
        assert raw == plain
        raws = [r for _, rs in with_raw for r in rs]
        assert [orjson.loads(r or b"null")["auditID"] for r in raws] == ["p1", "p1", "p2", "p1"]
        assert all(orjson.loads(r or b"null")["user"]["extra"] == {"k": ["v"]} for r in raws)
        assert raw[1]["malformed"] == 1  # the `3` in the array, reported by both readers


def test_raw_reader_keeps_the_exact_lines_of_a_clean_log(tmp_path: Path) -> None:
    lines = [(_GOOD % (i, i)) + b"\n" for i in range(2000)]
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(lines))
    got = [r for _, raws in src.iter_event_batches_with_raw([str(path)]) for r in raws]
    assert got == lines
