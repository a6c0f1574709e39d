"""Native ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30) for the checks
that CEL can express: the scanner's rules enforced by the API server itself, no webhook in the data path.

Why a translation per check and not a generic one: a policy is only worth deploying if it gives the SAME
verdict as the scan (a clean scan is evidence; an admission policy that lets through what the scan reports, or
blocks what it accepts, makes one of them wrong). Each CEL expression below mirrors one check's code line by
line (the same container lists, the same Windows / user-namespace skips, the same defaults), and
`tests/generate/test_admission_policies_agreement.py` runs it over the check's fire/pass cases and the upstream
PSS fixtures and compares with the scanner.

Checks whose verdict needs another object (the bound Role, the Namespace's labels, every NetworkPolicy of the
namespace, the ServiceAccount) or an engine (PHI-shaped value detection, the RBAC risk catalog) are listed with
the reason (`not_expressible`): a VAP sees one object (plus an optional param) and cannot look others up. The
cross-object reasons come from the checks' own metadata (`CheckMeta.needs`), which the CLI passes in, so the
webhook and this list read one catalog.

Pure: returns dicts; `reports.manifests` renders them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubehipaa.errors import ConfigError
from kubehipaa.workload_kinds import WORKLOAD_KINDS

if TYPE_CHECKING:
    from kubehipaa.config import Config

API = "admissionregistration.k8s.io/v1"
PREFIX = "kubehipaa"
PHI_LABEL = {"kubehipaa.io/phi": "true"}
ACTIONS = {"deny": "Deny", "warn": "Warn"}

# ---- the resources a rule matches ---------------------------------------------------------------------------

WORKLOAD_RESOURCES: dict[str, tuple[str, str]] = {
    "Pod": ("", "pods"),
    "PodTemplate": ("", "podtemplates"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}
"""kind -> (API group, resource) of every kind carrying a pod spec (`workload_kinds.POD_TEMPLATE_PATHS`)."""
assert set(WORKLOAD_RESOURCES) == WORKLOAD_KINDS, "a workload kind has no admission resource"

OTHER_RESOURCES: dict[str, tuple[str, str]] = {
    "Service": ("", "services"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Secret": ("", "secrets"),
    # Cluster-scoped, but NOT in CLUSTER_SCOPED: upstream matches a binding's namespaceSelector against a
    # Namespace object's own labels, so `--phi-only` and the kube-system exclusion apply to it.
    "Namespace": ("", "namespaces"),
}
RESOURCES: dict[str, tuple[str, str]] = {**WORKLOAD_RESOURCES, **OTHER_RESOURCES}
CLUSTER_SCOPED = frozenset({"ClusterRole", "ClusterRoleBinding"})


def _rules(kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    by_group: dict[str, list[str]] = {}
    for kind in kinds:
        group, resource = RESOURCES[kind]
        by_group.setdefault(group, []).append(resource)
    return [{"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": sorted(r)}
            for g, r in sorted(by_group.items())]


# ---- shared CEL variables ------------------------------------------------------------------------------------

POD_SPEC = (
    "object.kind == 'Pod' ? object.spec : "
    "object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : "
    "object.kind == 'PodTemplate' ? object.template.spec : object.spec.template.spec"
)
"""The pod spec of every kind in WORKLOAD_RESOURCES (pod-security-admission's extractor paths)."""

POD_VARIABLES: list[dict[str, str]] = [
    {"name": "podSpec", "expression": POD_SPEC},
    {"name": "podSC", "expression": "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}"},
    {"name": "windows", "expression": "has(variables.podSpec.os) && has(variables.podSpec.os.name) && "
                                      "variables.podSpec.os.name == 'windows'"},
    {"name": "userNS", "expression": "has(variables.podSpec.hostUsers) && variables.podSpec.hostUsers == false"},
    {"name": "regular", "expression": "has(variables.podSpec.containers) ? variables.podSpec.containers : []"},
    {"name": "allContainers", "expression":
        "variables.regular"
        " + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
        " + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])"},
    {"name": "resourceContainers", "expression":  # the API allows no resources on ephemeral containers
        "variables.regular + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"},
]


def _sc(field_: str) -> str:
    """`c.securityContext.<field>` is set (CEL `has` on an absent parent is an error, so test both)."""
    return f"(has(c.securityContext) && has(c.securityContext.{field_}))"


def _names(filter_expr: str, containers: str = "variables.allContainers") -> str:
    """messageExpression fragment: the names of the offending containers (k8s CEL `join`)."""
    return f"{containers}.filter(c, {filter_expr}).map(c, c.name).join(', ')"


# ---- the translations -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """One check as CEL: `expression` is true when the object is admissible (no finding)."""

    check_id: str
    kinds: tuple[str, ...]
    expression: str
    detail: str  # CEL string: what is wrong with this object, for the message
    variables: list[dict[str, str]] = field(default_factory=list)
    match_conditions: list[dict[str, str]] = field(default_factory=list)
    param: str | None = None
    """The key of the params ConfigMap (`PARAMS_NAME`) whose comma-separated list the CEL reads as
    `params.data[param]`: a list `.kubehipaa.yaml` configures (`PolicyOptions.params`)."""


_PRIV = "(" + _sc("privileged") + " && c.securityContext.privileged == true)"
_CAPS_EXTRA = (
    f"({_sc('capabilities')} && has(c.securityContext.capabilities.add) && "
    "c.securityContext.capabilities.add.exists(a, !(a in ['NET_BIND_SERVICE', ''])))"
)
_NO_DROP_ALL = (
    f"!({_sc('capabilities')} && has(c.securityContext.capabilities.drop) && "
    "'ALL' in c.securityContext.capabilities.drop)"
)
_RUN_AS_NON_ROOT_BAD = (
    f"({_sc('runAsNonRoot')} ? c.securityContext.runAsNonRoot != true : "
    "!(has(variables.podSC.runAsNonRoot) && variables.podSC.runAsNonRoot == true))"
)
_UID0 = f"({_sc('runAsUser')} && type(c.securityContext.runAsUser) == int && c.securityContext.runAsUser == 0)"
_APE_BAD = f"!({_sc('allowPrivilegeEscalation')} && c.securityContext.allowPrivilegeEscalation == false)"
_RO_BAD = f"!({_sc('readOnlyRootFilesystem')} && c.securityContext.readOnlyRootFilesystem == true)"
_SECCOMP_OK = "['RuntimeDefault', 'Localhost']"
_POD_SECCOMP_SET = "(has(variables.podSC.seccompProfile) && has(variables.podSC.seccompProfile.type))"
_CT_SECCOMP_SET = f"({_sc('seccompProfile')} && has(c.securityContext.seccompProfile.type))"
_SECCOMP_BAD = (
    f"({_CT_SECCOMP_SET} ? !(c.securityContext.seccompProfile.type in {_SECCOMP_OK}) : !{_POD_SECCOMP_SET})"
)
_RES_MISSING = (
    "!(has(c.resources) && has(c.resources.requests) && has(c.resources.requests.cpu) && "
    "string(c.resources.requests.cpu) != '' && has(c.resources.requests.memory) && "
    "string(c.resources.requests.memory) != '' && has(c.resources.limits) && has(c.resources.limits.memory) && "
    "string(c.resources.limits.memory) != '')"
)
# An image reference's tag is a ':' after the last '/' and before any '@digest' (OCI grammar; a registry
# port `host:5000/app` is not a tag). RE2 syntax, as Kubernetes' `matches`.
_HAS_DIGEST = "(has(c.image) && c.image.contains('@'))"
_HAS_TAG = "(has(c.image) && c.image.matches('^[^@]*:[^/@]*(@.*)?$'))"
_LATEST = "(has(c.image) && c.image.matches('^[^@]*:latest$'))"
_IMAGE_SET = "(has(c.image) && c.image != '')"

_RULES_ = "(has(object.rules) ? object.rules : [])"
_USER_BAD = (
    "(s.kind == 'User' && !(s.name in ['system:apiserver', 'system:kube-proxy', 'system:kube-controller-manager', "
    "'system:kube-scheduler', 'system:anonymous']) && !s.name.matches('^system:serviceaccount:[^:]+:.+$') "
    "&& !s.name.matches('^system:node:.+$'))"
)
_SUBJECTS = "(has(object.subjects) ? object.subjects : [])"
_NOT_API_SERVER = {
    "name": "not-bootstrap-reconciliation",
    # The API server creates and reconciles the built-in roles and bindings (cluster-admin has '*') as
    # system:apiserver at start-up; the scan exempts the unmodified built-ins, the policy exempts their author.
    "expression": "request.userInfo.username != 'system:apiserver'",
}
_TLS = "(has(object.spec.tls) ? object.spec.tls : [])"
_TLS_HOSTS = f"{_TLS}.exists(t, has(t.hosts) && size(t.hosts) > 0)"
_UNCOVERED = (
    "(has(object.spec.rules) ? object.spec.rules : []).exists(r, has(r.host) && r.host != '' && "
    f"!{_TLS}.exists(t, has(t.hosts) && r.host in t.hosts))"
)

# KH-NET-006 (checks/network.py `_to_world`): an egress ipBlock whose cidr has prefix length 0, in a policy
# that affects egress. The check's second test (more than half of the IPv4 space left once the excepts are
# taken out) can only hold for a /0 cidr (any other IPv4 block holds at most 2**31 addresses), so the verdict is
# the prefix length alone, and `except` entries never change it. The prefix is read from the text after the
# one '/' (the scanner's parser reads it as a decimal number: `/0`, `/00`), not with Kubernetes' `cidr()`:
# that refuses spellings the API server has long admitted in ipBlocks (`010.0.0.0/8`, IPv4-mapped IPv6
# `::ffff:0.0.0.0/0`), and the policy would then error (deny) where the scan reports nothing, or allow a /0 it
# reports.
_NP_SPEC_EGRESS = "(has(object.spec) && has(object.spec.egress) ? object.spec.egress : [])"
_AFFECTS_EGRESS = (  # upstream defaulting of an empty policyTypes: Egress only if the policy has egress rules
    "(has(object.spec) && has(object.spec.policyTypes) && size(object.spec.policyTypes) > 0 ? "
    f"'Egress' in object.spec.policyTypes : size({_NP_SPEC_EGRESS}) > 0)"
)
_WORLD_PEER = "(has(p.ipBlock) && has(p.ipBlock.cidr) && p.ipBlock.cidr.matches('^[^/]+/0+$'))"
_WORLD_RULE = f"(has(r.to) && r.to.exists(p, {_WORLD_PEER}))"

# KH-RBAC-006 (checks/rbac.py `escalation_verbs`): the RBAC authorizer's rule matching (engines/rbac/matching)
# for the eight requests the check asks, each without a subresource and for any name (resourceNames ignored,
# `role_allows_any_name`): a verb equal to the request's or '*', likewise the apiGroup and the resource. With
# no subresource, a `*/<sub>` entry never matches and `roles/x` never covers `roles`, so equality or '*' is the
# whole rule. Aggregated ClusterRoles and roles with a full-wildcard rule (reported by KH-RBAC-001) are skipped.
_ESCALATION_REQUESTS = (
    "[['escalate', 'rbac.authorization.k8s.io', 'roles'], ['escalate', 'rbac.authorization.k8s.io', 'clusterroles'], "
    "['bind', 'rbac.authorization.k8s.io', 'roles'], ['bind', 'rbac.authorization.k8s.io', 'clusterroles'], "
    "['impersonate', '', 'users'], ['impersonate', '', 'groups'], ['impersonate', '', 'serviceaccounts'], "
    "['impersonate', 'authentication.k8s.io', 'uids']]"
)
_RULE_ALLOWS = (
    "(has(r.verbs) && r.verbs.exists(v, v == '*' || v == a[0])) && "
    "(has(r.apiGroups) && r.apiGroups.exists(g, g == '*' || g == a[1])) && "
    "(has(r.resources) && r.resources.exists(x, x == '*' || x == a[2]))"
)
_ALLOWED_ESCALATIONS = f"{_ESCALATION_REQUESTS}.filter(a, {_RULES_}.exists(r, {_RULE_ALLOWS}))"
_FULL_WILDCARD = (
    f"{_RULES_}.exists(r, has(r.verbs) && '*' in r.verbs && has(r.apiGroups) && '*' in r.apiGroups && "
    "has(r.resources) && '*' in r.resources)"
)
_AGGREGATED = "(object.kind == 'ClusterRole' && has(object.aggregationRule) && object.aggregationRule != null)"

# KH-NS-004 (checks/namespaces.py): every label under pod-security.kubernetes.io/ must be one of the six keys
# Pod Security Admission reads, with a level (exact, case-sensitive) or a version (`latest`, `v1.N` without
# leading zeros) it can parse.
_NS_LABELS = "(has(object.metadata.labels) ? object.metadata.labels : {})"
_PSA_KEY = "k.startsWith('pod-security.kubernetes.io/')"
_PSA_BAD = (
    f"({_PSA_KEY} && (!k.matches('^pod-security[.]kubernetes[.]io/(enforce|audit|warn)(-version)?$') || "
    f"type({_NS_LABELS}[k]) != string || "
    f"(k.endsWith('-version') ? !({_NS_LABELS}[k] == 'latest' || "
    f"{_NS_LABELS}[k].matches('^v1[.]([0-9]|[1-9][0-9]*)$')) : "
    f"!({_NS_LABELS}[k] in ['privileged', 'baseline', 'restricted']))))"
)

# The identities of the controllers that create ServiceAccounts by themselves (the `default` account of
# every new namespace): kube-controller-manager with --use-service-account-credentials (kubeadm's default)
# or without. Denying them would leave new namespaces without a default account, so pods there could not be
# created; the scan still reports such an account.
_NOT_SA_CONTROLLER = {
    "name": "not-service-account-controller",
    "expression": "!(request.userInfo.username in ['system:serviceaccount:kube-system:service-account-controller', "
                  "'system:kube-controller-manager'])",
}
# A Secret's type is immutable (API validation), so a service-account-token Secret can only arrive by CREATE;
# leaving UPDATE alone lets the legacy-token cleaner label and the token controller fill the ones that exist.
_ON_CREATE = {"name": "on-create", "expression": "request.operation == 'CREATE'"}

W = tuple(WORKLOAD_RESOURCES)


def _containers_rule(cid: str, bad: str, *, linux_only: bool = False, skip_user_ns: bool = False,
                     containers: str = "variables.allContainers", what: str) -> Translation:
    guard = []
    if linux_only:
        guard.append("variables.windows")
    if skip_user_ns:
        guard.append("variables.userNS")
    body = f"!{containers}.exists(c, {bad})"
    expr = " || ".join([*guard, body]) if guard else body
    return Translation(cid, W, expr, f"'{what}: ' + {_names(bad, containers)}", POD_VARIABLES)


TRANSLATIONS: tuple[Translation, ...] = (
    _containers_rule("KH-WL-001", _PRIV, what="privileged container(s)"),
    Translation("KH-WL-002", W,
                "!['hostNetwork', 'hostPID', 'hostIPC'].exists(f, f in variables.podSpec && "
                "variables.podSpec[f] == true)",
                "'pod sets ' + ['hostNetwork', 'hostPID', 'hostIPC'].filter(f, f in variables.podSpec && "
                "variables.podSpec[f] == true).join(', ')", POD_VARIABLES),
    Translation("KH-WL-003", W,
                "!(has(variables.podSpec.volumes) && variables.podSpec.volumes.exists(v, has(v.hostPath)))",
                "'hostPath volume(s): ' + variables.podSpec.volumes.filter(v, has(v.hostPath))"
                ".map(v, v.name).join(', ')", POD_VARIABLES),
    _containers_rule("KH-WL-004", _CAPS_EXTRA, linux_only=True,
                     what="container(s) adding capabilities beyond NET_BIND_SERVICE"),
    _containers_rule("KH-WL-005", _NO_DROP_ALL, linux_only=True, what="container(s) not dropping ALL"),
    Translation("KH-WL-006", W,
                "variables.userNS || (!(has(variables.podSC.runAsNonRoot) && variables.podSC.runAsNonRoot == false)"
                f" && !variables.allContainers.exists(c, {_RUN_AS_NON_ROOT_BAD}))",
                "'runAsNonRoot not true for: ' + "
                + _names(_RUN_AS_NON_ROOT_BAD) + " + (has(variables.podSC.runAsNonRoot) && "
                "variables.podSC.runAsNonRoot == false ? ' (pod sets false)' : '')", POD_VARIABLES),
    Translation("KH-WL-007", W,
                "variables.userNS || (!(has(variables.podSC.runAsUser) && type(variables.podSC.runAsUser) == int "
                f"&& variables.podSC.runAsUser == 0) && !variables.allContainers.exists(c, {_UID0}))",
                "'runAsUser 0 on the pod or in: ' + " + _names(_UID0), POD_VARIABLES),
    _containers_rule("KH-WL-008", _APE_BAD, linux_only=True,
                     what="allowPrivilegeEscalation not false in"),
    _containers_rule("KH-WL-009", _RO_BAD, linux_only=True, containers="variables.regular",
                     what="writable root filesystem in"),
    Translation("KH-WL-010", W,
                f"variables.windows || (!({_POD_SECCOMP_SET} && !(variables.podSC.seccompProfile.type in "
                f"{_SECCOMP_OK})) && !variables.allContainers.exists(c, {_SECCOMP_BAD}))",
                "'seccomp profile missing or not RuntimeDefault/Localhost (pod or containers: ' + "
                + _names(_SECCOMP_BAD) + " + ')'", POD_VARIABLES),
    _containers_rule("KH-WL-011", _RES_MISSING, containers="variables.resourceContainers",
                     what="container(s) without requests.cpu, requests.memory or limits.memory"),
    Translation("KH-WL-012", W, "request.namespace != 'default'", "'workload in the default namespace'"),
    _containers_rule("KH-IMG-001", f"({_LATEST} && !{_HAS_DIGEST})", what="image tag latest in"),
    _containers_rule("KH-IMG-002", f"({_IMAGE_SET} && !{_HAS_TAG} && !{_HAS_DIGEST})",
                     what="image without tag or digest in"),
    _containers_rule("KH-IMG-003", f"({_IMAGE_SET} && !{_HAS_DIGEST})", what="image not pinned by digest in"),
    Translation("KH-NET-007", ("Service",),
                "!(has(object.spec) && has(object.spec.type) && object.spec.type == 'NodePort')",
                "'Service of type NodePort'"),
    Translation("KH-NET-008", ("Service",),
                "!(has(object.spec) && has(object.spec.type) && object.spec.type == 'LoadBalancer') || "
                "(has(object.spec.loadBalancerSourceRanges) && size(object.spec.loadBalancerSourceRanges) > 0 && "
                "!object.spec.loadBalancerSourceRanges.exists(r, r in ['0.0.0.0/0', '::/0']))",
                "'LoadBalancer accepts connections from any address'"),
    Translation("KH-NET-009", ("Ingress",),
                f"has(object.spec) && size({_TLS}) > 0 && !({_TLS_HOSTS} && {_UNCOVERED})",
                "'Ingress serves hosts without TLS'"),
    Translation("KH-RBAC-001", ("Role", "ClusterRole"),
                f"{_AGGREGATED} || !{_RULES_}.exists(r, "
                "(has(r.verbs) && '*' in r.verbs) || (has(r.apiGroups) && '*' in r.apiGroups) || "
                "(has(r.resources) && '*' in r.resources))",
                "'a rule grants * verbs, apiGroups or resources'", match_conditions=[_NOT_API_SERVER]),
    Translation("KH-RBAC-002", ("RoleBinding", "ClusterRoleBinding"),
                "!(object.roleRef.kind == 'ClusterRole' && object.roleRef.name == 'cluster-admin') && "
                f"!{_SUBJECTS}.exists(s, s.kind == 'Group' && s.name == 'system:masters')",
                "'binds cluster-admin or names group system:masters'", match_conditions=[_NOT_API_SERVER]),
    Translation("KH-RBAC-003", ("RoleBinding", "ClusterRoleBinding"),
                f"!{_SUBJECTS}.exists(s, (s.kind == 'User' && s.name == 'system:anonymous') || "
                "(s.kind == 'Group' && s.name in ['system:unauthenticated', 'system:authenticated']))",
                "'grants anonymous or all authenticated users'", match_conditions=[_NOT_API_SERVER]),
    Translation("KH-RBAC-004", ("RoleBinding", "ClusterRoleBinding"),
                f"!{_SUBJECTS}.exists(s, {_USER_BAD})",
                f"'binds user(s) directly: ' + {_SUBJECTS}.filter(s, {_USER_BAD}).map(s, s.name).join(', ')",
                match_conditions=[_NOT_API_SERVER]),
    Translation("KH-RBAC-006", ("Role", "ClusterRole"),
                f"{_AGGREGATED} || {_FULL_WILDCARD} || size({_ALLOWED_ESCALATIONS}) == 0",
                f"'allows ' + {_ALLOWED_ESCALATIONS}.map(a, a[0] + ' ' + a[2]).join(', ')",
                match_conditions=[_NOT_API_SERVER]),
    Translation("KH-RBAC-010", ("ServiceAccount",),
                "has(object.automountServiceAccountToken) && object.automountServiceAccountToken == false",
                "'automountServiceAccountToken is not false'", match_conditions=[_NOT_SA_CONTROLLER]),
    Translation("KH-RBAC-012", ("Secret",),
                "!(has(object.type) && object.type == 'kubernetes.io/service-account-token')",
                "'a kubernetes.io/service-account-token Secret never expires'", match_conditions=[_ON_CREATE]),
    Translation("KH-NET-006", ("NetworkPolicy",),
                f"!({_AFFECTS_EGRESS} && {_NP_SPEC_EGRESS}.exists(r, {_WORLD_RULE}))",
                f"'egress allowed to ' + {_NP_SPEC_EGRESS}.filter(r, {_WORLD_RULE})"
                f".map(r, r.to.filter(p, {_WORLD_PEER}).map(p, p.ipBlock.cidr).join(', ')).join(', ')"),
    Translation("KH-NS-004", ("Namespace",),
                f"!{_NS_LABELS}.exists(k, {_PSA_BAD})",
                f"'invalid Pod Security label(s): ' + {_NS_LABELS}.filter(k, {_PSA_BAD}).join(', ')"),
)
BY_ID = {t.check_id: t for t in TRANSLATIONS}

NOT_EXPRESSIBLE: dict[str, str] = {
    "KH-RBAC-009": "an expiry in the past is a finding, and admission CEL has no current time (no now(); the "
                   "request carries no timestamp); which bindings are break-glass also comes from the config's "
                   "groups and users. A policy that checked only the annotation's presence and format would "
                   "admit an already-expired binding the scan reports",
    "KH-RBAC-014": "compares with upstream's bootstrap policy (the RBAC engine's content audit)",
    "KH-WL-013": "the control-plane engine's static-Pod classifier (image, binary, flags)",
    "KH-NS-001": "PHI-ness of a namespace comes from the config (names and selector) and the PHI engine",
    "KH-NS-002": "PHI-ness of a namespace comes from the config (names and selector) and the PHI engine",
    "KH-NS-003": "PHI-ness of a namespace comes from the config (names and selector) and the PHI engine",
    "KH-SEC-*": "PHI-shaped values and credentials are recognised by the PHI engine (checksums, entropy, "
                "dictionaries), which CEL cannot express",
    "KH-API-*, KH-KUB-*, KH-AUD-*, KH-ENC-*": "control-plane configuration files (flags, audit policy, "
                                             "encryption config), not API objects: nothing to admit",
}
"""Rules without a policy, and why: a check id or a family (`KH-SEC-*`). The checks that need other objects are
not listed here but in their metadata (`CheckMeta.needs`, passed in by the CLI): see `not_expressible`."""


def not_expressible(cross_object: Mapping[str, str]) -> dict[str, str]:
    """Every rule without a policy, and why: `NOT_EXPRESSIBLE` and the checks that judge an object against
    others (`cross_object`: check id -> reason, from each check's `needs` metadata; generators do not import
    checks), by id, then the families. A check with a translation is left out: its policy decides what one
    object shows (`needs.alone` "subset"), as the webhook does."""
    single = {k: v for k, v in NOT_EXPRESSIBLE.items() if "*" not in k}
    out: dict[str, str] = {}
    for cid in sorted(set(single) | set(cross_object)):
        if cid not in BY_ID:
            out[cid] = "; ".join(why for why in (single.get(cid), cross_object.get(cid)) if why)
    out.update((k, v) for k, v in NOT_EXPRESSIBLE.items() if "*" in k)
    return out


# ---- admission-only rules (judged by the webhook, not by a catalog check) ------------------------------------

REQUIRED_LABELS_PARAM = "requiredLabels"
"""Params key of KH-ADM-001's list (`admission.requiredLabels`)."""

_REQUIRED = {"name": "requiredLabels", "expression":
             f"params.data.{REQUIRED_LABELS_PARAM}.split(',').filter(k, k != '')"}
_LABELS = {"name": "labels", "expression":
           "has(object.metadata.labels) ? object.metadata.labels : {}"}
_MISSING = "variables.requiredLabels.filter(k, !(k in variables.labels))"

ADMISSION_TRANSLATIONS: tuple[Translation, ...] = (
    # pipelines.admission._required_labels: the workload kinds, their own metadata.labels
    Translation("KH-ADM-001", W, f"size({_MISSING}) == 0", f"'missing labels: ' + {_MISSING}.join(', ')",
                [_REQUIRED, _LABELS], param=REQUIRED_LABELS_PARAM),
)
"""Rules of the webhook that are not catalog checks (pipelines/admission.py), as CEL. Their agreement is
with the webhook (`tests/generate/test_admission_bindings.py`), not the scanner, so they are kept out of
`TRANSLATIONS` (whose agreement test runs the scanner). A rule whose list is empty is off, as in the webhook."""


# ---- rendering ------------------------------------------------------------------------------------------------

NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server sets on every Namespace to its name (immutable): selects namespaces by name."""
PARAMS_NAME = f"{PREFIX}-admission-params"
PARAMS_NAMESPACE = "kubehipaa"
ActionLookup = Callable[[bool, str | None], Mapping[str, str]]
"""`(namespace_is_phi, namespace) -> {rule id: "deny" | "warn"}`: `pipelines.admission.admission_actions`
bound to the config (the CLI binds it; generators do not import pipelines)."""


@dataclass(frozen=True)
class PolicyOptions:
    """What `generate admission-policies` was asked for.

    Which action a binding gets: `action` when set (the explicit `--action` override: that action for
    every rule, everywhere); else `actions` (the webhook's table from the `admission:` block, per rule,
    per namespace class); else Deny everywhere (the library default, no config)."""

    action: str | None = None  # deny | warn | None
    phi_only: bool = False
    phi_selector: Mapping[str, str] = field(default_factory=lambda: dict(PHI_LABEL))
    exclude_namespaces: tuple[str, ...] = ("kube-system",)
    actions: ActionLookup | None = None
    phi_namespaces: tuple[str, ...] = ()
    """`phi.namespaces`: PHI by name, whatever their labels."""
    namespace_entries: tuple[str, ...] = ()
    """The names of `admission.namespaces` entries (exact names only; see `options_from_config`)."""
    cluster_scoped_phi: bool = True
    """`admission.clusterScoped`: cluster-scoped objects are judged with the PHI table (else the other)."""
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Configurable lists by params key (`REQUIRED_LABELS_PARAM`); a rule whose list is absent or empty is off."""
    params_namespace: str = PARAMS_NAMESPACE


def options_from_config(config: Config, actions: ActionLookup, **kwargs: Any) -> PolicyOptions:
    """PolicyOptions for a `.kubehipaa.yaml` (`config.Config`): its PHI names and selector, its admission
    tables (`actions`, the webhook's), its per-namespace entries and its lists.

    A per-namespace entry whose name is a glob and that changes a translated rule cannot be expressed: a
    binding selects namespaces by labels, and a label selector matches exact values only. Rather than emit
    bindings whose verdict differs from the webhook's in the namespaces the glob matches, this is an error
    (ConfigError, naming the entry)."""
    import fnmatch

    adm = config.admission
    ids = [t.check_id for t in (*TRANSLATIONS, *ADMISSION_TRANSLATIONS)]
    names: list[str] = []
    for i, entry in enumerate(adm.namespaces):
        if not any(c in entry.namespace for c in "*?["):
            names.append(entry.namespace)
            continue
        touched = sorted({rid for rid in ids for pat in (*entry.deny, *entry.warn, *entry.ignore)
                          if fnmatch.fnmatchcase(rid, pat)})
        if touched and kwargs.get("action") is None:
            raise ConfigError(
                f"{config.where('admission', 'namespaces', i, 'namespace')}: admission.namespaces[{i}] "
                f"{entry.namespace!r} is a name pattern and changes {', '.join(touched)}: a "
                "ValidatingAdmissionPolicyBinding selects namespaces by label, not by name pattern, so the "
                "native policies would disagree with the webhook there; list those namespaces by name (one "
                "entry each), or pass --action to bind every rule with one action")
    return PolicyOptions(
        phi_selector=dict(config.phi.selector), actions=actions, phi_namespaces=tuple(config.phi.namespaces),
        namespace_entries=tuple(dict.fromkeys(names)), cluster_scoped_phi=adm.cluster_scoped == "phi",
        params={REQUIRED_LABELS_PARAM: tuple(adm.required_labels)}, **kwargs)


def cel_string(text: str) -> str:
    """A CEL single-quoted string literal for `text` (JSON escapes are valid CEL escapes)."""
    body = json.dumps(text, ensure_ascii=True)[1:-1].replace("\\\"", "\"").replace("'", "\\'")
    return f"'{body}'"


def policy_name(check_id: str) -> str:
    return f"{PREFIX}-{check_id.lower()}"


def _policy(t: Translation, remediation: str, title: str) -> dict[str, Any]:
    message = f"{t.check_id} {title}. Fix: {remediation}"
    validation: dict[str, Any] = {
        "expression": t.expression,
        "message": message,
        "messageExpression": (
            f"'{t.check_id} ' + object.kind + ' ' + (has(object.metadata.name) ? object.metadata.name : '')"
            f" + ': ' + ({t.detail}) + '. Fix: ' + {cel_string(remediation)}"
        ),
        "reason": "Forbidden",
    }
    spec: dict[str, Any] = {"failurePolicy": "Fail"}
    if t.param:
        spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
    spec["matchConstraints"] = {"resourceRules": _rules(t.kinds)}
    spec["validations"] = [validation]
    if t.match_conditions:
        spec["matchConditions"] = list(t.match_conditions)
    if t.variables:
        spec["variables"] = list(t.variables)
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(t.check_id), "labels": {"kubehipaa.io/check": t.check_id}},
        "spec": spec,
    }


@dataclass(frozen=True)
class _Scope:
    """A class of namespaces (or the cluster scope) that the webhook judges with one action table."""

    suffix: str
    phi: bool
    namespace: str | None  # the namespace passed to the action table (per-namespace entries)
    selector: dict[str, Any] | None  # None: cluster-scoped objects


def _expr(key: str, op: str, values: list[str]) -> dict[str, Any]:
    return {"key": key, "operator": op, "values": values}


def _not_phi_labels(selector: Mapping[str, str]) -> list[list[dict[str, Any]]]:
    """NOT(every PHI label matches) as disjoint label selectors (a selector is a conjunction): the i-th says
    "the first i-1 labels match and label i does not" (`NotIn` also matches an absent label)."""
    items = sorted(selector.items())
    return [[_expr(k, "In", [v]) for k, v in items[:i]] + [_expr(key, "NotIn", [value])]
            for i, (key, value) in enumerate(items)]


def _selector(exprs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"matchExpressions": exprs}


def _scopes(options: PolicyOptions) -> list[_Scope]:
    """The namespace classes the webhook tells apart, as disjoint namespace selectors, plus the cluster scope.

    PHI in the config is "named in phi.namespaces OR carrying every phi.selector label" (Inventory.phi_namespaces);
    a selector cannot say OR, so PHI-by-name and PHI-by-labels are two classes. Each per-namespace entry's
    namespace is its own class (PHI or not), taken out of the general ones."""
    excluded = list(options.exclude_namespaces)
    entries = [n for n in options.namespace_entries if n not in excluded]
    phi_names = [n for n in options.phi_namespaces if n not in excluded]
    labels = dict(options.phi_selector)
    scopes: list[_Scope] = []
    for n in entries:
        slug = n  # a namespace name is a DNS label: valid inside an object name
        if n in phi_names:
            scopes.append(_Scope(f"ns-{slug}", True, n, _selector([_expr(NAME_LABEL, "In", [n])])))
            continue
        if labels:
            scopes.append(_Scope(f"ns-{slug}-phi", True, n, {"matchLabels": labels, **_selector(
                [_expr(NAME_LABEL, "In", [n])])}))
        if not options.phi_only:
            if labels:
                scopes += [_Scope(f"ns-{slug}-other" + (f"-{i + 1}" if i else ""), False, n,
                                  _selector([_expr(NAME_LABEL, "In", [n]), *alt]))
                           for i, alt in enumerate(_not_phi_labels(labels))]
            else:
                scopes.append(_Scope(f"ns-{slug}-other", False, n, _selector([_expr(NAME_LABEL, "In", [n])])))
    named = [n for n in phi_names if n not in entries]
    if named:
        scopes.append(_Scope("phi-named", True, None, _selector([_expr(NAME_LABEL, "In", sorted(set(named)))])))
    rest = sorted(set(excluded) | set(phi_names) | set(entries))
    if labels:
        scopes.append(_Scope("phi", True, None, {"matchLabels": labels,
                                                 **_selector([_expr(NAME_LABEL, "NotIn", rest)])}))
    if not options.phi_only:
        if labels:
            scopes += [_Scope("other" + (f"-{i + 1}" if i else ""), False, None,
                              _selector([_expr(NAME_LABEL, "NotIn", rest), *alt]))
                       for i, alt in enumerate(_not_phi_labels(labels))]
        else:
            scopes.append(_Scope("other", False, None, _selector([_expr(NAME_LABEL, "NotIn", rest)])))
    return scopes


def _action_of(options: PolicyOptions, tables: dict[tuple[bool, str | None], Mapping[str, str]],
               rule: str, phi: bool, namespace: str | None) -> str | None:
    if options.action is not None:
        return options.action
    if options.actions is None:
        return "deny"
    key = (phi, namespace)
    if key not in tables:
        tables[key] = options.actions(phi, namespace)
    return tables[key].get(rule)


def _binding(t: Translation, options: PolicyOptions, action: str, name: str,
             selector: dict[str, Any] | None, kinds: tuple[str, ...] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": policy_name(t.check_id)}
    if t.param:
        spec["paramRef"] = {"name": PARAMS_NAME, "namespace": options.params_namespace,
                            "parameterNotFoundAction": "Deny"}
    spec["validationActions"] = [ACTIONS[action]] + (["Audit"] if action == "deny" else [])
    match: dict[str, Any] = {}
    if selector is not None:
        match["namespaceSelector"] = selector
    if kinds is not None:  # a policy over namespaced and cluster-scoped kinds: this binding takes some of them
        match["resourceRules"] = _rules(kinds)
    if match:
        spec["matchResources"] = match
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": {"kubehipaa.io/check": t.check_id}},
        "spec": spec,
    }


def _bindings(t: Translation, options: PolicyOptions, scopes: list[_Scope],
              tables: dict[tuple[bool, str | None], Mapping[str, str]]) -> list[dict[str, Any]]:
    """The bindings of one rule: one per namespace class with that class's action (none where the rule is
    off). A namespaceSelector does not restrict cluster-scoped objects (upstream matching), so cluster-scoped
    kinds get their own binding (`admission.clusterScoped`) and, in a policy over both, each binding names its
    kinds in matchResources.resourceRules. When every class where the rule is on has the same action and the
    classes where it is off are whole namespaces (an entry ignoring it), one binding does, those names left out."""
    namespaced = tuple(k for k in t.kinds if k not in CLUSTER_SCOPED)
    cluster = tuple(k for k in t.kinds if k in CLUSTER_SCOPED)
    plan: list[tuple[_Scope, str | None]] = []
    if namespaced:
        plan += [(s, _action_of(options, tables, t.check_id, s.phi, s.namespace)) for s in scopes]
    if cluster:
        scope = _Scope("cluster", options.cluster_scoped_phi, None, None)
        plan.append((scope, _action_of(options, tables, t.check_id, scope.phi, None)))
    name = policy_name(t.check_id)
    actions = {a for _, a in plan if a is not None}
    # namespaces where the rule is off in every class (an entry that ignores it): left out by name
    off = {s.namespace for s, a in plan if a is None and s.namespace is not None}
    off -= {s.namespace for s, a in plan if a is not None}
    whole = all(a is not None or (s.namespace in off) for s, a in plan)
    if not options.phi_only and len(actions) == 1 and whole:  # one action wherever the rule is on
        [action] = actions
        selector = (_selector([_expr(NAME_LABEL, "NotIn", [*options.exclude_namespaces, *sorted(o for o in off if o)])])
                    if namespaced else None)
        return [_binding(t, options, action, name, selector, None)]
    live = [(s, a) for s, a in plan if a is not None]
    if cluster and len(live) == 2 and live[0][1] == live[1][1] and live[1][0].selector is None:
        # one namespace class and the cluster scope, same action: the class's selector does not restrict
        # cluster-scoped objects, so one binding covers both
        scope, action = live[0]
        assert action is not None
        return [_binding(t, options, action, f"{name}-{scope.suffix}", scope.selector, None)]
    mixed = bool(namespaced and cluster)
    return [_binding(t, options, action, f"{name}-{s.suffix}", s.selector,
                     (cluster if s.selector is None else namespaced) if mixed else None)
            for s, action in plan if action is not None]


def params_configmap(options: PolicyOptions) -> dict[str, Any]:
    """The ConfigMap the `paramKind` policies read: each configured list, comma-separated (label keys and
    the like contain no comma; the CEL splits on it and drops empty items)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": PARAMS_NAME, "namespace": options.params_namespace,
                     "labels": {"app.kubernetes.io/managed-by": "kubehipaa"}},
        "data": {key: ",".join(values) for key, values in sorted(options.params.items()) if values},
    }


def _enabled(options: PolicyOptions) -> list[Translation]:
    """The translations to emit: every catalog one, and the admission-only ones whose list is configured."""
    return [*TRANSLATIONS, *(t for t in ADMISSION_TRANSLATIONS if t.param is None or options.params.get(t.param))]


def admission_policies(options: PolicyOptions, meta: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy per translated check, its bindings, and the params ConfigMap when a policy
    reads one.

    `meta` is check id -> (title, remediation), from the check registry (generators do not import checks).
    With `phi_only`, only PHI namespaces are bound; cluster-scoped kinds (ClusterRole, ClusterRoleBinding) are
    judged all the same (they have no namespace to select): with the `admission.clusterScoped` table."""
    if options.action is not None and options.action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}")
    scopes = _scopes(options)
    tables: dict[tuple[bool, str | None], Mapping[str, str]] = {}
    docs: list[dict[str, Any]] = []
    with_params = False
    for t in _enabled(options):
        bindings = _bindings(t, options, scopes, tables)
        if not bindings:
            continue  # switched off (`ignore`) everywhere: no policy either
        title, remediation = meta.get(t.check_id, (t.check_id, "see `kubehipaa checks show " + t.check_id + "`"))
        docs.append(_policy(t, remediation, title))
        docs += bindings
        with_params = with_params or t.param is not None
    if with_params:
        docs.append(params_configmap(options))
    return docs


def header_lines(options: PolicyOptions, cross_object: Mapping[str, str]) -> list[str]:
    """The output's comment header: what is enforced, how, and which rules are not (and why; `cross_object` as
    for `not_expressible`)."""
    if options.action is not None:
        how = f"Action: {ACTIONS[options.action]} for every policy (--action overrides the admission: block)"
    elif options.actions is not None:
        how = ("Actions: per rule from the admission: block of .kubehipaa.yaml, the webhook's table "
               "(Deny bindings also Audit); a rule the config ignores has no binding there")
    else:
        how = "Action: Deny for every policy"
    scope = (f"only PHI namespaces (labelled {dict(options.phi_selector)}"
             + (f" or named {', '.join(options.phi_namespaces)}" if options.phi_namespaces else "") + ")"
             if options.phi_only else f"every namespace except {', '.join(options.exclude_namespaces)}")
    lines = [
        "ValidatingAdmissionPolicies generated by kubehipaa (admissionregistration.k8s.io/v1, Kubernetes >= 1.30).",
        f"{how}; {scope}; cluster-scoped kinds with the "
        f"{'PHI' if options.cluster_scoped_phi else 'non-PHI'} table (admission.clusterScoped).",
        "Bindings per rule: <policy>-phi (PHI labels), -phi-named (phi.namespaces), -other (the rest), "
        "-ns-<name>[-phi|-other] (an admission.namespaces entry), -cluster; one <policy> binding when the "
        "action is the same wherever the rule is on (namespaces whose entry ignores it left out by name).",
        "A namespace PHI by its labels is judged PHI here, as by the webhook of `kubehipaa generate webhook` "
        "(its /validate/phi webhook selects the same labels).",
        "Policies: " + ", ".join(t.check_id for t in _enabled(options)),
    ]
    if any(t.param for t in _enabled(options)):
        lines.append(f"Params: ConfigMap {options.params_namespace}/{PARAMS_NAME} holds the configured lists "
                     "(requiredLabels); create that namespace first; a missing ConfigMap denies "
                     "(parameterNotFoundAction: Deny).")
    lines += [
        "Test offline before applying: kubehipaa admission test THIS-FILE ./manifests",
        "Not expressible in CEL (enforce with `kubehipaa serve admission` or scan):",
    ]
    lines += [f"  {cid}: {why}" for cid, why in not_expressible(cross_object).items()]
    return lines
