"""Scan benchmark: a deterministic corpus of N workloads (≈9 objects each), scanned end to end.

For N = 1,000, 2,000 and 10,000 it prints objects/second, peak RSS and, in the same run, the time PyYAML's
CSafeLoader alone needs to parse the same files (the old floor for YAML input), the ratio of the two, and the
split of the scan: load (read + parse), inventory (construction and the shared views every check reads),
checks, report. Targets (issue 19): the whole pipeline <= 0.6x the CSafeLoader parse at 2,000 workloads;
10,000 workloads in under 8 s and under 800 MB.

Each measurement runs in a fresh child process so `ru_maxrss` is that measurement's own peak.

    .venv/bin/python bench/scan_bench.py                 # N = 1000, 2000 and 10000
    .venv/bin/python bench/scan_bench.py --sizes 1000 --profile   # + per-check times and cProfile top 25
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NAMESPACES = 40
PHI_EVERY = 4  # every 4th namespace holds PHI

GOOD_DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      serviceAccountName: {name}
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: app
          image: registry.example.org/{name}@sha256:{digest}
          ports: [{{containerPort: 8080, name: http}}]
          env:
            - name: DB_PASSWORD
              valueFrom: {{secretKeyRef: {{name: {name}-db, key: password}}}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            capabilities: {{drop: [ALL]}}
"""

BAD_DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      hostNetwork: true
      volumes:
        - name: host
          hostPath: {{path: /var/log}}
      containers:
        - name: app
          image: registry.example.org/{name}:latest
          env:
            - name: DB_PASSWORD
              value: "plaintext-{i}"
            - name: PATIENT_SSN
              value: "123-45-{ssn:04d}"
          securityContext:
            privileged: true
            capabilities: {{add: [NET_ADMIN, SYS_ADMIN]}}
          volumeMounts: [{{name: host, mountPath: /host}}]
"""

COMMON = """\
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  type: {svc_type}
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  namespace: {ns}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  note: "{note}"
---
apiVersion: v1
kind: Secret
metadata:
  name: {name}-db
  namespace: {ns}
type: Opaque
data:
  password: cGFzc3dvcmQ=
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  namespace: {ns}
automountServiceAccountToken: {automount}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}
  namespace: {ns}
rules:
  - apiGroups: [{api_group}]
    resources: [{resources}]
    verbs: [{verbs}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}
  namespace: {ns}
subjects:
  - kind: {subject_kind}
    name: {subject}
    {subject_ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {name}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: {ns}
spec:
  podSelector: {{matchLabels: {{app: {name}}}}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{{podSelector: {{matchLabels: {{role: frontend}}}}}}]
      ports: [{{port: 8080}}]
  egress:
    - to: [{{ipBlock: {{cidr: {cidr}}}}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: {ns}
spec:
{tls}  rules:
    - host: {name}.example.org
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {{service: {{name: {name}, port: {{number: 80}}}}}}
"""


def workload_yaml(i: int) -> str:
    """Workload i: 9 objects; every third one is misconfigured in many ways at once."""
    ns = f"team-{i % NAMESPACES:02d}"
    name = f"svc-{i:05d}"
    bad = i % 3 == 0
    digest = f"{(i * 2654435761) % (1 << 64):016x}" * 4
    deploy = (BAD_DEPLOY if bad else GOOD_DEPLOY).format(name=name, ns=ns, digest=digest, i=i, ssn=i % 10000)
    common = COMMON.format(
        name=name, ns=ns,
        svc_type="NodePort" if bad else "ClusterIP",
        note="patient DOB 1980-02-29" if bad else "plain settings",
        automount="true" if bad else "false",
        api_group='"*"' if bad else '""',
        resources='"*"' if bad else "configmaps",
        verbs='"*"' if bad else "get, list",
        subject_kind="User" if bad else "ServiceAccount",
        subject=f"dev{i}@example.org" if bad else name,
        subject_ns="" if bad else f"namespace: {ns}",
        cidr="0.0.0.0/0" if bad else "10.0.0.0/8",
        tls="" if bad else f"  tls: [{{hosts: [{name}.example.org], secretName: {name}-tls}}]\n",
    )
    return deploy + common


def namespaces_yaml() -> str:
    docs = []
    for n in range(NAMESPACES):
        phi = n % PHI_EVERY == 0
        labels = ['kubehipaa.io/phi: "true"'] if phi else []
        if phi and n % 8 == 0:
            labels += ["pod-security.kubernetes.io/enforce: restricted",
                       "pod-security.kubernetes.io/enforce-version: v1.30"]
        lab = "".join(f"\n    {x}" for x in labels)
        docs.append(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{n:02d}\n  labels:{lab or ' {}'}\n")
    return "---\n".join(docs)


def generate(root: Path, n: int) -> int:
    """Write the corpus (one file per workload, one directory per namespace); return the file count."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "namespaces.yaml").write_text(namespaces_yaml())
    for i in range(n):
        folder = root / f"team-{i % NAMESPACES:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"svc-{i:05d}.yaml").write_text(workload_yaml(i))
    return n + 1


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _children_cpu() -> float:
    """CPU seconds of the worker processes loading used (reaped children), so CPU figures stay honest."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_floor(root: str) -> dict:
    """PyYAML CSafeLoader alone: read every file, load_all, nothing else."""
    import yaml

    files = sorted(p for p in Path(root).rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    start, cpu = time.perf_counter(), time.process_time()
    docs = 0
    for path in files:
        for _doc in yaml.load_all(path.read_bytes().decode(), Loader=yaml.CSafeLoader):
            docs += 1
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "documents": docs,
            "rss_mb": _peak_rss_mb()}


INVENTORY_VIEWS = ("pod_specs", "pod_view", "images", "namespaces", "namespace_names", "phi_namespaces",
                   "control_plane")
"""The Inventory's cheap shared views (`functools.cached_property`), built before the checks so the split shows
them. The two engine views (`netpol`, `rbac`) are built by the first check that reads them, in whichever process
runs that check family (`pipelines.check_jobs`), so they count as check time."""


def child_scan(root: str, profile: bool) -> dict:
    """The whole scan as the CLI runs it: sources → inventory → every registered check → JSON report."""
    from kubehipaa.checks.registry import all_checks
    from kubehipaa.config import load_config
    from kubehipaa.inventory import Inventory
    from kubehipaa.pipelines.check_jobs import check_jobs
    from kubehipaa.pipelines.scan import run_scan
    from kubehipaa.reports.base import RenderOptions
    from kubehipaa.reports.scan import ScanReport
    from kubehipaa.sources.files import _load_jobs, load_paths

    checks = all_checks()  # import cost of the catalog is not part of the scan
    times: dict[str, float] = {}
    per_check: dict[str, float] = {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu()
    config = load_config(None, [root])
    loaded = load_paths([root])
    t1, cpu1, kids1 = time.perf_counter(), time.process_time(), _children_cpu()
    inv = Inventory(loaded.objects, config)
    gc.disable()  # as `run_scan` does while the checks build these views
    for view in INVENTORY_VIEWS:  # built here rather than by the first check that reads it: the split is honest
        getattr(inv, view)
    gc.enable()
    t_inv, cpu_inv = time.perf_counter(), time.process_time()
    last = [time.perf_counter()]

    def tick(chk) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        per_check[chk.meta.id] = now - last[0]
        last[0] = now

    kids_checks = _children_cpu()
    result = run_scan(inv, config, checks=checks, progress=tick)
    t2, cpu2 = time.perf_counter(), time.process_time()
    check_workers = _children_cpu() - kids_checks  # the checks' second process, if any
    text = ScanReport(config).render_bytes(result, "json", RenderOptions())  # as the CLI writes it
    t3, cpu3 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.disable()
    workers = kids1 - kids0
    times = {"load": t1 - t0, "inventory_and_checks": t2 - t1, "report": t3 - t2, "total": t3 - t0,
             "cpu": cpu3 - cpu0 + workers + check_workers, "cpu_load": cpu1 - cpu0 + workers,
             "cpu_rest": cpu3 - cpu1 + check_workers,
             "cpu_load_workers": workers, "inventory": t_inv - t1, "checks": t2 - t_inv,
             "cpu_inventory": cpu_inv - cpu1, "cpu_checks": cpu2 - cpu_inv + check_workers,
             "cpu_report": cpu3 - cpu2, "cpu_check_workers": check_workers}
    out = {
        "times": times,
        "objects": len(loaded.objects),
        "findings": len(result.findings),
        "report_bytes": len(text),
        "errors": [f"{e.check_id}: {e.message}" for e in result.errors],
        "rss_mb": _peak_rss_mb(),
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "load_jobs": str(_load_jobs()),
        "check_jobs": str(check_jobs()),
        "slowest_checks": sorted(per_check.items(), key=lambda kv: -kv[1])[:10],
        "checks": len(checks),
    }
    if profiler is not None:
        import io
        import pstats

        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(25)
        out["profile"] = buf.getvalue()
    return out


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of `pid` and all its descendants (KiB): the physical memory the process tree uses,
    each page shared after a fork counted once in all (RSS would count it in every process)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


def _child(kind: str, root: Path, profile: bool = False, jobs: str | None = None) -> dict:
    """Run one measurement in a fresh process; its answer gains `tree_pss_mb`, the peak PSS of its process tree
    (itself and any workers it forked), sampled every 20 ms."""
    cmd = [sys.executable, __file__, "--child", kind, str(root)] + (["--profile"] if profile else [])
    env = dict(os.environ)
    if jobs is not None:
        env["KUBEHIPAA_JOBS"] = jobs
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_pss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{err}")
    data: dict = json.loads(out.strip().splitlines()[-1])
    data["tree_pss_mb"] = peak[0] / 1024
    return data


def run_checkov(root: Path) -> tuple[float, float, float] | None:
    """(wall s, CPU s, peak RSS MB) of `checkov -d root --framework kubernetes`, or None if not installed."""
    checkov = shutil.which("checkov")
    if checkov is None:
        return None
    start = time.perf_counter()
    cmd = [checkov, "-d", str(root), "--framework", "kubernetes", "--quiet", "--compact", "-o", "json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_cli(root: Path, jobs: str | None) -> tuple[float, float, float] | None:
    """(wall s, CPU s, peak RSS MB) of the console script `kubehipaa scan root -f json -o FILE` as a user runs
    it: start-up, imports, the scan, writing the report (renamed into place after fsync), and the exit. None
    when the script is not installed beside this interpreter."""
    script = Path(sys.executable).parent / "kubehipaa"
    if not script.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="kubehipaa-bench-") as tmp:
        cmd = [str(script), *(["--jobs", jobs] if jobs else []), "scan", str(root), "-f", "json", "-o",
               str(Path(tmp) / "report.json"), "--fail-on", "never"]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"kubehipaa scan failed:\n{err}")
    # the child's usage includes the workers it reaped (loading, checks)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def target_line(n: int, ratio: float, seconds: float, rss_mb: float) -> str:
    """The issue-19 target that applies to this size, and whether this run met it."""
    if n == 2000:
        verdict = "met" if ratio <= 0.6 else "NOT met"
        return f"target (2,000 workloads): whole pipeline <= 0.6x CSafeLoader parse: {ratio:.2f}x, {verdict}"
    if n == 10000:
        verdict = "met" if seconds < 8 and rss_mb < 800 else "NOT met"
        return f"target (10,000 workloads): < 8 s and < 800 MB: {seconds:.2f} s, {rss_mb:.0f} MB, {verdict}"
    return "target: none at this size (0.6x at 2,000 workloads; < 8 s, < 800 MB at 10,000)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 10000])
    parser.add_argument("--profile", action="store_true", help="print per-check times and a cProfile summary")
    parser.add_argument("--keep", type=Path, help="write the corpus here and keep it (default: a temp dir)")
    parser.add_argument("--jobs", help="processes for loading and the checks, as `kubehipaa --jobs` "
                        "(KUBEHIPAA_JOBS; default auto: the CPUs this process may use)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse a corpus already written there")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root = args.child
        data = child_floor(root) if kind == "floor" else child_scan(root, args.profile)
        print(json.dumps(data))
        return

    print(f"kubehipaa scan benchmark · python {sys.version.split()[0]} · {os.cpu_count()} CPUs · "
          f"load average {os.getloadavg()[0]:.1f} (other jobs on the machine inflate wall time)")
    for n in args.sizes:
        base = args.keep or Path(tempfile.mkdtemp(prefix="kubehipaa-bench-"))
        root = base / f"corpus-{n}"
        try:
            t = time.perf_counter()
            if args.reuse and (root / "namespaces.yaml").is_file():
                files = sum(1 for _ in root.rglob("*.yaml"))
            else:
                files = generate(root, n)
            gen = time.perf_counter() - t
            floor = _child("floor", root)
            scan = _child("scan", root, args.profile, args.jobs)
            total = scan["times"]["total"]
            objs = scan["objects"]
            print(f"\nN = {n:,} workloads: {objs:,} objects in {files:,} files (generated in {gen:.1f} s)")
            cpu = scan["times"]["cpu"]
            print(f"  CSafeLoader parse floor : {floor['seconds']:7.2f} s wall, {floor['cpu']:6.2f} s CPU   "
                  f"({floor['documents']:,} documents, peak RSS {floor['rss_mb']:.0f} MB)")
            print(f"  kubehipaa scan (total)  : {total:7.2f} s wall, {cpu:6.2f} s CPU   = "
                  f"{total / floor['seconds']:.2f}x floor wall, {cpu / floor['cpu']:.2f}x floor CPU; "
                  f"{objs / total:,.0f} objects/s; peak RSS {scan['rss_mb']:.0f} MB; peak memory of the whole "
                  f"process tree (PSS, workers included, shared pages once) {scan['tree_pss_mb']:.0f} MB")
            ts = scan["times"]
            if ts["cpu_check_workers"]:
                print(f"    checks shared with worker processes ({scan['check_jobs']} processes): their "
                      f"{ts['cpu_check_workers']:.2f} s of CPU is in the CPU figures above")
            if ts["cpu_load_workers"]:
                print(f"    loading used worker processes ({scan['load_jobs']} processes): "
                      f"{ts['cpu_load_workers']:.2f} s of their CPU is included above; "
                      f"largest worker peak RSS {scan['worker_rss_mb']:.0f} MB")
            print(f"    load {ts['load']:.2f} s · inventory+{scan['checks']} checks {ts['inventory_and_checks']:.2f} s"
                  f" · JSON report {ts['report']:.2f} s ({scan['findings']:,} findings, "
                  f"{scan['report_bytes'] / 1e6:.1f} MB)")
            beyond = ts["inventory_and_checks"] + ts["report"]
            print(f"    checks+inventory+report = {beyond / floor['seconds']:.2f}x floor wall, "
                  f"{ts['cpu_rest'] / floor['cpu']:.2f}x floor CPU (target <= 0.5x); "
                  f"loading = {ts['cpu_load'] / floor['cpu']:.2f}x floor CPU")
            print(f"    split (wall / CPU s): load {ts['load']:.2f} / {ts['cpu_load']:.2f} · inventory "
                  f"{ts['inventory']:.2f} / {ts['cpu_inventory']:.2f} · checks {ts['checks']:.2f} / "
                  f"{ts['cpu_checks']:.2f} · report {ts['report']:.2f} / {ts['cpu_report']:.2f}")
            ratio = total / floor["seconds"]
            print(f"    whole pipeline {total:.2f} s vs CSafeLoader parse {floor['seconds']:.2f} s of the same files "
                  f"= {ratio:.2f}x (CPU {cpu:.2f} s vs {floor['cpu']:.2f} s = {cpu / floor['cpu']:.2f}x)")
            # memory: the larger of the main process's exact peak and the sampled peak of the whole process tree
            print("    " + target_line(n, ratio, total, max(scan["rss_mb"], scan["tree_pss_mb"])))
            if scan["errors"]:
                print(f"    check errors: {scan['errors']}")
            print("    slowest checks: " + ", ".join(f"{k} {v:.2f} s" for k, v in scan["slowest_checks"][:6]))
            cli = run_cli(root, args.jobs)
            if cli is not None:
                print(f"  whole CLI run (`kubehipaa scan DIR -f json -o FILE`, start to exit): {cli[0]:.2f} s wall, "
                      f"{cli[1]:.2f} s CPU (workers included), peak RSS {cli[2]:.0f} MB")
            if args.profile:
                print(scan.get("profile", ""))
            if n == 1000:
                ck = run_checkov(root)
                if ck is None:
                    print("  checkov: not on PATH, skipped (issue 2 measured 68 s / 1.2 GB on this corpus size)")
                else:
                    wall, ck_cpu, rss = ck
                    print(f"  checkov (same corpus)   : {wall:7.2f} s wall, {ck_cpu:6.2f} s CPU, peak RSS {rss:.0f} MB"
                          f" = {wall / total:.0f}x kubehipaa wall, {ck_cpu / cpu:.0f}x CPU")
        finally:
            if args.keep is None:
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
