"""Benchmark the audit archive: write N (default 10,000,000) synthetic events in the archive layout, then time
`kubehipaa audit query` over them.

The traffic is the mix of bench/audit_bench.py (lease renewals, node status, controllers, kubelet tokens,
application secret reads, human kubectl, pod creations, 403s, a few attacks), spread evenly over `--days` UTC
days, with every column of EVENT_SCHEMA filled and `event` holding the event's JSON (~0.8 KB), as an archive
keeps it. Rows are built column-wise with pyarrow compute from a pool of concrete request shapes (building
10M Python dicts would measure the generator, not the archive).

Figures printed:
- ingest: rows/s of the writer (Arrow table → zstd Parquet, one segment per day), CPU and wall. This is this
  bench's own writer, in the archive layout (archive/schema.py); `audit archive add` also parses logs, redacts
  and hashes, so run `--ingest-cli` once it exists to measure it instead;
- the archive's size on disk;
- "who read secret X in namespace Y, ever" (`--verb get/list/watch --resource secrets -n Y --name X --count-by
  user`), a raw `--sql` group-by, and a one-week `--since` query: each the real CLI in a child process, best
  of `--repeat` runs (wall, and the child's CPU: the machine is shared, CPU time is the steadier figure),
  with DuckDB's profile of the first: the columns it read and the files it opened.

Usage: python bench/archive_bench.py [--events 10000000] [--days 100] [--store /tmp/bench/archive]
       [--reuse] [--repeat 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from kubehipaa.archive.schema import COMPRESSION, EVENT_SCHEMA, EVENTS_DIR, MANIFEST, PARTITION_KEY  # noqa: E402

NAMESPACES = ["clinical", "billing", "portal", "monitoring", "ingress-nginx", "default"]
HUMANS = ["jane@hospital.org", "raj@hospital.org", "li@hospital.org", "ops-oncall@hospital.org"]
NODES = [f"ip-10-0-{i // 8}-{10 + i}.ec2.internal" for i in range(40)]
KCM_UA = "kube-controller-manager/v1.30.4 (linux/amd64) kubernetes/a51b3b7/leader-election"
KUBELET_UA = "kubelet/v1.30.4 (linux/amd64) kubernetes/a51b3b7"
KUBECTL_UA = "kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350"
NEEDLE = ("secret-17", "billing")
"""The secret and namespace of "who read secret X in namespace Y, ever" (read by humans, ~1 in 30,000)."""

NODE_GROUPS = ["system:nodes", "system:authenticated"]
HUMAN_GROUPS = ["clinical-devs", "system:authenticated"]


def _sa(ns: str, name: str) -> tuple[str, list[str]]:
    return f"system:serviceaccount:{ns}:{name}", ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                                  "system:authenticated"]


@dataclass(frozen=True, slots=True)
class Shape:
    """One concrete request shape; rows are drawn from a weighted pool of them."""

    weight: float
    verb: str
    user: str
    groups: list[str]
    ip: str
    ua: str
    resource: str
    namespace: str | None
    name: str | None
    code: int
    uri: str
    api_group: str = ""
    sub: str | None = None
    level: str = "Metadata"


def shapes() -> list[Shape]:
    """The traffic mix of bench/audit_bench.py as a pool of shapes (weights sum to 1 per kind)."""
    out: list[Shape] = []

    def add(share: float, variants: list[dict[str, Any]]) -> None:
        for v in variants:
            out.append(Shape(weight=share / len(variants), **v))

    kcm = ("system:kube-controller-manager", ["system:authenticated"])
    add(0.28, [dict(verb=verb, user=f"system:node:{n}", groups=NODE_GROUPS, ip=f"10.0.{i % 6}.{20 + i}",
                    ua=KUBELET_UA, resource="leases", namespace="kube-node-lease", name=n, code=200,
                    uri=f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{n}?timeout=10s",
                    api_group="coordination.k8s.io") for i, n in enumerate(NODES) for verb in ("get", "update")])
    add(0.12, [dict(verb="patch", user=f"system:node:{n}", groups=NODE_GROUPS, ip=f"10.0.{i % 6}.{20 + i}",
                    ua=KUBELET_UA, resource="nodes", namespace=None, name=n, code=200,
                    uri=f"/api/v1/nodes/{n}/status?timeout=10s", sub="status") for i, n in enumerate(NODES)])
    add(0.12, [dict(verb=verb, user=kcm[0], groups=kcm[1], ip="10.0.0.10", ua=KCM_UA, resource=res, namespace=ns,
                    name=None, code=200, uri=f"/api/v1/namespaces/{ns}/{res}?resourceVersion=0")
               for res in ("configmaps", "endpoints", "endpointslices", "services", "pods")
               for ns in NAMESPACES for verb in ("list", "watch", "get")])
    add(0.10, [dict(verb=verb, user=_sa(ns, "app")[0], groups=_sa(ns, "app")[1], ip=f"10.244.{k}.{k + 7}",
                    ua="ehr-api/2.3.1", resource="pods", namespace=ns, name=f"app-{k}", code=200,
                    uri=f"/api/v1/namespaces/{ns}/pods/app-{k}") for ns in NAMESPACES for k in range(20)
               for verb in ("get", "list")])
    add(0.08, [dict(verb="create", user=f"system:node:{n}", groups=NODE_GROUPS, ip=f"10.0.{i % 6}.{20 + i}",
                    ua=KUBELET_UA, resource="events", namespace=ns, name=None, code=201,
                    uri=f"/api/v1/namespaces/{ns}/events") for i, n in enumerate(NODES) for ns in NAMESPACES])
    add(0.05, [dict(verb="create", user=f"system:node:{n}", groups=NODE_GROUPS, ip=f"10.0.{i % 6}.{20 + i}",
                    ua=KUBELET_UA, resource="serviceaccounts", sub="token", namespace=ns, name="app", code=201,
                    uri=f"/api/v1/namespaces/{ns}/serviceaccounts/app/token")
               for i, n in enumerate(NODES) for ns in NAMESPACES])
    add(0.05, [dict(verb="get", user=_sa(ns, "app")[0], groups=_sa(ns, "app")[1], ip=f"10.244.3.{k + 2}",
                    ua="ehr-api/2.3.1", resource="secrets", namespace=ns, name=f"db-credentials-{k}", code=200,
                    uri=f"/api/v1/namespaces/{ns}/secrets/db-credentials-{k}") for ns in NAMESPACES for k in range(4)])
    add(0.04, [dict(verb="update", user=kcm[0], groups=kcm[1], ip="10.0.0.10", ua=KCM_UA, resource=res,
                    namespace=ns, name=f"app-{k}", code=200, api_group="apps", sub="status",
                    uri=f"/apis/apps/v1/namespaces/{ns}/{res}/app-{k}/status")
               for res in ("deployments", "replicasets") for ns in NAMESPACES for k in range(10)])
    add(0.03, [dict(verb=verb, user=h, groups=HUMAN_GROUPS, ip=f"203.0.113.{k + 1}", ua=KUBECTL_UA, resource=res,
                    namespace="clinical", name=None, code=200, uri=f"/api/v1/namespaces/clinical/{res}?limit=500")
               for h in HUMANS for k in range(10) for verb in ("get", "list")
               for res in ("pods", "deployments", "services", "configmaps", "secrets")])
    add(0.04, [dict(verb="create", user=_sa("kube-system", "replicaset-controller")[0],
                    groups=_sa("kube-system", "replicaset-controller")[1], ip="10.0.0.10", ua=KCM_UA,
                    resource="pods", namespace=ns, name=None, code=201, level="Request",
                    uri=f"/api/v1/namespaces/{ns}/pods") for ns in NAMESPACES])
    add(0.04, [dict(verb="get", user=_sa(ns, "app")[0], groups=_sa(ns, "app")[1], ip="10.244.9.9",
                    ua="ehr-api/2.3.1", resource="configmaps", namespace=ns, name="app-config", code=200,
                    uri=f"/api/v1/namespaces/{ns}/configmaps/app-config") for ns in NAMESPACES])
    add(0.01, [dict(verb="delete", user=kcm[0], groups=kcm[1], ip="10.0.0.10", ua=KCM_UA, resource="pods",
                    namespace=ns, name=f"app-{k}", code=200, uri=f"/api/v1/namespaces/{ns}/pods/app-{k}")
               for ns in NAMESPACES for k in range(10)])
    add(0.02, [dict(verb="list", user=_sa("portal", "frontend")[0], groups=_sa("portal", "frontend")[1],
                    ip="10.244.7.7", ua="frontend/1.0", resource="secrets", namespace="billing", name=None,
                    code=403, uri="/api/v1/namespaces/billing/secrets")])
    add(0.008, [dict(verb="create", user=h, groups=HUMAN_GROUPS, ip="203.0.113.9", ua=KUBECTL_UA,
                     resource="pods", sub="exec", namespace="clinical", name="ehr-0", code=101,
                     uri="/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh&command=-c&container=app")
                for h in HUMANS])
    add(0.008, [dict(verb="get", user=h, groups=HUMAN_GROUPS, ip="198.51.100.7", ua=KUBECTL_UA,
                     resource="secrets", namespace=ns, name=f"secret-{k}", code=200,
                     uri=f"/api/v1/namespaces/{ns}/secrets/secret-{k}")
                for h in HUMANS for ns in NAMESPACES for k in range(41)])
    add(0.004, [dict(verb="get", user="system:anonymous", groups=["system:unauthenticated"], ip="45.33.32.156",
                     ua="curl/8.5", resource="secrets", namespace="clinical", name=None, code=403,
                     uri="/api/v1/namespaces/clinical/secrets")])
    return out


def _event_parts(s: Shape) -> tuple[str, str, str, str]:
    """The event's JSON around its auditID, the user's credential id (service accounts and nodes) and its
    two timestamps: (before the id, up to the user's groups, after them, after the times)."""
    ref: dict[str, Any] = {"resource": s.resource, "apiVersion": "v1"}
    if s.api_group:
        ref["apiGroup"] = s.api_group
    if s.namespace:
        ref["namespace"] = s.namespace
    if s.name:
        ref["name"] = s.name
    if s.sub:
        ref["subresource"] = s.sub
    uid = str(uuid.UUID(int=zlib.crc32(s.user.encode()) << 64))
    head = orjson.dumps({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": s.level}).decode()[:-1]
    user = orjson.dumps({"username": s.user, "uid": uid, "groups": s.groups}).decode()[:-1]
    mid = orjson.dumps({"stage": "ResponseComplete", "requestURI": s.uri, "verb": s.verb}).decode()[1:-1]
    rest = orjson.dumps({
        "sourceIPs": [s.ip], "userAgent": s.ua,
        "objectRef": ref, "responseStatus": {"metadata": {}, "code": s.code},
        "annotations": {"authorization.k8s.io/decision": "allow" if s.code < 400 else "forbid",
                        "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "system:controller" '
                                                       'of ClusterRole "system:controller:generic"'},
    }).decode()[1:-1]
    return (head + ',"auditID":"', '",' + mid + ',"user":' + user, "}," + rest + ',"requestReceivedTimestamp":"',
            '"}')


class Pool:
    """The shapes as Arrow columns, so a day's rows are `take`s by index."""

    def __init__(self, pool: list[Shape]) -> None:
        self.shapes = pool
        self.cum: list[float] = []
        acc = 0.0
        for s in pool:
            acc += s.weight
            self.cum.append(acc)
        parts = [_event_parts(s) for s in pool]
        self.cols: dict[str, pa.Array] = {
            "verb": pa.array([s.verb for s in pool]), "user": pa.array([s.user for s in pool]),
            "groups": pa.array([s.groups for s in pool], pa.list_(pa.string())),
            "source_ip": pa.array([s.ip for s in pool]), "user_agent": pa.array([s.ua for s in pool]),
            "api_group": pa.array([s.api_group for s in pool]), "resource": pa.array([s.resource for s in pool]),
            "subresource": pa.array([s.sub for s in pool], pa.string()),
            "namespace": pa.array([s.namespace for s in pool], pa.string()),
            "name": pa.array([s.name for s in pool], pa.string()),
            "request_uri": pa.array([s.uri for s in pool]), "code": pa.array([s.code for s in pool], pa.int32()),
            "decision": pa.array(["allow" if s.code < 400 else "forbid" for s in pool]),
            "level": pa.array([s.level for s in pool]),
            "_head": pa.array([p[0] for p in parts]), "_mid": pa.array([p[1] for p in parts]),
            "_mid2": pa.array([p[2] for p in parts]), "_tail": pa.array([p[3] for p in parts]),
            "_extra": pa.array([s.user.startswith(("system:serviceaccount:", "system:node:")) for s in pool]),
        }

    def day(self, rng: random.Random, day: dt.date, n: int, serial: int) -> pa.Table:
        """`n` events spread over `day` (UTC), in time order."""
        idx = pa.array(rng.choices(range(len(self.shapes)), cum_weights=self.cum, k=n), pa.int32())
        start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1_000_000)
        offsets = sorted(rng.randrange(86_400_000_000) for _ in range(n))
        ts = pa.array([start + o for o in offsets], pa.timestamp("us", tz="UTC"))
        stage_ts = pc.add(ts, pa.scalar(3_000, pa.duration("us")))
        bits = rng.getrandbits
        audit_id = pa.array([f"{x[:8]}-{x[8:12]}-4{x[13:16]}-a{x[17:20]}-{x[20:]}"
                             for x in (f"{bits(128):032x}" for _ in range(n))])
        jti = pa.array([f"{bits(128):032x}" for _ in range(n)])
        cols = {k: pc.take(v, idx) for k, v in self.cols.items()}
        extra = pc.if_else(cols["_extra"], pc.binary_join_element_wise(
            pa.scalar(',"extra":{"authentication.kubernetes.io/credential-id":["JTI='), jti, pa.scalar('"]}'), ""),
            pa.scalar(""))
        ts_text = pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S")  # seconds with the microseconds
        event = pc.binary_join_element_wise(cols["_head"], audit_id, cols["_mid"], extra, cols["_mid2"], ts_text,
                                            pa.scalar('Z","stageTimestamp":"'), ts_text, pa.scalar("Z"),
                                            cols["_tail"], "")
        arrays = {"ts": ts, "stage_ts": stage_ts, "audit_id": audit_id,
                  "stage": pa.array(["ResponseComplete"] * n), "level": cols["level"], "verb": cols["verb"],
                  "user": cols["user"], "groups": cols["groups"],
                  "impersonated_user": pa.nulls(n, pa.string()), "source_ip": cols["source_ip"],
                  "user_agent": cols["user_agent"], "api_group": cols["api_group"],
                  "api_version": pa.array(["v1"] * n), "resource": cols["resource"],
                  "subresource": cols["subresource"], "namespace": cols["namespace"], "name": cols["name"],
                  "request_uri": cols["request_uri"], "code": cols["code"], "decision": cols["decision"],
                  "event": event}
        return pa.Table.from_arrays([arrays[f.name] for f in EVENT_SCHEMA], schema=EVENT_SCHEMA)


def build(store: Path, events: int, days: int, seed: int) -> dict[str, float]:
    """Write the archive; returns timings (generation and writing, wall and CPU, separately)."""
    if store.exists():
        shutil.rmtree(store)
    (store / EVENTS_DIR).mkdir(parents=True)
    rng = random.Random(seed)
    pool = Pool(shapes())
    first = dt.date(2020, 1, 1)
    gen_wall = gen_cpu = write_wall = write_cpu = 0.0
    written = 0
    for d in range(days):
        n = events // days + (1 if d < events % days else 0)
        day = first + dt.timedelta(days=d)
        w0, c0 = time.perf_counter(), time.process_time()
        table = pool.day(rng, day, n, d)
        w1, c1 = time.perf_counter(), time.process_time()
        part = store / EVENTS_DIR / f"{PARTITION_KEY}={day.isoformat()}"
        part.mkdir()
        pq.write_table(table, part / f"bench-{d:05d}.parquet", compression=COMPRESSION)
        w2, c2 = time.perf_counter(), time.process_time()
        gen_wall += w1 - w0
        gen_cpu += c1 - c0
        write_wall += w2 - w1
        write_cpu += c2 - c1
        written += n
        if d % 10 == 9:
            print(f"  {written:,} events written ({d + 1}/{days} days)", file=sys.stderr, flush=True)
    (store / MANIFEST).write_text("")
    return {"events": written, "gen_wall": gen_wall, "gen_cpu": gen_cpu, "write_wall": write_wall,
            "write_cpu": write_cpu}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_cli(argv: list[str]) -> tuple[float, float, str]:
    """The real CLI in a child process: (wall s, child CPU s, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "100"}, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def best(argv: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [run_cli(argv) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return (f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Python {platform.python_version()}, "
            f"pyarrow {pa.__version__}, DuckDB {duckdb.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=100)
    ap.add_argument("--store", type=Path, default=Path("/tmp/bench/archive"))
    ap.add_argument("--reuse", action="store_true", help="Query the existing store (do not rebuild it).")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    print(f"machine: {machine()}")
    if not (args.reuse and args.store.exists()):
        print(f"writing {args.events:,} events over {args.days} days to {args.store} ...", flush=True)
        t = build(args.store, args.events, args.days, args.seed)
        n = t["events"]
        print(f"generation (synthetic rows, not part of ingest): {t['gen_wall']:.1f} s wall, {t['gen_cpu']:.1f} s CPU")
        print(f"ingest (this bench's writer: Arrow -> zstd Parquet, one segment per day): {n / t['write_wall']:,.0f} "
              f"events/s wall, {n / t['write_cpu']:,.0f} events/s per CPU-second "
              f"({t['write_wall']:.1f} s wall, {t['write_cpu']:.1f} s CPU)")
    size = du(args.store)
    files = sum(1 for _ in (args.store / EVENTS_DIR).rglob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (args.store / EVENTS_DIR).rglob("*.parquet"))
    print(f"archive: {rows:,} events, {files} segments, {size / 2**20:,.0f} MiB on disk "
          f"({size / max(rows, 1):.0f} bytes/event)")

    store = str(args.store)
    secret, ns = NEEDLE
    who = ["audit", "query", store, "--verb", "get", "--verb", "list", "--verb", "watch", "--resource", "secrets",
           "-n", ns, "--name", secret, "--count-by", "user"]
    sql = ["audit", "query", store, "--sql", "select user, count(*) from events where verb='delete' group by 1"]
    last_day = sorted(p.name for p in (args.store / EVENTS_DIR).iterdir())[-1].split("=")[1]
    week = (dt.date.fromisoformat(last_day) - dt.timedelta(days=6)).isoformat()
    recent = ["audit", "query", store, "--user", "jane@hospital.org", "--resource", "secrets", "--since", week,
              "--format", "csv"]
    startup = best(["audit", "query", "--help"], args.repeat)
    print(f"CLI start-up alone (audit query --help): {startup[0]:.2f} s wall, {startup[1]:.2f} s CPU")
    for label, argv in ((f"who read secret {secret} in namespace {ns}, ever", who),
                        ("the same with --collections (the namespace's and cluster-wide lists/watches too)",
                         [*who, "--collections"]),
                        ("--sql group-by (deletes per user, every event)", sql),
                        (f"one user's secret reads --since {week} (7 of {files} days)", recent)):
        wall, cpu, out = best(argv, args.repeat)
        print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU (best of {args.repeat}, start-up included)")
        if argv is who:
            print("  " + "\n  ".join(out.rstrip().splitlines()))
    from kubehipaa.archive import query as q

    spec = q.Query(filters=q.Filters(verbs=("get", "list", "watch"), resources=("secrets",), namespaces=(ns,),
                                     names=(secret,)), count_by=("user",))
    wall, cpu = in_process(lambda: q.run_filters(args.store, spec), args.repeat)
    print(f"'who read' in-process (q.run_filters, no start-up): {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"(best of {args.repeat})")
    for scan in q.profile(args.store, *q.build_sql(spec)):
        print(f"  DuckDB profile of 'who read': columns projected {scan.projections}, filters pushed into the "
              f"scan {scan.filters}; files opened {scan.files_opened}/{scan.files_total}; "
              f"{(scan.bytes_scanned or 0) / 2**20:,.0f} MiB read of {size / 2**20:,.0f} MiB")
    since = dt.datetime.fromisoformat(week).replace(tzinfo=dt.UTC)
    spec = q.Query(filters=q.Filters(users=("jane@hospital.org",), resources=("secrets",), since=since))
    for scan in q.profile(args.store, *q.build_sql(spec)):
        print(f"  DuckDB profile of --since {week}: files opened {scan.files_opened}/{scan.files_total} "
              f"(file filters {scan.file_filters})")


def in_process(fn: Any, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of `fn()` (CPU of this process: DuckDB's threads included)."""
    runs = []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - w0, time.process_time() - c0))
    return min(r[0] for r in runs), min(r[1] for r in runs)

if __name__ == "__main__":
    main()
