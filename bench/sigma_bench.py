"""Sigma and least-privilege throughput on the seeded synthetic audit log of bench/audit_bench.py.

Prints: SigmaRuleSet.match events/s (16 SigmaHQ rules from ../shared, on parsed dicts), the same through the
detector (`with_sigma`), and rbac_usage.collect_usage events/s. CPU seconds are printed next to wall time
because on a shared machine the wall clock also measures other people's work.

    .venv/bin/python bench/sigma_bench.py [--events 200000] [--seed 7]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from kubehipaa.engines.auditlog import Detector, with_sigma
from kubehipaa.engines.rbac import collect_usage
from kubehipaa.pipelines.audit import read_sigma_rules
from kubehipaa.sources.auditlog import iter_events


def _audit_bench() -> Any:
    """The sibling bench script, reused for its seeded generator."""
    spec = importlib.util.spec_from_file_location("audit_bench", Path(__file__).with_name("audit_bench.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIGMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "audit" / "sigma"


def timed(fn: Any) -> tuple[Any, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not SIGMA_DIR.exists():
        raise SystemExit(f"SigmaHQ rules not found at {SIGMA_DIR}")
    rules = read_sigma_rules([SIGMA_DIR])
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.log"
        _audit_bench().generate(log, args.events, args.seed)
        docs = [orjson.loads(line) for line in log.open("rb")]
        n = len(docs)

        def match_all() -> int:
            return sum(len(rules.match(d)) for d in docs)

        hits, wall, cpu = timed(match_all)
        print(f"SigmaRuleSet.match, {len(rules)} SigmaHQ rules: {n / cpu:,.0f} events/s per CPU-second "
              f"(wall {n / wall:,.0f}/s), {hits} matches over {n:,} events")
        docs.clear()

        def stream(det: Detector) -> int:
            total = 0
            for ev in iter_events([str(log)]):
                total += len(det.process(ev))
            return total + len(det.flush())

        a0, _, c0 = timed(lambda: stream(Detector()))
        a1, _, c1 = timed(lambda: stream(with_sigma(Detector(), rules)))
        print(f"read + built-in detector: {n / c0:,.0f} events/s per CPU-second ({a0} alerts)")
        print(f"read + built-in detector + Sigma: {n / c1:,.0f} events/s per CPU-second ({a1} alerts)")
        usage, _, c2 = timed(lambda: collect_usage(iter_events([str(log)])))
        print(f"read + rbac_usage.collect_usage: {n / c2:,.0f} events/s per CPU-second "
              f"({len(usage.requests)} identities, {sum(len(v) for v in usage.requests.values())} distinct "
              "requests)")


if __name__ == "__main__":
    main()
