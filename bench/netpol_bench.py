"""NetworkPolicy engine benchmark: connlist time and peak memory on generated clusters.

Generates clusters of 1,000 pods / 50 namespaces / 500 policies and 10,000 pods / 200 namespaces /
2,000 policies (pods grouped under ReplicaSets of 1-5 replicas, ten apps per namespace, per namespace a
default deny, DNS egress, app-to-app allow rules, one cross-namespace rule and one ipBlock rule), writes
each corpus as YAML, and times `kubehipaa netpol connlist` end to end (parse + analysis + output) in a
fresh process so peak RSS is the whole run's. If network-config-analyzer (np-guard's Python analyzer,
PyPI `network-config-analyzer`) is installed in a separate venv (NCA_PYTHON, default /tmp/nca-venv/bin/python)
it runs `--connectivity` on the same corpus and both times are printed side by side.

Usage: .venv/bin/python bench/netpol_bench.py [--sizes small,large] [--nca-timeout 600] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

SIZES = {
    "small": {"pods": 1_000, "namespaces": 50, "policies": 500},
    "large": {"pods": 10_000, "namespaces": 200, "policies": 2_000},
}
ROOT = Path(__file__).resolve().parents[1]


def generate(pods: int, namespaces: int, policies: int, seed: int = 7) -> list[dict[str, Any]]:
    """A deterministic synthetic cluster with the requested counts."""
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    teams = ["billing", "clinical", "lab", "imaging", "portal"]
    pods_per_ns = pods // namespaces
    per_ns_policies = policies // namespaces
    apps_per_ns = 10
    docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    docs.append(_pod("kube-system", "kube-dns-abc", "kube-dns-rs", {"k8s-app": "kube-dns"}, 53))
    for n in range(namespaces):
        ns = f"ns-{n:03d}"
        team = teams[n % len(teams)]
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"team": team, "env": rng.choice(["prod", "stage"])}},
            }
        )
        made = 0
        app = 0
        while made < pods_per_ns:
            replicas = min(rng.randint(1, 5), pods_per_ns - made)
            owner = f"app{app % apps_per_ns}-{app // apps_per_ns}-rs"
            labels = {
                "app": f"app{app % apps_per_ns}",
                "tier": "web" if app % 3 == 0 else "svc",
                "gen": str(app // apps_per_ns),
            }
            for r in range(replicas):
                docs.append(_pod(ns, f"{owner}-{r}", owner, labels, 8000 + app % apps_per_ns))
            made += replicas
            app += 1
        docs.extend(_policies(ns, teams, n, per_ns_policies, apps_per_ns))
    return docs


def _pod(ns: str, name: str, owner: str, labels: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True, "uid": "x"}
            ],
        },
        "spec": {
            "containers": [{"name": "c", "image": "img", "ports": [{"name": "api", "containerPort": port}]}]
        },
        "status": {"hostIP": "10.0.0.1", "podIPs": [{"ip": "10.1.0.1"}], "podIP": "10.1.0.1"},
    }


def _np(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def _policies(ns: str, teams: list[str], n: int, count: int, apps: int) -> list[dict[str, Any]]:
    out = [
        _np(ns, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _np(
            ns,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                    }
                ],
            },
        ),
        _np(
            ns,
            "from-team",
            {
                "podSelector": {"matchLabels": {"tier": "web"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": teams[(n + 1) % len(teams)]}},
                                "podSelector": {
                                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]
                                },
                            }
                        ],
                        "ports": [{"port": "api"}],
                    }
                ],
            },
        ),
        _np(
            ns,
            "from-partner",
            {
                "podSelector": {"matchLabels": {"app": "app0"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "ipBlock": {
                                    "cidr": f"172.{16 + n % 16}.0.0/16",
                                    "except": [f"172.{16 + n % 16}.9.0/24"],
                                }
                            }
                        ],
                        "ports": [{"port": 8000}],
                    }
                ],
            },
        ),
    ]
    i = 0
    while len(out) < count:
        a, b = i % apps, (i + 1) % apps
        if i % 2 == 0:
            out.append(
                _np(
                    ns,
                    f"app{b}-from-app{a}-{i}",
                    {
                        "podSelector": {"matchLabels": {"app": f"app{b}"}},
                        "ingress": [
                            {
                                "from": [{"podSelector": {"matchLabels": {"app": f"app{a}"}}}],
                                "ports": [{"port": 8000 + b}, {"port": 9000, "endPort": 9010}],
                            }
                        ],
                    },
                )
            )
        else:
            out.append(
                _np(
                    ns,
                    f"app{a}-to-app{b}-{i}",
                    {
                        "podSelector": {"matchLabels": {"app": f"app{a}"}},
                        "policyTypes": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {"podSelector": {"matchLabels": {"app": f"app{b}"}}},
                                    {"namespaceSelector": {"matchLabels": {"team": "lab"}}},
                                ],
                                "ports": [{"port": 8000 + b}],
                            }
                        ],
                    },
                )
            )
        i += 1
    return out[:count]


def write_corpus(docs: list[dict[str, Any]], folder: Path, pods_as_yaml: bool = False) -> None:
    """Pods as a `kubectl get pods -A -o json` style List (or multi-doc YAML), the rest as YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    pods = [d for d in docs if d["kind"] == "Pod"]
    other = [d for d in docs if d["kind"] != "Pod"]
    if pods_as_yaml:
        (folder / "pods.yaml").write_text(yaml.dump_all(pods, Dumper=dumper))
    else:
        (folder / "pods.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    (folder / "cluster.yaml").write_text(yaml.dump_all(other, Dumper=dumper))


_SELF_RSS = (
    "import resource, sys\n"
    "from kubehipaa.cli.main import main\n"
    "sys.argv = ['kubehipaa', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    print('MAXRSS_KIB', r.ru_maxrss, file=sys.stderr)\n"
)


def run_timed(
    cmd: list[str], timeout: float, cwd: Path | None = None
) -> tuple[float, float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS MiB reported by the child or NaN, return code, stderr tail).

    CPU time is reported beside wall time because on a loaded machine wall time mostly measures waiting.
    """
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, float("nan"), float("nan"), -1, f"timed out after {timeout:.0f}s"
    elapsed = time.perf_counter() - start
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rss = float("nan")
    for line in (proc.stderr or "").splitlines():
        if line.startswith("MAXRSS_KIB "):
            rss = int(line.split()[1]) / 1024
    return elapsed, cpu, rss, proc.returncode, (proc.stderr or "").strip()[-300:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--nca-timeout", type=float, default=600)
    ap.add_argument("--keep", help="keep the generated corpora in this directory")
    ap.add_argument("--no-nca", action="store_true", help="do not run network-config-analyzer")
    ap.add_argument("--yaml", action="store_true", help="write pods as multi-doc YAML instead of a JSON List")
    args = ap.parse_args()
    nca = os.environ.get("NCA_PYTHON", "/tmp/nca-venv/bin/python")
    nca_ok = (
        not args.no_nca
        and Path(nca).exists()
        and subprocess.run([nca, "-c", "import nca"], capture_output=True).returncode == 0
    )
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="netpol-bench-"))
    print("times: wall seconds (CPU seconds); peak MiB is kubehipaa's peak RSS")
    print(f"{'corpus':<38} {'peers':>6} {'lines':>6} {'kubehipaa s':>15} {'peak MiB':>8}  {'nca s':<16}")
    try:
        for size in args.sizes.split(","):
            spec = SIZES[size]
            docs = generate(spec["pods"], spec["namespaces"], spec["policies"])
            folder = base / size
            write_corpus(docs, folder, args.yaml)
            owners = {
                (d["metadata"]["namespace"], d["metadata"]["ownerReferences"][0]["name"])
                for d in docs
                if d["kind"] == "Pod"
            }
            label = f"{spec['pods']} pods/{spec['namespaces']} ns/{spec['policies']} policies"
            t, cpu, rss, rc, info = run_timed(
                [
                    sys.executable,
                    "-c",
                    _SELF_RSS,
                    "netpol",
                    "connlist",
                    str(folder),
                    "-q",
                    "-o",
                    str(base / f"{size}.txt"),
                ],
                600,
                ROOT,
            )
            lines = len((base / f"{size}.txt").read_text().splitlines()) if rc == 0 else -1
            nca_txt = "n/a"
            if nca_ok:
                nt, ncpu, _, nrc, ninfo = run_timed(
                    [
                        nca,
                        "-m",
                        "nca",
                        "--connectivity",
                        str(folder),
                        "--resource_list",
                        str(folder),
                        "--output_format",
                        "txt",
                    ],
                    args.nca_timeout,
                )
                nca_txt = f"{nt:.1f} ({ncpu:.1f})" if nrc == 0 else f"fail: {ninfo[-60:]}"
                if nrc != 0:
                    print(f"  nca: {ninfo.split('|')[0][-200:]}", file=sys.stderr)
            print(
                f"{label:<38} {len(owners):>6} {lines:>6} {f'{t:.1f} ({cpu:.1f})':>15} {rss:>8.0f}  {nca_txt:<16}"
                + ("" if rc == 0 else f"  kubehipaa failed: {info}")
            )
        if not nca_ok and not args.no_nca:
            print(
                f"network-config-analyzer not run: no working interpreter at {nca} "
                "(pip install network-config-analyzer into a separate venv and set NCA_PYTHON)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
