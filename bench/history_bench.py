"""Saving a scan in the history: building the record and the database transaction, SQLite and PostgreSQL.

N generated Deployments in a PHI namespace (each privileged, hostPID, no limits...: about 13 findings
each) are scanned once; the record (JSON report, its digest, inputs' SHA-256, exception matches) is built
and then saved R times, each save timed alone (insert + retention prune in one locked transaction).

Usage: python bench/history_bench.py [N deployments, default 90 (~1,000 findings)] [URL ...]
       (default URL: a SQLite file in a temporary directory; add $KUBEHIPAA_TEST_PG_URL for PostgreSQL)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.history import HistoryStore, normalise
from kubehipaa.history.location import HistoryLocation
from kubehipaa.pipelines.history import build_record
from kubehipaa.pipelines.scan import scan
from kubehipaa.sources.files import load_paths

ROUNDS = 5
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: clinical, labels: {kubehipaa.io/phi: 'true'}}\n"


def deployment(i: int) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app{i}, namespace: clinical}}\nspec:\n"
            f"  selector: {{matchLabels: {{app: app{i}}}}}\n  template:\n    metadata: {{labels: {{app: app{i}}}}}\n"
            f"    spec:\n      hostPID: true\n      containers:\n      - name: api\n"
            f"        image: registry.example/app{i}:1.0\n        securityContext: {{privileged: true}}\n")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 90
    tmp = Path(tempfile.mkdtemp(prefix="kubehipaa-history-bench-"))
    urls = sys.argv[2:] or [f"sqlite:///{tmp / 'history.sqlite3'}"]
    src = tmp / "k8s"
    src.mkdir()
    (src / "ns.yaml").write_text(NAMESPACE)
    for i in range(n):
        (src / f"d{i}.yaml").write_text(deployment(i))
    run = scan(load_paths([str(src)]), Config())
    start = time.perf_counter()
    record = build_record(run, Config(), ["kubehipaa", "scan", str(src), "--save"], [str(src)])
    built = time.perf_counter() - start
    print(f"{len(record.findings)} findings, {len(record.inputs)} inputs: record built in {built:.3f} s")
    for url in urls:
        location = HistoryLocation(normalise(url), "bench")
        with HistoryStore.open(location) as store:
            times = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                store.save(record, retention_days=2190)
                times.append(time.perf_counter() - start)
        print(f"{store.engine.dialect.name}: save {min(times):.3f} s best, {sorted(times)[ROUNDS // 2]:.3f} s "
              f"median of {ROUNDS} ({location.display})")


if __name__ == "__main__":
    main()
