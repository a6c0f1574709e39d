"""`RbacIndex`: the authorizer over a fixed set of RBAC objects, plus who-can and effective rules.

Built once, queried many times. Two inverted indexes keep queries fast on large clusters:

- subject -> bindings (by user name, ServiceAccount user name and group) for `authorize` and `effective_rules`;
- (verb, resource entry) -> role rules for `who_can`, so a query looks at the few rules that could match
  instead of every rule of every role. Exact matching (`rule_allows`) still decides every candidate.

The visiting order is upstream's: every ClusterRoleBinding, then the RoleBindings of the request namespace
(only when the request has a namespace), each in input order; the first rule that allows wins. Which
bindings apply depends on the request's namespace alone, never on whether its resource is namespaced: the
authorizer does not know scope, so a question about a cluster-scoped resource asked in N (as the API server
asks `bind clusterroles X` for a RoleBinding in N) is answered by N's RoleBindings too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from operator import itemgetter
from typing import Any, NamedTuple

from kubehipaa.engines.rbac.aggregation import aggregate_cluster_roles
from kubehipaa.engines.rbac.defaults import aggregation_defaults, referenced_defaults
from kubehipaa.engines.rbac.loader import ROLE_KINDS, Loaded, SkippedObject, load_objects
from kubehipaa.engines.rbac.matching import combined_resource, rule_allows, rules_allow
from kubehipaa.engines.rbac.subjects import MASTERS, subject_user_key
from kubehipaa.engines.rbac.types import (
    Attributes,
    Binding,
    Decision,
    Grant,
    PolicyRule,
    Role,
    Subject,
    UserInfo,
)

NO_RULE = "no RBAC rule allows this"
MASTERS_NOTE = "group system:masters is allowed everything (privileged-group authorizer, not RBAC)"

CLUSTER_ADMIN = Role(
    kind="ClusterRole",
    name="cluster-admin",
    namespace="",
    rules=(PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),
           PolicyRule(verbs=("*",), non_resource_urls=("*",))),
    labels=(("kubernetes.io/bootstrapping", "rbac-defaults"),),
)

RoleKey = tuple[str, str]  # (namespace, name); namespace "" for a ClusterRole


class WhoCanEntry(NamedTuple):
    """One subject allowed a request and the path that allows it.

    A named tuple rather than a dataclass because who-can answers can list thousands of entries and must stay
    within a few milliseconds; the `Grant` is built only when asked for."""

    subject: Subject
    binding: Binding | None
    rule_index: int
    rule: PolicyRule | None
    assumed_role: bool = False
    """The binding's role is a built-in role assumed because the input does not define it."""

    @property
    def grant(self) -> Grant:
        b = self.binding
        if b is None:
            return Grant(None, None, "", "", -1, None, MASTERS_NOTE)
        return Grant(b, self.subject, b.role_ref.kind, b.role_ref.name, self.rule_index, self.rule,
                     assumed_role=self.assumed_role)

    def to_dict(self) -> dict[str, Any]:
        grant = self.grant
        return {"subject": self.subject.to_dict(), "grant": grant.to_dict(), "path": grant.describe()}


def role_key_for(binding: Binding) -> RoleKey | None:
    """Which role a binding refers to: a Role in the binding's namespace, or a ClusterRole; None otherwise."""
    if binding.role_ref.kind == "ClusterRole":
        return ("", binding.role_ref.name)
    if binding.role_ref.kind == "Role" and binding.namespace:
        return (binding.namespace, binding.role_ref.name)
    return None


def _subject_can_apply(binding: Binding, subject: Subject) -> bool:
    if subject.kind == "Group":
        return True
    return subject_user_key(subject, binding.namespace) is not None


class RbacIndex:
    """Answers what the RBAC authorizer would answer for a given set of Roles, ClusterRoles and bindings."""

    def __init__(self, loaded: Loaded, *, builtin_cluster_admin: bool = True, builtin_user_roles: bool = True
                 ) -> None:
        self.loaded = loaded
        self.problems: list[str] = []
        self.skipped: list[SkippedObject] = loaded.skipped
        """Malformed Roles and bindings left out of every answer (callers report them; the run exits 2)."""
        self._skipped_roles: dict[RoleKey, SkippedObject] = {
            (s.namespace, s.name): s for s in loaded.skipped if s.kind in ROLE_KINDS and s.name}
        cluster_roles = {r.name: r for r in loaded.roles if r.kind == "ClusterRole"}
        assumed: set[str] = set()
        if builtin_cluster_admin and "cluster-admin" not in cluster_roles:
            # The API server reconciles this role at every start, so it exists in every cluster even when the
            # scanned files do not define it; its rules are fixed upstream.
            cluster_roles["cluster-admin"] = CLUSTER_ADMIN
            assumed.add("cluster-admin")
        assumed_ns: list[Role] = []
        if builtin_user_roles:
            # Likewise admin, edit, view and the system:aggregate-to-* roles they aggregate. Each is assumed
            # only where the input has no ClusterRole of that name: a declared one (a cluster dump, possibly
            # customised) always wins. Aggregation below then fills admin/edit/view in, from the built-in
            # aggregate-to-* roles and from any input ClusterRole carrying those labels, as upstream does.
            for role in aggregation_defaults():
                if role.name not in cluster_roles:
                    cluster_roles[role.name] = role
                    assumed.add(role.name)
            # And every other built-in (system:* ClusterRoles, kube-system's and kube-public's Roles) that a
            # binding refers to: it exists in every cluster, so the binding grants it (bootstrap_policy.yaml).
            have = [("", n) for n in cluster_roles] + [r.key for r in loaded.roles if r.kind == "Role"]
            if not builtin_cluster_admin:
                have.append(("", "cluster-admin"))
            for role in referenced_defaults(loaded, have):
                if role.namespace:
                    assumed_ns.append(role)
                else:
                    cluster_roles[role.name] = role
                    assumed.add(role.name)
        self.assumed_roles: frozenset[str] = frozenset(assumed)
        """Names of the ClusterRoles taken from the built-in definitions because the input lacks them."""
        self.assumed_role_keys: frozenset[RoleKey] = frozenset(
            [("", n) for n in assumed] + [r.key for r in assumed_ns])
        """Keys of every role (ClusterRoles and namespaced Roles) assumed that way."""
        cluster_roles, agg_problems = aggregate_cluster_roles(cluster_roles)
        self.problems.extend(agg_problems)
        self.roles: dict[RoleKey, Role] = {("", n): r for n, r in cluster_roles.items()}
        for r in [*assumed_ns, *loaded.roles]:
            if r.kind == "Role":
                self.roles[r.key] = r
        # A name identifies one object: when the input declares it twice, the later declaration wins, as a later
        # `kubectl apply` would.
        latest: dict[tuple[str, str, str], Binding] = {}
        for b in loaded.bindings:
            k = (b.kind, b.namespace, b.name)
            if k in latest:
                self.problems.append(f"{b.display} is declared more than once; the last declaration "
                                     f"({b.origin.file}:{b.origin.line}) is used")
            latest[k] = b
        seen_roles: set[tuple[str, str, str]] = set()
        for r in loaded.roles:
            k = (r.kind, r.namespace, r.name)
            if k in seen_roles:
                self.problems.append(f"{r.display} is declared more than once; the last declaration "
                                     f"({r.origin.file}:{r.origin.line}) is used")
            seen_roles.add(k)
        self.bindings: list[Binding] = sorted(latest.values(), key=lambda b: (b.namespace != "", b.order))

        self._user: dict[str, list[tuple[Binding, int]]] = defaultdict(list)
        self._group: dict[str, list[tuple[Binding, int]]] = defaultdict(list)
        for b in self.bindings:
            seen_users: set[str] = set()
            seen_groups: set[str] = set()
            for i, s in enumerate(b.subjects):
                if s.kind == "Group":
                    if s.name not in seen_groups:
                        seen_groups.add(s.name)
                        self._group[s.name].append((b, i))
                    continue
                user = subject_user_key(s, b.namespace)
                if user is not None and user not in seen_users:
                    seen_users.add(user)
                    self._user[user].append((b, i))

        # Bindings per role, split by scope so who-can never scans other namespaces' RoleBindings, each with
        # the subjects that can ever apply (defaulted), computed once.
        self._cluster_by_role: dict[RoleKey, list[Binding]] = defaultdict(list)
        self._ns_by_role: dict[tuple[RoleKey, str], list[Binding]] = defaultdict(list)
        self._applicable: dict[int, tuple[tuple[tuple[str, str, str, bool, int], Subject], ...]] = {}
        for b in self.bindings:
            key = role_key_for(b)
            if key is not None:
                if b.namespace:
                    self._ns_by_role[(key, b.namespace)].append(b)
                else:
                    self._cluster_by_role[key].append(b)
            self._applicable[id(b)] = tuple(
                ((e.kind, e.namespace, e.name, b.namespace != "", b.order), e)
                for e in (b.effective_subject(s) for s in b.subjects
                          if s.kind in ("User", "Group", "ServiceAccount") and _subject_can_apply(b, s))
            )

        # (verb entry, apiGroup entry, resource entry) -> [(role key, rule index, resourceNames)]. A hit on the
        # key already proves verb, group and resource match; only resourceNames remain to check.
        self._res_rules: dict[tuple[str, str, str], list[tuple[RoleKey, int, frozenset[str]]]] = defaultdict(list)
        self._url_rules: dict[str, list[tuple[RoleKey, int]]] = defaultdict(list)
        res_rules = self._res_rules
        no_names: frozenset[str] = frozenset()
        for key, role in self.roles.items():
            for i, rule in enumerate(role.rules):
                entry = (key, i, frozenset(rule.resource_names) if rule.resource_names else no_names)
                verbs = set(rule.verbs)
                if rule.resources:
                    groups, resources = set(rule.api_groups), set(rule.resources)
                    for verb in verbs:
                        for group in groups:
                            for res in resources:
                                res_rules[(verb, group, res)].append(entry)
                if rule.non_resource_urls:
                    for verb in verbs:
                        self._url_rules[verb].append((key, i))
        self._allowing_cache: dict[tuple[Attributes, bool], dict[RoleKey, int]] = {}

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_objects(cls, objects: Iterable[Any], *, builtin_cluster_admin: bool = True,
                     builtin_user_roles: bool = True) -> RbacIndex:
        """Build from `K8sObject`s or plain dicts; non-RBAC documents are kept for escalation analysis.

        With `builtin_cluster_admin` the bootstrap `cluster-admin` ClusterRole is assumed when the input does
        not define it, as the API server always recreates it; with `builtin_user_roles` likewise `admin`,
        `edit`, `view` and the `system:aggregate-to-*` roles, and every other built-in role (ClusterRole or
        namespaced Role) a binding refers to (upstream's definitions, `bootstrap_policy.yaml`).
        `assumed_roles` / `assumed_role_keys` name the ones taken that way, and grants through them say so."""
        return cls(load_objects(objects), builtin_cluster_admin=builtin_cluster_admin,
                   builtin_user_roles=builtin_user_roles)

    def is_assumed(self, binding: Binding) -> bool:
        """Does this binding refer to a built-in role assumed because the input does not define it?"""
        return role_key_for(binding) in self.assumed_role_keys

    # ----------------------------------------------------------------- role resolution
    def role_for(self, binding: Binding) -> Role | None:
        key = role_key_for(binding)
        return None if key is None else self.roles.get(key)

    def missing_role_error(self, binding: Binding) -> str:
        ref = binding.role_ref
        if ref.kind not in ("Role", "ClusterRole"):
            return f"{binding.display}: unsupported role reference kind {ref.kind!r}"
        where = f" in namespace {binding.namespace!r}" if ref.kind == "Role" else ""
        key = role_key_for(binding)
        bad = self._skipped_roles.get(key) if key is not None else None
        if bad is not None and key not in self.roles:
            at = f" at {bad.file}:{bad.line}" if bad.file else ""
            return f"{binding.display}: {ref.kind} {ref.name!r}{where} is malformed{at} and was skipped"
        return f"{binding.display}: {ref.kind} {ref.name!r}{where} not found"

    # ----------------------------------------------------------------- authorize
    def applicable_bindings(self, user: UserInfo, namespace: str) -> list[tuple[Binding, int]]:
        """Bindings that apply to `user` for a request in `namespace`, in upstream visiting order, each with
        the index of its first subject that applies."""
        found: dict[int, tuple[Binding, int]] = {}

        def add(entries: list[tuple[Binding, int]]) -> None:
            for b, i in entries:
                if b.namespace and b.namespace != namespace:
                    continue
                prev = found.get(id(b))
                if prev is None or i < prev[1]:
                    found[id(b)] = (b, i)

        if user.name:
            add(self._user.get(user.name, []))
        for g in user.groups:
            add(self._group.get(g, []))
        return sorted(found.values(), key=lambda e: (e[0].namespace != "", e[0].order))

    def bound_namespaces(self, user: UserInfo) -> set[str]:
        """Namespaces where some RoleBinding applies to `user`; in every other namespace only its
        ClusterRoleBindings count, so answers there are all the same."""
        out: set[str] = set()
        for entries in [
            self._user.get(user.name, []) if user.name else [],
            *(self._group.get(g, []) for g in user.groups),
        ]:
            out.update(b.namespace for b, _ in entries if b.namespace)
        return out

    def authorize(self, user: UserInfo, attrs: Attributes) -> Decision:
        """Allow or no-opinion, with the granting path, exactly as the RBAC authorizer decides."""
        if MASTERS in user.groups:
            return Decision(True, MASTERS_NOTE, Grant(None, Subject("Group", MASTERS), "", "", -1, None, MASTERS_NOTE))
        errors: list[str] = []
        namespace = attrs.namespace
        for b, i in self.applicable_bindings(user, namespace):
            role = self.role_for(b)
            if role is None:
                errors.append(self.missing_role_error(b))
                continue
            idx = rules_allow(attrs, role.rules)
            if idx >= 0:
                grant = Grant(b, b.effective_subject(b.subjects[i]), b.role_ref.kind, b.role_ref.name, idx,
                              role.rules[idx], assumed_role=self.is_assumed(b))
                return Decision(True, "allowed by " + grant.describe(), grant, tuple(errors))
        return Decision(False, NO_RULE, None, tuple(errors))

    def allows_some_name(self, user: UserInfo, attrs: Attributes) -> bool:
        """Would `attrs` be allowed for at least one object name? (resourceNames limits ignored). A cheap
        pre-filter before asking about many names one by one."""
        if MASTERS in user.groups:
            return True
        for b, _ in self.applicable_bindings(user, attrs.namespace):
            role = self.role_for(b)
            if role is None:
                continue
            for rule in role.rules:
                if rule_allows(attrs, replace(rule, resource_names=()) if rule.resource_names else rule):
                    return True
        return False

    def effective_rules(self, user: UserInfo, namespace: str = "") -> list[tuple[PolicyRule, Grant]]:
        """Every rule that applies to `user` for requests in `namespace` ("" = cluster-scoped), with its path.
        Like upstream RulesFor: cluster-wide rules first, then the namespace's."""
        out: list[tuple[PolicyRule, Grant]] = []
        for b, i in self.applicable_bindings(user, namespace):
            role = self.role_for(b)
            if role is None:
                continue
            subj = b.effective_subject(b.subjects[i])
            assumed = self.is_assumed(b)
            for idx, rule in enumerate(role.rules):
                out.append((rule, Grant(b, subj, b.role_ref.kind, b.role_ref.name, idx, rule,
                                        assumed_role=assumed)))
        return out

    # ----------------------------------------------------------------- who-can
    def roles_allowing(self, attrs: Attributes, *, any_name: bool = False) -> dict[RoleKey, int]:
        """Role key -> index of its first rule that allows `attrs` (ignoring bindings and scope).

        With `any_name`, resourceNames limits are ignored: a role counts if it allows the request for some name,
        and the index is that of its first rule without a limit when it has one (so callers can tell "all
        names" from "only these names")."""
        cache_key = (attrs, any_name)
        cached = self._allowing_cache.get(cache_key)
        if cached is not None:
            return cached
        result: dict[RoleKey, int] = {}
        limited: dict[RoleKey, int] = {}
        if attrs.resource_request:
            res_keys = [combined_resource(attrs), "*"]
            if attrs.subresource:
                res_keys.append("*/" + attrs.subresource)
            name = attrs.name
            for verb in {attrs.verb, "*"}:
                for group in {attrs.api_group, "*"}:
                    for res in res_keys:
                        for key, idx, names in self._res_rules.get((verb, group, res), ()):
                            if names and (any_name or name not in names):
                                if any_name:
                                    prev = limited.get(key)
                                    if prev is None or idx < prev:
                                        limited[key] = idx
                                continue
                            prev = result.get(key)
                            if prev is None or idx < prev:
                                result[key] = idx
        else:
            for verb in {attrs.verb, "*"}:
                for key, idx in self._url_rules.get(verb, ()):
                    prev = result.get(key)
                    if (prev is None or idx < prev) and rule_allows(attrs, self.roles[key].rules[idx]):
                        result[key] = idx
        for key, idx in limited.items():
            result.setdefault(key, idx)
        if len(self._allowing_cache) > 50_000:
            self._allowing_cache.clear()
        self._allowing_cache[cache_key] = result
        return result

    def clear_query_cache(self) -> None:
        """Forget memoised who-can role matches (benchmarks use this to measure cold queries)."""
        self._allowing_cache.clear()

    def who_can(self, attrs: Attributes, *, include_masters: bool = True, any_name: bool = False
                ) -> list[WhoCanEntry]:
        """Every binding subject allowed `attrs`, one entry per (subject, binding), sorted by subject.

        A RoleBinding counts for every request that carries its namespace and never for one without a
        namespace. Like upstream, this does not depend on the resource's scope: `bind clusterroles X` asked in
        N (the API server's check for a RoleBinding in N) is granted by RoleBindings in N.
        With `any_name`, grants limited by resourceNames count too (the entry's rule shows the limit)."""
        rows: list[tuple[tuple[str, str, str, bool, int], Subject, Binding, PolicyRule, int, bool]] = []
        ns = attrs.namespace
        for key, idx in self.roles_allowing(attrs, any_name=any_name).items():
            rule = self.roles[key].rules[idx]
            assumed = key in self.assumed_role_keys
            bindings = self._cluster_by_role.get(key, [])
            if ns:
                bindings = bindings + self._ns_by_role.get((key, ns), [])
            for b in bindings:
                for sort_key, s in self._applicable[id(b)]:
                    rows.append((sort_key, s, b, rule, idx, assumed))
        rows.sort(key=itemgetter(0))
        out = [WhoCanEntry(s, b, idx, rule, assumed) for _, s, b, rule, idx, assumed in rows]
        if include_masters:
            out.insert(0, WhoCanEntry(Subject("Group", MASTERS), None, -1, None))
        return out

    def applicable_subjects(self, binding: Binding) -> list[Subject]:
        """The binding's subjects that can ever match a request (ServiceAccount namespaces defaulted), in order."""
        return [s for _, s in self._applicable.get(id(binding), ())]

    def allowed_bindings(self, attrs: Attributes, *, any_name: bool = False) -> list[Binding]:
        """The bindings whose role allows `attrs` and that apply to it (every ClusterRoleBinding, the RoleBindings
        of its namespace): the bindings `who_can` draws its subjects from, without paths or order. A cheaper
        form for callers that ask thousands of questions, such as the escalation graph."""
        ns = attrs.namespace
        out: list[Binding] = []
        for key in self.roles_allowing(attrs, any_name=any_name):
            out.extend(self._cluster_by_role.get(key, ()))
            if ns:
                out.extend(self._ns_by_role.get((key, ns), ()))
        return out

    # ----------------------------------------------------------------- inventory of subjects
    def subjects(self) -> list[Subject]:
        """Every distinct subject that some binding names (ServiceAccount namespaces defaulted)."""
        seen: set[Subject] = set()
        for b in self.bindings:
            for s in b.subjects:
                if s.kind in ("User", "Group", "ServiceAccount") and _subject_can_apply(b, s):
                    seen.add(b.effective_subject(s))
        return sorted(seen, key=lambda s: (s.kind, s.namespace, s.name))

    def bindings_for_subject(self, subject: Subject) -> list[Binding]:
        """Bindings that name this subject directly."""
        return [b for b in self.bindings if any(b.effective_subject(s) == subject for s in b.subjects)]
