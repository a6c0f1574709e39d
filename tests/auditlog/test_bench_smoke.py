"""The benchmark's generator stays realistic and analyzable (the 1M-event run itself is bench/, not a test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kubehipaa.engines.auditlog import AlertCollector, Detector
from kubehipaa.pipelines.audit import run_analysis
from kubehipaa.sources.auditlog import ReadStats

BENCH = Path(__file__).resolve().parents[2] / "bench" / "audit_bench.py"


def test_generated_log_is_realistic_and_raises_alerts(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("audit_bench", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    log = tmp_path / "audit.log"
    _size, avg = bench.generate(log, 3000, seed=7)
    assert 900 <= avg <= 1300  # "~1 KB" events
    stats = ReadStats()
    det = Detector()
    col = AlertCollector()
    run_analysis([str(log)], det, col, stats)
    assert stats.malformed == 0 and stats.events > 3000  # plus RequestReceived stage lines
    assert det.stats.duplicates > 0  # the stage pairs were de-duplicated
    assert {"KH-AUDLOG-030", "KH-AUDLOG-031", "KH-AUDLOG-011"} <= set(col.counts)
    again = tmp_path / "again.log"
    bench.generate(again, 3000, seed=7)
    assert again.read_bytes() == log.read_bytes()  # seeded: the same log every time
