"""Benchmark the control-plane engines and `etcd verify` against a real etcd.

1. flag parsing of kube-apiserver command lines (35 flags each);
2. audit Policy simulation: single-request evaluation on a 25-rule policy, and the full coverage report;
3. etcd value classification by prefix;
4. `etcd verify` end to end: N secrets + N configmaps written to a real etcd on loopback (if /usr/bin/etcd
   exists), then the real client pages through them and classifies every value.

Usage: python bench/controlplane_bench.py [--objects 20000]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubehipaa.engines.controlplane import (  # noqa: E402
    Request,
    classify_value,
    container_flags,
    coverage,
    evaluate,
    parse_encryption_config,
    parse_policy,
)
from kubehipaa.pipelines.etcd import verify  # noqa: E402
from kubehipaa.sources.etcd import EtcdClient, EtcdOptions  # noqa: E402

HARDENED = ROOT / "examples" / "clinic-hardened" / "control-plane"


def timeit(label: str, n: int, fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    print(f"{label:<58} {n:>10,} in {dt:7.3f}s  = {n / dt:>12,.0f}/s")
    return dt


def bench_flags() -> None:
    pod = yaml.safe_load((HARDENED / "kube-apiserver.yaml").read_text())
    container = pod["spec"]["containers"][0]
    n = 20_000
    timeit("flags: kube-apiserver command lines parsed", n, lambda: [container_flags(container) for _ in range(n)])


def bench_policy() -> None:
    doc = yaml.safe_load((HARDENED / "audit-policy.yaml").read_text())
    # pad to 25 rules with selective rules that do not match, as real policies (GCE's) have
    filler = [
        {"level": "None", "users": [f"system:component-{i}"], "verbs": ["get", "watch"],
         "resources": [{"group": "", "resources": ["endpoints", "services"]}]}
        for i in range(19)
    ]
    doc["rules"] = filler + doc["rules"]
    pol = parse_policy(doc)
    req = Request(verb="get", resource="secrets", namespace="clinical", name="db")
    n = 200_000
    timeit(f"audit policy: evaluate() on {len(pol.rules)} rules", n, lambda: [evaluate(pol, req) for _ in range(n)])
    nss = [f"ns{i}" for i in range(10)]
    reps = 200
    timeit("audit policy: coverage() over 10 PHI namespaces", reps, lambda: [coverage(pol, nss) for _ in range(reps)])


def bench_classify() -> None:
    values = [b"k8s:enc:aescbc:v1:key1:" + os.urandom(64), b"k8s\x00" + os.urandom(64), b'{"kind":"x"}',
              b"k8s:enc:kms:v2:kms:" + os.urandom(64)] * 250_000
    timeit("encryption: classify_value()", len(values), lambda: [classify_value(v) for v in values])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_etcd(objects: int) -> None:
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    if not os.path.exists(etcd):
        print("etcd verify: skipped (no etcd binary; apt-get install etcd-server)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        cport, pport = _free_port(), _free_port()
        url, peer = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{pport}"
        proc = subprocess.Popen(
            [etcd, "--name", "b", "--data-dir", f"{tmp}/d", "--listen-client-urls", url, "--advertise-client-urls",
             url, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster",
             f"b={peer}", "--log-level", "error", "--quota-backend-bytes", str(8 * 1024**3)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            client = httpx.Client(timeout=30)
            for _ in range(200):
                try:
                    if client.post(f"{url}/v3/kv/range", json={"key": "AA=="}).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
            t = time.perf_counter()
            ops = []
            for res in ("secrets", "configmaps"):
                for i in range(objects):
                    ns = f"ns{i % 50}"
                    if i % 97 == 0:
                        val = b"k8s\x00" + os.urandom(300)
                    elif i % 41 == 0:
                        val = b"k8s:enc:aescbc:v1:oldkey:" + os.urandom(300)
                    else:
                        val = b"k8s:enc:aescbc:v1:key1:" + os.urandom(300)
                    ops.append({"request_put": {"key": b64(f"/registry/{res}/{ns}/obj-{i}".encode()),
                                                "value": b64(val)}})
                    if len(ops) == 128:
                        client.post(f"{url}/v3/kv/txn", json={"success": ops}).raise_for_status()
                        ops = []
            if ops:
                client.post(f"{url}/v3/kv/txn", json={"success": ops}).raise_for_status()
            print(f"etcd: wrote {2 * objects:,} objects in {time.perf_counter() - t:.2f}s (setup, not measured)")
            key = base64.b64encode(b"0" * 32).decode()
            cfg = parse_encryption_config({"resources": [{"resources": ["secrets", "configmaps"], "providers": [
                {"aescbc": {"keys": [{"name": "key1", "secret": key}, {"name": "oldkey", "secret": key}]}}]}]})
            with EtcdClient(EtcdOptions([url])) as ec:
                t = time.perf_counter()
                reports = verify(ec, [("secrets", ""), ("configmaps", "")], cfg, "/registry")
                dt = time.perf_counter() - t
            total = sum(sum(r.counts.values()) for r in reports)
            print(f"{'etcd verify: objects paged, fetched and classified':<58} {total:>10,} in {dt:7.3f}s  = "
                  f"{total / dt:>12,.0f}/s")
            print("  counts:", {r.display: dict(r.counts) for r in reports})
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=20_000, help="secrets (and as many configmaps) in etcd")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}")
    bench_flags()
    bench_policy()
    bench_classify()
    bench_etcd(args.objects)


if __name__ == "__main__":
    main()
