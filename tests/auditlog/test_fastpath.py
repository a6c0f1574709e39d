"""The hot paths give the same answers as their plain reference forms.

- The block reader (`sources.auditlog._lines`: 64 KiB reads split by `io.BytesIO`) yields the same lines as iterating
  the file object, so every event, malformed-line count and file:line location is unchanged.
- The inlined dispatch in `Detector.process`/`_evaluate` selects exactly the rules `Detector.candidates`
  documents: a reference detector that evaluates `candidates(ev)` rule by rule raises identical alerts and
  counters over the bench corpus and the Falco conformance traces.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest

from kubehipaa.engines.auditlog import Alert, AuditEvent, Detector
from kubehipaa.sources import auditlog as src
from kubehipaa.sources.auditlog import ReadStats, iter_events

BENCH = Path(__file__).resolve().parents[2] / "bench" / "audit_bench.py"


def _bench_log(tmp_path: Path, n: int = 4000) -> Path:
    spec = importlib.util.spec_from_file_location("audit_bench", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    log = tmp_path / "audit.log"
    bench.generate(log, n, seed=11)
    return log


@pytest.mark.parametrize("block", [1, 7, 64, 1000, 1 << 20])
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"a\nb\n",
        b"a\nb",
        b"a\r\n\r\n b \n\n\nlast",
        b"x" * 5000 + b"\n" + b"y" * 3 + b"\n" + b"z" * 2500,
    ],
)
def test_block_reader_yields_the_lines_of_the_file(data: bytes, block: int) -> None:
    expected = list(io.BytesIO(data))
    assert list(src._lines(io.BufferedReader(io.BytesIO(data)), block)) == expected  # type: ignore[arg-type]


def _read(paths: list[str]) -> tuple[list[Any], dict[str, Any]]:
    st = ReadStats()
    events = [ev.to_dict() for ev in iter_events(paths, st)]
    return events, st.to_dict()


def test_block_reader_keeps_events_and_malformed_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _bench_log(tmp_path, 300)
    lines = log.read_bytes().splitlines(keepends=True)
    lines.insert(5, b"{not json\n")
    lines.insert(9, b"\n")
    lines.insert(40, b'{"kind": "Pod"}\r\n')
    lines.insert(77, b"   \n")
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(b"".join(lines) + b'{"verb": "get", "user": 5}')  # last line without newline
    gz = tmp_path / "mixed.log.gz"
    gz.write_bytes(gzip.compress(mixed.read_bytes()))
    reference_events = []
    reference_bad = []
    for path in (mixed, gz):
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    ev = src.EVENT_DECODER.decode(line)
                except Exception:
                    reference_bad.append(f"{path}:{i}")
                    continue
                if ev.kind not in (None, "Event"):
                    reference_bad.append(f"{path}:{i}")
                    continue
                reference_events.append(ev.to_dict())
    for block in (13, 4096, 1 << 20):
        monkeypatch.setattr(src, "READ_BLOCK", block)
        events, stats = _read([str(mixed), str(gz)])
        assert events == reference_events
        assert [":".join(s.split(":")[:2]) for s in stats["malformedSamples"]] == reference_bad
        assert stats["lines"] == 2 * len(lines) + 2


class _ReferenceDetector(Detector):
    """Evaluates `candidates(ev)` one rule at a time: the documented selection, without the inlined dispatch."""

    def _evaluate(self, ev: AuditEvent) -> list[Alert]:
        self._evaluated += 1
        out: list[Alert] = []
        for r in self.candidates(ev):
            self._run(r, ev, out)
        if self._hooks:
            return self._run_hooks(ev, out)
        return out


def _alerts(det: Detector, paths: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out = [a.to_dict() for ev in iter_events(paths) for a in det.process(ev)]
    out.extend(a.to_dict() for a in det.flush())
    return out, det.stats.to_dict()


def test_inlined_dispatch_equals_candidates_on_bench_corpus(tmp_path: Path) -> None:
    log = str(_bench_log(tmp_path))
    fast = _alerts(Detector(), [log])
    assert fast[0]  # the corpus raises alerts of several rules
    assert fast == _alerts(_ReferenceDetector(), [log])


def test_inlined_dispatch_equals_candidates_on_falco_traces(shared_dir: Any) -> None:
    traces = shared_dir("conformance/audit/falco") / "trace_files"
    for trace in sorted(traces.iterdir()):
        fast = _alerts(Detector(), [str(trace)])
        assert fast == _alerts(_ReferenceDetector(), [str(trace)]), trace.name
