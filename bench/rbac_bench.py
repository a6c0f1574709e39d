"""RBAC engine benchmark: 2,000 roles, 10,000 bindings, 5,000 subjects.

Prints the time to build the index (parsing + aggregation + inverted indexes), the time to materialise every
subject's effective rules in every namespace it is bound in, and the latency of can-i and who-can queries.
Targets (issue 4): index under 5 s, a query under 5 ms.

    .venv/bin/python bench/rbac_bench.py [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from kubehipaa.engines.rbac import (
    RbacIndex,
    build_escalation_graph,
    build_review,
    identity_for_subject,
    request_attributes,
    user_info,
)

N_NAMESPACES = 50
N_CLUSTER_ROLES = 400
N_ROLES = 1600
N_CLUSTER_BINDINGS = 2000
N_ROLE_BINDINGS = 8000
N_USERS, N_GROUPS, N_SAS = 3000, 500, 1500

RESOURCES = [("", r) for r in ("pods", "secrets", "configmaps", "services", "serviceaccounts", "events",
                               "persistentvolumeclaims", "pods/log", "pods/exec", "pods/portforward", "endpoints")]
RESOURCES += [("apps", r) for r in ("deployments", "statefulsets", "daemonsets", "replicasets", "deployments/scale")]
RESOURCES += [("batch", r) for r in ("jobs", "cronjobs")]
RESOURCES += [("rbac.authorization.k8s.io", r) for r in ("roles", "rolebindings")]
RESOURCES += [("example.com", f"widget{i}s") for i in range(40)]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]


def _rule(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.03:
        return {"apiGroups": ["*"], "resources": ["*"], "verbs": rng.sample(VERBS, 2)}
    picks = rng.sample(RESOURCES, rng.randint(1, 4))
    groups = sorted({g for g, _ in picks})
    rule: dict[str, Any] = {"apiGroups": groups, "resources": [r for _, r in picks],
                            "verbs": ["*"] if rng.random() < 0.05 else rng.sample(VERBS, rng.randint(1, 4))}
    if rng.random() < 0.15:
        rule["resourceNames"] = [f"obj-{rng.randint(0, 50)}" for _ in range(rng.randint(1, 3))]
    return rule


def generate(seed: int) -> tuple[list[dict[str, Any]], list[tuple[str, list[str]]]]:
    rng = random.Random(seed)
    namespaces = [f"ns-{i}" for i in range(N_NAMESPACES)]
    users = [f"user-{i}@example.org" for i in range(N_USERS)]
    groups = [f"team-{i}" for i in range(N_GROUPS)]
    sas = [(rng.choice(namespaces), f"sa-{i}") for i in range(N_SAS)]
    objs: list[dict[str, Any]] = []
    for i in range(N_CLUSTER_ROLES):
        meta: dict[str, Any] = {"name": f"cr-{i}", "labels": {"tier": str(i % 7)}}
        doc = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta,
               "rules": [_rule(rng) for _ in range(rng.randint(2, 8))]}
        if i < 10:
            doc["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"tier": str(i % 7)}}]}
        objs.append(doc)
    for i in range(N_ROLES):
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": {"name": f"role-{i}", "namespace": namespaces[i % N_NAMESPACES]},
                     "rules": [_rule(rng) for _ in range(rng.randint(2, 8))]})

    def subjects() -> list[dict[str, str]]:
        out = []
        for _ in range(rng.randint(1, 3)):
            x = rng.random()
            if x < 0.5:
                out.append({"kind": "User", "name": rng.choice(users)})
            elif x < 0.75:
                out.append({"kind": "Group", "name": rng.choice(groups)})
            else:
                ns, name = rng.choice(sas)
                out.append({"kind": "ServiceAccount", "name": name, "namespace": ns})
        return out

    for i in range(N_CLUSTER_BINDINGS):
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": f"crb-{i}"},
                     "roleRef": {"kind": "ClusterRole", "name": f"cr-{rng.randrange(N_CLUSTER_ROLES)}"},
                     "subjects": subjects()})
    for i in range(N_ROLE_BINDINGS):
        ns = namespaces[i % N_NAMESPACES]
        if rng.random() < 0.5:
            ref = {"kind": "ClusterRole", "name": f"cr-{rng.randrange(N_CLUSTER_ROLES)}"}
        else:
            ref = {"kind": "Role", "name": f"role-{rng.randrange(N_ROLES // N_NAMESPACES) * N_NAMESPACES + i % N_NAMESPACES}"}
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": f"rb-{i}", "namespace": ns}, "roleRef": ref, "subjects": subjects()})
    identities = [(u, [rng.choice(groups) for _ in range(rng.randint(0, 3))]) for u in users[:1000]]
    identities += [(f"system:serviceaccount:{ns}:{n}", []) for ns, n in sas[:500]]
    return objs, identities


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    objs, identities = generate(args.seed)
    n_roles = sum(o["kind"] in ("Role", "ClusterRole") for o in objs)
    n_bind = sum(o["kind"] in ("RoleBinding", "ClusterRoleBinding") for o in objs)

    t0, c0 = time.perf_counter(), time.process_time()
    idx = RbacIndex.from_objects(objs)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_subjects = len(idx.subjects())
    print(f"input: {n_roles} roles, {n_bind} bindings, {n_subjects} distinct subjects, "
          f"{sum(len(r.rules) for r in idx.roles.values())} rules")
    print(f"index build: {build:.3f} s wall, {build_cpu:.3f} s cpu (target < 5 s)")

    # Materialise the full effective-permission table: every subject, cluster-wide and in every namespace
    # where some RoleBinding names it.
    t0 = time.perf_counter()
    bound_in: dict[Any, set[str]] = {}
    for b in idx.bindings:
        for s in b.subjects:
            bound_in.setdefault(b.effective_subject(s), {""}).add(b.namespace)
    total_rules = 0
    for s, namespaces in bound_in.items():
        u = identity_for_subject(s)
        if u is None:
            continue
        for ns in namespaces:
            total_rules += len(idx.effective_rules(u, ns))
    full = time.perf_counter() - t0
    print(f"full effective-permission table (every subject x its namespaces): {full:.3f} s, "
          f"{total_rules} rule grants")

    t0 = time.perf_counter()
    review = build_review(idx, ["ns-0", "ns-1"])
    print(f"access review of 2 namespaces: {time.perf_counter() - t0:.3f} s, {len(review.grants)} grants")

    t0 = time.perf_counter()
    graph = build_escalation_graph(idx, {"ns-0", "ns-1"})
    paths = graph.shortest_paths()
    esc = time.perf_counter() - t0
    print(f"escalation graph + shortest paths: {esc:.3f} s ({len(graph.nodes)} identities, {len(graph.edges)} edges, "
          f"{len(paths)} paths, PHI namespaces ns-0 and ns-1)")

    rng = random.Random(args.seed + 1)
    can_i, who, who_cpu, can_cpu = [], [], [], []
    allowed = 0
    for _ in range(args.queries):
        user, groups = rng.choice(identities)
        g, res = rng.choice(RESOURCES)
        target = f"{res.split('/')[0]}.{g}/{res.split('/')[1]}" if "/" in res else (f"{res}.{g}" if g else res)
        attrs = request_attributes(rng.choice(VERBS), target, f"ns-{rng.randrange(N_NAMESPACES)}",
                                   f"obj-{rng.randint(0, 60)}")
        ui = user_info(user, groups)
        idx.clear_query_cache()
        t, c = time.perf_counter(), time.process_time()
        allowed += idx.authorize(ui, attrs).allowed
        can_i.append(time.perf_counter() - t)
        can_cpu.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        idx.who_can(attrs)
        who.append(time.perf_counter() - t)
        who_cpu.append(time.process_time() - c)
    ms = 1000.0
    print(f"can-i:   median {statistics.median(can_i) * ms:.3f} ms, p95 {_pct(can_i, 0.95) * ms:.3f} ms, "
          f"max {max(can_i) * ms:.3f} ms over {len(can_i)} queries ({allowed} allowed) (target < 5 ms)")
    print(f"who-can: median {statistics.median(who) * ms:.3f} ms, p95 {_pct(who, 0.95) * ms:.3f} ms, "
          f"max {max(who) * ms:.3f} ms over {len(who)} queries (target < 5 ms)")
    print(f"cpu time (insensitive to other load on the machine): can-i p95 {_pct(can_cpu, 0.95) * ms:.3f} ms, "
          f"who-can median {statistics.median(who_cpu) * ms:.3f} ms, p95 {_pct(who_cpu, 0.95) * ms:.3f} ms")


if __name__ == "__main__":
    main()
