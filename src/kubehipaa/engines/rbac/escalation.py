"""Escalation graph: which identities can obtain the credentials or powers of which others.

An edge A -> B means "A can act as B" by one of:

- pod creation: A may create pods (or a workload that creates them) in namespace N, so it can run a pod as
  any service account B of N and read B's token from inside it;
- token creation: A may `create serviceaccounts/token` for B;
- secret read: A may get the legacy token Secret of B;
- impersonation: A may `impersonate` user, group or service account B (impersonating group system:masters
  is cluster-admin; impersonating a group B means acting with B's grants);
- bind/escalate: A may create ClusterRoleBindings and bind (or escalate) ClusterRoles, so it can grant itself
  cluster-admin; or create RoleBindings and bind cluster-admin in a PHI namespace, so it can read its Secrets;
- nodes/proxy: A may reach the kubelet API of nodes, which runs commands in any pod, so any service account;
- exec: A may exec into pods of namespace N (`create` or `get` on pods/exec), so it can read the token of each
  service account the scanned pods/workloads of N run as.

Two targets: cluster-admin-equivalent power (every verb on every resource cluster-wide, or system:masters),
and read access to all Secrets of a PHI namespace. Shortest paths are found with one breadth-first search per
target over the reversed graph, so every identity's path comes out of a single pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from kubehipaa.engines.rbac.index import RbacIndex
from kubehipaa.engines.rbac.loader import metadata_of
from kubehipaa.engines.rbac.matching import rule_allows
from kubehipaa.engines.rbac.resources import request_attributes
from kubehipaa.engines.rbac.subjects import (
    MASTERS,
    identity_for_subject,
    service_account_username,
    subject_user_key,
)
from kubehipaa.engines.rbac.types import Attributes, Subject, UserInfo

ADMIN = "target:cluster-admin"
PHI_PREFIX = "target:phi-secrets:"
POD_PREFIX = "via:pods:"
EXEC_PREFIX = "via:exec:"
ANY_POD = "via:any-pod"
WORKLOAD_TARGETS = (
    "pods",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "replicationcontrollers",
)


LIST_SECRETS = request_attributes("list", "secrets", as_request=False)
GET_SECRETS = request_attributes("get", "secrets", as_request=False)
CREATE_WORKLOADS = [(t, request_attributes("create", t, as_request=False)) for t in WORKLOAD_TARGETS]
CREATE_TOKEN = request_attributes("create", "serviceaccounts/token", as_request=False)
IMPERSONATE_SA = request_attributes("impersonate", "serviceaccounts", as_request=False)
CREATE_ROLEBINDING = request_attributes("create", "rolebindings.rbac.authorization.k8s.io", as_request=False)
# Exec is authorized as `create` (SPDY) or `get` (WebSocket) on pods/exec; either runs a shell in the pod.
EXEC_PODS = (request_attributes("create", "pods/exec", as_request=False),
             request_attributes("get", "pods/exec", as_request=False))
BIND_CLUSTERROLE = request_attributes("bind", "clusterroles.rbac.authorization.k8s.io", as_request=False)


def _impersonable_users(idx: RbacIndex, user: UserInfo, users: list[str]) -> list[str]:
    """Known users this identity may impersonate. Candidates come from its cluster-wide rules (users are
    cluster-scoped), each then confirmed by the authorizer, so thousands of users cost one pass."""
    names: set[str] = set()
    every = False
    probe = request_attributes("impersonate", "users", as_request=False)
    for rule, _ in idx.effective_rules(user, ""):
        if rule_allows(probe, replace(rule, resource_names=())):
            if not rule.resource_names:
                every = True
                break
            names.update(rule.resource_names)
    candidates = users if every else sorted(n for n in names if n in set(users))
    return [u for u in candidates if idx.authorize(user, replace(probe, name=u)).allowed]


def node_key(s: Subject) -> str:
    if s.kind == "ServiceAccount":
        return f"ServiceAccount:{s.namespace}/{s.name}"
    return f"{s.kind}:{s.name}"


def node_label(key: str) -> str:
    if key == ADMIN:
        return "cluster-admin-equivalent"
    if key.startswith(PHI_PREFIX):
        return f"read all Secrets in PHI namespace {key[len(PHI_PREFIX):]}"
    if key.startswith(POD_PREFIX):
        return f"a pod in {key[len(POD_PREFIX):]}"
    if key.startswith(EXEC_PREFIX):
        return f"a running pod in {key[len(EXEC_PREFIX):]}"
    if key == ANY_POD:
        return "any pod on any node"
    kind, _, name = key.partition(":")
    return f"{kind} {name}"


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    how: str

    def to_dict(self) -> dict[str, str]:
        return {"from": node_label(self.src), "to": node_label(self.dst), "how": self.how}


@dataclass(frozen=True, slots=True)
class EscalationPath:
    identity: str
    target: str
    edges: tuple[Edge, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"identity": node_label(self.identity), "target": node_label(self.target),
                "hops": len(self.edges), "path": [e.to_dict() for e in self.edges]}

    def describe(self) -> str:
        parts = [node_label(self.identity)]
        for e in self.edges:
            parts.append(f"--[{e.how}]--> {node_label(e.dst)}")
        return " ".join(parts)


IS_ADMIN = "is cluster-admin-equivalent"
ADMIN_READS = "cluster-admin-equivalent power reads every Secret"


@dataclass(slots=True)
class EscalationGraph:
    nodes: dict[str, Subject]
    edges: list[Edge]
    admins: set[str]
    phi_namespaces: frozenset[str] = frozenset()

    def shortest_paths(self) -> list[EscalationPath]:
        """For every non-admin identity: its shortest path to cluster-admin and to PHI Secrets (if any).

        Admin identities have no edges of their own (they need none), so the search adds two implied steps:
        an admin identity reaches cluster-admin-equivalent power, and that power reads every PHI namespace's
        Secrets. Without them, impersonating an admin user or group would lead nowhere."""
        phi_targets = sorted({e.dst for e in self.edges if e.dst.startswith(PHI_PREFIX)}
                             | {PHI_PREFIX + ns for ns in self.phi_namespaces})
        implied = [Edge(a, ADMIN, IS_ADMIN) for a in sorted(self.admins)]
        implied += [Edge(ADMIN, t, ADMIN_READS) for t in phi_targets]
        reverse: dict[str, list[Edge]] = {}
        for e in (*self.edges, *implied):
            reverse.setdefault(e.dst, []).append(e)
        out: list[EscalationPath] = []
        for targets in ([ADMIN], phi_targets):
            if not targets:
                continue
            nxt: dict[str, Edge] = {}
            seen = set(targets)
            queue = deque(targets)
            while queue:
                cur = queue.popleft()
                for e in reverse.get(cur, ()):
                    if e.src not in seen:
                        seen.add(e.src)
                        nxt[e.src] = e
                        queue.append(e.src)
            for key in sorted(self.nodes):
                if key in self.admins or key not in nxt:
                    continue
                path = []
                cur = key
                while cur in nxt:
                    path.append(nxt[cur])
                    cur = nxt[cur].dst
                out.append(EscalationPath(key, cur, tuple(path)))
        out.sort(key=lambda p: (p.target != ADMIN, len(p.edges), p.identity))
        return out


def _namespaces(idx: RbacIndex, phi: set[str]) -> set[str]:
    names = set(phi)
    names.update(b.namespace for b in idx.bindings if b.namespace)
    names.update(ns for ns, _, _ in idx.loaded.service_accounts)
    for doc, _ in idx.loaded.others:
        meta = metadata_of(doc)
        if meta.get("namespace"):
            names.add(str(meta["namespace"]))
        if doc.get("kind") == "Namespace" and meta.get("name"):
            names.add(str(meta["name"]))
    return names


POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    **{k: ("spec", "template", "spec") for k in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job",
                                                 "ReplicationController")},
}


def _pod_service_accounts(idx: RbacIndex) -> set[tuple[str, str]]:
    """(namespace, service account) of every pod and workload template in the input."""
    out = set()
    for doc, _ in idx.loaded.others:
        path = POD_SPEC_PATHS.get(str(doc.get("kind")))
        meta = metadata_of(doc)
        if path is None or not meta.get("namespace"):
            continue
        node: Any = doc
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            sa = node.get("serviceAccountName") or node.get("serviceAccount") or "default"
            out.add((str(meta["namespace"]), str(sa)))
    return out


def _exec_edges(idx: RbacIndex) -> tuple[dict[str, list[str]], list[Edge]]:
    """Namespaces whose pods/workloads run as known service accounts, and the edges from "a running pod in N"
    to those accounts (exec into the pod, read its mounted token)."""
    running: dict[str, list[str]] = {}
    for ns, sa in sorted(_pod_service_accounts(idx)):
        running.setdefault(ns, []).append(sa)
    edges = [Edge(EXEC_PREFIX + ns, f"ServiceAccount:{ns}/{sa}", f"exec into the pod running as {sa}")
             for ns, names in running.items() for sa in names]
    return running, edges


def _token_secrets(idx: RbacIndex) -> list[tuple[str, str, str]]:
    """(namespace, secret name, service account) of legacy token Secrets."""
    out = []
    for doc, _ in idx.loaded.others:
        if doc.get("kind") == "Secret" and doc.get("type") == "kubernetes.io/service-account-token":
            meta = metadata_of(doc)
            ann = meta.get("annotations")
            ann = ann if isinstance(ann, dict) else {}
            sa = ann.get("kubernetes.io/service-account.name")
            if sa and meta.get("name"):
                out.append((str(meta.get("namespace") or "default"), str(meta["name"]), str(sa)))
    return out


def build_escalation_graph_reference(
    idx: RbacIndex, phi_namespaces: set[str] | frozenset[str] = frozenset()
) -> EscalationGraph:
    """Per-identity reference implementation: asks the authorizer every question for every identity. Slow
    (tens of seconds on 5,000 identities) but obviously right; the tests check `build_escalation_graph`
    against it."""
    phi = set(phi_namespaces)
    namespaces = sorted(_namespaces(idx, phi))
    nodes: dict[str, Subject] = {}
    for s in idx.subjects():
        nodes[node_key(s)] = s
    sas = {(ns, name) for ns, name, _ in idx.loaded.service_accounts} | _pod_service_accounts(idx)
    sas |= {(ns, "default") for ns in namespaces}
    for ns, name in sas:
        s = Subject("ServiceAccount", name, ns)
        nodes.setdefault(node_key(s), s)
    sa_by_ns: dict[str, list[str]] = {}
    for ns, name in sorted(sas):
        sa_by_ns.setdefault(ns, []).append(name)
    users = sorted(s.name for s in nodes.values() if s.kind == "User")
    groups = sorted(s.name for s in nodes.values() if s.kind == "Group" and s.name != MASTERS)
    tokens = _token_secrets(idx)

    edges: list[Edge] = []
    admins: set[str] = set()

    def can(user: UserInfo, a: Attributes) -> bool:
        return idx.authorize(user, a).allowed

    everything = request_attributes("*", "*.*", as_request=False)
    generic = "\x00any-namespace-without-rolebindings"
    tokens_by_ns: dict[str, list[tuple[str, str]]] = {}
    for tns, secret, sa in tokens:
        if f"ServiceAccount:{tns}/{sa}" in nodes:
            tokens_by_ns.setdefault(tns, []).append((secret, sa))
    # Intermediate nodes keep the graph linear in size: "run a pod in N" fans out to N's service accounts once,
    # instead of one edge per (identity, service account).
    for ns in namespaces:
        for sa in sa_by_ns.get(ns, []):
            edges.append(Edge(POD_PREFIX + ns, f"ServiceAccount:{ns}/{sa}", f"run the pod as {sa}"))
    for ns, name in sorted(sas):
        edges.append(Edge(ANY_POD, f"ServiceAccount:{ns}/{name}", f"exec into a pod running as {ns}/{name}"))
    running, exec_edges = _exec_edges(idx)
    edges.extend(exec_edges)

    for key, subj in sorted(nodes.items()):
        if subj.kind == "Group" and subj.name == MASTERS:
            admins.add(key)
            continue
        user = identity_for_subject(subj)
        if user is None:
            continue
        if MASTERS in user.groups or can(user, everything):
            admins.add(key)
            continue
        bound = idx.bound_namespaces(user)
        memo: dict[tuple[str, int, str, bool], bool] = {}

        def ask(ns: str, a: Attributes, name: str = "", some: bool = False, user: UserInfo = user,
                bound: set[str] = bound, memo: dict[tuple[str, int, str, bool], bool] = memo) -> bool:
            """Memoised question in namespace `ns`. Answers in namespaces without RoleBindings for this
            identity are all the same, so they share one entry. `some`: for at least one name."""
            eff = ns if ns in bound else generic
            k = (eff, id(a), name, some)
            answer = memo.get(k)
            if answer is None:
                q = Attributes(a.verb, a.resource, a.api_group, a.subresource, name, eff)
                answer = memo[k] = idx.allows_some_name(user, q) if some else can(user, q)
            return answer

        # cluster-wide powers
        if can(user, request_attributes("impersonate", "groups", name=MASTERS, as_request=False)):
            edges.append(Edge(key, ADMIN, "impersonate group system:masters"))
        if can(user, request_attributes("create", "clusterrolebindings.rbac.authorization.k8s.io")) and (
            can(user, request_attributes("bind", "clusterroles.rbac.authorization.k8s.io", name="cluster-admin",
                                         as_request=False))
            or can(user, request_attributes("escalate", "clusterroles.rbac.authorization.k8s.io",
                                            name="cluster-admin", as_request=False))
        ):
            edges.append(Edge(key, ADMIN, "create a ClusterRoleBinding to cluster-admin (bind/escalate)"))
        for other in _impersonable_users(idx, user, users):
            if f"User:{other}" != key:
                edges.append(Edge(key, f"User:{other}", f"impersonate user {other}"))
        for g in groups:
            if f"Group:{g}" != key and can(user, request_attributes("impersonate", "groups", name=g,
                                                                    as_request=False)):
                edges.append(Edge(key, f"Group:{g}", f"impersonate group {g}"))
        if can(user, request_attributes("create", "nodes/proxy", name="any", as_request=False)) or can(
                user, request_attributes("get", "nodes/proxy", name="any", as_request=False)):
            edges.append(Edge(key, ANY_POD, "nodes/proxy (kubelet API)"))
        profiles: dict[str, tuple[bool, str | None, bool, bool, bool, bool, bool]] = {}
        for ns in namespaces:
            eff = ns if ns in bound else generic
            profile = profiles.get(eff)
            if profile is None:
                profile = profiles[eff] = (
                    ask(ns, LIST_SECRETS) or ask(ns, GET_SECRETS),
                    next((t for t, a in CREATE_WORKLOADS if ask(ns, a)), None),
                    ask(ns, CREATE_TOKEN, some=True),
                    ask(ns, IMPERSONATE_SA, some=True),
                    ask(ns, GET_SECRETS, some=True),
                    ask(ns, CREATE_ROLEBINDING) and ask(ns, BIND_CLUSTERROLE, "cluster-admin"),
                    any(ask(ns, a) for a in EXEC_PODS),
                )
            reads_all, creator, token_some, imp_some, secret_some, binds_admin, execs = profile
            if execs and ns in running:
                edges.append(Edge(key, EXEC_PREFIX + ns, f"exec into pods in {ns}"))
            if ns in phi:
                if reads_all:
                    edges.append(Edge(key, PHI_PREFIX + ns, f"read all Secrets in {ns}"))
                elif binds_admin:
                    edges.append(Edge(key, PHI_PREFIX + ns, f"bind cluster-admin in {ns} with a RoleBinding"))
            if creator is not None:
                # The pod route takes two hops (pod, then its service account); a token, impersonation or token
                # Secret edge below reaches the service account in one, so both are kept.
                edges.append(Edge(key, POD_PREFIX + ns, f"create {creator} in {ns}"))
            for sa in sa_by_ns.get(ns, []) if (token_some or imp_some) else ():
                dst = f"ServiceAccount:{ns}/{sa}"
                if dst == key:
                    continue
                if token_some and ask(ns, CREATE_TOKEN, sa):
                    edges.append(Edge(key, dst, f"create serviceaccounts/token for {sa}"))
                elif imp_some and ask(ns, IMPERSONATE_SA, sa):
                    edges.append(Edge(key, dst, f"impersonate {service_account_username(ns, sa)}"))
            for secret, sa in tokens_by_ns.get(ns, ()) if secret_some else ():
                dst = f"ServiceAccount:{ns}/{sa}"
                if dst != key and ask(ns, GET_SECRETS, secret):
                    edges.append(Edge(key, dst, f"read legacy token Secret {secret}"))
    return EscalationGraph(nodes, edges, admins, frozenset(phi))


def build_escalation_graph(idx: RbacIndex, phi_namespaces: set[str] | frozenset[str] = frozenset()) -> EscalationGraph:
    """Identities (binding subjects, defined and used service accounts) and the edges between them.

    Asks each question once per namespace with who-can (indexed) instead of once per identity, and maps the
    subjects it returns onto identities through their user names and (implicit) groups.
    """
    phi = set(phi_namespaces)
    namespaces = sorted(_namespaces(idx, phi))
    nodes: dict[str, Subject] = {node_key(s): s for s in idx.subjects()}
    sas = {(ns, name) for ns, name, _ in idx.loaded.service_accounts} | _pod_service_accounts(idx)
    sas |= {(ns, "default") for ns in namespaces}
    for ns, name in sas:
        sa_subject = Subject("ServiceAccount", name, ns)
        nodes.setdefault(node_key(sa_subject), sa_subject)
    sa_by_ns: dict[str, list[str]] = {}
    for ns, name in sorted(sas):
        sa_by_ns.setdefault(ns, []).append(name)
    users = sorted(x.name for x in nodes.values() if x.kind == "User")
    groups = sorted(x.name for x in nodes.values() if x.kind == "Group" and x.name != MASTERS)
    tokens_by_ns: dict[str, list[tuple[str, str]]] = {}
    for tns, secret, sa in _token_secrets(idx):
        if f"ServiceAccount:{tns}/{sa}" in nodes:
            tokens_by_ns.setdefault(tns, []).append((secret, sa))

    by_user: dict[str, list[str]] = {}
    by_group: dict[str, list[str]] = {}
    for key, subj in nodes.items():
        ident = identity_for_subject(subj)
        if ident is None:
            continue
        if ident.name:
            by_user.setdefault(ident.name, []).append(key)
        for g in ident.groups:
            by_group.setdefault(g, []).append(key)

    def allowed(a: Attributes) -> set[str]:
        """Identities the authorizer would allow `a`: who-can subjects mapped onto identity nodes."""
        out: set[str] = set()
        for e in idx.who_can(a, include_masters=False):
            if e.subject.kind == "Group":
                out.update(by_group.get(e.subject.name, ()))
            else:
                u = subject_user_key(e.subject, "")
                if u is not None:
                    out.update(by_user.get(u, ()))
        return out

    def q(a: Attributes, ns: str = "", name: str = "") -> Attributes:
        return Attributes(a.verb, a.resource, a.api_group, a.subresource, name, ns)

    def maybe(a: Attributes, ns: str = "") -> bool:
        """Could any role allow this for some name? (a cheap filter before per-name questions)"""
        return bool(idx.roles_allowing(q(a, ns), any_name=True))

    admins = allowed(request_attributes("*", "*.*", as_request=False)) | set(by_group.get(MASTERS, ()))
    edges: list[Edge] = []

    def add(sources: Iterable[str], dst: str, how: str) -> None:
        for k in sorted(set(sources) - admins):
            if k != dst:
                edges.append(Edge(k, dst, how))

    for ns in namespaces:
        for sa in sa_by_ns.get(ns, []):
            edges.append(Edge(POD_PREFIX + ns, f"ServiceAccount:{ns}/{sa}", f"run the pod as {sa}"))
    for ns, name in sorted(sas):
        edges.append(Edge(ANY_POD, f"ServiceAccount:{ns}/{name}", f"exec into a pod running as {ns}/{name}"))
    running, exec_edges = _exec_edges(idx)
    edges.extend(exec_edges)

    rbac = "rbac.authorization.k8s.io"
    add(allowed(Attributes("impersonate", "groups", "", "", MASTERS)), ADMIN, "impersonate group system:masters")
    add(allowed(Attributes("create", "clusterrolebindings", rbac))
        & (allowed(Attributes("bind", "clusterroles", rbac, "", "cluster-admin"))
           | allowed(Attributes("escalate", "clusterroles", rbac, "", "cluster-admin"))),
        ADMIN, "create a ClusterRoleBinding to cluster-admin (bind/escalate)")
    if maybe(Attributes("impersonate", "users")):
        for other in users:
            add(allowed(Attributes("impersonate", "users", "", "", other)), f"User:{other}",
                f"impersonate user {other}")
    if maybe(Attributes("impersonate", "groups")):
        for g in groups:
            add(allowed(Attributes("impersonate", "groups", "", "", g)), f"Group:{g}", f"impersonate group {g}")
    add(allowed(Attributes("create", "nodes", "", "proxy", "any"))
        | allowed(Attributes("get", "nodes", "", "proxy", "any")), ANY_POD, "nodes/proxy (kubelet API)")

    for ns in namespaces:
        if ns in phi:
            readers = allowed(q(LIST_SECRETS, ns)) | allowed(q(GET_SECRETS, ns))
            add(readers, PHI_PREFIX + ns, f"read all Secrets in {ns}")
            binders = allowed(q(CREATE_ROLEBINDING, ns)) & allowed(q(BIND_CLUSTERROLE, ns, "cluster-admin"))
            add(binders - readers, PHI_PREFIX + ns, f"bind cluster-admin in {ns} with a RoleBinding")
        creators: dict[str, str] = {}
        for target, a in CREATE_WORKLOADS:
            for k in allowed(q(a, ns)):
                creators.setdefault(k, target)
        for k in sorted(set(creators) - admins):
            edges.append(Edge(k, POD_PREFIX + ns, f"create {creators[k]} in {ns}"))
        if ns in running:
            add(set().union(*(allowed(q(a, ns)) for a in EXEC_PODS)), EXEC_PREFIX + ns, f"exec into pods in {ns}")
        token_maybe, imp_maybe = maybe(CREATE_TOKEN, ns), maybe(IMPERSONATE_SA, ns)
        for sa in sa_by_ns.get(ns, []) if (token_maybe or imp_maybe) else ():
            dst = f"ServiceAccount:{ns}/{sa}"
            # Creators reach `dst` in two hops through the pod node; these edges take one, so they are kept.
            minters = allowed(q(CREATE_TOKEN, ns, sa)) if token_maybe else set()
            add(minters, dst, f"create serviceaccounts/token for {sa}")
            if imp_maybe:
                add(allowed(q(IMPERSONATE_SA, ns, sa)) - minters, dst,
                    f"impersonate {service_account_username(ns, sa)}")
        for secret, sa in tokens_by_ns.get(ns, ()):
            add(allowed(q(GET_SECRETS, ns, secret)), f"ServiceAccount:{ns}/{sa}",
                f"read legacy token Secret {secret}")
    return EscalationGraph(nodes, edges, admins, frozenset(phi))
