"""Kubernetes' built-in RBAC objects (the API server's bootstrap policy) and whether an input object is one.

Why by content and not by label: `kubernetes.io/bootstrapping: rbac-defaults` is ordinary metadata that anyone
who can write a binding can set, so trusting it let a ClusterRoleBinding of cluster-admin to system:anonymous
pass as "a platform default". An input object counts as a built-in default only when it is one (same kind,
namespace and name as an object in `bootstrap_policy.yaml`) AND it grants nothing beyond what that default
grants in some covered Kubernetes version. What "matches" means, exactly:

- ClusterRole / Role without an aggregationRule: every rule is granted by the built-in role's rules (rule by
  rule, as the authorizer would evaluate it: each verb x apiGroup x resource x resourceName it names is allowed
  by some built-in rule). Equal rules in another order or layout match; a narrowed role (fewer verbs, fewer
  rules, added resourceNames) matches, since it grants less; an extra rule, verb, resource, wildcard or a
  dropped resourceNames limit does not. A built-in without an aggregationRule must not gain one.
- ClusterRole with an aggregationRule (admin, edit, view): its selectors are a subset of the built-in's; its
  `rules` are ignored, because the aggregation controller overwrites them.
- Labels and annotations are free, except the `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}` labels:
  one the built-in does not carry pours the role's rules into admin/edit/view, so it is content.
- ClusterRoleBinding / RoleBinding: the same roleRef, and every subject is one of the built-in's subjects. A
  missing subject matches (it grants less); an extra subject does not.
- A built-in binding whose role is present in the input but modified is itself no longer exempt: it hands the
  modified permissions to its subjects.
- The bootstrapping label on an object that is not a built-in (by kind, namespace and name) is a look-alike.

Versions: the data merges the defaults of several supported minors and of every feature gate (see the header of
`bootstrap_policy.yaml`), because the API server's reconciliation adds missing permissions on upgrade but never
removes old ones; an object is matched against that union.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

from kubehipaa.engines.rbac.loader import Loaded, parse_binding, parse_role
from kubehipaa.engines.rbac.types import Binding, Origin, PolicyRule, Role

if TYPE_CHECKING:
    from kubehipaa.engines.rbac.index import RbacIndex

BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
AUTOUPDATE_ANNOTATION = ("rbac.authorization.kubernetes.io/autoupdate", "true")
AGGREGATE_TO = tuple(f"rbac.authorization.k8s.io/aggregate-to-{r}" for r in ("admin", "edit", "view"))
CONTROLLER_ROLE_PREFIX = "system:controller:"
DATA_FILE = "bootstrap_policy.yaml"
RBAC_API = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"

RoleKey = tuple[str, str]  # (namespace, name); namespace "" for a ClusterRole


@dataclass(frozen=True, slots=True)
class BootstrapPolicy:
    """The built-in objects, as engine records (rules, subjects) keyed the way the API server keys them."""

    cluster_roles: Mapping[str, Role]
    roles: Mapping[RoleKey, Role]
    cluster_role_bindings: Mapping[str, Binding]
    role_bindings: Mapping[RoleKey, Binding]

    def role(self, kind: str, namespace: str, name: str) -> Role | None:
        if kind == "ClusterRole":
            return self.cluster_roles.get(name)
        if kind == "Role":
            return self.roles.get((namespace, name))
        return None

    def binding(self, kind: str, namespace: str, name: str) -> Binding | None:
        if kind == "ClusterRoleBinding":
            return self.cluster_role_bindings.get(name)
        if kind == "RoleBinding":
            return self.role_bindings.get((namespace, name))
        return None

    def referenced_role(self, binding: Binding) -> Role | None:
        """The built-in role a binding's roleRef names (a Role is looked up in the binding's namespace)."""
        ref = binding.role_ref
        if ref.kind == "ClusterRole":
            return self.cluster_roles.get(ref.name)
        if ref.kind == "Role" and binding.namespace:
            return self.roles.get((binding.namespace, ref.name))
        return None


def _meta(name: str, namespace: str = "", labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {BOOTSTRAP_LABEL[0]: BOOTSTRAP_LABEL[1], **(labels or {})},
                            "annotations": {AUTOUPDATE_ANNOTATION[0]: AUTOUPDATE_ANNOTATION[1]}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _role_doc(kind: str, name: str, spec: Mapping[str, Any], namespace: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": RBAC_API, "kind": kind,
                           "metadata": _meta(name, namespace, spec.get("labels")),
                           "rules": list(spec.get("rules") or [])}
    if "aggregationRule" in spec:
        doc["aggregationRule"] = spec["aggregationRule"]
    return doc


def _subject(text: str) -> dict[str, str]:
    kind, _, rest = text.partition(" ")
    if kind == "ServiceAccount":
        ns, _, name = rest.partition("/")
        return {"kind": kind, "name": name, "namespace": ns}
    return {"kind": kind, "name": rest, "apiGroup": RBAC_GROUP}


def _binding_doc(kind: str, name: str, role_kind: str, spec: Mapping[str, Any], namespace: str = ""
                 ) -> dict[str, Any]:
    return {"apiVersion": RBAC_API, "kind": kind, "metadata": _meta(name, namespace),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": spec["roleRef"]},
            "subjects": [_subject(s) for s in spec.get("subjects") or ()]}


def parse_policy(data: Mapping[str, Any]) -> BootstrapPolicy:
    """Engine records from the data file's shape (see its header). Controller roles get their binding the way
    upstream's ControllerRoleBindings() makes it: system:controller:X -> ServiceAccount kube-system/X."""
    src = Origin(DATA_FILE)
    cluster_roles = {name: parse_role(_role_doc("ClusterRole", name, spec), src)
                     for name, spec in data["clusterRoles"].items()}
    roles = {(ns, name): parse_role(_role_doc("Role", name, spec, ns), src)
             for ns, items in data["roles"].items() for name, spec in items.items()}
    crb_specs = dict(data["clusterRoleBindings"])
    for name in cluster_roles:
        if name.startswith(CONTROLLER_ROLE_PREFIX):
            sa = name[len(CONTROLLER_ROLE_PREFIX):]
            crb_specs.setdefault(name, {"roleRef": name, "subjects": [f"ServiceAccount kube-system/{sa}"]})
    crbs = {name: parse_binding(_binding_doc("ClusterRoleBinding", name, "ClusterRole", spec), src, 0)
            for name, spec in crb_specs.items()}
    rbs = {(ns, name): parse_binding(_binding_doc("RoleBinding", name, "Role", spec, ns), src, 0)
           for ns, items in data["roleBindings"].items() for name, spec in items.items()}
    return BootstrapPolicy(cluster_roles, roles, crbs, rbs)


@cache
def bootstrap_policy() -> BootstrapPolicy:
    """The packaged bootstrap policy, parsed once (only when an RBAC index is built, not at CLI start-up)."""
    import yaml

    text = importlib_resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_policy(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def aggregation_defaults() -> tuple[Role, ...]:
    """admin, edit, view and the roles that feed them (system:aggregate-to-*): assumed in every index, since
    input ClusterRoles labelled aggregate-to-* flow into them even when no binding names them directly."""
    return tuple(r for r in bootstrap_policy().cluster_roles.values()
                 if r.aggregation_selectors is not None or any(k in AGGREGATE_TO for k, _ in r.labels))


def referenced_defaults(loaded: Loaded, have: Iterable[RoleKey]) -> list[Role]:
    """Built-in roles that some input binding refers to and the input (`have`) lacks, each once.

    They exist in every cluster (the API server recreates them), so a binding to one grants its permissions
    and is no dangling reference."""
    policy = bootstrap_policy()
    present = set(have)
    out: list[Role] = []
    for b in loaded.bindings:
        role = policy.referenced_role(b)
        if role is not None and role.key not in present:
            present.add(role.key)
            out.append(role)
    return out


# ---------------------------------------------------------------------------------------------- matching
def _covers_resource(entry: str, allowed: tuple[str, ...]) -> bool:
    if entry in allowed or "*" in allowed:
        return True
    _, sep, sub = entry.partition("/")
    return bool(sep) and "*/" + sub in allowed


def _covers_url(url: str, allowed: tuple[str, ...]) -> bool:
    return any(a == "*" or a == url or (a.endswith("*") and url.startswith(a.rstrip("*"))) for a in allowed)


def _norm(rule: PolicyRule) -> tuple[frozenset[str], ...]:
    return (frozenset(rule.verbs), frozenset(rule.api_groups), frozenset(rule.resources),
            frozenset(rule.resource_names), frozenset(rule.non_resource_urls))


def rule_within(rule: PolicyRule, allowed: tuple[PolicyRule, ...]) -> bool:
    """Does `allowed` grant everything `rule` grants? Entries of `rule` are taken literally (a `*` in it is only
    granted by a `*` in `allowed`), so this never under-reports a widened rule."""
    if any(_norm(rule) == _norm(a) for a in allowed):  # the common case: an unmodified dump
        return True
    for verb in rule.verbs:
        granting = [a for a in allowed if verb in a.verbs or "*" in a.verbs]
        for url in rule.non_resource_urls:
            if not any(_covers_url(url, a.non_resource_urls) for a in granting):
                return False
        for group in rule.api_groups:
            in_group = [a for a in granting if group in a.api_groups or "*" in a.api_groups]
            for res in rule.resources:
                fit = [a for a in in_group if _covers_resource(res, a.resources)]
                if not fit:
                    return False
                if any(not a.resource_names for a in fit):
                    continue
                if not rule.resource_names:
                    return False  # all names asked, only some names granted
                if not all(any(n in a.resource_names for a in fit) for n in rule.resource_names):
                    return False
    return True


@dataclass(frozen=True, slots=True)
class Difference:
    """One way an object departs from the built-in it claims to be, and the field that shows it."""

    text: str
    path: str


@dataclass(frozen=True, slots=True)
class BuiltinVerdict:
    """How an input RBAC object relates to Kubernetes' built-in defaults."""

    claimed: bool
    """Its kind, namespace and name are a built-in's, or it carries the bootstrapping label."""
    matches: bool
    """It is a built-in and grants nothing beyond it: a platform default, not the cluster owner's choice."""
    differences: tuple[Difference, ...] = ()

    @property
    def modified(self) -> bool:
        """Claims to be a built-in but is not one as shipped: a modified built-in or a look-alike."""
        return self.claimed and not self.matches


NOT_BUILTIN = BuiltinVerdict(False, False)
UNMODIFIED = BuiltinVerdict(True, True)


def _look_alike(kind: str, namespace: str, name: str) -> BuiltinVerdict:
    where = f" in namespace {namespace}" if namespace else ""
    return BuiltinVerdict(True, False, (Difference(
        f"carries the label {BOOTSTRAP_LABEL[0]}={BOOTSTRAP_LABEL[1]}, but Kubernetes has no built-in {kind} "
        f"named {name}{where} (look-alike)", f"metadata.labels.{BOOTSTRAP_LABEL[0]}"),))


def _selector_key(selector: Any) -> str:
    return json.dumps(selector, sort_keys=True, default=str)


def judge_role(role: Role, policy: BootstrapPolicy | None = None) -> BuiltinVerdict:
    """Is this declared Role/ClusterRole a built-in, unmodified? (`role` as written in the input, before
    aggregation.)"""
    policy = policy or bootstrap_policy()
    default = policy.role(role.kind, role.namespace, role.name)
    if default is None:
        if BOOTSTRAP_LABEL in role.labels:
            return _look_alike(role.kind, role.namespace, role.name)
        return NOT_BUILTIN
    diffs: list[Difference] = []
    have_labels = dict(default.labels)
    for key, value in role.labels:
        if key in AGGREGATE_TO and value == "true" and have_labels.get(key) != "true":
            target = key.rsplit("-", 1)[-1]
            diffs.append(Difference(f"label {key}=true pours its rules into the built-in ClusterRole {target}",
                                    f"metadata.labels.{key}"))
    if default.aggregation_selectors is not None:
        if role.aggregation_selectors is None:
            diffs.append(Difference("its aggregationRule was removed, so its rules are no longer the built-in "
                                    "aggregation", "aggregationRule"))
        else:
            allowed = {_selector_key(s) for s in default.aggregation_selectors}
            for i, sel in enumerate(role.aggregation_selectors):
                if _selector_key(sel) not in allowed:
                    diffs.append(Difference(f"aggregationRule selector {_selector_key(sel)} is not the built-in "
                                            "one", f"aggregationRule.clusterRoleSelectors[{i}]"))
    else:
        if role.aggregation_selectors is not None:
            diffs.append(Difference("has an aggregationRule; the built-in role has none", "aggregationRule"))
        for i, rule in enumerate(role.rules):
            if not rule_within(rule, default.rules):
                diffs.append(Difference(f"rules[{i}] {rule.compact()} grants more than the built-in role",
                                        f"rules[{i}]"))
    return BuiltinVerdict(True, not diffs, tuple(diffs))


def _subject_key(b: Binding, i: int) -> tuple[str, str, str]:
    s = b.effective_subject(b.subjects[i])
    return (s.kind, s.name, s.namespace if s.kind == "ServiceAccount" else "")


def judge_binding(binding: Binding, policy: BootstrapPolicy | None = None) -> BuiltinVerdict:
    """Is this RoleBinding/ClusterRoleBinding a built-in, unmodified? (Its role is judged separately.)"""
    policy = policy or bootstrap_policy()
    default = policy.binding(binding.kind, binding.namespace, binding.name)
    if default is None:
        if BOOTSTRAP_LABEL in binding.labels:
            return _look_alike(binding.kind, binding.namespace, binding.name)
        return NOT_BUILTIN
    diffs: list[Difference] = []
    ref, want = binding.role_ref, default.role_ref
    if (ref.kind, ref.name) != (want.kind, want.name):
        diffs.append(Difference(f"refers to {ref.kind} {ref.name}; the built-in binding refers to {want.kind} "
                                f"{want.name}", "roleRef"))
    allowed = {_subject_key(default, i) for i in range(len(default.subjects))}
    for i in range(len(binding.subjects)):
        if _subject_key(binding, i) not in allowed:
            shown = binding.effective_subject(binding.subjects[i]).display
            diffs.append(Difference(f"adds subject {shown}, which the built-in binding does not have",
                                    f"subjects[{i}]"))
    return BuiltinVerdict(True, not diffs, tuple(diffs))


ObjKey = tuple[str, str, str]  # (kind, namespace, name)


class BuiltinAudit:
    """Every input RBAC object of one index judged against the bootstrap policy, once.

    Roles are judged as declared (the last declaration of a name, as the index uses it); a built-in binding of
    a role that the input modifies loses its exemption too. Objects the index assumed (not in the input) are
    built-ins by construction."""

    def __init__(self, idx: RbacIndex) -> None:
        policy = bootstrap_policy()
        declared: dict[ObjKey, Role] = {}
        for r in idx.loaded.roles:
            declared[(r.kind, r.namespace, r.name)] = r
        self._roles = {k: judge_role(r, policy) for k, r in declared.items()}
        self._bindings: dict[ObjKey, BuiltinVerdict] = {}
        for b in idx.bindings:
            verdict = judge_binding(b, policy)
            if verdict.matches:
                role_kind = b.role_ref.kind
                role_ns = b.namespace if role_kind == "Role" else ""
                role_verdict = self._roles.get((role_kind, role_ns, b.role_ref.name))
                if role_verdict is not None and role_verdict.modified:
                    verdict = BuiltinVerdict(True, False, (Difference(
                        f"grants {role_kind} {b.role_ref.name}, a modified built-in", "roleRef"),))
            self._bindings[(b.kind, b.namespace, b.name)] = verdict
        self._assumed = idx.assumed_role_keys

    def verdict(self, obj: Role | Binding) -> BuiltinVerdict:
        key = (obj.kind, obj.namespace, obj.name)
        if isinstance(obj, Binding):
            return self._bindings.get(key, NOT_BUILTIN)
        found = self._roles.get(key)
        if found is None and (obj.namespace, obj.name) in self._assumed:
            return UNMODIFIED
        return found or NOT_BUILTIN

    def exempt(self, obj: Role | Binding) -> bool:
        """A platform default as shipped: not the cluster owner's choice, so not reported."""
        return self.verdict(obj).matches

    def modified(self, objects: Iterable[Role | Binding]) -> list[tuple[Role | Binding, BuiltinVerdict]]:
        """The objects among `objects` that claim to be built-ins but are not as shipped."""
        return [(o, v) for o in objects if (v := self.verdict(o)).modified]


_AUDITS: weakref.WeakKeyDictionary[Any, BuiltinAudit] = weakref.WeakKeyDictionary()


def builtin_audit(idx: RbacIndex) -> BuiltinAudit:
    """The audit of this index, computed once and shared by the checks and the risk catalog."""
    audit = _AUDITS.get(idx)
    if audit is None:
        audit = _AUDITS[idx] = BuiltinAudit(idx)
    return audit
