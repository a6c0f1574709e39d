"""`generate namespace`: a HIPAA-ready baseline for one namespace, as data.

The baseline is what our own checks ask of a namespace that holds PHI, written down once: Pod Security
`restricted` enforced, audited and warned at a pinned version (KH-NS-001..003), default-deny ingress and
egress with DNS and named CIDRs as the only ways out (KH-NET-001/003), the quarantine policy in place before an
incident (KH-NET-005), Roles separated by duty and bound to groups (KH-RBAC-004/005/007/013), service
accounts that do not mount API tokens (KH-RBAC-010), and a LimitRange and ResourceQuota (KH-WL-011, KH-NET-007/
008). Each object comes with the comment lines a reviewer reads: which HIPAA paragraph it serves and why.

Pure: `namespace_baseline` returns `(comments, object)` pairs; `reports.manifests.commented_manifests` renders
them. The quarantine policy is `respond.quarantine.policy_body`, the very object `respond quarantine` looks
for; a generator may not import `respond` (docs/architecture.md), so the caller passes that builder in.

People get no standing right to create workloads (RR-006: a new pod runs as any service account of the
namespace and mounts any of its Secrets), to exec into pods (RR-005/KH-RBAC-007) or to read Secret values
(RR-002): changes to workloads go through the deployment pipeline's identity, incidents through a break-glass
binding with an expiry (`generate break-glass`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.config import DEFAULT_PHI_LABEL
from kubehipaa.engines.pss import MAX_MINOR
from kubehipaa.errors import InputError

MIN_MINOR = 25
"""Oldest Kubernetes minor we pin to: Pod Security admission is GA (and its labels honoured) since v1.25."""
PSA_LEVEL = "restricted"
PSA_PREFIX = "pod-security.kubernetes.io/"
PART_OF = {"app.kubernetes.io/part-of": "kubehipaa-baseline"}
RBAC_API = "rbac.authorization.k8s.io"
NETPOL_API = "networking.k8s.io/v1"
WORKLOAD_SA = "workload"
DEFAULT_DENY = "default-deny-all"
DNS_POLICY = "allow-dns-egress"
ROLE_OPERATIONS = "kubehipaa-operations"
ROLE_SECURITY = "kubehipaa-security-review"
ROLE_APP_SUPPORT = "kubehipaa-app-support"
READ = ["get", "list", "watch"]
WORKLOADS = ["deployments", "statefulsets", "daemonsets", "replicasets"]
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
RESERVED = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_BROAD_GROUPS = ("system:",)
"""Groups the API server assigns (system:authenticated, system:masters, system:serviceaccounts...): binding a
duty role to one grants it to a whole class of identities (KH-RBAC-002/003), never to the people of a duty."""

LIMIT_DEFAULTS = {"cpu": "500m", "memory": "512Mi"}
LIMIT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
LIMIT_MAX = {"cpu": "4", "memory": "8Gi"}
QUOTA = {"pods": "50", "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi",
         "persistentvolumeclaims": "20", "requests.storage": "500Gi",
         "services.nodeports": "0", "services.loadbalancers": "0"}
"""Sizes for a typical clinical application; edit them to the namespace's capacity plan. NodePorts and
LoadBalancers are 0: traffic to PHI enters through an Ingress with TLS, not a port on every node (KH-NET-007/008)."""

Item = tuple[list[str], dict[str, Any]]
QuarantineBuilder = Callable[[str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class NamespaceOptions:
    """What `generate namespace` was asked for; `validate()` refuses what would make a weaker baseline."""

    name: str
    phi: bool = True
    team: Sequence[str] = ()
    ops_groups: Sequence[str] = ()
    security_groups: Sequence[str] = ()
    egress_cidrs: Sequence[str] = ()
    allow_secrets: Sequence[str] = ()
    k8s_minor: int = MAX_MINOR
    phi_label: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PHI_LABEL))


def parse_k8s_version(text: str) -> int:
    """`1.30`, `v1.30` or `1.30.2` -> 30, within the versions we pin to (MIN_MINOR..MAX_MINOR)."""
    match = re.fullmatch(r"v?1\.(0|[1-9][0-9]*)(?:\.[0-9]+)?", text.strip())
    if not match:
        raise InputError(f"--k8s-version {text!r}: give a Kubernetes version such as 1.{MAX_MINOR}")
    minor = int(match.group(1))
    if not MIN_MINOR <= minor <= MAX_MINOR:
        raise InputError(f"--k8s-version {text!r}: supported are 1.{MIN_MINOR} to 1.{MAX_MINOR} (Pod Security "
                         f"admission is GA from 1.{MIN_MINOR}; the Pod Security engine knows up to 1.{MAX_MINOR})")
    return minor


def parse_cidr(text: str) -> str:
    """A canonical CIDR (`10.20.0.0/16`, `fd00::/8`), refusing host bits, bare addresses and 'anywhere'."""
    value = text  # not stripped: the CIDR is written as given, so what is checked is what is emitted
    if "/" not in value:
        raise InputError(f"--egress-cidr {text!r}: give a network with its prefix length, e.g. 10.20.0.0/16")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InputError(f"--egress-cidr {text!r} is not a valid CIDR (e.g. 10.20.0.0/16)") from None
    if str(net) != value:
        raise InputError(f"--egress-cidr {text!r} is not in canonical form: did you mean {net}?")
    if net.prefixlen == 0:
        raise InputError(f"--egress-cidr {text!r} allows egress anywhere, which undoes the default deny: name the "
                         "networks PHI workloads may reach")
    return value


def _check_group(flag: str, group: str) -> None:
    # isprintable() also refuses U+0085/U+2028/U+2029, which YAML reads as line breaks: a group name is echoed
    # in the comment lines, where a line break would start a line of YAML of the group's choosing
    if not group.strip() or group != group.strip() or not group.isprintable():
        raise InputError(f"{flag} {group!r}: give the name of a group from your identity provider")
    if group.startswith(_BROAD_GROUPS):
        raise InputError(f"{flag} {group!r}: a system: group is assigned by the API server to a whole class of "
                         "identities; bind duties to a group of people from your identity provider")


def validate(opts: NamespaceOptions) -> None:
    """One InputError line for the first problem: invalid names, CIDRs, groups or version."""
    if not _DNS_LABEL.fullmatch(opts.name) or len(opts.name) > 63:
        raise InputError(f"namespace {opts.name!r} is not a valid namespace name (at most 63 lowercase letters, "
                         "digits and '-', starting and ending with a letter or digit)")
    if opts.name in RESERVED:
        raise InputError(f"namespace {opts.name!r} is one of Kubernetes' own namespaces: give a namespace of "
                         "your application (restricted Pod Security and default deny would break system pods)")
    for flag, groups in (("--team", opts.team), ("--ops-group", opts.ops_groups),
                         ("--security-group", opts.security_groups)):
        for group in groups:
            _check_group(flag, group)
    for cidr in opts.egress_cidrs:
        parse_cidr(cidr)
    for secret in opts.allow_secrets:
        if not _DNS_SUBDOMAIN.fullmatch(secret) or len(secret) > 253:
            raise InputError(f"--allow-secret {secret!r} is not a valid Secret name")
    if not MIN_MINOR <= opts.k8s_minor <= MAX_MINOR:
        raise InputError(f"Kubernetes 1.{opts.k8s_minor} is not supported (1.{MIN_MINOR} to 1.{MAX_MINOR})")


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _meta(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(PART_OF)}


def namespace_object(opts: NamespaceOptions) -> dict[str, Any]:
    """The Namespace: Pod Security `restricted` enforced, audited and warned, each pinned to one version."""
    version = f"v1.{opts.k8s_minor}"
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"{PSA_PREFIX}{mode}"] = PSA_LEVEL
        labels[f"{PSA_PREFIX}{mode}-version"] = version
    if opts.phi:
        labels.update(opts.phi_label)
    labels.update(PART_OF)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opts.name, "labels": labels}}


def _netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": NETPOL_API, "kind": "NetworkPolicy", "metadata": _meta(name, namespace), "spec": spec}


def default_deny(namespace: str) -> dict[str, Any]:
    """Every pod isolated in both directions; the other policies add the allowed flows (policies are unions)."""
    return _netpol(DEFAULT_DENY, namespace, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def dns_egress(namespace: str) -> dict[str, Any]:
    """Egress to the cluster DNS only: kube-system's kube-dns pods (CoreDNS keeps that label), UDP and TCP 53."""
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return _netpol(DNS_POLICY, namespace, {"podSelector": {}, "policyTypes": ["Egress"],
                                           "egress": [{"to": [peer], "ports": ports}]})


def egress_policy_names(cidrs: Sequence[str]) -> dict[str, str]:
    """`allow-egress-10-20-0-0-16`: the CIDR in the name, so each allowed destination is one reviewable object.
    Every separator becomes '-' ('::' stays visible as '--'); where two CIDRs would still share a name (an
    IPv4-mapped IPv6 network written with dots), the later one gets -2, -3...: two policies of one name would
    silently replace each other on apply."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for cidr in _unique(cidrs):
        base = "allow-egress-" + re.sub(r"[.:/]", "-", cidr.lower())
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        names[cidr] = name
    return names


def cidr_egress(namespace: str, cidr: str, name: str) -> dict[str, Any]:
    return _netpol(name, namespace, {"podSelector": {}, "policyTypes": ["Egress"],
                                     "egress": [{"to": [{"ipBlock": {"cidr": cidr}}]}]})


def _rule(group: str, resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict[str, Any]:
    # fresh lists per rule: a list shared between rules would be rendered as a YAML anchor and alias
    rule: dict[str, Any] = {"apiGroups": [group], "resources": list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    rule["verbs"] = list(verbs)
    return rule


def _role(name: str, namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "Role", "metadata": _meta(name, namespace), "rules": rules}


def operations_role(namespace: str) -> dict[str, Any]:
    """Run what is deployed: read workloads, logs and events, scale, restart pods, clean up Jobs. No create or
    template change of workloads (the pipeline's job, RR-006), no exec/attach/port-forward, no Secret reads."""
    return _role(ROLE_OPERATIONS, namespace, [
        _rule("", ["pods", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events",
                   "serviceaccounts", "limitranges", "resourcequotas"], READ),
        _rule("", ["pods/log"], ["get"]),
        _rule("", ["pods"], ["delete"]),
        _rule("apps", WORKLOADS, READ),
        _rule("apps", [f"{w}/scale" for w in ("deployments", "statefulsets", "replicasets")],
              ["get", "update", "patch"]),
        _rule("batch", ["jobs", "cronjobs"], READ),
        _rule("batch", ["jobs"], ["delete"]),
        _rule("autoscaling", ["horizontalpodautoscalers"], READ),
        _rule("policy", ["poddisruptionbudgets"], READ),
        _rule("events.k8s.io", ["events"], READ),
    ])


def security_role(namespace: str) -> dict[str, Any]:
    """Review, never change: the namespace's workloads, events, RBAC, network policies and limits, read-only.
    No Secret values (their names and types are in the scan), no pod logs (they may carry PHI)."""
    return _role(ROLE_SECURITY, namespace, [
        _rule("", ["pods", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events",
                   "serviceaccounts", "limitranges", "resourcequotas"], READ),
        _rule("apps", WORKLOADS, READ),
        _rule("batch", ["jobs", "cronjobs"], READ),
        _rule(RBAC_API, ["roles", "rolebindings"], READ),
        _rule("networking.k8s.io", ["networkpolicies", "ingresses"], READ),
        _rule("policy", ["poddisruptionbudgets"], READ),
        _rule("autoscaling", ["horizontalpodautoscalers"], READ),
        _rule("events.k8s.io", ["events"], READ),
    ])


def app_support_role(namespace: str, allow_secrets: Sequence[str] = ()) -> dict[str, Any]:
    """Diagnose the application: workloads, pods, logs and events, read-only; `get` on exactly the Secrets
    named (resourceNames), never list or watch, which would return every Secret's value."""
    rules = [
        _rule("", ["pods", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events"], READ),
        _rule("", ["pods/log"], ["get"]),
        _rule("apps", WORKLOADS, READ),
        _rule("batch", ["jobs", "cronjobs"], READ),
        _rule("events.k8s.io", ["events"], READ),
    ]
    if allow_secrets:
        rules.append(_rule("", ["secrets"], ["get"], _unique(allow_secrets)))
    return _role(ROLE_APP_SUPPORT, namespace, rules)


def role_binding(role: str, namespace: str, groups: Sequence[str]) -> dict[str, Any]:
    """The role to groups only: membership is managed (and revoked) in the identity provider."""
    return {"apiVersion": f"{RBAC_API}/v1", "kind": "RoleBinding", "metadata": _meta(role, namespace),
            "subjects": [{"apiGroup": RBAC_API, "kind": "Group", "name": g} for g in _unique(groups)],
            "roleRef": {"apiGroup": RBAC_API, "kind": "Role", "name": role}}


def service_account(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace),
            "automountServiceAccountToken": False}


def limit_range(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": _meta("default-limits", namespace),
            "spec": {"limits": [{"type": "Container", "default": dict(LIMIT_DEFAULTS),
                                 "defaultRequest": dict(LIMIT_REQUESTS), "max": dict(LIMIT_MAX)}]}}


def resource_quota(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta("namespace-quota", namespace),
            "spec": {"hard": dict(QUOTA)}}


def namespace_baseline(opts: NamespaceOptions, quarantine: QuarantineBuilder) -> list[Item]:
    """The baseline's objects in apply order, each with its comment lines. `quarantine(namespace)` builds the
    quarantine policy (`respond.quarantine.policy_body`)."""
    validate(opts)
    ns = opts.name
    phi = "holds PHI" if opts.phi else "is not labelled as holding PHI (--no-phi)"
    items: list[Item] = [([
        f"Namespace {ns}: {phi}; Pod Security 'restricted' enforced, audited and warned, pinned to v1.{opts.k8s_minor}.",
        "HIPAA 164.312(a)(1) Access control; 164.308(a)(1)(ii)(B) Risk management: admission rejects privileged,",
        "root and host-access pods that could reach other workloads' ePHI or the node; the pinned version keeps the",
        "rules from changing silently on a cluster upgrade (raise it after testing).",
        *(["HIPAA 164.308(a)(1)(ii)(A) Risk analysis: the PHI label marks where ePHI lives, so scans rate this",
           "namespace's findings at PHI severity."] if opts.phi else []),
    ], namespace_object(opts))]
    items.append(([
        "Default deny: every pod isolated for ingress and egress; the policies below are the only allowed flows.",
        "HIPAA 164.312(a)(1) Access control; 164.312(e)(1) Transmission security: ePHI moves only on flows someone",
        "declared and can review; a compromised pod cannot reach other namespaces or the internet.",
    ], default_deny(ns)))
    items.append(([
        "DNS: egress to kube-system's kube-dns pods on UDP/TCP 53 only, so workloads can resolve Service names.",
        "HIPAA 164.312(e)(1) Transmission security: name resolution without opening egress to any other address.",
    ], dns_egress(ns)))
    for cidr, policy in egress_policy_names(opts.egress_cidrs).items():
        items.append(([
            f"Egress allow-list: pods may connect to {cidr} (--egress-cidr), on any port.",
            "HIPAA 164.312(e)(1) Transmission security; 164.308(b)(1) Business associate contracts: each destination",
            "outside the namespace is one named, reviewable object (a database, a business associate's endpoint).",
            "List it in .kubehipaa.yaml under egress.allowed_cidrs too, or scans report PHI pods reaching it (KH-NET-003).",
        ], cidr_egress(ns, cidr, policy)))
    items.append(([
        "Quarantine: denies all traffic of pods labelled quarantine=true; `kubehipaa respond quarantine` labels a",
        "suspect pod, and the pod is isolated the moment it is labelled, kept running for forensics.",
        "HIPAA 164.308(a)(6)(ii) Response and reporting: containment is ready before the incident.",
    ], quarantine(ns)))
    items.append(([
        "Role operations: run what is deployed: read workloads, logs and events; scale; restart pods; delete Jobs.",
        "No create or template change of workloads (the deployment pipeline does that), no exec, no Secret reads.",
        "HIPAA 164.308(a)(4)(ii)(B) Access authorization; 164.308(a)(3)(ii)(A) Authorization and/or supervision:",
        "the operations duty gets what it needs and no path to ePHI (minimum necessary).",
    ], operations_role(ns)))
    items.append(([
        "Role security review: read-only on workloads, events, RBAC, network policies and limits of the namespace.",
        "No Secret values and no pod logs (they may carry ePHI).",
        "HIPAA 164.308(a)(1)(ii)(D) Information system activity review; 164.308(a)(8) Evaluation: the security",
        "duty can verify the controls without being able to change them (separation of duties).",
    ], security_role(ns)))
    secrets = ", ".join(_unique(opts.allow_secrets))
    items.append(([
        "Role application support: read-only on workloads, pods, logs and events.",
        (f"get on exactly these Secrets (--allow-secret): {secrets}; never list or watch." if secrets
         else "No Secrets (--allow-secret NAME grants get on one named Secret)."),
        "HIPAA 164.308(a)(4)(ii)(B) Access authorization; 164.312(a)(1) Access control: support diagnoses the",
        "application without standing access to its credentials.",
    ], app_support_role(ns, opts.allow_secrets)))
    for role, groups, flag in ((ROLE_OPERATIONS, opts.ops_groups, "--ops-group"),
                               (ROLE_SECURITY, opts.security_groups, "--security-group"),
                               (ROLE_APP_SUPPORT, opts.team, "--team")):
        if groups:
            items.append(([
                f"{role} bound to group(s) {', '.join(_unique(groups))} ({flag}); groups, never individual users.",
                "HIPAA 164.308(a)(4)(ii)(C) Access establishment and modification; 164.308(a)(3)(ii)(C) Termination",
                "procedures: access follows group membership in the identity provider, so removing a person there",
                "revokes it here; people keep their own identities (164.312(a)(2)(i)) in the audit log.",
            ], role_binding(role, ns, groups)))
    items.append(([
        f"ServiceAccount {WORKLOAD_SA}: for the application's pods (serviceAccountName: {WORKLOAD_SA}); no API token",
        "is mounted. A pod that really calls the API sets automountServiceAccountToken: true itself, with a Role.",
        "HIPAA 164.312(a)(1) Access control: a compromised container finds no credential for the Kubernetes API.",
    ], service_account(WORKLOAD_SA, ns)))
    items.append(([
        "ServiceAccount default: exists in every namespace and is used by pods that name none; applying this turns",
        "its token mount off too. HIPAA 164.312(a)(1) Access control.",
    ], service_account("default", ns)))
    items.append(([
        "LimitRange: default requests and limits for containers that set none, and a per-container maximum.",
        "HIPAA 164.308(a)(7)(ii)(C) Emergency mode operation plan; 164.308(a)(1)(ii)(B) Risk management: one",
        "runaway or compromised pod cannot starve the workloads that keep ePHI available.",
    ], limit_range(ns)))
    items.append(([
        "ResourceQuota: the namespace's share of the cluster; no NodePort or LoadBalancer Services (traffic to",
        "ePHI enters through an Ingress with TLS). Edit the sizes to the namespace's capacity plan.",
        "HIPAA 164.308(a)(7)(ii)(C) Emergency mode operation plan; 164.312(e)(1) Transmission security.",
    ], resource_quota(ns)))
    return items


def header(opts: NamespaceOptions) -> list[str]:
    """The file's opening comment: what it is and how to check it."""
    unbound = [flag for groups, flag in ((opts.ops_groups, "--ops-group"), (opts.security_groups, "--security-group"),
                                         (opts.team, "--team")) if not groups]
    lines = [f"kubehipaa generate namespace {opts.name}: a HIPAA-ready baseline (45 CFR 164.3xx cited per object).",
             "Apply: kubectl apply -f FILE    Verify: kubehipaa scan FILE",
             f"Pinned to Kubernetes v1.{opts.k8s_minor} (Pod Security version); requires a CNI that enforces "
             "NetworkPolicy."]
    if unbound:
        lines.append("Roles without a binding (give " + ", ".join(unbound) + " GROUP to bind them).")
    if opts.egress_cidrs:
        lines.append("Declare the allowed egress in .kubehipaa.yaml: egress: {allowed_cidrs: ["
                     + ", ".join(f'"{c}"' for c in _unique(opts.egress_cidrs)) + "]}")
    return lines
