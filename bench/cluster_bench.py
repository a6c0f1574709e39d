"""Live-cluster benchmark: 20,000 objects served by the loopback test API server, listed and checked.

Prints objects/second for listing (the `kubernetes` client's raw responses decoded with orjson, pages of
500) and for list + checks end to end, and, for Pods, the client's typed path (`list_pod_for_all_namespaces`
→ models → `sanitize_for_serialization`) against the raw path the source uses. The server is the test one
(tests/kubeapi/server.py, Python's http.server on 127.0.0.1), so its JSON encoding is part of the figure:
a real API server answers faster, the figure is a floor.

    PYTHONPATH=src .venv/bin/python bench/cluster_bench.py [--objects 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubehipaa.config import Config  # noqa: E402
from kubehipaa.pipelines.scan_cluster import scan_cluster  # noqa: E402
from kubehipaa.sources.cluster import KINDS, ClusterTarget, load_cluster  # noqa: E402
from tests.kubeapi.server import FakeCluster, KubeAPIServer  # noqa: E402

NAMESPACES = 20


def corpus(n: int) -> FakeCluster:
    """n objects: namespaces, then pods, deployments, services, config maps, secrets, service accounts."""
    cluster = FakeCluster()
    docs: list[dict] = []
    for i in range(NAMESPACES):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": f"ns{i}", "labels": {"hipaa.phi": "true"} if i % 4 == 0 else {}}})
    spec = {"containers": [{"name": "app", "image": "registry.example/app:1.2.3", "env": [{"name": "MODE", "value": "x"}],
                            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False}}]}
    shapes = ("Pod", "Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "Pod", "Deployment")
    i = 0
    while len(docs) < n:
        kind = shapes[i % len(shapes)]
        ns = f"ns{i % NAMESPACES}"
        meta = {"name": f"{kind.lower()}-{i}", "namespace": ns, "labels": {"app": f"a{i % 50}"}}
        doc: dict = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        if kind == "Pod":
            doc["spec"] = spec
        elif kind == "Deployment":
            doc.update(apiVersion="apps/v1", spec={"selector": {"matchLabels": {"app": f"a{i % 50}"}},
                                                   "template": {"metadata": {"labels": {"app": f"a{i % 50}"}},
                                                                "spec": spec}})
        elif kind == "Service":
            doc["spec"] = {"type": "ClusterIP", "selector": {"app": f"a{i % 50}"}, "ports": [{"port": 80}]}
        elif kind == "ConfigMap":
            doc["data"] = {"LOG_LEVEL": "info", "FEATURE": "on"}
        elif kind == "Secret":
            doc.update(type="Opaque", data={"password": "c2VjcmV0"})
        docs.append(doc)
        i += 1
    cluster.add(*docs)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=20_000)
    args = parser.parse_args()
    cluster = corpus(args.objects)
    with KubeAPIServer(cluster) as server, tempfile.TemporaryDirectory() as tmp:
        kc = str(server.kubeconfig(Path(tmp) / "kc.json"))
        target = ClusterTarget(kc)
        load_cluster(target)  # warm the server's per-kind cache and the client's imports
        t0 = time.perf_counter()
        load = load_cluster(target)
        listed = time.perf_counter() - t0
        t0 = time.perf_counter()
        done = scan_cluster(target, Config())
        total = time.perf_counter() - t0
        n = len(load.objects)
        print(f"listed {n} objects in {listed:.2f} s: {n / listed:,.0f} objects/s")
        print(f"listed + checked {done.run.result.objects} objects in {total:.2f} s: "
              f"{done.run.result.objects / total:,.0f} objects/s ({len(done.run.result.findings)} findings)")

        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        api = kconfig.new_client_from_config(config_file=kc)
        core = kclient.CoreV1Api(api)
        pods = sum(1 for o in load.objects if o.kind == "Pod")
        t0 = time.perf_counter()
        token, typed = None, 0
        while True:
            page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
            typed += len([api.sanitize_for_serialization(p) for p in page.items])
            token = page.metadata._continue
            if not token:
                break
        typed_s = time.perf_counter() - t0
        only_pods = [s for s in KINDS if s.kind == "Pod"]
        t0 = time.perf_counter()
        raw = len(load_cluster(target, kinds=only_pods).objects)
        raw_s = time.perf_counter() - t0
        print(f"Pods ({pods}): typed models + sanitize {typed / typed_s:,.0f} objects/s, "
              f"raw JSON {raw / raw_s:,.0f} objects/s")
        api.close()


if __name__ == "__main__":
    main()
