"""The audit-log reader within bounds (issue 12, req. 5): lines, gzip output and whole documents are capped,
only regular files (and the streams named on purpose) are read, and every cap that is hit is one malformed
line naming the cap and how to raise it; the events around it are still read.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubehipaa.errors import InputError
from kubehipaa.sources import auditlog, limits
from kubehipaa.sources.auditlog import ReadStats, iter_events
from kubehipaa.sources.limits import Limits

SRC = Path(__file__).resolve().parents[2] / "src"
EVENT = ('{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s","stage":"ResponseComplete",'
         '"requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"jane"},'
         '"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"code":200},'
         '"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.1Z"}\n')


def ev(audit_id: str) -> bytes:
    return (EVENT % audit_id).encode()


@pytest.fixture(autouse=True)
def _no_configured_caps() -> Iterator[None]:
    limits.configure(None)
    yield
    limits.configure(None)


def _read(path: Path | str) -> tuple[list[str], ReadStats]:
    stats = ReadStats()
    return [e.auditID or "" for e in iter_events([str(path)], stats)], stats


# ---- line cap ---------------------------------------------------------------------------------------------


def test_a_line_over_the_cap_is_one_malformed_line_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ev("a") + b'{"kind":"Event","x":"' + b"y" * 5000 + b'"}\n' + ev("b"))
    limits.configure(Limits(line_bytes=4096))
    ids, stats = _read(path)
    assert ids == ["a", "b"] and stats.lines == 3
    [sample] = stats.malformed_samples
    assert sample.line == 2 and sample.message.startswith("line longer than 4 KiB (raise the cap with "
                                                          "--max-line-bytes or KUBEHIPAA_MAX_LINE_BYTES)")


def test_a_stream_without_newline_is_not_held_in_memory() -> None:
    """`/dev/zero` through stdin: the reader drops the endless line as it streams by."""

    class Zeros(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left = total

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = min(len(b), self.left)
            b[:n] = b"\0" * n
            self.left -= n
            return n

    chunks = auditlog._chunks(io.BufferedReader(Zeros(64 << 20)), auditlog.READ_BLOCK, 1 << 20)
    first = next(chunks)
    assert first is None  # said after 1 MiB, not after the 64 MiB the line has
    assert list(chunks) == []


@pytest.mark.parametrize("seed", range(30))
def test_cut_lines_are_exactly_the_lines_over_the_cap(seed: int) -> None:
    rng = random.Random(seed)
    cap = rng.choice([1, 7, 64, 100, 4096])
    lines = [b"x" * rng.choice([0, 1, cap - 1, cap, cap + 1, 3 * cap, rng.randrange(5 * cap + 2)])
             for _ in range(rng.randrange(1, 60))]
    data = b"\n".join(lines) + rng.choice([b"", b"\n"])
    block = rng.choice([1, 2, 5, 64, 1000, 65536])
    got: list[bytes | None] = []
    for chunk in auditlog._chunks(io.BytesIO(data), block, cap):
        got.extend([None] if chunk is None else io.BytesIO(chunk).readlines())
    expected: list[bytes | None] = []
    for line in io.BytesIO(data).readlines():
        expected.append(None if len(line.rstrip(b"\n")) > cap else line)
    assert got == expected, (cap, block)


def test_lines_up_to_the_cap_are_read() -> None:
    data = b"a" * 10 + b"\n" + b"b" * 10
    chunks = list(auditlog._chunks(io.BytesIO(data), 3, 10))
    assert b"".join(c for c in chunks if c is not None) == data and None not in chunks


# ---- gzip -------------------------------------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_its_allowance(tmp_path: Path) -> None:
    """100 MiB of zeros compress to ~100 KiB: a 1000:1 ratio no log has; reading stops, the events before
    it are kept, and memory stays bounded by the line cap (here: the default)."""
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(ev("a") + b"\0" * (100 << 20) + b"\n" + ev("b"), 6))
    assert path.stat().st_size < 1 << 20
    started = time.monotonic()
    ids, stats = _read(path)
    assert time.monotonic() - started < 30
    assert ids == ["a"]
    [sample] = stats.malformed_samples
    assert "inflates to more than 200 times its compressed size" in sample.message
    assert "--max-gzip-ratio" in sample.message


def test_a_gzip_bomb_of_newlines_is_counted_fast(tmp_path: Path) -> None:
    """Blank lines cost nothing to read (whole blocks of them are counted at C speed), so even the 64 MiB a
    gzip may always inflate to is read in moments."""
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(ev("a") + b"\n" * (40 << 20) + ev("b"), 6))
    started = time.monotonic()
    ids, stats = _read(path)
    assert time.monotonic() - started < 15
    assert ids == ["a", "b"] and stats.malformed == 0 and stats.lines == 2 + (40 << 20)


def test_a_well_compressed_real_log_is_read_whole(tmp_path: Path) -> None:
    lines = b"".join(ev(f"id-{i}") for i in range(20000))
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(lines, 9))
    ids, stats = _read(path)
    assert len(ids) == 20000 and stats.malformed == 0


def test_the_gzip_ratio_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "audit.log.gz"
    path.write_bytes(gzip.compress(ev("a") + b" " * (80 << 20) + b"\n" + ev("b"), 6))
    limits.configure(Limits(gzip_ratio=2000, line_bytes=128 << 20))
    ids, _ = _read(path)
    assert ids == ["a", "b"]


# ---- whole documents --------------------------------------------------------------------------------------


def test_a_pretty_printed_document_over_the_file_cap_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    items = ",\n".join((EVENT % f"id-{i}").strip() for i in range(200))
    path.write_text('{\n"kind": "EventList",\n"items": [\n' + items + "\n]}\n")
    limits.configure(Limits(file_bytes=16 << 10))
    ids, stats = _read(path)
    assert ids == []
    [sample] = stats.malformed_samples
    assert sample.message.startswith("multi-line JSON document larger than 16 KiB")
    limits.configure(None)
    assert len(_read(path)[0]) == 200


# ---- what is a log file -----------------------------------------------------------------------------------


def test_a_fifo_in_a_log_directory_is_skipped_with_a_line(tmp_path: Path) -> None:
    (tmp_path / "audit.log").write_bytes(ev("a"))
    os.mkfifo(tmp_path / "audit-pipe.log")
    stats = ReadStats()
    code = f"""
from kubehipaa.sources.auditlog import ReadStats, iter_events
st = ReadStats()
print([e.auditID for e in iter_events([{str(tmp_path)!r}], st)], st.skipped)
"""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "PYTHONPATH": str(SRC)})
    except subprocess.TimeoutExpired:
        pytest.fail("reading a log directory with a FIFO in it hung")
    assert proc.stdout.strip() == (f"['a'] ['{tmp_path / 'audit-pipe.log'}: is a FIFO (named pipe), not a "
                                   "regular file; skipped']"), proc.stderr
    assert stats.to_dict()["skipped"] == []


@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_an_explicit_fifo_or_device_is_an_input_error(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        target = str(tmp_path / "pipe.log")
        os.mkfifo(target)
    code = f"""
from kubehipaa.errors import InputError
from kubehipaa.sources.auditlog import iter_events
try:
    list(iter_events([{target!r}]))
except InputError as exc:
    print(exc)
"""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                              preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(SRC)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {target} hung")
    assert proc.stdout.startswith(f"{target}: is a ") and "not a regular file" in proc.stdout, proc.stderr


def test_a_log_directory_that_cannot_be_listed_is_an_input_error(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: object = ".") -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(InputError, match="cannot read directory: Permission denied"):
        list(iter_events([str(tmp_path)]))


def test_process_substitution_is_read_as_a_stream() -> None:
    r, w = os.pipe()
    os.write(w, gzip.compress(ev("a") + ev("b")))
    os.close(w)
    try:
        ids, stats = _read(f"/dev/fd/{r}")
    finally:
        os.close(r)
    assert ids == ["a", "b"] and stats.malformed == 0
