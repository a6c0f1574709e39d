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


# -- the block decoder (`iter_event_batches`) against the line-by-line reference ---------------------------

_GOOD = (b'{"kind":"Event","auditID":"a%d","stage":"ResponseComplete","verb":"get","user":{"username":"u"},'
         b'"objectRef":{"resource":"secrets","namespace":"clinical","name":"s%d"},"responseStatus":{"code":200},'
         b'"requestReceivedTimestamp":"2026-11-27T10:00:00Z"}')
_ODD_LINES = [
    b"", b"   ", b"{not json", b'{"kind": 0}', b'{"kind": "Pod"}', b'{"verb": "get", "user": 5}', b"{}",
    b'{"kind":"EventList","items":[{"verb":"list","auditID":"l1"},{"kind":"Pod"}]}',
    b'[{"verb":"watch","auditID":"w1"}, 3]', b'{"protoPayload":{"methodName":"io.k8s.core.v1.secrets.get",'
    b'"authenticationInfo":{"principalEmail":"x@y"},"resourceName":"core/v1/namespaces/a/secrets/b"},'
    b'"timestamp":"2026-11-27T10:00:00Z","insertId":"g1"}', b'{"a":1} {"b":2}', b'{"verb":', b'"get"}',
    b'{"verb":"get"}\r', b'{"kind":"Pod","verb":"get","auditID":"k1"}',
    b'{"kind":"EventList","verb":"list","items":[{"verb":"get","auditID":"e1"}]}',
    # cloud exports (issue 11): AKS records (log as a string, as an object, another category, a wrapper),
    # EKS CloudWatch events (one per line, in envelopes, back to back, an export-task line), GKE non-resource
    b'{"category":"kube-audit","properties":{"log":"{\\"verb\\":\\"get\\",\\"auditID\\":\\"a1\\"}"}}',
    b'{"category":"kube-audit-admin","properties":{"log":{"verb":"patch","auditID":"a2"}}}',
    b'{"category":"guard","properties":{"log":"x"}}',
    b'{"records":[{"category":"kube-audit","properties":{"log":{"verb":"list","auditID":"a3"}}},{"x":1}]}',
    b'{"timestamp":1795773660000,"message":"{\\"verb\\":\\"get\\",\\"auditID\\":\\"c1\\"}"}',
    b'{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"{\\"verb\\":\\"watch\\"}"}]}',
    b'{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}'
    b'{"logEvents":[{"message":"{\\"verb\\":\\"get\\",\\"auditID\\":\\"c2\\"}"}]}',
    b'2026-11-27T10:00:00.000Z {"verb":"get","auditID":"c3"}',
    b'{"insertId":"g2","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.get","resourceName":"readyz"}}',
]


def _reference_read(data: bytes) -> tuple[list[Any], dict[str, Any]]:
    """The whole input as one block through the line-by-line decoder: the reference semantics."""
    st = ReadStats()
    st.files.append("f")
    block = src._decode_block_slowly(data, 0, "f", st, iter(()))
    st.lines += block.lines
    st.events += block.line_events
    return [ev.to_dict() for ev in block.events], st.to_dict()


def _batch_read(path: Path) -> tuple[list[Any], dict[str, Any]]:
    st = ReadStats()
    events = [ev.to_dict() for batch in src.iter_event_batches([str(path)], st) for ev in batch]
    d = st.to_dict()
    d["files"] = ["f"]
    d["malformedSamples"] = [s.replace(str(path), "f", 1) for s in d["malformedSamples"]]
    return events, d


@pytest.mark.parametrize("seed", range(40))
def test_block_decoder_equals_line_by_line_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     seed: int) -> None:
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(rng.randint(1, 120)):
        if rng.random() < 0.8:
            lines.append(_GOOD % (i, i))
        else:
            lines.append(rng.choice(_ODD_LINES))
    data = b"\n".join(lines) + rng.choice([b"", b"\n"])
    path = tmp_path / "log"
    path.write_bytes(data)
    expected = _reference_read(data)
    for block in (1, 97, 700, 4096, 1 << 20):
        monkeypatch.setattr(src, "READ_BLOCK", block)
        assert _batch_read(path) == expected, (seed, block)


def test_block_decoder_takes_a_pretty_printed_document_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = b'{\n  "kind": "EventList",\n  "items": [\n    {"verb": "get", "auditID": "p1"}\n  ]\n}\n'
    path = tmp_path / "pretty.json"
    path.write_bytes(doc)
    for block in (5, 4096):
        monkeypatch.setattr(src, "READ_BLOCK", block)
        events, stats = _batch_read(path)
        assert [e["auditID"] for e in events] == ["p1"]
        assert stats["malformed"] == 0


# -- `Detector.process_batch` against `process`, event by event ----------------------------------------------


def _batched_alerts(det: Detector, paths: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out = [a.to_dict() for batch in src.iter_event_batches(paths) for a in det.process_batch(batch)]
    out.extend(a.to_dict() for a in det.flush())
    return out, det.stats.to_dict()


@pytest.mark.parametrize("tables", [(200_000, 20_000), (64, 16), (8, 4)])
def test_process_batch_equals_process_on_bench_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tables: tuple[int, int]) -> None:
    """Small de-duplication tables force generation swaps and pending-stage ageing inside a batch."""
    from kubehipaa.engines.auditlog import detector as detmod

    monkeypatch.setattr(detmod, "MAX_DONE_IDS", tables[0])
    monkeypatch.setattr(detmod, "MAX_PENDING", tables[1])
    log = str(_bench_log(tmp_path))
    batched = _batched_alerts(Detector(), [log])
    assert batched[0]
    assert batched == _alerts(Detector(), [log])
    assert batched[1]["duplicates"] > 0


def test_process_batch_equals_process_without_dedupe(tmp_path: Path) -> None:
    log = str(_bench_log(tmp_path, 1500))
    assert _batched_alerts(Detector(dedupe=False), [log]) == _alerts(Detector(dedupe=False), [log])


def test_process_batch_equals_process_on_falco_traces(shared_dir: Any) -> None:
    traces = shared_dir("conformance/audit/falco") / "trace_files"
    for trace in sorted(traces.iterdir()):
        assert _batched_alerts(Detector(), [str(trace)]) == _alerts(Detector(), [str(trace)]), trace.name


@pytest.mark.parametrize("tables", [(8, 4), (16, 6), (200_000, 20_000)])
def test_process_batch_equals_process_across_table_swaps(monkeypatch: pytest.MonkeyPatch,
                                                         tables: tuple[int, int]) -> None:
    """Every request logged in three stages spread over the stream (RequestReceived, ResponseStarted,
    ResponseComplete, each a few requests apart), so de-duplication depends on both generations of the
    done and pending tables while they are swapped mid-batch."""
    from kubehipaa.engines.auditlog import detector as detmod
    from tests.auditlog.helpers import raw_event

    monkeypatch.setattr(detmod, "MAX_DONE_IDS", tables[0])
    monkeypatch.setattr(detmod, "MAX_PENDING", tables[1])
    from kubehipaa.engines.auditlog import event_from_dict

    stream: list[tuple[int, AuditEvent]] = []
    for i in range(300):
        kw: dict[str, Any] = {"audit_id": f"req-{i}", "time": f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}Z"}
        if i % 3 == 0:
            kw.update(verb="create", resource="pods", sub="exec", name=f"p{i}",
                      uri=f"/api/v1/namespaces/clinical/pods/p{i}/exec?command=sh")
        else:
            kw.update(verb="get", resource="secrets", name=f"s{i}", user=f"user{i % 4}@hospital.org")
        for lag, stage in enumerate(("RequestReceived", "ResponseStarted", "ResponseComplete")):
            stream.append((i + 3 * lag + (i % 5), event_from_dict(raw_event(stage=stage, **kw))))
    stream.sort(key=lambda p: p[0])
    events = [ev for _, ev in stream]

    ref = Detector()
    expected = [a.to_dict() for ev in events for a in ref.process(ev)] + [a.to_dict() for a in ref.flush()]
    det = Detector()
    got: list[dict[str, Any]] = []
    for start in range(0, len(events), 37):
        got.extend(a.to_dict() for a in det.process_batch(events[start:start + 37]))
    got.extend(a.to_dict() for a in det.flush())
    assert got == expected
    assert det.stats.to_dict() == ref.stats.to_dict()
    assert ref.stats.duplicates > 0
