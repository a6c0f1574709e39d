"""`audit serve` throughput with the durable spool: loopback HTTPS, the client in another process.

The receiver runs as `audit serve` does: every batch is appended to the spool and fsync'ed before the 200
(group commit across concurrent requests), alerts go to a file fsync'ed per batch, checkpoints every
second. The client (Python httpx, in a subprocess) posts `EventList`s of `--batch` events over
`--concurrency` connections, like the API server's batch backend (which sends batches concurrently, at
most `--audit-webhook-batch-throttle-qps` 10 per second by default: 4,000 events/s with batches of 400).

Prints the handler time per batch (read + validate + spool + fsync), the client's round trip, events/s
acknowledged, and how long after the last answer the detection worker had processed everything. The spool
lives under `--dir` (default: a temporary directory under the current one, i.e. the same disk as the
project; /tmp may be tmpfs, where fsync costs nothing). Needs the `cryptography` package.

    .venv/bin/python bench/audit_serve_bench.py [--events 200000] [--batch 400] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubehipaa.server.alerts_out import AlertFile  # noqa: E402
from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app  # noqa: E402
from tests.server.support import LoopbackServer, self_signed  # noqa: E402

CLIENT = r"""
import sys, time, ssl, threading, httpx, orjson
url, cafile, path, batch, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
evs = [orjson.loads(l) for l in open(path, "rb")]
bodies = [orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": evs[i:i + batch]})
          for i in range(0, len(evs), batch)]
lat, handler, lock = [], [], threading.Lock()
def run(k):
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cafile), timeout=30) as c:
        for b in bodies[k::conc]:
            t0 = time.perf_counter()
            r = c.post("/audit", content=b)
            dt = time.perf_counter() - t0
            assert r.status_code == 200, r.text
            with lock:
                lat.append(dt); handler.append(r.json()["ms"])
t = time.perf_counter()
threads = [threading.Thread(target=run, args=(k,)) for k in range(conc)]
for th in threads: th.start()
for th in threads: th.join()
dt = time.perf_counter() - t
lat.sort(); handler.sort()
q = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))]
print(f"  {len(evs):,} events in {len(bodies)} batches of {batch} (~{len(bodies[0]) // 1024} KiB), "
      f"{conc} connection(s)")
print(f"  handler per batch (read+validate+spool+fsync) p50 {q(handler, .5):.1f} ms, p99 {q(handler, .99):.1f} ms; "
      f"client round trip p50 {q(lat, .5) * 1000:.1f} ms, p99 {q(lat, .99) * 1000:.1f} ms")
print(f"  acknowledged (spooled + fsync'ed) {len(evs) / dt:,.0f} events/s")
"""


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_once(log: Path, work: Path, batch: int, concurrency: int, fsync: bool) -> None:
    cert, key = self_signed(work)
    output = AlertFile(work / "alerts.jsonl", fsync=fsync)
    receiver = AuditReceiver(WebhookSettings(spool_dir=work / "spool", fsync=fsync), output)
    server = LoopbackServer(create_app(receiver), cert, key)
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", CLIENT, server.url, str(cert), str(log), str(batch), str(concurrency)],
                       check=True)
        answered = time.perf_counter() - start
        assert receiver.wait_idle(600)
        done = time.perf_counter() - start
        lines = (work / "alerts.jsonl").read_bytes().count(b"\n")
    finally:
        server.close()
        output.close()
    print(f"  worker: every event processed {done - answered:.2f} s after the last answer "
          f"({done:.1f} s in all); {lines} alerts written")


def spool_only(work: Path, body: bytes, events: int, batches: int, submitters: int, fsync: bool) -> None:
    """The spool alone (no HTTP, no detection): what the disk allows with group commit."""
    import threading

    from kubehipaa.server.spool import Spool

    sp = Spool(work / "spool-only", 1 << 40, fsync=fsync)
    sp.start()
    per = batches // submitters

    def submit() -> None:
        for _ in range(per):
            done = threading.Event()
            sp.submit(body, events, lambda exc, done=done: done.set())
            done.wait()

    start = time.perf_counter()
    threads = [threading.Thread(target=submit) for _ in range(submitters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - start
    sp.close()
    n = per * submitters
    print(f"  spool alone, {submitters} submitter(s): {n} batches of {events} events (~{len(body) // 1024} KiB) "
          f"in {dt:.2f} s = {n * events / dt:,.0f} events/s, {n * len(body) / dt / 2**20:.0f} MiB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=400)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dir", type=Path, default=Path.cwd(), help="where the spool is created (its disk is measured)")
    ap.add_argument("--no-fsync", action="store_true", help="for comparison only: what fsync costs")
    ap.add_argument("--skip-spool-only", action="store_true", help="skip the spool-alone measurement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.log"
        _load("audit_bench", Path(__file__).with_name("audit_bench.py")).generate(log, args.events, args.seed)
        if not args.skip_spool_only:
            lines = log.read_bytes().splitlines()[: args.batch]
            body = b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[' + b",".join(lines) + b"]}"
            for conc in args.concurrency:
                with tempfile.TemporaryDirectory(dir=args.dir, prefix=".kubehipaa-bench-") as work:
                    print(f"fsync {'off' if args.no_fsync else 'on'}, spool in {args.dir}:")
                    spool_only(Path(work), body, len(lines), 500, conc, not args.no_fsync)
        for conc in args.concurrency:
            with tempfile.TemporaryDirectory(dir=args.dir, prefix=".kubehipaa-bench-") as work:
                print(f"concurrency {conc}, fsync {'off' if args.no_fsync else 'on'}, spool in {args.dir}:")
                run_once(log, Path(work), args.batch, conc, not args.no_fsync)


if __name__ == "__main__":
    main()
