"""RBAC checks (KH-RBAC-NNN), all decided by the RBAC engine so the scan and `kubehipaa rbac` never disagree.

Objects the API server creates itself are not reported: they are the platform's defaults, not the cluster
owner's choices. Which objects those are is decided by name AND content against upstream's bootstrap policy
(engines/rbac/defaults.py), never by the `kubernetes.io/bootstrapping` label, which anyone can set. A built-in
that was modified, or a look-alike carrying the label, is reported by KH-RBAC-014 and judged by every other
check like any object, its messages saying "(modified built-in)".

Every check reads the engine's index from the Inventory (`inv.rbac`, built once; a malformed Role or binding
is left out of it and named as skipped input).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

from kubehipaa.checks._pods import MIRROR_POD_ANNOTATION
from kubehipaa.checks.registry import Hit, Needs, check
from kubehipaa.engines.rbac import (
    ANONYMOUS,
    BREAK_GLASS_MARK,
    CLUSTER_SCOPED,
    EXPIRES_ANNOTATION,
    Binding,
    BuiltinAudit,
    PolicyRule,
    RiskHit,
    Role,
    binding_grants,
    builtin_audit,
    builtin_risk_rules,
    component_user,
    evaluate_risks,
    request_attributes,
    role_allows_any_name,
    rule_allows,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "rbac"
ACCESS = ("164.312(a)(1)", "164.308(a)(4)(ii)(B)")
ACCESS_MOD = ("164.312(a)(1)", "164.308(a)(4)(ii)(C)")


BINDINGS = ("RoleBinding", "ClusterRoleBinding")
BUILTIN_BINDING = Needs(
    ("Role", "ClusterRole"),
    "a built-in binding is exempt only while the role it names is unmodified (another object)",
    alone="subset", kinds=BINDINGS,
)
"""The binding checks judge every binding but an unmodified built-in, and a built-in binding of a modified role
is not one (engines/rbac/defaults.BuiltinAudit): alone, such a binding is exempt; its role can only add findings.
(Not KH-RBAC-004: the only users a built-in binding may name are the components', which it never reports.)"""


def _obj(x: Role | Binding) -> K8sObject:
    obj = x.origin.obj
    assert isinstance(obj, K8sObject)
    return obj


MODIFIED_BUILTIN = "modified built-in"


def _audit(inv: Inventory) -> BuiltinAudit:
    return builtin_audit(inv.rbac)


def _roles(inv: Inventory) -> Iterator[Role]:
    """Input roles the checks judge: all but unmodified built-ins."""
    audit = _audit(inv)
    for role in inv.rbac.roles.values():
        if isinstance(role.origin.obj, K8sObject) and not audit.exempt(role):
            yield role


def _bindings(inv: Inventory) -> Iterator[Binding]:
    """Input bindings the checks judge: all but unmodified built-ins (of unmodified roles)."""
    audit = _audit(inv)
    for b in inv.rbac.bindings:
        if isinstance(b.origin.obj, K8sObject) and not audit.exempt(b):
            yield b


def _name(inv: Inventory, x: Role | Binding) -> str:
    """How a finding names the object; a tampered built-in or look-alike says so, so a reviewer sees that a
    platform default was changed."""
    return f"{x.display} ({MODIFIED_BUILTIN})" if _audit(inv).verdict(x).modified else x.display


def is_full_wildcard(role: Role | None) -> bool:
    """Every verb on every resource of every group: reported once by KH-RBAC-001/002, not again per power."""
    return role is not None and any(
        "*" in r.verbs and "*" in r.api_groups and "*" in r.resources for r in role.rules
    )


def _scope_ns(b: Binding) -> str | None:
    return b.namespace or None


def _subjects(b: Binding) -> str:
    return ", ".join(b.effective_subject(s).display for s in b.subjects) or "no subjects"


@check(
    id="KH-RBAC-001", title="RBAC rule uses wildcards", area=AREA, severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH, hipaa=ACCESS, cis=("5.1.3",),
    remediation="List the verbs, apiGroups and resources the workload needs instead of '*'.",
    description="A '*' grants every current and future verb or resource, including ones added by CRDs later; "
    "minimum necessary access cannot be shown for a wildcard.",
)
def wildcard_rules(inv: Inventory) -> Iterator[Hit]:
    for role in _roles(inv):
        if role.aggregation_selectors is not None:
            continue  # rules are computed from other roles, reported there
        for i, rule in enumerate(role.rules):
            if "*" in rule.verbs and "*" in rule.api_groups and "*" in rule.resources:
                scope = f"namespace {role.namespace}" if role.namespace else "its scope"
                yield Hit(_obj(role), f"{_name(inv, role)} grants every verb on every resource: admin of "
                          f"{scope}, including escalate, bind and impersonate", path=f"rules[{i}]",
                          value=rule.to_dict())
                continue
            for field, values in (("verbs", rule.verbs), ("apiGroups", rule.api_groups),
                                  ("resources", rule.resources)):
                if "*" in values:
                    yield Hit(_obj(role), f"{_name(inv, role)} grants '*' {field}",
                              path=f"rules[{i}].{field}", value=list(values))
                    break


@check(
    id="KH-RBAC-002", title="Binding grants cluster-admin or system:masters", area=AREA,
    severity=Severity.HIGH, phi_severity=Severity.CRITICAL, hipaa=ACCESS, cis=("5.1.1", "5.1.7"),
    remediation="Bind a narrower role; keep cluster-admin for a break-glass group with an expiry.",
    description="cluster-admin (and membership of system:masters, which no RBAC rule can restrict) allows "
    "reading every Secret and all PHI in the cluster.",
    needs=BUILTIN_BINDING,
)
def cluster_admin_bindings(inv: Inventory) -> Iterator[Hit]:
    for b in _bindings(inv):
        if b.role_ref.kind == "ClusterRole" and b.role_ref.name == "cluster-admin":
            yield Hit(_obj(b), f"{_name(inv, b)} binds cluster-admin to "
                      + ", ".join(b.effective_subject(s).display for s in b.subjects),
                      path="roleRef.name", value="cluster-admin", namespace=_scope_ns(b))
            continue
        for i, s in enumerate(b.subjects):
            if s.kind == "Group" and s.name == "system:masters":
                yield Hit(_obj(b), f"{_name(inv, b)} names group system:masters", path=f"subjects[{i}]",
                          value=s.to_dict(), namespace=_scope_ns(b))


ANONYMOUS_SUBJECTS = {
    ("User", "system:anonymous"): Severity.CRITICAL,
    ("Group", "system:unauthenticated"): Severity.CRITICAL,
    ("Group", "system:authenticated"): Severity.HIGH,
}


@check(
    id="KH-RBAC-003", title="Binding grants anonymous or all authenticated users", area=AREA,
    severity=Severity.HIGH, hipaa=("164.312(a)(1)", "164.312(d)"), cis=("5.1.1",),
    remediation="Bind named groups or service accounts instead of system:anonymous, system:unauthenticated "
    "or system:authenticated.",
    description="system:anonymous and system:unauthenticated reach anyone who can connect; "
    "system:authenticated includes every service account of every namespace.",
    needs=BUILTIN_BINDING,
)
def anonymous_bindings(inv: Inventory) -> Iterator[Hit]:
    for b in _bindings(inv):
        for i, s in enumerate(b.subjects):
            sev = ANONYMOUS_SUBJECTS.get((s.kind, s.name))
            if sev is not None:
                yield Hit(_obj(b), f"{_name(inv, b)} grants {b.role_ref.kind} {b.role_ref.name} to "
                          f"{s.display}", path=f"subjects[{i}]", value=s.to_dict(), severity=sev,
                          namespace=_scope_ns(b))


@check(
    id="KH-RBAC-004", title="Binding names individual users instead of a group", area=AREA,
    severity=Severity.LOW, hipaa=("164.308(a)(4)(ii)(C)", "164.308(a)(3)(ii)(C)"),
    remediation="Bind a group from your identity provider; manage membership there so leavers lose access.",
    description="Per-user bindings are missed when people change roles or leave (termination procedures); "
    "group bindings follow the identity provider.",
)
def user_subjects(inv: Inventory) -> Iterator[Hit]:
    for b in _bindings(inv):
        users = [(i, s) for i, s in enumerate(b.subjects)
                 if s.kind == "User" and not component_user(s.name) and s.name != ANONYMOUS]
        if users:
            names = ", ".join(s.name for _, s in users)
            yield Hit(_obj(b), f"{_name(inv, b)} binds user(s) {names} directly",
                      path=f"subjects[{users[0][0]}]", value=[s.name for _, s in users], namespace=_scope_ns(b))


@check(
    id="KH-RBAC-005", title="Read access to all Secrets of a namespace or the cluster", area=AREA,
    severity=Severity.MEDIUM, phi_severity=Severity.HIGH, hipaa=(*ACCESS, "164.312(a)(2)(iv)"),
    cis=("5.1.2",),
    remediation="Restrict get to named Secrets with resourceNames; avoid list and watch on secrets.",
    description="list/watch (and unnamed get) on secrets returns every credential in scope, including tokens "
    "of more privileged service accounts and database passwords for PHI stores.",
    # Alone, the role is known when it is a built-in (the RBAC engine's bootstrap policy); a finding then holds
    # while the cluster's built-in still grants what Kubernetes ships (the API server restores it at every start
    # unless it is annotated rbac.authorization.kubernetes.io/autoupdate: "false").
    needs=Needs(("Role", "ClusterRole"), "reported on the binding but decided by the bound Role's rules (another "
                "object)", alone="subset", kinds=BINDINGS),
)
def secret_readers(inv: Inventory) -> Iterator[Hit]:
    idx = inv.rbac
    for b in _bindings(inv):
        role = idx.role_for(b)
        if role is None or is_full_wildcard(role):
            continue
        verbs = []
        for verb in ("get", "list", "watch"):
            attrs = request_attributes(verb, "secrets", b.namespace, as_request=False)
            if any(rule_allows(attrs, r) for r in role.rules):
                verbs.append(verb)
        if verbs:
            scope = f"namespace {b.namespace}" if b.namespace else "all namespaces"
            yield Hit(_obj(b), f"{_name(inv, b)} lets {_subjects(b)} {'/'.join(verbs)} every Secret in "
                      f"{scope}",
                      path="roleRef", value={"kind": b.role_ref.kind, "name": b.role_ref.name},
                      severity=None if b.namespace else Severity.HIGH, namespace=_scope_ns(b))


ESCALATION_REQUESTS = [
    request_attributes(verb, target, as_request=False)
    for verb, target in (
        ("escalate", "roles"), ("escalate", "clusterroles"), ("bind", "roles"), ("bind", "clusterroles"),
        ("impersonate", "users"), ("impersonate", "groups"), ("impersonate", "serviceaccounts"),
        ("impersonate", "uids.authentication.k8s.io"),
    )
]


@check(
    id="KH-RBAC-006", title="Role allows escalate, bind or impersonate", area=AREA, severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL, hipaa=ACCESS_MOD, cis=("5.1.8",),
    remediation="Remove escalate/bind/impersonate; if a controller needs bind, limit it with resourceNames.",
    description="escalate and bind let an identity grant itself roles it does not hold; impersonate lets it act "
    "as any user or group, system:masters included.",
)
def escalation_verbs(inv: Inventory) -> Iterator[Hit]:
    for role in _roles(inv):
        if role.aggregation_selectors is not None or is_full_wildcard(role):
            continue
        found = [a for a in ESCALATION_REQUESTS if role_allows_any_name(role, a)]
        if found:
            what = ", ".join(f"{a.verb} {a.resource}" for a in found)
            idx = next(i for i, r in enumerate(role.rules)
                       if any(rule_allows(a, replace(r, resource_names=())) for a in found))
            yield Hit(_obj(role), f"{_name(inv, role)} allows {what}", path=f"rules[{idx}]",
                      value=role.rules[idx].to_dict())


INTERACTIVE_REQUESTS = [
    request_attributes(verb, f"pods/{sub}", as_request=False)
    for sub in ("exec", "attach", "portforward")
    for verb in ("create", "get")
]


@check(
    id="KH-RBAC-007", title="Exec, attach or port-forward allowed in a PHI namespace", area=AREA,
    severity=Severity.HIGH, hipaa=(*ACCESS, "164.312(b)"), cis=("5.1.4",),
    remediation="Remove pods/exec, pods/attach and pods/portforward from roles bound in PHI namespaces; use a "
    "time-boxed break-glass binding for incident work.",
    description="An interactive session in a PHI workload reads patient data and mounted credentials directly, "
    "outside the application's own access logging. get on these subresources suffices over websockets.",
    needs=Needs(("Role", "ClusterRole", "Namespace"), "needs the bound Role and whether the namespace holds PHI "
                "(namespace labels)", alone="subset", kinds=BINDINGS),
)
def interactive_access_phi(inv: Inventory) -> Iterator[Hit]:
    phi = sorted(inv.phi_namespaces)
    if not phi:
        return
    idx = inv.rbac
    for b in _bindings(inv):
        if (b.namespace and b.namespace not in phi) or is_full_wildcard(idx.role_for(b)):
            continue
        found = sorted({f"{a.verb} pods/{a.subresource}" for a in INTERACTIVE_REQUESTS
                       if binding_grants(idx, b, a)})
        if found:
            where = f"PHI namespace {b.namespace}" if b.namespace else "every namespace, PHI ones included"
            yield Hit(_obj(b), f"{_name(inv, b)} lets {_subjects(b)} {', '.join(found)} in {where}",
                      path="roleRef", value={"kind": b.role_ref.kind, "name": b.role_ref.name},
                      namespace=b.namespace or phi[0])


def _rule_touches_cluster_scope(rule: PolicyRule) -> bool:
    if rule.non_resource_urls:
        return True
    for res in rule.resources:
        base = res.split("/", 1)[0]
        if base == "*":
            return True
        for group, cluster_res in CLUSTER_SCOPED:
            if cluster_res == base and (group in rule.api_groups or "*" in rule.api_groups):
                return True
    return False


@check(
    id="KH-RBAC-008", title="ClusterRoleBinding where a RoleBinding would do", area=AREA,
    severity=Severity.MEDIUM, hipaa=ACCESS, cis=("5.1.1",),
    remediation="Grant the ClusterRole with RoleBindings in the namespaces that need it.",
    description="The role only covers namespaced resources, yet the ClusterRoleBinding grants it in every "
    "namespace, PHI namespaces included.",
    # Not "subset": the role's rules decide by their absence (no rule touching cluster-scoped resources), and
    # the aggregated rules of a built-in ClusterRole can differ in the cluster.
    needs=Needs(("ClusterRole",), "needs the bound ClusterRole's rules (does any touch cluster-scoped resources)",
                kinds=("ClusterRoleBinding",)),
)
def cluster_binding_for_namespaced_role(inv: Inventory) -> Iterator[Hit]:
    idx = inv.rbac
    for b in _bindings(inv):
        if b.namespace or b.role_ref.name == "cluster-admin":
            continue
        role = idx.role_for(b)
        if role is None or not role.rules or any(_rule_touches_cluster_scope(r) for r in role.rules):
            continue
        yield Hit(_obj(b), f"{_name(inv, b)} grants {_name(inv, role)}, which only covers namespaced resources, "
                  "in every namespace", path="roleRef", value={"kind": b.role_ref.kind, "name": b.role_ref.name})


def parse_expiry(text: str) -> dt.datetime | None:
    """`2026-12-01` (end of that day, UTC) or an RFC 3339 timestamp; None if unreadable."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def is_break_glass(inv: Inventory, b: Binding) -> bool:
    marks = dict(b.annotations) | dict(b.labels)
    if marks.get(BREAK_GLASS_MARK, "").lower() == "true":
        return True
    cfg = inv.config.break_glass
    return any((s.kind == "Group" and s.name in cfg.groups) or (s.kind == "User" and s.name in cfg.users)
               for s in b.subjects)


@check(
    id="KH-RBAC-009", title="Break-glass or temporary binding without a valid expiry", area=AREA,
    severity=Severity.HIGH, hipaa=("164.312(a)(2)(ii)", "164.308(a)(4)(ii)(C)"),
    remediation=f"Annotate emergency bindings with {EXPIRES_ANNOTATION}: <date> and delete them when it passes.",
    description="Emergency access must be time-boxed; a forgotten break-glass binding is standing privileged "
    "access to PHI.",
    needs=BUILTIN_BINDING,
)
def break_glass_expiry(inv: Inventory) -> Iterator[Hit]:
    now = dt.datetime.now(dt.UTC)
    for b in _bindings(inv):
        annotations = dict(b.annotations)
        raw = annotations.get(EXPIRES_ANNOTATION)
        path = f"metadata.annotations.{EXPIRES_ANNOTATION}"
        if raw is None:
            if is_break_glass(inv, b):
                yield Hit(_obj(b), f"break-glass {_name(inv, b)} has no {EXPIRES_ANNOTATION} annotation",
                          path=path, namespace=_scope_ns(b))
            continue
        when = parse_expiry(raw)
        if when is None:
            yield Hit(_obj(b), f"{_name(inv, b)}: {EXPIRES_ANNOTATION} {raw!r} is not a date", path=path,
                      value=raw, namespace=_scope_ns(b))
        elif when < now:
            yield Hit(_obj(b), f"{_name(inv, b)} expired on {raw} and still grants {b.role_ref.kind} "
                      f"{b.role_ref.name}", path=path, value=raw, namespace=_scope_ns(b))


def _automount(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


@check(
    id="KH-RBAC-010", title="ServiceAccount automounts its API token", area=AREA, severity=Severity.LOW,
    phi_severity=Severity.MEDIUM, hipaa=("164.312(a)(1)", "164.312(d)"), cis=("5.1.5", "5.1.6"),
    remediation="Set automountServiceAccountToken: false on the ServiceAccount; mount a token only in pods "
    "that call the API.",
    description="Every pod using this account gets an API token on disk; a compromised container can then "
    "use the account's RBAC permissions.",
)
def service_account_automount(inv: Inventory) -> Iterator[Hit]:
    for sa in inv.of_kind("ServiceAccount"):
        if _automount(sa.doc.get("automountServiceAccountToken")) is not False:
            yield Hit(sa, f"ServiceAccount {sa.namespace or 'default'}/{sa.name} automounts API tokens",
                      path="automountServiceAccountToken", value=sa.doc.get("automountServiceAccountToken"))


@check(
    id="KH-RBAC-011", title="Pod automounts a service-account API token", area=AREA, severity=Severity.LOW,
    phi_severity=Severity.MEDIUM, hipaa=("164.312(a)(1)", "164.312(d)"), cis=("5.1.6",),
    remediation="Set automountServiceAccountToken: false in the pod spec (or on its ServiceAccount) unless the "
    "pod calls the Kubernetes API.",
    description="The pod-level field wins over the ServiceAccount's; when both are unset the token is mounted.",
    needs=Needs(("ServiceAccount",), "needs the pod's ServiceAccount (its automountServiceAccountToken)"),
)
def pod_automount(inv: Inventory) -> Iterator[Hit]:
    for ref in inv.pod_specs:
        if ref.owner.kind == "Pod" and (
            MIRROR_POD_ANNOTATION in ref.owner.annotations or inv.control_plane.is_exempt(ref.owner)
        ):
            # Never gets a token: the ServiceAccount admission plugin leaves a Pod carrying the mirror-pod
            # annotation alone (and forbids it a service account), and a control-plane static Pod (judged by
            # its content, not its labels) becomes exactly such a mirror Pod.
            continue
        pod_level = _automount(ref.spec.get("automountServiceAccountToken"))
        if pod_level is False:
            continue
        sa_name = str(ref.spec.get("serviceAccountName") or ref.spec.get("serviceAccount") or "default")
        if pod_level is None:
            sa = inv.get("ServiceAccount", ref.owner.namespace, sa_name)
            if sa is None and not ref.owner.namespace:
                sa = inv.get("ServiceAccount", "default", sa_name)
            if sa is not None and _automount(sa.doc.get("automountServiceAccountToken")) is False:
                continue
        why = "set to true" if pod_level else f"unset and ServiceAccount {sa_name} does not disable it"
        yield Hit(ref.owner, f"{ref.owner.kind} {ref.owner.name} mounts an API token ({why})",
                  path=f"{ref.path}.automountServiceAccountToken", value=pod_level)


@check(
    id="KH-RBAC-012", title="Legacy long-lived service-account token Secret", area=AREA,
    severity=Severity.MEDIUM, phi_severity=Severity.HIGH, hipaa=("164.312(d)", "164.312(a)(1)"),
    cis=("5.1.6",),
    remediation="Delete the Secret and use projected, short-lived tokens (TokenRequest) instead.",
    description="kubernetes.io/service-account-token Secrets never expire and are readable by anyone who can "
    "read Secrets in the namespace.",
)
def legacy_token_secrets(inv: Inventory) -> Iterator[Hit]:
    for sec in inv.of_kind("Secret"):
        if sec.doc.get("type") == "kubernetes.io/service-account-token":
            owner = sec.annotations.get("kubernetes.io/service-account.name", "?")
            yield Hit(sec, f"Secret {sec.namespace or 'default'}/{sec.name} is a non-expiring token for "
                      f"ServiceAccount {owner}", path="type", value="kubernetes.io/service-account-token")


@check(
    id="KH-RBAC-013", title="Risky RBAC grant (risk-rule catalog)", area=AREA, severity=Severity.MEDIUM,
    hipaa=ACCESS_MOD,
    cis=("5.1.4", "5.1.9", "5.1.10", "5.1.11", "5.1.12", "5.1.13"),
    remediation="Remove the grant or limit it with resourceNames to what the subject needs; see "
    "`kubehipaa rbac escalation` for where it leads.",
    description="Rules from the RBAC risk catalog (engines/rbac/risk_rules.yaml) not already reported by another "
    "check: pod and workload creation, nodes/proxy, token creation, CSR approval, admission webhooks, "
    "binding patches, aggregate-to labels, bindings to missing roles or service accounts. Severity comes "
    "from the catalog, one level higher where the grant reaches a PHI namespace or kube-system.",
    # Bindings: a binding to a role or service account the input lacks is itself a finding (RR-014, RR-015), so
    # alone every binding to a custom Role would fire. A ClusterRole's aggregate-to labels (RR-013) are its own.
    needs=Needs(("Role", "ClusterRole", "ServiceAccount"), "needs the role a binding names and the namespace's "
                "ServiceAccounts (the risk catalog reports bindings to missing ones)", kinds=BINDINGS),
)
def risk_catalog(inv: Inventory) -> Iterator[Hit]:
    idx = inv.rbac
    rules = [r for r in builtin_risk_rules() if r.covered_by is None]
    grouped: dict[int, list[RiskHit]] = {}
    for h in evaluate_risks(idx, inv.phi_namespaces, rules):
        target = h.binding or h.role
        if target is None or not isinstance(target.origin.obj, K8sObject):
            continue
        if h.binding is not None and h.rule.kind == "permission" and is_full_wildcard(idx.role_for(h.binding)):
            continue  # admin-equivalent grants are reported by KH-RBAC-001/002
        grouped.setdefault(id(target), []).append(h)
    for hits in grouped.values():
        target = hits[0].binding or hits[0].role
        assert target is not None
        parts = [f"{h.rule.id} {h.message}" for h in hits]
        tag = f" ({MODIFIED_BUILTIN}: {target.display})" if _audit(inv).verdict(target).modified else ""
        yield Hit(target.origin.obj, "; ".join(parts) + tag,
                  path="roleRef" if hits[0].binding else "metadata.labels",
                  value=[h.rule.id for h in hits], severity=max(h.severity for h in hits),
                  namespace=target.namespace or None)


@check(
    id="KH-RBAC-014", title="Modified or look-alike built-in RBAC object", area=AREA, severity=Severity.HIGH,
    hipaa=ACCESS_MOD,
    remediation="Restore the built-in object (delete it: the API server recreates Kubernetes' defaults at "
    "start when rbac.authorization.kubernetes.io/autoupdate is true), or rename a custom object and drop the "
    "kubernetes.io/bootstrapping label from it; grant extra permissions through your own roles and bindings.",
    description="An object named like one of Kubernetes' built-in Roles, ClusterRoles or bindings whose content "
    "grants more than the built-in (an extra rule or subject, another roleRef, an aggregate-to label), or any "
    "object carrying the kubernetes.io/bootstrapping=rbac-defaults label that is not a built-in. Reviewers "
    "skip platform defaults, so a tampered default is where a backdoor hides; such objects are also judged "
    "by every other RBAC check.",
    needs=Needs(("Role", "ClusterRole"), "a built-in binding counts as modified when the role it names is "
                "(another object)", alone="subset", kinds=BINDINGS),
)
def modified_builtins(inv: Inventory) -> Iterator[Hit]:
    idx = inv.rbac
    audit = _audit(inv)
    roles = [r for r in idx.roles.values() if isinstance(r.origin.obj, K8sObject)]
    bindings = [b for b in idx.bindings if isinstance(b.origin.obj, K8sObject)]
    for x, verdict in audit.modified([*roles, *bindings]):
        first = verdict.differences[0]
        yield Hit(_obj(x), f"{MODIFIED_BUILTIN}: {x.display} " + "; ".join(d.text for d in verdict.differences),
                  path=first.path, namespace=x.namespace or None)
