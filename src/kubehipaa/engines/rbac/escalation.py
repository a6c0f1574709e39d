"""Escalation graph: which identities can obtain the credentials or powers of which others.

An edge A -> B means "A can act as B" by one of:

- pod creation: A may create pods (or a workload that creates them) in namespace N, so it can run a pod as
  any service account B of N and read B's token from inside it;
- token creation: A may `create serviceaccounts/token` for B;
- secret read: A may get the legacy token Secret of B;
- impersonation: A may `impersonate` user, group or service account B (impersonating group system:masters
  is cluster-admin; impersonating a group B means acting with B's grants);
- bind: A may create a RoleBinding in N (or a ClusterRoleBinding) and `bind` role R, so it can bind R to
  itself and hold R's rules in N (or cluster-wide). The bind is authorized as the API server asks it
  (upstream BindingAuthorized): verb bind on R *in the binding's namespace* N, "" for a ClusterRoleBinding;
  the authorizer does not know scope, so a RoleBinding in N that allows `bind clusterroles R` counts. The
  intermediate node "R bound in N" then has the edges R's rules allow in N; binding a role that allows
  everything leads to "every permission in N" (cluster-admin-equivalent power for a ClusterRoleBinding);
- escalate: A may `escalate` and `update` (or `patch`) a role it holds or can bind, so it can rewrite the
  role's rules to anything where it holds it; or create a Role in N with any rules (create and escalate roles
  in N) and bind it. `escalate` alone grants nothing: binding a role is authorized by `bind`, or by already
  holding all of its rules (ConfirmNoEscalation), never by `escalate`;
- nodes/proxy: A may reach the kubelet API of nodes, which runs commands in any pod, so any service account;
- exec: A may exec into pods of namespace N (`create` or `get` on pods/exec), so it can read the token of each
  service account the scanned pods/workloads of N run as.

Two targets: cluster-admin-equivalent power (every verb on every resource cluster-wide, or system:masters),
and read access to all Secrets of a PHI namespace. Shortest paths are found with one breadth-first search per
target over the reversed graph, so every identity's path comes out of a single pass.

Known limits: powers that need an identity's own rules and those of a role it binds together (e.g. it may
create RoleBindings, and the role it binds may bind another) are not combined; updating an existing binding
(its subjects) is not followed, only creating one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from kubehipaa.engines.rbac.index import RbacIndex, RoleKey, role_key_for
from kubehipaa.engines.rbac.loader import metadata_of
from kubehipaa.engines.rbac.matching import rule_allows, rules_allow
from kubehipaa.engines.rbac.resources import request_attributes
from kubehipaa.engines.rbac.subjects import (
    MASTERS,
    identity_for_subject,
    service_account_username,
    subject_user_key,
)
from kubehipaa.engines.rbac.types import Attributes, Subject, UserInfo
from kubehipaa.workload_kinds import RUNS_PODS, pod_spec_path

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
# Exec is authorized as `create` (SPDY) or `get` (WebSocket) on pods/exec; either runs a shell in the pod.
EXEC_PODS = (request_attributes("create", "pods/exec", as_request=False),
             request_attributes("get", "pods/exec", as_request=False))
HOLD_PREFIX = "via:bound:"
ALL_IN_PREFIX = "via:all-in:"
RBAC_GROUP = "rbac.authorization.k8s.io"
EVERYTHING = request_attributes("*", "*.*", as_request=False)
FRESH_NAME = "\x00a-role-that-does-not-exist-yet"
"""A name no resourceNames list holds: `bind` allowed for it is `bind` allowed for a role one creates."""


def _role_kind(key: RoleKey) -> str:
    return "Role" if key[0] else "ClusterRole"


def _role_resource(key: RoleKey) -> str:
    return "roles" if key[0] else "clusterroles"


def holder_key(key: RoleKey, scope: str) -> str:
    """Node "role `key` bound in `scope`" (a namespace, or "" for a ClusterRoleBinding)."""
    return f"{HOLD_PREFIX}{scope}:{_role_kind(key)}/{key[1]}"


def power_key(scope: str) -> str:
    """Node "every permission in `scope`": cluster-admin-equivalent power when `scope` is "" (the whole cluster)."""
    return ALL_IN_PREFIX + scope if scope else ADMIN


def create_binding_request(scope: str) -> Attributes:
    return Attributes("create", "rolebindings" if scope else "clusterrolebindings", RBAC_GROUP, "", "", scope)


def bind_request(key: RoleKey, scope: str) -> Attributes:
    """The API server's check for a binding at `scope` referring to role `key` (upstream BindingAuthorized): verb
    bind on the role, in the binding's namespace ("" for a ClusterRoleBinding), whatever the role's scope."""
    return Attributes("bind", _role_resource(key), RBAC_GROUP, "", key[1], scope)


def role_write_request(verb: str, key: RoleKey) -> Attributes:
    """`update`, `patch` or the `escalate` check of a write to role `key`: in the role's own namespace, as its URL
    carries it (upstream RoleEscalationAuthorized uses the request's namespace and name)."""
    return Attributes(verb, _role_resource(key), RBAC_GROUP, "", key[1], key[0])


def new_role_requests(ns: str) -> tuple[Attributes, ...]:
    """Create a Role in `ns` with rules one does not hold, then bind it: create and escalate (a create request
    carries no name) on roles, bind for a name nobody has yet, and create a RoleBinding."""
    return (Attributes("escalate", "roles", RBAC_GROUP, "", "", ns), Attributes("create", "roles", RBAC_GROUP, "", "", ns),
            Attributes("bind", "roles", RBAC_GROUP, "", FRESH_NAME, ns), create_binding_request(ns))


def bind_how(key: RoleKey, scope: str) -> str:
    what = f"{_role_kind(key)} {key[1]}"
    return f"create a RoleBinding in {scope} to {what} (bind)" if scope else f"create a ClusterRoleBinding to {what} (bind)"


def escalate_how(key: RoleKey) -> str:
    return f"update {_role_kind(key)} {key[1]} with any rules (escalate)"


def new_role_how(ns: str) -> str:
    return f"create a Role in {ns} with any rules (escalate) and bind it"


def _is_intermediate(key: str) -> bool:
    return key.startswith((HOLD_PREFIX, ALL_IN_PREFIX))


def prune_dead_ends(edges: list[Edge]) -> list[Edge]:
    """Drop the "role bound in N" / "every permission in N" nodes from which nothing the graph follows can be
    reached (a role that only reads ConfigMaps is no escalation), with the edges into them. Linear: a reverse
    search from the intermediate nodes with an edge to a real node."""
    into: dict[str, list[str]] = {}
    live: set[str] = set()
    for e in edges:
        if _is_intermediate(e.src):
            if _is_intermediate(e.dst):
                into.setdefault(e.dst, []).append(e.src)
            else:
                live.add(e.src)
    stack = list(live)
    while stack:
        for src in into.get(stack.pop(), ()):
            if src not in live:
                live.add(src)
                stack.append(src)
    prefixes = (HOLD_PREFIX, ALL_IN_PREFIX)
    return [e for e in edges if (e.src in live or not e.src.startswith(prefixes))
            and (e.dst in live or not e.dst.startswith(prefixes))]


@dataclass(frozen=True, slots=True)
class Held:
    """An intermediate actor: a subject bound to role `key` in `scope` ("" = by a ClusterRoleBinding), or with
    every permission in namespace `scope` when `key` is None. It is allowed exactly what the authorizer would
    allow such a subject: a RoleBinding's rules only for requests that carry its namespace."""

    key: RoleKey | None
    scope: str

    @property
    def node(self) -> str:
        return power_key(self.scope) if self.key is None else holder_key(self.key, self.scope)




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
    if key.startswith(HOLD_PREFIX):
        rest = key[len(HOLD_PREFIX):]
        for kind in ("ClusterRole", "Role"):
            scope, sep, name = rest.partition(f":{kind}/")
            if sep:
                return f"{kind} {name} bound " + (f"in {scope}" if scope else "cluster-wide")
    if key.startswith(ALL_IN_PREFIX):
        return f"every permission in namespace {key[len(ALL_IN_PREFIX):]}"
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


def _pod_service_accounts(idx: RbacIndex) -> set[tuple[str, str]]:
    """(namespace, service account) of every pod and workload template in the input. A PodTemplate object
    runs no pod (`RUNS_PODS`), so nobody can exec into one."""
    out = set()
    for doc, _ in idx.loaded.others:
        kind = str(doc.get("kind"))
        path = pod_spec_path(kind) if kind in RUNS_PODS else None
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


def _role_keys(idx: RbacIndex, namespaces: Iterable[str]) -> tuple[list[RoleKey], dict[str, list[RoleKey]],
                                                                    frozenset[RoleKey]]:
    """ClusterRoles, Roles per analysed namespace, and the roles that allow everything (binding one of those
    is every permission in the binding's scope)."""
    wanted = set(namespaces)
    cluster = sorted(k for k in idx.roles if not k[0])
    by_ns: dict[str, list[RoleKey]] = {}
    for k in sorted(idx.roles):
        if k[0] in wanted:
            by_ns.setdefault(k[0], []).append(k)
    return cluster, by_ns, frozenset(idx.roles_allowing(EVERYTHING))


def build_escalation_graph_reference(
    idx: RbacIndex, phi_namespaces: set[str] | frozenset[str] = frozenset()
) -> EscalationGraph:
    """Per-identity reference implementation: asks the authorizer every question for every identity (and for
    every role binding an identity could create, as a `Held` actor). Slow (tens of seconds on 5,000
    identities) but obviously right; the tests check `build_escalation_graph` against it."""
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
    cluster_keys, role_keys_by_ns, everything_keys = _role_keys(idx, namespaces)

    edges: list[Edge] = []
    admins: set[str] = set()
    Actor = UserInfo | Held

    def in_scope(actor: Held, a: Attributes) -> bool:
        return not actor.scope or (a.resource_request and a.namespace == actor.scope)

    def can(actor: Actor, a: Attributes) -> bool:
        if isinstance(actor, UserInfo):
            return idx.authorize(actor, a).allowed
        if not in_scope(actor, a):
            return False
        return actor.key is None or rules_allow(a, idx.roles[actor.key].rules) >= 0

    def some(actor: Actor, a: Attributes) -> bool:
        if isinstance(actor, UserInfo):
            return idx.allows_some_name(actor, a)
        if not in_scope(actor, a):
            return False
        return actor.key is None or any(rule_allows(a, replace(r, resource_names=()))
                                        for r in idx.roles[actor.key].rules)

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

    queue: deque[tuple[str, Actor]] = deque()
    for key, subj in sorted(nodes.items()):
        if subj.kind == "Group" and subj.name == MASTERS:
            admins.add(key)
            continue
        user = identity_for_subject(subj)
        if user is None:
            continue
        if MASTERS in user.groups or can(user, EVERYTHING):
            admins.add(key)
            continue
        queue.append((key, user))
    queued = {k for k, _ in queue}

    def visit(key: str, actor: Actor) -> None:
        if isinstance(actor, UserInfo):
            bound = idx.bound_namespaces(actor)
        else:
            bound = {actor.scope} if actor.scope else set()
        memo: dict[tuple[str, int, str, bool], bool] = {}

        def ask(ns: str, a: Attributes, name: str = "", some_name: bool = False) -> bool:
            """Memoised question in namespace `ns`. Answers in namespaces without RoleBindings for this
            actor are all the same, so they share one entry. `some_name`: for at least one name."""
            eff = ns if ns in bound else generic
            k = (eff, id(a), name, some_name)
            answer = memo.get(k)
            if answer is None:
                q = Attributes(a.verb, a.resource, a.api_group, a.subresource, name, eff)
                answer = memo[k] = some(actor, q) if some_name else can(actor, q)
            return answer

        def reach(held: Held, how: str) -> None:
            dst = held.node
            if dst == key:
                return
            edges.append(Edge(key, dst, how))
            if dst != ADMIN and dst not in queued:
                queued.add(dst)
                queue.append((dst, held))

        # cluster-wide powers
        if can(actor, request_attributes("impersonate", "groups", name=MASTERS, as_request=False)):
            edges.append(Edge(key, ADMIN, "impersonate group system:masters"))
        if isinstance(actor, UserInfo):
            impersonable = _impersonable_users(idx, actor, users)
        else:
            impersonable = [u for u in users if can(actor, request_attributes("impersonate", "users", name=u,
                                                                              as_request=False))]
        for other in impersonable:
            if f"User:{other}" != key:
                edges.append(Edge(key, f"User:{other}", f"impersonate user {other}"))
        for g in groups:
            if f"Group:{g}" != key and can(actor, request_attributes("impersonate", "groups", name=g,
                                                                     as_request=False)):
                edges.append(Edge(key, f"Group:{g}", f"impersonate group {g}"))
        if can(actor, request_attributes("create", "nodes/proxy", name="any", as_request=False)) or can(
                actor, request_attributes("get", "nodes/proxy", name="any", as_request=False)):
            edges.append(Edge(key, ANY_POD, "nodes/proxy (kubelet API)"))
        profiles: dict[str, tuple[bool, str | None, bool, bool, bool, bool]] = {}
        for ns in namespaces:
            eff = ns if ns in bound else generic
            profile = profiles.get(eff)
            if profile is None:
                profile = profiles[eff] = (
                    ask(ns, LIST_SECRETS) or ask(ns, GET_SECRETS),
                    next((t for t, a in CREATE_WORKLOADS if ask(ns, a)), None),
                    ask(ns, CREATE_TOKEN, some_name=True),
                    ask(ns, IMPERSONATE_SA, some_name=True),
                    ask(ns, GET_SECRETS, some_name=True),
                    any(ask(ns, a) for a in EXEC_PODS),
                )
            reads_all, creator, token_some, imp_some, secret_some, execs = profile
            if execs and ns in running:
                edges.append(Edge(key, EXEC_PREFIX + ns, f"exec into pods in {ns}"))
            if ns in phi and reads_all:
                edges.append(Edge(key, PHI_PREFIX + ns, f"read all Secrets in {ns}"))
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

        # RBAC writes: bind a role, rewrite a role one holds (escalate), create a Role and bind it. An actor that
        # already has every permission in a namespace gains nothing there.
        def full_at(scope: str) -> bool:
            return bool(scope) and can(actor, replace(EVERYTHING, namespace=scope))

        held: set[tuple[RoleKey, str]] = set()
        if isinstance(actor, UserInfo):
            for scope in ["", *namespaces]:
                for b, _ in idx.applicable_bindings(actor, scope):
                    rk = role_key_for(b)
                    if b.namespace == scope and rk is not None and rk in idx.roles:
                        held.add((rk, scope))
        elif actor.key is not None:
            held.add((actor.key, actor.scope))
        for scope in ["", *namespaces]:
            if full_at(scope) or not can(actor, create_binding_request(scope)):
                continue
            for rk in [*cluster_keys, *(role_keys_by_ns.get(scope, []) if scope else [])]:
                if can(actor, bind_request(rk, scope)):
                    held.add((rk, scope))
                    reach(Held(None if rk in everything_keys else rk, scope), bind_how(rk, scope))
        for rk, scope in sorted(held):
            if rk in everything_keys or full_at(scope):
                continue
            if can(actor, role_write_request("escalate", rk)) and (
                    can(actor, role_write_request("update", rk)) or can(actor, role_write_request("patch", rk))):
                reach(Held(None, scope), escalate_how(rk))
        for ns in namespaces:
            if not full_at(ns) and all(can(actor, a) for a in new_role_requests(ns)):
                reach(Held(None, ns), new_role_how(ns))

    while queue:
        visit(*queue.popleft())
    return EscalationGraph(nodes, prune_dead_ends(edges), admins, frozenset(phi))


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

    def members(subject: Subject) -> Iterable[str]:
        """Identity nodes a binding subject stands for."""
        if subject.kind == "Group":
            return by_group.get(subject.name, ())
        u = subject_user_key(subject, "")
        return by_user.get(u, ()) if u is not None else ()

    binding_members: dict[int, frozenset[str]] = {}
    for b in idx.bindings:
        binding_members[id(b)] = frozenset(k for subj in idx.applicable_subjects(b) for k in members(subj))

    holders: dict[str, dict[RoleKey, str]] = {}
    """scope -> role -> node "role bound in scope", for the bindings some identity can create."""
    all_in: dict[str, str] = {}
    """namespace -> node "every permission in namespace"."""
    base_cache: dict[tuple[Attributes, bool], set[str]] = {}
    caching = False

    def allowed(a: Attributes, any_name: bool = False) -> set[str]:
        """Identities the authorizer would allow `a`: who-can subjects mapped onto identity nodes, plus the
        intermediate "role bound in N" nodes whose role allows `a` in its scope (a RoleBinding's rules only for
        requests that carry its namespace, as the authorizer applies them). Callers never change the set."""
        base = base_cache.get((a, any_name)) if caching else None
        if base is None:
            base = set()
            for b in idx.allowed_bindings(a, any_name=any_name):
                base |= binding_members[id(b)]
            if caching:
                base_cache[(a, any_name)] = base
        ns = a.namespace if a.resource_request else ""
        extra: list[str] = []
        for scope in (("", ns) if ns else ("",)) if holders else ():
            held = holders.get(scope)
            if held:
                allowing = idx.roles_allowing(a, any_name=any_name)  # memoised by the index
                extra.extend(node for key, node in held.items() if key in allowing)
        if ns in all_in:
            extra.append(all_in[ns])
        return base | set(extra) if extra else base

    listed_cache: dict[Attributes, set[str]] = {}

    def by_name(a: Attributes, names: Iterable[str]) -> dict[str, set[str]]:
        """`allowed` for `a` with each of `names`. Only names that some rule allowing `a` lists in resourceNames
        can get a different answer from a name nobody lists, so the others share one question."""
        shape = replace(a, name="", namespace="")  # which rules match does not depend on either
        listed = listed_cache.get(shape)
        if listed is None:
            listed = listed_cache[shape] = set()
            for key in idx.roles_allowing(shape, any_name=True):
                for r in idx.roles[key].rules:
                    if r.resource_names and rule_allows(replace(shape, name=r.resource_names[0]), r):
                        listed.update(r.resource_names)
        out: dict[str, set[str]] = {}
        generic: set[str] | None = None
        for n in names:
            if n in listed:
                out[n] = allowed(replace(a, name=n))
            else:
                if generic is None:
                    generic = allowed(replace(a, name=FRESH_NAME))
                out[n] = generic
        return out

    def q(a: Attributes, ns: str = "", name: str = "") -> Attributes:
        return Attributes(a.verb, a.resource, a.api_group, a.subresource, name, ns)

    def maybe(a: Attributes, ns: str = "") -> bool:
        """Could any role allow this for some name? (a cheap filter before per-name questions)"""
        return ns in all_in or bool(idx.roles_allowing(q(a, ns), any_name=True))

    admins = allowed(EVERYTHING) | set(by_group.get(MASTERS, ()))
    cluster_keys, role_keys_by_ns, everything_keys = _role_keys(idx, namespaces)
    bound_to: dict[tuple[RoleKey, str], set[str]] = {}
    for b in idx.bindings:
        rk = role_key_for(b)
        if rk is not None and rk in idx.roles:
            bound_to.setdefault((rk, b.namespace), set()).update(binding_members[id(b)])

    WriteEdges = list[tuple[set[str], str, str]]  # (sources, destination, how)

    def rbac_write_edges() -> tuple[WriteEdges, dict[str, dict[RoleKey, str]], dict[str, str]]:
        """Edges into "role bound in N" / "every permission in N" nodes (bind, escalate, create a Role), with
        the nodes they reach. Sources are identities and the current intermediate nodes."""
        out: WriteEdges = []
        found: dict[str, dict[RoleKey, str]] = {}
        found_all: dict[str, str] = {}
        full_cache: dict[str, set[str]] = {}

        def full(scope: str) -> set[str]:
            """Who already has every permission in `scope` (and so gains nothing by a binding there)."""
            got = full_cache.get(scope)
            if got is None:
                got = full_cache[scope] = admins | (allowed(q(EVERYTHING, scope)) if scope else set())
            return got

        def reach(sources: set[str], held: Held, how: str) -> None:
            dst = held.node
            if not sources or sources == {dst}:
                return
            if held.key is not None:
                found.setdefault(held.scope, {})[held.key] = dst
            elif held.scope:
                found_all[held.scope] = dst
            out.append((sources, dst, how))

        bindable: dict[tuple[RoleKey, str], set[str]] = {}
        for scope in ["", *namespaces]:
            creators = allowed(create_binding_request(scope)) - full(scope)
            if not creators:
                continue
            kinds = [("clusterroles", cluster_keys)]
            if scope:
                kinds.append(("roles", role_keys_by_ns.get(scope, [])))
            for resource, keys in kinds:
                bind = Attributes("bind", resource, RBAC_GROUP, "", "", scope)
                cands = creators & allowed(bind, any_name=True) if keys else set()
                per_name = by_name(bind, [rk[1] for rk in keys]) if cands else {}
                for rk in keys if cands else ():
                    srcs = cands & per_name[rk[1]]
                    if srcs:
                        bindable[(rk, scope)] = srcs
                        reach(srcs, Held(None if rk in everything_keys else rk, scope), bind_how(rk, scope))

        held_scopes: dict[RoleKey, set[str]] = {}
        for rk, scope in (*bound_to, *bindable):
            held_scopes.setdefault(rk, set()).add(scope)
        for scope, by_key in holders.items():
            for rk in by_key:
                held_scopes.setdefault(rk, set()).add(scope)
        groups_of_keys = [("clusterroles", "", cluster_keys)]
        groups_of_keys += [("roles", ns, keys) for ns, keys in sorted(role_keys_by_ns.items())]
        for resource, home, keys in groups_of_keys:
            keys = [rk for rk in keys if rk in held_scopes and rk not in everything_keys]
            write = {verb: Attributes(verb, resource, RBAC_GROUP, "", "", home) for verb in ("escalate", "update", "patch")}
            cands = allowed(write["escalate"], any_name=True) - admins if keys else set()
            if not cands:
                continue
            names = [rk[1] for rk in keys]
            escalators = by_name(write["escalate"], names)
            writers: dict[str, set[str]] | None = None
            for rk in keys:
                esc = cands & escalators[rk[1]]
                if not esc:
                    continue
                if writers is None:
                    updaters, patchers = by_name(write["update"], names), by_name(write["patch"], names)
                    writers = {n: updaters[n] | patchers[n] for n in names}
                esc &= writers[rk[1]]
                for scope in sorted(held_scopes[rk]) if esc else ():
                    holding = bound_to.get((rk, scope), set()) | bindable.get((rk, scope), set())
                    node = holders.get(scope, {}).get(rk)
                    if node is not None:
                        holding = holding | {node}
                    reach((esc & holding) - full(scope), Held(None, scope), escalate_how(rk))
        for ns in namespaces:
            first, *rest = new_role_requests(ns)
            makers = allowed(first) - full(ns)
            for a in rest:
                if not makers:
                    break
                makers &= allowed(a)
            reach(makers, Held(None, ns), new_role_how(ns))
        return out, found, found_all

    # Bindings one can create add "role bound in N" nodes, which may in turn bind or escalate: repeat until no
    # new node appears (a few rounds at most; one when nobody can bind or escalate).
    caching = True  # the rounds ask the same questions again; only the intermediate nodes change
    while True:
        write_edges, found, found_all = rbac_write_edges()
        if found == holders and found_all == all_in:
            break
        holders, all_in = found, found_all
    caching = False
    base_cache.clear()
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

    add(allowed(Attributes("impersonate", "groups", "", "", MASTERS)), ADMIN, "impersonate group system:masters")
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
    for srcs, dst, how in write_edges:
        edges.extend(Edge(k, dst, how) for k in sorted(srcs) if k != dst)
    return EscalationGraph(nodes, prune_dead_ends(edges), admins, frozenset(phi))
