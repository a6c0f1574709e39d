"""PHI engine and workload/image/secret check throughput.

1. `scan_text` over a deterministic corpus of configuration values (mostly ordinary settings, ports,
   versions, URLs and timestamps; about 2% PHI-shaped), values per second.
2. The 22 KH-WL/KH-IMG/KH-SEC checks over N generated workloads (Deployment + ConfigMap + Service per
   workload, mixed good and bad, several namespaces, a PHI namespace), objects per second, as the scan
   runs them (findings built by the registry). Objects are built in memory: YAML parsing is not timed here
   (bench/scan_bench.py measures the whole pipeline against the parse floor).

Usage: python bench/phi_bench.py [N workloads, default 10000]
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.engines.phi import scan_text
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject

ORDINARY = [
    "info", "debug", "true", "8080", "5432", "postgres.db.svc.cluster.local", "https://api.example.com/v2",
    "1.27.3", "2024-05-01T12:00:00Z", "30s", "256Mi", "us-east-1", "/var/lib/app", "1700000000",
    "jdbc:postgresql://db:5432/app?sslmode=require", "ops@example.com", "max_connections=200",
]
PHI = ["SSN 219-09-9999", "MRN: 00482913", "DOB: 04/12/1961", "1234567893", 'MSH|^~\\&|EPIC|',
       '{"resourceType": "Patient"}']


def values(n: int, rng: random.Random) -> list[str]:
    return [rng.choice(PHI) if rng.random() < 0.02 else rng.choice(ORDINARY) for _ in range(n)]


def workload(i: int, rng: random.Random) -> list[dict[str, Any]]:
    ns = ("clinical", "billing", "web", "ops")[i % 4]
    bad = rng.random() < 0.3
    sc: dict[str, Any] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                          "capabilities": {"drop": ["ALL"]}}
    if bad:
        sc = rng.choice([{"privileged": True}, {"runAsUser": 0}, {"capabilities": {"add": ["NET_ADMIN"]}}, {}])
    env = [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": str(8000 + i % 100)},
           {"name": "DB_HOST", "value": f"db-{i % 50}.{ns}.svc"}]
    if bad and rng.random() < 0.3:
        env.append({"name": "DB_PASSWORD", "value": f"pw-{i}-secret"})
    image = f"registry.example.com/{ns}/app-{i % 40}:1.{i % 9}" + ("" if bad else "@sha256:" + "c" * 64)
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"app-{i}", "namespace": ns, "labels": {"app": f"app-{i}"},
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": f"app-{i}"}},
                 "template": {"metadata": {"labels": {"app": f"app-{i}"}},
                              "spec": {"securityContext": {"runAsNonRoot": True,
                                                           "seccompProfile": {"type": "RuntimeDefault"}},
                                       "containers": [{"name": "app", "image": image, "env": env,
                                                       "securityContext": sc,
                                                       "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                                     "limits": {"memory": "128Mi"}}}]}}},
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"app-{i}", "namespace": ns},
          "data": {f"k{j}": v for j, v in enumerate(values(6, rng))}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"app-{i}", "namespace": ns},
           "spec": {"selector": {"app": f"app-{i}"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    return [dep, cm, svc]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = random.Random(42)
    corpus = values(200_000, rng)
    t = time.perf_counter()
    found = sum(len(scan_text(v, "value")) for v in corpus)
    dt = time.perf_counter() - t
    print(f"phi.scan_text: {len(corpus):,} values in {dt:.2f}s = {len(corpus) / dt:,.0f} values/s ({found:,} matches)")

    docs = [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}}}]
    for i in range(n):
        docs.extend(workload(i, rng))
    objects = [K8sObject(d, "bench.yaml", k + 1) for k, d in enumerate(docs)]
    checks = [c for c in all_checks() if c.meta.id.startswith(("KH-WL-", "KH-IMG-", "KH-SEC-"))]
    inv = Inventory(objects, Config())
    t = time.perf_counter()
    findings = sum(len(c.run(inv)) for c in checks)
    dt = time.perf_counter() - t
    print(f"{len(checks)} KH-WL/IMG/SEC checks: {len(objects):,} objects ({n:,} workloads) in {dt:.2f}s = "
          f"{len(objects) / dt:,.0f} objects/s, {findings:,} findings")


if __name__ == "__main__":
    main()
