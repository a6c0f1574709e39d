"""`audit serve` throughput: a loopback HTTPS receiver fed EventList batches by a client in another process.

Prints the receiver's handler time per batch (read + decode + enqueue), the client's round trip, events/s
accepted, and whether the detection worker kept up. Needs the `cryptography` package (self-signed cert).

    .venv/bin/python bench/audit_serve_bench.py [--events 200000] [--batch 400]
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

from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app

ROOT = Path(__file__).resolve().parents[1]

CLIENT = r"""
import sys, time, ssl, httpx, orjson
url, cafile, path, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
evs = [orjson.loads(l) for l in open(path, "rb")]
bodies = [orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": evs[i:i + batch]})
          for i in range(0, len(evs), batch)]
lat, handler = [], []
with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cafile), timeout=30) as c:
    t = time.perf_counter()
    for b in bodies:
        t0 = time.perf_counter()
        r = c.post("/audit", content=b)
        lat.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
        handler.append(r.json()["ms"])
    dt = time.perf_counter() - t
lat.sort(); handler.sort()
q = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))]
print(f"{len(evs):,} events in {len(bodies)} batches of {batch} (~{len(bodies[0]) // 1024} KiB)")
print(f"handler time per batch p50 {q(handler, .5):.1f} ms, p99 {q(handler, .99):.1f} ms; "
      f"client round trip p50 {q(lat, .5) * 1000:.1f} ms, p99 {q(lat, .99) * 1000:.1f} ms; "
      f"accepted {len(evs) / dt:,.0f} events/s")
"""


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=400)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    helpers = _load("webhook_test_helpers", ROOT / "tests" / "server" / "test_audit_webhook.py")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.log"
        _load("audit_bench", Path(__file__).with_name("audit_bench.py")).generate(log, args.events, args.seed)
        alerts = [0]

        def count(_alert: dict[str, Any]) -> None:
            alerts[0] += 1

        receiver = AuditReceiver(WebhookSettings(queue_events=10_000_000), count)
        cert, key = helpers._self_signed(Path(tmp))
        server = helpers.LoopbackServer(create_app(receiver), cert, key)
        try:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", CLIENT, server.url, str(cert), str(log), str(args.batch)],
                           check=True)
            answered = time.perf_counter() - start
            receiver.wait_idle(600)
            done = time.perf_counter() - start
        finally:
            server.close()
        print(f"worker: all events processed {done - answered:.2f} s after the last answer; {alerts[0]} alerts")


if __name__ == "__main__":
    main()
