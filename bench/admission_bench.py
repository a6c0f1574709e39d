"""`serve admission` under a fixed request rate: loopback HTTPS, the webhook in its own process.

The webhook runs as the CLI runs it (`kubehipaa serve admission`, a subprocess, JSON logs to a file). This
process is the API server: `--connections` keep-alive TLS connections (the API server reuses connections to a
webhook) and an open-loop schedule of `--rate` requests/s for `--seconds`; each request's latency is measured
from its scheduled time, so a server that falls behind shows it (no coordinated omission). The mix is what a
cluster sends: Pod creations from ReplicaSets (clean and violating), Deployment and CronJob templates, UPDATEs
of objects with an old violation, Roles, RoleBindings, Services, ConfigMaps, Secrets, custom resources and
DELETEs, in PHI and other namespaces, a few with dryRun; Pods are two thirds, RBAC objects one in 20 (a
Role or RoleBinding costs ~4 ms: the RBAC index is built with the built-in roles for each one).

Prints p50/p90/p99/max latency, achieved rate, errors (non-200, a wrong uid, a connection error) and the
server's own histogram. Needs the `cryptography` package.

    .venv/bin/python bench/admission_bench.py [--rate 500] [--seconds 30] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.admission.support import cronjob, deployment, pod, review  # noqa: E402
from tests.server.support import free_port, throwaway_ca  # noqa: E402


def mix() -> list[tuple[str, dict[str, Any]]]:
    """(label, AdmissionReview) in the proportions of a busy cluster's admission traffic."""
    bad = pod(privileged=True)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "ops"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "ops"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ops"},
               "subjects": [{"kind": "User", "name": "jane@hospital.org", "apiGroup": "rbac.authorization.k8s.io"}]}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ehr"},
           "spec": {"type": "ClusterIP", "selector": {"app": "ehr"}, "ports": [{"port": 443}]}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
          "data": {f"key{i}": "value " * 20 for i in range(20)}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque",
              "data": {"password": "c2VjcmV0"}}
    crd = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    newer = copy.deepcopy(bad)
    newer["metadata"]["labels"]["release"] = "2"
    items = [
        *[("pod-clean", review(pod(f"ehr-{i}"))) for i in range(18)],
        *[("pod-clean-other-ns", review(pod(f"web-{i}"), namespace="web")) for i in range(6)],
        ("pod-denied", review(bad)), ("pod-warned", review(bad, namespace="dev")),
        ("pod-dryrun", review(bad, dry_run=True)),
        ("deployment", review(deployment())), ("deployment-denied", review(deployment(privileged=True))),
        ("cronjob", review(cronjob())),
        ("update-old-violation", review(newer, operation="UPDATE", old=bad)),
        ("role", review(role)), ("rolebinding", review(binding)), ("service", review(svc)),
        ("configmap", review(cm)), ("configmap", review(cm, namespace="web")), ("secret", review(secret)), ("custom", review(crd)),
        ("delete", review(None, operation="DELETE", old=pod())),
    ]
    return items


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def run_load(port: int, ctx: ssl.SSLContext, rate: float, seconds: float, connections: int
                   ) -> tuple[list[float], int, dict[str, int]]:
    items = mix()
    queue: asyncio.Queue[tuple[float, str, bytes, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1")
        while True:
            job = await queue.get()
            if job is None:
                break
            scheduled, label, body, uid = job
            try:
                writer.write(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                status, payload = await _read_response(reader)
                ok = status == 200 and orjson.loads(payload)["response"]["uid"] == uid
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                ok = False
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                               server_hostname="127.0.0.1")
            latencies.append(time.perf_counter() - scheduled)
            kinds[label] = kinds.get(label, 0) + 1
            if not ok:
                errors += 1
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    total = int(rate * seconds)
    start = time.perf_counter()
    cycle = itertools.cycle(items)
    for i in range(total):
        label, doc = next(cycle)
        uid = f"bench-{i}"
        doc["request"]["uid"] = uid
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, label, orjson.dumps(doc), uid))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, errors, kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tls = throwaway_ca(Path(tmp))
        cfg = Path(tmp) / ".kubehipaa.yaml"
        cfg.write_text("phi:\n  namespaces: [clinical]\n")
        port = free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([sys.executable, "-m", "kubehipaa.cli.main", "serve", "admission", "--host",
                                 "127.0.0.1", "--port", str(port), "--tls-cert", str(tls.cert), "--tls-key",
                                 str(tls.key), "--config", str(cfg)], stderr=log, env=env)
        ctx = tls.client_context(with_cert=False)
        try:
            import httpx

            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"https://127.0.0.1:{port}/readyz", verify=ctx, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("serve admission did not start") from None
                    time.sleep(0.1)
            asyncio.run(run_load(port, ctx, args.rate, 2.0, args.connections))  # warm-up
            started = time.perf_counter()
            lat, errors, kinds = asyncio.run(run_load(port, ctx, args.rate, args.seconds, args.connections))
            wall = time.perf_counter() - started
            metrics = httpx.get(f"https://127.0.0.1:{port}/metrics", verify=ctx, timeout=5).text
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
    lat_ms = sorted(x * 1000 for x in lat)

    def pct(p: float) -> float:
        return lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))]

    print(f"requests {len(lat_ms)} in {wall:.1f} s ({len(lat_ms) / wall:.0f}/s, target {args.rate:.0f}/s), "
          f"{args.connections} connections, errors {errors}")
    print(f"latency ms: p50 {pct(0.50):.2f}  p90 {pct(0.90):.2f}  p99 {pct(0.99):.2f}  "
          f"max {lat_ms[-1]:.2f}  mean {statistics.fmean(lat_ms):.2f}")
    print("mix: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for line in metrics.splitlines():
        if line.startswith("kubehipaa_admission_review_seconds_bucket") and ('le="0.01"' in line
                                                                             or 'le="+Inf"' in line):
            print("server histogram:", line)


if __name__ == "__main__":
    main()
