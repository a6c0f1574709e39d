"""Pod Security Standards engine throughput: pod specs evaluated per second at restricted/latest.

Generates N realistic pod specs (1-3 containers, an init container in a third of them, probes, ports,
volumes; about a quarter violating one or more restricted checks), then times `violations()` over all of
them on one core. Generation is not timed. Usage: python bench/pss_bench.py [N]
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

from kubehipaa.engines.pss import Level, parse_version, violations


def _container(rng: random.Random, i: int, bad: bool) -> dict[str, Any]:
    sc: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    c: dict[str, Any] = {
        "name": f"app-{i}",
        "image": f"registry.example.com/team/app-{rng.randrange(50)}:1.{rng.randrange(20)}",
        "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + i}},
        "securityContext": sc,
    }
    if bad:
        choice = rng.randrange(6)
        if choice == 0:
            sc["privileged"] = True
        elif choice == 1:
            sc["allowPrivilegeEscalation"] = True
        elif choice == 2:
            sc["capabilities"] = {"add": ["NET_ADMIN"]}
        elif choice == 3:
            sc["runAsUser"] = 0
        elif choice == 4:
            c["ports"][0]["hostPort"] = 80
        else:
            del c["securityContext"]
    return c


def generate(n: int, seed: int = 42) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        bad = rng.random() < 0.25
        ncont = rng.randint(1, 3)
        spec: dict[str, Any] = {
            "containers": [_container(rng, i, bad and i == 0) for i in range(ncont)],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": f"cfg-{k}"}}],
            "serviceAccountName": "app",
        }
        if rng.random() < 0.33:
            spec["initContainers"] = [_container(rng, 9, False)]
        if bad and rng.random() < 0.3:
            spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/log"}})
        meta = {"labels": {"app": f"app-{k % 100}"}, "annotations": {"team": "clinical"}}
        out.append((meta, spec))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    pods = generate(n)
    level, version = Level.RESTRICTED, parse_version("latest")
    violations(*pods[0], level, version)  # warm up
    best_wall = best_cpu = float("inf")
    denied = 0
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        denied = 0
        for meta, spec in pods:
            if violations(meta, spec, level, version):
                denied += 1
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    print(
        f"pss: {n} pod specs at restricted/latest, best of 3 on one core: "
        f"{best_cpu:.3f} s CPU, {best_wall:.3f} s wall"
    )
    print(f"pss: {n / best_cpu:,.0f} pod specs/s (CPU time); {n / best_wall:,.0f} pod specs/s (wall clock)")
    print(f"pss: {denied} denied ({denied / n:.0%})")


if __name__ == "__main__":
    main()
