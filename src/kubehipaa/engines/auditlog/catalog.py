"""The built-in audit-log detections.

Each rule is a `Rule` record: id, title, severity, HIPAA paragraphs, the matching logic in words (shown by
`kubehipaa audit rules list` and docs/audit-log.md), and a function `(event, config) -> message | None`.
Windowed rules use the function as the per-event predicate and carry a `Window` that says how matches are
counted. `refs` name the upstream detections a rule corresponds to (Falco k8s_audit rules, Panther rule
ids, SigmaHQ titles); the conformance test uses them.

Shared exclusion (`expected_platform_action`): a control-plane identity (a `system:`/`eks:`/`aks:` user or a
service account of a system namespace) acting cluster-wide or inside a system namespace is the platform
managing itself, and most rules skip it.

Messages never carry secrets or PHI: text built from structured user data is redacted here, where its structure
is known (an exec command with `redaction.redact_argv`, a request URI with `redaction.redact_uri`, PHI in
bodies as fixed masks); everything else an alert carries is redacted when it leaves (`Alert.to_dict`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kubehipaa.engines.auditlog import podspec as ps
from kubehipaa.engines.auditlog.exec_commands import critical_reason
from kubehipaa.engines.auditlog.phi_scan import scan_bodies
from kubehipaa.engines.auditlog.rules import (
    ANONYMOUS_USER,
    SYSTEM_NAMESPACES,
    UNAUTHENTICATED_GROUP,
    DetectorConfig,
    Rule,
    Window,
    expected_platform_action,
    is_cloud_health_checker,
    is_control_plane,
    is_human,
    is_public_ip,
    succeeded,
)
from kubehipaa.frameworks.rules import RuleError, validate
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_argv, redact_uri

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.event import AuditEvent

# HIPAA Security Rule paragraphs the detections cite (validated against frameworks/hipaa.yaml at registration).
# Over-broad grants and reads that the Privacy Rule's minimum-necessary standard (164.502(b)) is about are cited
# by their Security Rule counterparts: access authorization, activity review, access control.
AUDIT = "164.312(b)"
REVIEW = "164.308(a)(1)(ii)(D)"
LOGIN = "164.308(a)(5)(ii)(C)"
ACCESS = "164.312(a)(1)"
AUTHZ = "164.308(a)(4)(ii)(B)"
MODIFY = "164.308(a)(4)(ii)(C)"
AUTHN = "164.312(d)"
INTEGRITY = "164.312(c)(1)"
TRANSMISSION = "164.312(e)(1)"
EMERGENCY = "164.312(a)(2)(ii)"
INCIDENT = "164.308(a)(6)(ii)"
ENCRYPTION = "164.312(a)(2)(iv)"

RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
READ_VERBS = ("get", "list", "watch")
CRITICAL_ROLES = frozenset(
    {"cluster-admin", "admin", "edit", "system:masters", "system:kube-controller-manager",
     "system:kube-scheduler", "system:node", "system:aggregate-to-admin", "system:aggregate-to-edit"}
)
NAMESPACE_ADMIN_ROLES = frozenset({"cluster-admin", "admin", "edit"})
EXPECTED_SYSTEM_ROLE_CHANGES = frozenset({"system:coredns", "system:managed-certificate-controller"})
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
CREDENTIAL_MARKERS = (
    "aws_access_key_id", "aws-access-key-id", "aws_s3_access_key_id", "aws-s3-access-key-id",
    "aws_secret_access_key", "password", "passphrase", "private key-----", "client_secret", "api_key",
)
TOKEN_PATHS = ("/var/run/secrets/", "/run/secrets/", "/var/run/secrets/kubernetes.io/serviceaccount")
SUSPICIOUS_COMMAND = re.compile(
    r"(?:^|[\s/;|&'\"(])(?:curl|wget|nc|ncat|netcat|socat|nmap|base64\s+-d|python[0-9.]*\s+-c|perl\s+-e|"
    r"ruby\s+-e|php\s+-r|nsenter|chroot|mount|insmod|modprobe|apt-get|apt|apk|yum|dnf|pip[0-9]?\s+install|"
    r"chmod\s+\+?[0-7]*x|xmrig|crontab|ssh-keygen|/dev/tcp/|mkfifo|psql|mysql|mongo|mongodump|pg_dump|"
    r"mysqldump|redis-cli|kubectl|history\s+-c|shred|unset\s+HISTFILE)(?:$|[\s;|&'\")])",
    re.IGNORECASE,
)
"""Commands that download, tunnel, escalate, tamper with history, or pull data out of databases."""

RULES: list[Rule] = []


def _add(rule: Rule) -> Rule:
    """Register a detection; its metadata is validated here (`frameworks.rules.validate`)."""
    validate(rule.meta)
    if any(r.id == rule.id for r in RULES):
        raise RuleError(f"{rule.id}: duplicate audit-log rule id")
    RULES.append(rule)
    return rule


def _body(ev: AuditEvent) -> dict[str, Any]:
    b = ev.request_object
    return b if isinstance(b, dict) else {}


# ---------------------------------------------------------------------------------------------------- RBAC


def _rbac_changed(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev):
        return None
    if ev.verb in ("update", "patch") and is_control_plane(ev.username):
        return None  # controllers reconcile aggregated ClusterRoles continuously
    return f"{ev.username or '?'} {ev.verb} {ev.resource} {ev.name or ''}".rstrip()


_add(Rule(
    "KH-AUDLOG-001", "RBAC object created, changed or deleted", Severity.LOW, (AUDIT, MODIFY, REVIEW),
    "Successful create/update/patch/delete/deletecollection of roles, clusterroles, rolebindings or "
    "clusterrolebindings; updates by control-plane identities (aggregation controller) are skipped.",
    _rbac_changed, resources=RBAC_RESOURCES, verbs=WRITE_VERBS,
    refs=("falco:K8s Role/Clusterrole Created", "falco:K8s Role/Clusterrole Deleted",
          "falco:K8s Role/Clusterrolebinding Created", "falco:K8s Role/Clusterrolebinding Deleted",
          "sigma:Kubernetes Rolebinding Modification"),
))


def _critical_binding(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    role = ps.role_ref_name(_body(ev))
    if role in CRITICAL_ROLES:
        return f"ClusterRoleBinding {ev.name or '?'} grants {role!r} (by {ev.username or '?'})"
    return None


_add(Rule(
    "KH-AUDLOG-002", "ClusterRoleBinding to cluster-admin or another critical role", Severity.CRITICAL,
    (ACCESS, AUTHZ, MODIFY),
    "Critical because the subject gets every permission on every namespace's ePHI, cluster-wide: "
    "create/update/patch of a clusterrolebinding whose requestObject.roleRef.name is cluster-admin, admin, "
    "edit, system:masters, system:kube-controller-manager, system:kube-scheduler, system:node or an "
    "aggregate-to-admin/edit role; needs Request level for RBAC in the audit policy.",
    _critical_binding, resources=("clusterrolebindings",), verbs=("create", "update", "patch"),
    refs=("falco:Attach to cluster-admin Role", "panther:Kubernetes.ClusterRoleBinding.Privileged"),
))


def _critical_rolebinding(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    role = ps.role_ref_name(_body(ev))
    if role in NAMESPACE_ADMIN_ROLES:
        return f"RoleBinding {ev.namespace}/{ev.name or '?'} grants {role!r} in the namespace (by {ev.username or '?'})"
    return None


_add(Rule(
    "KH-AUDLOG-009", "RoleBinding grants cluster-admin, admin or edit in a namespace", Severity.HIGH,
    (ACCESS, AUTHZ, MODIFY),
    "create/update/patch of a rolebinding whose requestObject.roleRef.name is cluster-admin, admin or edit: "
    "full control of every object (and secret) in that namespace; needs Request level for RBAC.",
    _critical_rolebinding, resources=("rolebindings",), verbs=("create", "update", "patch"),
))


def _role_created(check: str) -> Any:
    def match(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
        if not succeeded(ev) or expected_platform_action(ev):
            return None
        rules = ps.role_rules(_body(ev))
        what = _ROLE_CHECKS[check](rules)
        if what:
            return f"{ev.resource[:-1]} {ev.name or '?'} {what} (by {ev.username or '?'})"
        return None

    return match


def _wildcard(rules: list[dict[str, list[str]]]) -> str | None:
    for r in rules:
        if "*" in r["resources"] or "*" in r["verbs"]:
            return "grants '*' resources or verbs"
    return None


def _secrets_read(rules: list[dict[str, list[str]]]) -> str | None:
    return "can read secrets" if ps.rule_grants(rules, "secrets", {"get", "list", "watch"}) else None


def _pod_exec(rules: list[dict[str, list[str]]]) -> str | None:
    for sub in ("pods/exec", "pods/attach"):
        if ps.rule_grants(rules, sub, {"create", "get"}):
            return f"grants {sub}"
    return None


def _node_proxy(rules: list[dict[str, list[str]]]) -> str | None:
    if ps.rule_grants(rules, "nodes/proxy", {"get", "create", "update", "patch", "delete"}):
        return "grants nodes/proxy (kubelet API)"
    return None


def _writes(rules: list[dict[str, list[str]]]) -> str | None:
    for r in rules:
        verbs = set(r["verbs"])
        hit = verbs & {"create", "update", "patch", "delete", "deletecollection"}
        if hit:
            return f"grants write verbs {sorted(hit)}"
    return None


_ROLE_CHECKS = {"wildcard": _wildcard, "secrets": _secrets_read, "exec": _pod_exec, "proxy": _node_proxy,
                "write": _writes}
_ROLE_KINDS = ("roles", "clusterroles")

_add(Rule(
    "KH-AUDLOG-003", "Role or ClusterRole with wildcard permissions created", Severity.HIGH,
    (ACCESS, AUTHZ, MODIFY),
    "Successful create of a role/clusterrole whose rules list '*' in resources or verbs (apiGroups '*' alone "
    "does not count); control-plane identities in system scope are skipped.",
    _role_created("wildcard"), resources=_ROLE_KINDS, verbs=("create",),
    refs=("falco:ClusterRole With Wildcard Created", "panther:Kubernetes.Role.Wildcard"),
))
_add(Rule(
    "KH-AUDLOG-004", "Role or ClusterRole that can read secrets created", Severity.MEDIUM,
    (ACCESS, AUTHZ),
    "Successful create of a role/clusterrole with a rule granting get, list, watch or '*' on secrets "
    "(or on '*' resources).",
    _role_created("secrets"), resources=_ROLE_KINDS, verbs=("create",),
))
_add(Rule(
    "KH-AUDLOG-005", "Role or ClusterRole granting pod exec/attach created", Severity.MEDIUM,
    (ACCESS, AUTHZ),
    "Successful create of a role/clusterrole granting create or get on pods/exec or pods/attach (also via "
    "pods/* or '*' resources, as the RBAC authorizer matches them).",
    _role_created("exec"), resources=_ROLE_KINDS, verbs=("create",),
    refs=("falco:ClusterRole With Pod Exec Created", "panther:Kubernetes.Role.PodExec"),
))
_add(Rule(
    "KH-AUDLOG-006", "Role or ClusterRole granting nodes/proxy created", Severity.HIGH, (ACCESS,),
    "Successful create of a role/clusterrole granting nodes/proxy (also via nodes/* or '*' resources): "
    "direct kubelet API access, bypassing API-server authorization and audit of the pods it reaches.",
    _role_created("proxy"), resources=_ROLE_KINDS, verbs=("create",),
    refs=("panther:Kubernetes.Role.NodeProxyPermissions",),
))
_add(Rule(
    "KH-AUDLOG-007", "Role or ClusterRole with write permissions created", Severity.LOW, (ACCESS, MODIFY),
    "Successful create of a role/clusterrole with any of create, update, patch, delete, deletecollection.",
    _role_created("write"), resources=_ROLE_KINDS, verbs=("create",),
    refs=("falco:ClusterRole With Write Privileges Created", "panther:Kubernetes.Role.WritePermissions"),
))


def _system_role(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    name = ev.name
    if not name.startswith("system:") or name in EXPECTED_SYSTEM_ROLE_CHANGES:
        return None
    if not succeeded(ev) or is_control_plane(ev.username):
        return None
    return f"{ev.username or '?'} {ev.verb} built-in {ev.resource[:-1]} {name}"


_add(Rule(
    "KH-AUDLOG-008", "Built-in system: role modified or deleted", Severity.HIGH, (INTEGRITY, ACCESS, MODIFY),
    "Successful update/patch/delete of a role/clusterrole named system:* (except system:coredns and "
    "system:managed-certificate-controller) by an identity that is not a control-plane component.",
    _system_role, resources=_ROLE_KINDS, verbs=("update", "patch", "delete"),
    refs=("falco:System ClusterRole Modified/Deleted", "panther:Kubernetes.SystemRole.Modified"),
))

# ------------------------------------------------------------------------------------------ authentication


def _unauthorized(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.code == 401:
        return f"401 Unauthorized {ev.verb or '?'} {ev.object_display} from {ev.source_ip or '?'}"
    return None


def _forbidden(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.code == 403 or ev.decision == "forbid":
        return f"403 Forbidden: {ev.username or '?'} {ev.verb or '?'} {ev.object_display}"
    return None


def _auth_failure(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    code = ev.code
    if code in (401, 403) or ev.decision == "forbid":
        return "denied"
    return None


def _auth_failure_by_user(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    # Rejected credentials (401) carry no user: those are counted per source IP only, so unrelated clients
    # are never lumped together under an empty name.
    return _auth_failure(ev, cfg) if ev.username else None


def _public_forbidden(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.code == 403 and is_public_ip(ev.source_ip):
        return "403 from a public address"
    return None


_add(Rule(
    "KH-AUDLOG-010", "Unauthenticated (401) request", Severity.LOW, (LOGIN, AUTHN),
    "responseStatus.code == 401: credentials missing, expired or rejected.",
    _unauthorized, gate="failure",
))
_add(Rule(
    "KH-AUDLOG-011", "Forbidden (403) request", Severity.LOW, (LOGIN, ACCESS),
    "responseStatus.code == 403 or authorization decision 'forbid'.",
    _forbidden, gate="failure", refs=("sigma:Kubernetes Unauthorized or Unauthenticated Access",),
))
_add(Rule(
    "KH-AUDLOG-012", "Repeated authentication/authorization failures by one user", Severity.MEDIUM,
    (LOGIN, INCIDENT),
    "At least failure_threshold (10) requests answered 401/403 for the same (named) user within "
    "failure_window_s (600 s); one alert per burst.",
    _auth_failure_by_user, gate="failure",
    window=Window("failure_window_s", "failure_threshold", key=lambda ev: ev.username, key_label="user"),
))
_add(Rule(
    "KH-AUDLOG-013", "Repeated authentication/authorization failures from one source IP", Severity.MEDIUM,
    (LOGIN, INCIDENT),
    "At least failure_threshold (10) requests answered 401/403 from the same source IP (last of sourceIPs) "
    "within failure_window_s (600 s); one alert per burst.",
    _auth_failure, gate="failure",
    window=Window("failure_window_s", "failure_threshold", key=lambda ev: ev.source_ip or "(no IP)",
                  key_label="source IP"),
))
_add(Rule(
    "KH-AUDLOG-014", "Repeated forbidden requests from a public IP address", Severity.HIGH, (LOGIN, INCIDENT),
    "Per-event: code 403 and the source IP is a public (globally routable) address. Alert when "
    "public_forbidden_threshold (10) such events share the source IP within 1800 s.",
    _public_forbidden, gate="failure",
    window=Window("public_forbidden_window_s", "public_forbidden_threshold", key=lambda ev: ev.source_ip,
                  key_label="source IP"),
    refs=("panther:Kubernetes.API.Multiple403.PublicIP", "panther:Amazon.EKS.Audit.Multiple403"),
))


def _is_anonymous(ev: AuditEvent) -> bool:
    return ev.username == ANONYMOUS_USER or UNAUTHENTICATED_GROUP in ev.groups


def _health(uri: str) -> bool:
    path = uri.split("?", 1)[0]
    return any(path == h or path.startswith(h + "/") for h in HEALTH_PATHS)


def _anonymous_allowed(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not _is_anonymous(ev) or _health(ev.requestURI or ""):
        return None
    if ev.allowed:
        return f"anonymous {ev.verb or 'request'} {ev.object_display} was allowed"
    return None


def _anonymous_remote(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not _is_anonymous(ev):
        return None
    ip = ev.source_ip
    if ip in ("127.0.0.1", "::1") or not ip:
        return None
    public = is_public_ip(ip)
    if _health(ev.requestURI or "") and not public:
        return None  # load-balancer and kubelet probes from inside the VPC
    if is_cloud_health_checker(ip):
        return None
    target = redact_uri(ev.requestURI) if ev.requestURI else ev.object_display
    return f"anonymous request {target} from {ip} ({ev.outcome})"


_add(Rule(
    "KH-AUDLOG-015", "Anonymous request allowed", Severity.HIGH, (AUTHN, ACCESS, LOGIN),
    "user system:anonymous (or group system:unauthenticated), allowed (decision allow, or no decision and "
    "a 1xx-3xx code), and the URI is not a health endpoint (/healthz, /livez, /readyz).",
    _anonymous_allowed, gate="anonymous", refs=("falco:Anonymous Request Allowed",),
))
_add(Rule(
    "KH-AUDLOG-016", "Anonymous request reached the API server", Severity.MEDIUM, (AUTHN, LOGIN),
    "Any anonymous request (allowed or not) except from loopback, from the documented Google Cloud "
    "load-balancer health-check ranges (35.191.0.0/16, 130.211.0.0/22), and health endpoints probed from "
    "a private address (load balancers, kubelet).",
    _anonymous_remote, gate="anonymous",
    refs=("panther:Kubernetes.API.AnonymousAccess", "panther:Amazon.EKS.AnonymousAPIAccess"),
))


def _impersonation(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    imp = ev.impersonatedUser
    if imp is None:
        return None
    groups = ",".join(imp.groups or [])
    suffix = f" (groups {groups})" if groups else ""
    return f"{ev.username or '?'} acted as {imp.username or '?'}{suffix}: {ev.verb or '?'} {ev.object_display}"


_add(Rule(
    "KH-AUDLOG-017", "Impersonation used", Severity.MEDIUM, (AUTHN, ACCESS, REVIEW),
    "The event has impersonatedUser: the request was made with Impersonate-User/Group headers.",
    _impersonation, gate="impersonation",
))


PRIVILEGED_USERS = frozenset({"system:admin"})
"""Users that hold cluster-admin by convention (system:admin: the superuser name of loopback/admin kubeconfigs)."""
PRIVILEGED_GROUPS = frozenset({"system:masters", "kubeadm:cluster-admins"})
"""Groups that hold cluster-admin whatever RBAC says (system:masters bypasses authorization in the API server) or
by the installer's own binding (kubeadm binds kubeadm:cluster-admins to cluster-admin since v1.29)."""


def _privileged_impersonation(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    imp = ev.impersonatedUser
    if imp is None:
        return None
    hits = [f"user {imp.username}"] if imp.username in PRIVILEGED_USERS else []
    hits += [f"group {g}" for g in sorted(set(imp.groups or ()) & PRIVILEGED_GROUPS)]
    if not hits:
        return None
    return (f"{ev.username or '?'} impersonated a privileged identity ({', '.join(hits)}): "
            f"{ev.verb or '?'} {ev.object_display}")


_add(Rule(
    "KH-AUDLOG-019", "Impersonation of a privileged user or group", Severity.CRITICAL,
    (AUTHN, ACCESS, AUTHZ, INCIDENT),
    "Critical because the caller acts with cluster-admin power under another name: the event has "
    "impersonatedUser whose username is system:admin or whose groups include system:masters (never subject to "
    "RBAC) or kubeadm:cluster-admins (bound to cluster-admin by kubeadm). The API server records impersonatedUser "
    "only after authorizing the impersonation, so the alert does not depend on the response code. Limit: a user "
    "or group bound to cluster-admin by a custom binding cannot be known from the event alone (the bindings are "
    "cluster state); such impersonation is KH-AUDLOG-017 (medium).",
    _privileged_impersonation, gate="impersonation",
    remediation="Confirm who held impersonate rights and why; revoke impersonate on privileged users/groups.",
))


def _break_glass(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    user = ev.username
    hits = sorted(set(ev.groups) & cfg.break_glass_groups)
    if user in cfg.break_glass_users:
        hits.insert(0, f"user {user}")
    if not hits:
        return None
    return f"break-glass identity {user or '?'} ({', '.join(hits)}): {ev.verb or '?'} {ev.object_display}"


_add(Rule(
    "KH-AUDLOG-018", "Break-glass identity used", Severity.HIGH, (EMERGENCY, REVIEW),
    "The user is listed in break_glass.users or belongs to a break_glass.groups group of .kubehipaa.yaml "
    "(defaults: incident-responders, break-glass). Every emergency access must be reviewed.",
    _break_glass, gate="breakglass",
))

# ------------------------------------------------------------------------------------------------ secrets


def _secret_ref(ev: AuditEvent) -> str:
    return f"{ev.namespace or '*'}/{ev.name or '*'}"


def _secret_read_by_human(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or not is_human(ev.username):
        return None
    return f"{ev.username} {ev.verb} secret {_secret_ref(ev)}"


def _cluster_wide_secrets(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.namespace or ev.name or not succeeded(ev) or expected_platform_action(ev):
        return None
    return f"{ev.username or '?'} listed secrets in all namespaces"


def _secret_read_any(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if is_control_plane(ev.username):
        return None  # kubelets read the secrets of every pod they start; controllers read across namespaces
    return "secret read"


def _first_seen_candidate(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or is_control_plane(ev.username):
        return None
    return "candidate"


def _secret_denied(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.code not in (401, 403, 404) or is_control_plane(ev.username):
        return None
    return "secret read denied"


def _secret_lifecycle(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or ev.namespace == "kube-system" or ev.username.startswith("system:"):
        return None
    body = _body(ev)
    if body.get("type") == "kubernetes.io/service-account-token":
        return None
    return f"{ev.username or '?'} {ev.verb} secret {_secret_ref(ev)}"


_add(Rule(
    "KH-AUDLOG-020", "Secret read by a human user", Severity.MEDIUM, (ACCESS, AUDIT, REVIEW),
    "Successful get/list/watch of secrets by a user that is not a service account nor a system:/eks:/aks: "
    "component.",
    _secret_read_by_human, resources=("secrets",), verbs=READ_VERBS,
))
_add(Rule(
    "KH-AUDLOG-021", "Secrets listed across all namespaces", Severity.HIGH, (ACCESS, REVIEW),
    "Successful list/watch of secrets with no namespace (GET /api/v1/secrets), except control-plane "
    "identities.",
    _cluster_wide_secrets, resources=("secrets",), verbs=("list", "watch"),
    refs=("panther:Kubernetes.Secrets.DumpAllNamespaces", "sigma:Kubernetes Secrets Enumeration"),
))
_add(Rule(
    "KH-AUDLOG-022", "Burst of distinct secrets read by one identity", Severity.HIGH,
    (ACCESS, REVIEW, INCIDENT),
    "Per-event: get/list/watch of secrets (any outcome) by an identity that is not a control-plane component "
    "(kubelets and controllers read many secrets by design). Alert when one user touches "
    "secret_burst_threshold (15) distinct namespace/name "
    "secrets (a list counts as namespace/*) within secret_burst_window_s (1800 s).",
    _secret_read_any, resources=("secrets",), verbs=READ_VERBS,
    window=Window("secret_burst_window_s", "secret_burst_threshold", key=lambda ev: ev.username,
                  key_label="user", distinct=_secret_ref, mode="distinct"),
    refs=("panther:Kubernetes.BulkSecretAccess",),
))
_add(Rule(
    "KH-AUDLOG-023", "Secrets read by a new identity, source IP or user agent", Severity.MEDIUM,
    (ACCESS, REVIEW, INCIDENT),
    "After a learning period of first_seen_learning_s (3600 s of log time), a successful secret read by a "
    "non-control-plane identity never seen reading secrets before, or by a known identity from a new source "
    "IP or with a new user agent. Memory is bounded (least recently seen entries are forgotten).",
    _first_seen_candidate, resources=("secrets",), verbs=READ_VERBS,
    window=Window("first_seen_learning_s", "first_seen_learning_s", key=lambda ev: ev.username,
                  key_label="user", distinct=lambda ev: f"{ev.source_ip}\x00{ev.user_agent}", mode="first_seen"),
))
_add(Rule(
    "KH-AUDLOG-024", "Repeated denied secret reads", Severity.MEDIUM, (ACCESS, LOGIN, INCIDENT),
    "Per-event: get of a secret answered 401, 403 or 404, excluding control-plane identities (the node "
    "authorizer denies kubelets routinely during pod churn). Alert when secret_denied_threshold (5) such "
    "events by one user fall within 900 s.",
    _secret_denied, resources=("secrets",), verbs=("get",),
    window=Window("secret_denied_window_s", "secret_denied_threshold", key=lambda ev: ev.username,
                  key_label="user"),
    refs=("panther:Kubernetes.Secret.AccessDenied",),
))
_add(Rule(
    "KH-AUDLOG-026", "Secrets-access spike against the identity's own history", Severity.HIGH,
    (ACCESS, REVIEW, INCIDENT),
    "High because an identity suddenly reading many more secrets, or in many more namespaces, than it ever "
    "does is what a stolen service-account token or user credential looks like while it is being used to "
    "harvest credentials to ePHI systems, and no fixed threshold fits every workload. Per-event: "
    "get/list/watch of secrets (any outcome) by an identity that is not a control-plane component. Per "
    "identity, the distinct namespace/name secrets (a list counts as namespace/*) and distinct namespaces of "
    "the last secret_spike_window_s (60 s, sliding) are compared with that identity's history: an "
    "exponentially weighted mean over its previous active 60 s windows and a peak that halves every "
    "secret_spike_memory_s (7 days). Alert when the distinct secrets are at least secret_spike_floor (10) "
    "or the distinct namespaces at least secret_spike_namespace_floor (4), and that count is above "
    "secret_spike_factor (3) times the mean and above the decayed peak; then quiet for one window. An "
    "identity with no history has a baseline of nothing, but during the warm-up (first_seen_learning_s, "
    "3600 s of log time) such identities are learnt, not judged. With `audit analyze --state` the history "
    "carries over between runs. Memory is bounded (max_keys identities, 128 values each).",
    _secret_read_any, resources=("secrets",), verbs=READ_VERBS,
    window=Window("secret_spike_window_s", "secret_spike_floor", key=lambda ev: ev.username,
                  key_label="user", distinct=_secret_ref, mode="baseline"),
    remediation="Find the workload or person behind the identity (user, source IP, user agent); if the reads "
    "are not explained by a deployment or change, revoke its tokens (delete the service account's token "
    "secrets or rotate the credential) and rotate every secret it read.",
))
_add(Rule(
    "KH-AUDLOG-025", "Secret created or deleted", Severity.LOW, (INTEGRITY, REVIEW),
    "Successful create/delete of a secret outside kube-system by a user not named system:*, excluding "
    "service-account-token secrets.",
    _secret_lifecycle, resources=("secrets",), verbs=("create", "delete"),
    refs=("falco:K8s Secret Created", "falco:K8s Secret Deleted",
          "sigma:Kubernetes Secrets Modified or Deleted"),
))

# ---------------------------------------------------------------------------------- exec and node access


def _interactive(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    cmd = redact_argv(ev.exec_command)
    shown = f": {' '.join(cmd)}" if cmd else ""
    return f"{ev.username or '?'} {ev.subresource} into pod {ev.namespace}/{ev.name}{shown}"


def _suspicious_exec(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    cmd = ev.exec_command
    if cmd and SUSPICIOUS_COMMAND.search(" ".join(cmd)):
        return f"suspicious command in pod {ev.namespace}/{ev.name}: {' '.join(redact_argv(cmd))}"
    return None


def _token_read(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    cmd = ev.exec_command
    if any(p in arg for arg in cmd for p in TOKEN_PATHS):
        return f"pod {ev.namespace}/{ev.name}: credentials read via exec: {' '.join(redact_argv(cmd))}"
    return None


def _tar_to_stdout(cmd: list[str]) -> bool:
    """`tar cf - <path>` (what `kubectl cp` runs to copy files out of a pod)."""
    if not cmd or cmd[0].rsplit("/", 1)[-1] != "tar":
        return False
    args = cmd[1:]
    for i, a in enumerate(args):
        flags = a.lstrip("-")
        if "c" in flags and "f" in flags and not a.startswith("--"):
            return i + 1 < len(args) and args[i + 1] == "-"
    return False


def _kubectl_cp(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    cmd = ev.exec_command
    if _tar_to_stdout(cmd):
        return f"files copied out of pod {ev.namespace}/{ev.name}: {' '.join(redact_argv(cmd))}"
    return None


def _critical_exec(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    cmd = ev.exec_command
    reason = critical_reason(cmd)
    if reason is None:
        return None
    return f"{reason} in pod {ev.namespace}/{ev.name}: {' '.join(redact_argv(cmd))}"


_EXEC = ("pods/exec", "pods/attach")
_add(Rule(
    "KH-AUDLOG-030", "Exec or attach into a pod", Severity.MEDIUM, (ACCESS, REVIEW),
    "Successful create/get on pods/exec or pods/attach (the command is decoded from requestURI command= "
    "parameters or a PodExecOptions body, with secret-looking arguments redacted); control-plane identities "
    "in system namespaces are skipped.",
    _interactive, resources=_EXEC, verbs=("create", "get"),
    refs=("falco:Attach/Exec Pod", "panther:Kubernetes.Pod.Exec",
          "sigma:Potential Remote Command Execution In Pod Container"),
))
_add(Rule(
    "KH-AUDLOG-031", "Suspicious command run through exec", Severity.HIGH, (ACCESS, INCIDENT),
    "An exec whose command runs a downloader, tunnel, package manager, database client/dump tool, kernel or "
    "namespace tool, or clears shell history (see SUSPICIOUS_COMMAND).",
    _suspicious_exec, resources=("pods/exec",), verbs=("create", "get"),
))
_add(Rule(
    "KH-AUDLOG-037", "Reverse shell, download-and-execute or crypto-miner run through exec", Severity.CRITICAL,
    (ACCESS, INTEGRITY, TRANSMISSION, INCIDENT),
    "Critical because the pod is then controlled from outside or runs code nobody reviewed, next to ePHI. An exec "
    "whose command (requestURI command= parameters decoded once, one per argument; or a PodExecOptions body) "
    "runs nc/ncat/netcat with -e/-c/--exec, socat with an exec:/system: address, a python/perl/ruby/php/node/lua "
    "-c/-e/-r one-liner that opens a socket or spawns a pty, or a known crypto-miner (xmrig, minerd, cpuminer, "
    "... or a stratum+tcp:// pool URL); or whose shell command string (sh/bash/... -c TEXT) redirects to "
    "/dev/tcp or /dev/udp, pipes a shell to or from nc/telnet/openssl s_client, pipes curl/wget into a shell or "
    "interpreter, runs a download through $(...)/`...`/<(...), or makes a download executable "
    "(engines/auditlog/exec_commands.py). Control-plane identities in system namespaces are skipped.",
    _critical_exec, resources=("pods/exec",), verbs=("create", "get"),
    remediation="Treat the pod as compromised: isolate it, capture it, rotate the credentials it could reach.",
))
_add(Rule(
    "KH-AUDLOG-032", "Service-account or workload-identity token read through exec", Severity.HIGH,
    (AUTHN, ACCESS, INCIDENT),
    "An exec whose command names a path under /var/run/secrets/ or /run/secrets/ (service-account, IRSA, "
    "Azure workload-identity tokens), excluding control-plane identities in system namespaces.",
    _token_read, resources=("pods/exec",), verbs=("create", "get"),
    refs=("panther:Kubernetes.Pod.StealServiceAccountToken",),
))
_add(Rule(
    "KH-AUDLOG-033", "Files copied out of a pod (kubectl cp)", Severity.HIGH, (ACCESS, TRANSMISSION, INCIDENT),
    "An exec of `tar c…f -` (archive written to stdout), which is how kubectl cp copies files from a pod.",
    _kubectl_cp, resources=("pods/exec",), verbs=("create", "get"),
    refs=("panther:Kubernetes.Kubectl.CP.Operation",),
))


def _simple(template: str, *, skip_platform: bool = True) -> Any:
    def match(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
        if not succeeded(ev) or (skip_platform and expected_platform_action(ev)):
            return None
        return template.format(user=ev.username or "?", ns=ev.namespace, name=ev.name, verb=ev.verb,
                               obj=ev.object_display)

    return match


_add(Rule(
    "KH-AUDLOG-034", "Port-forward to a pod", Severity.MEDIUM, (ACCESS, TRANSMISSION),
    "Successful create/get on pods/portforward (a tunnel into the pod network that bypasses Services and "
    "NetworkPolicies).",
    _simple("{user} port-forwarded to pod {ns}/{name}"), resources=("pods/portforward",),
    verbs=("create", "get"),
))
_add(Rule(
    "KH-AUDLOG-035", "Ephemeral (debug) container added to a pod", Severity.MEDIUM, (ACCESS, INTEGRITY),
    "Successful update/patch of pods/ephemeralcontainers (kubectl debug).",
    _simple("{user} added an ephemeral container to pod {ns}/{name}"),
    resources=("pods/ephemeralcontainers",), verbs=("update", "patch"),
    refs=("falco:EphemeralContainers Created",),
))
_add(Rule(
    "KH-AUDLOG-036", "Kubelet API reached through nodes/proxy", Severity.HIGH, (ACCESS, AUDIT),
    "Successful request on nodes/proxy by a non-control-plane identity: kubelet endpoints (exec, logs, "
    "pods) reached this way are not authorized or audited per pod.",
    _simple("{user} {verb} nodes/proxy on {name}"), resources=("nodes/proxy",),
    verbs=("get", "create", "update", "patch", "delete"),
))

# ---------------------------------------------------------------------------------------------- workloads


class _PodFacts:
    """What the pod rules need from one created pod, computed once per event in one pass over the containers
    (four rules share it). None when no pod rule applies: failed request, platform in system scope, no body."""

    __slots__ = ("caps", "ev", "host_namespaces", "host_paths", "privileged")

    def __init__(self, ev: AuditEvent, spec: dict[str, Any]) -> None:
        self.ev = ev
        privileged: list[str] = []
        caps: set[str] = set()
        psc = spec.get("securityContext")
        if isinstance(psc, dict):
            if psc.get("runAsUser") == 0:
                privileged.append("spec.securityContext.runAsUser")
            if psc.get("runAsNonRoot") is False:
                privileged.append("spec.securityContext.runAsNonRoot")
        for key in ("containers", "initContainers", "ephemeralContainers"):
            items = spec.get(key)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                sc = c.get("securityContext") if isinstance(c, dict) else None
                if not isinstance(sc, dict):
                    continue
                if sc.get("privileged") is True:
                    privileged.append(f"spec.{key}[{i}].securityContext.privileged")
                if sc.get("runAsUser") == 0:
                    privileged.append(f"spec.{key}[{i}].securityContext.runAsUser")
                if sc.get("runAsNonRoot") is False:
                    privileged.append(f"spec.{key}[{i}].securityContext.runAsNonRoot")
                cap = sc.get("capabilities")
                added = cap.get("add") if isinstance(cap, dict) else None
                if isinstance(added, list):
                    for a in added:
                        name = str(a).upper()
                        name = name[4:] if name.startswith("CAP_") else name
                        if name in ps.DANGEROUS_CAPABILITIES:
                            caps.add(name)
        self.privileged = privileged
        self.caps = sorted(caps)
        self.host_namespaces = ps.host_namespaces(spec)
        self.host_paths = ps.host_paths(spec) if "volumes" in spec else []

    @property
    def where(self) -> str:
        ev = self.ev
        return f"pod {ev.namespace}/{ev.name or _body_name(ev)}"


_LAST_POD: tuple[object, _PodFacts | None] = (None, None)


def _pod_facts(ev: AuditEvent) -> _PodFacts | None:
    global _LAST_POD
    last = _LAST_POD
    if last[0] is ev:
        return last[1]
    facts = None
    if succeeded(ev) and not expected_platform_action(ev):
        spec = ps.pod_spec(_body(ev))
        if spec:
            facts = _PodFacts(ev, spec)
    _LAST_POD = (ev, facts)
    return facts


def _pod_check(kind: str) -> Any:
    def match(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
        f = _pod_facts(ev)
        if f is None:
            return None
        if kind == "privileged":
            return f"{f.where} runs privileged or as root: {', '.join(f.privileged)}" if f.privileged else None
        if kind == "hostns":
            return f"{f.where} shares host namespaces: {', '.join(f.host_namespaces)}" if f.host_namespaces else None
        if kind == "hostpath":
            if not f.host_paths:
                return None
            sensitive = [p for p in f.host_paths if ps.is_sensitive_host_path(p)]
            label = "sensitive hostPath" if sensitive else "hostPath"
            return f"{f.where} mounts {label} {', '.join(sensitive or f.host_paths)}"
        if kind == "caps":
            return f"{f.where} adds capabilities {', '.join(f.caps)}" if f.caps else None
        return None

    return match


def _body_name(ev: AuditEvent) -> str:
    meta = _body(ev).get("metadata")
    if isinstance(meta, dict):
        return str(meta.get("name") or meta.get("generateName") or "?")
    return "?"


_POD = ("pods",)
_add(Rule(
    "KH-AUDLOG-040", "Privileged or root pod created", Severity.HIGH, (ACCESS, INTEGRITY),
    "Successful pod create whose requestObject has a container with securityContext.privileged true, or "
    "runAsUser 0 / runAsNonRoot false at pod or container level.",
    _pod_check("privileged"), resources=_POD, verbs=("create",),
    refs=("falco:Create Privileged Pod", "panther:Kubernetes.Pod.Privileged.Created",
          "sigma:Privileged Container Deployed"),
))
_add(Rule(
    "KH-AUDLOG-041", "Pod sharing host namespaces created", Severity.HIGH, (ACCESS, INTEGRITY),
    "Successful pod create with spec.hostNetwork, spec.hostPID or spec.hostIPC true.",
    _pod_check("hostns"), resources=_POD, verbs=("create",),
    refs=("falco:Create HostNetwork Pod", "falco:Create HostPid Pod", "falco:Create HostIPC Pod",
          "panther:Kubernetes.Pod.Host.Network", "panther:Kubernetes.Pod.Host.PID",
          "panther:Kubernetes.Pod.Host.IPC"),
))
_add(Rule(
    "KH-AUDLOG-042", "Pod with a hostPath volume created", Severity.HIGH, (ACCESS, INTEGRITY),
    "Successful pod create with any hostPath volume (the message says when the path is sensitive: /, /proc, "
    "/etc, container runtime sockets, kubelet or etcd directories).",
    _pod_check("hostpath"), resources=_POD, verbs=("create",),
    refs=("falco:Create Sensitive Mount Pod", "panther:Kubernetes.Pod.HostPath.Volume",
          "sigma:Container With A hostPath Mount Created"),
))
_add(Rule(
    "KH-AUDLOG-043", "Pod with dangerous capabilities created", Severity.HIGH, (ACCESS, INTEGRITY),
    "Successful pod create adding SYS_ADMIN, NET_ADMIN, BPF, SYS_PTRACE, SYS_MODULE, SYS_RAWIO, "
    "DAC_READ_SEARCH, SYS_BOOT, PERFMON, MAC_ADMIN, MAC_OVERRIDE or ALL.",
    _pod_check("caps"), resources=_POD, verbs=("create",),
    refs=("panther:Kubernetes.Pod.Dangerous.Capabilities",),
))


PLATFORM_IMAGE_PREFIXES = (
    "registry.k8s.io/", "k8s.gcr.io/", "gcr.io/google-containers/", "gke.gcr.io/", "gcr.io/gke-release/",
    "mcr.microsoft.com/oss/kubernetes", "mcr.microsoft.com/aks/", "public.ecr.aws/eks/",
    "public.ecr.aws/eks-distro/", "gcr.io/projectcalico-org/", "kope/kube-apiserver-healthcheck",
)
"""Registries of the Kubernetes project and the managed-cluster vendors: pods of these images in system
namespaces are the platform's own (Falco's allowed_kube_namespace_image_list, by registry)."""


def _pod_in_system_ns(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.namespace not in SYSTEM_NAMESPACES or not succeeded(ev):
        return None
    where = f"pod {ev.namespace}/{ev.name or _body_name(ev)}"
    if not is_control_plane(ev.username):
        return f"{ev.username or '?'} created {where}"
    foreign = [i for i in ps.images(ps.pod_spec(_body(ev))) if not i.startswith(PLATFORM_IMAGE_PREFIXES)]
    if foreign:
        return f"{ev.username} created {where} with non-platform image(s) {', '.join(foreign)}"
    return None


def _sa_in_system_ns(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.namespace not in SYSTEM_NAMESPACES or not succeeded(ev) or is_control_plane(ev.username):
        return None
    return f"{ev.username or '?'} created service account {ev.namespace}/{ev.name or _body_name(ev)}"


_add(Rule(
    "KH-AUDLOG-044", "Pod created in a system namespace", Severity.MEDIUM, (ACCESS, INTEGRITY),
    "Successful pod create in kube-system, kube-public, kube-node-lease or a cloud system namespace, by an "
    "identity that is not a control-plane component, or by one (e.g. the replicaset controller) with a "
    "container image outside the Kubernetes/cloud-vendor registries (PLATFORM_IMAGE_PREFIXES).",
    _pod_in_system_ns, resources=_POD, verbs=("create",),
    refs=("falco:Pod Created in Kube Namespace", "panther:Kubernetes.Pod.SystemNamespace",
          "sigma:Creation Of Pod In System Namespace"),
))
_add(Rule(
    "KH-AUDLOG-045", "Service account created in a system namespace", Severity.MEDIUM, (ACCESS, AUTHZ),
    "Successful serviceaccount create in a system namespace by a non-control-plane identity.",
    _sa_in_system_ns, resources=("serviceaccounts",), verbs=("create",),
    refs=("falco:Service Account Created in Kube Namespace",),
))


def _nodeport(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or expected_platform_action(ev):
        return None
    spec = _body(ev).get("spec")
    if isinstance(spec, dict) and spec.get("type") == "NodePort":
        return f"NodePort service {ev.namespace}/{ev.name or _body_name(ev)} exposes pods on every node"
    return None


def _configmap_credentials(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev):
        return None
    body = _body(ev)
    hits: list[str] = []
    for section in ("data", "stringData"):
        data = body.get(section)
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            text = f"{key}\n{value}".lower()
            if any(m in text for m in CREDENTIAL_MARKERS):
                hits.append(f"{section}.{key}")
    if hits:
        return f"configmap {ev.namespace}/{ev.name or _body_name(ev)} holds credentials in {', '.join(hits)}"
    return None


def _ingress_no_tls(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.namespace in SYSTEM_NAMESPACES or not succeeded(ev):
        return None
    body = _body(ev)
    if not body:
        return None
    spec = body.get("spec")
    tls = spec.get("tls") if isinstance(spec, dict) else None
    if tls:
        return None
    return f"ingress {ev.namespace}/{ev.name or _body_name(ev)} serves plain HTTP (no spec.tls)"


_add(Rule(
    "KH-AUDLOG-046", "NodePort service created", Severity.MEDIUM, (TRANSMISSION, ACCESS),
    "Successful service create whose requestObject.spec.type is NodePort.",
    _nodeport, resources=("services",), verbs=("create",),
    refs=("falco:Create NodePort Service", "panther:Kubernetes.Service.NodePort.Deployed"),
))
_add(Rule(
    "KH-AUDLOG-047", "ConfigMap with credentials created or modified", Severity.HIGH, (ACCESS, INTEGRITY),
    "Successful configmap create/update/patch whose data or stringData keys or values contain a "
    "credential marker (aws access key ids, password, passphrase, private keys, client secrets, api keys). "
    "Only the key names are reported.",
    _configmap_credentials, resources=("configmaps",), verbs=("create", "update", "patch"),
    refs=("falco:Create/Modify Configmap With Private Credentials",),
))
_add(Rule(
    "KH-AUDLOG-048", "Ingress without TLS created", Severity.HIGH, (TRANSMISSION,),
    "Successful ingress create outside system namespaces whose requestObject has no spec.tls: PHI would "
    "travel in clear text.",
    _ingress_no_tls, resources=("ingresses",), verbs=("create",),
    refs=("panther:Kubernetes.Ingress.NoTLS", "falco:Ingress Object without TLS Certificate Created"),
))
_add(Rule(
    "KH-AUDLOG-049", "CronJob created or modified", Severity.LOW, (INTEGRITY, REVIEW),
    "Successful cronjob create/update/patch (scheduled persistence), except control-plane identities in "
    "system scope.",
    _simple("{user} {verb} cronjob {ns}/{name}"), resources=("cronjobs",), verbs=("create", "update", "patch"),
    refs=("panther:Kubernetes.CronJob.CreatedOrModified", "sigma:Kubernetes CronJob/Job Modification"),
))
_add(Rule(
    "KH-AUDLOG-050", "DaemonSet created", Severity.LOW, (INTEGRITY, REVIEW),
    "Successful daemonset create (code on every node), except control-plane identities in system scope.",
    _simple("{user} created daemonset {ns}/{name}"), resources=("daemonsets",), verbs=("create",),
    refs=("panther:Kubernetes.DaemonSet.Created",),
))

# ------------------------------------------------------------------------------------ tokens and certificates


def _token_request(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    user = ev.username
    if user.startswith("system:node:") or not succeeded(ev) or expected_platform_action(ev):
        return None  # kubelets request projected tokens for every pod they run
    return f"{user or '?'} created a token for service account {ev.namespace}/{ev.name}"


def _csr_approved(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or is_control_plane(ev.username):
        return None
    return f"{ev.username or '?'} approved certificate signing request {ev.name}"


def _client_csr(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or is_control_plane(ev.username):
        return None
    spec = _body(ev).get("spec")
    if not isinstance(spec, dict) or spec.get("signerName") != "kubernetes.io/kube-apiserver-client":
        return None
    return f"{ev.username or '?'} requested an API client certificate ({ev.name or _body_name(ev)})"


_add(Rule(
    "KH-AUDLOG-060", "Service-account token created on request", Severity.MEDIUM, (AUTHN, ACCESS),
    "Successful create on serviceaccounts/token (TokenRequest) by anyone but kubelets (system:node:*) and "
    "control-plane identities in system namespaces.",
    _token_request, resources=("serviceaccounts/token",), verbs=("create",),
    refs=("panther:Kubernetes.ServiceAccount.TokenCreated",),
))
_add(Rule(
    "KH-AUDLOG-061", "Certificate signing request approved by a person", Severity.HIGH, (AUTHN, ACCESS),
    "Successful update/patch of certificatesigningrequests/approval by an identity that is not a "
    "control-plane component (the csrapproving controller approves kubelet CSRs itself).",
    _csr_approved, resources=("certificatesigningrequests/approval",), verbs=("update", "patch"),
))
_add(Rule(
    "KH-AUDLOG-062", "API client certificate requested", Severity.MEDIUM, (AUTHN,),
    "Successful certificatesigningrequests create with signerName kubernetes.io/kube-apiserver-client "
    "(long-lived credential) by a non-control-plane identity.",
    _client_csr, resources=("certificatesigningrequests",), verbs=("create",),
    refs=("panther:Kubernetes.ClientCertificate.Created",),
))

# ---------------------------------------------------------------------------------------------- tampering

_WEBHOOKS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations",
             "validatingadmissionpolicies", "validatingadmissionpolicybindings")
_add(Rule(
    "KH-AUDLOG-070", "Admission webhook or policy created", Severity.HIGH, (INTEGRITY, ACCESS),
    "Successful create of a mutating/validating webhook configuration or validating admission policy "
    "(binding), except control-plane identities.",
    _simple("{user} created {obj}"), resources=_WEBHOOKS, verbs=("create",),
    refs=("panther:Kubernetes.AdmissionController.Created",
          "sigma:Kubernetes Admission Controller Modification"),
))
_add(Rule(
    "KH-AUDLOG-071", "Admission webhook or policy modified or deleted", Severity.HIGH, (INTEGRITY,),
    "Successful update/patch/delete/deletecollection of the same resources (a deleted or weakened webhook "
    "silently disables policy enforcement). Its meaning is unchanged since release (rule ids never change "
    "meaning); a deletion also raises the critical KH-AUDLOG-075.",
    _simple("{user} {verb} {obj}"), resources=_WEBHOOKS, verbs=("update", "patch", "delete", "deletecollection"),
    refs=("sigma:Kubernetes Admission Controller Modification",),
))
_add(Rule(
    "KH-AUDLOG-075", "Admission webhook or policy deleted", Severity.CRITICAL, (INTEGRITY, ACCESS, AUDIT),
    "Critical because every admission control the object enforced (pod security, image policy, audit-forwarding "
    "or PHI-guarding webhooks) stops at once, silently: successful delete/deletecollection of a mutating/validating "
    "webhook configuration or validating admission policy (binding), except control-plane identities. The "
    "API server's audit webhook backend is a file on the control plane, not an API object; its API-visible "
    "changes (auditsinks, kube-system audit configmaps, the kube-apiserver pod) are KH-AUDLOG-072.",
    _simple("{user} {verb} {obj}"), resources=_WEBHOOKS, verbs=("delete", "deletecollection"),
    refs=("sigma:Kubernetes Admission Controller Modification",),
))


def _audit_tamper(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev):
        return None
    res, name, ns = ev.resource, ev.name.lower(), ev.namespace
    if res == "auditsinks":
        return f"{ev.username or '?'} {ev.verb} audit sink {ev.name}"
    if ns != "kube-system":
        return None
    if res in ("configmaps", "secrets") and ("audit" in name or "encryption" in name):
        return f"{ev.username or '?'} {ev.verb} {res[:-1]} kube-system/{ev.name} (audit/encryption config)"
    if res == "pods" and name.startswith("kube-apiserver") and not ev.username.startswith("system:node:"):
        return f"{ev.username or '?'} {ev.verb} API-server pod kube-system/{ev.name}"
    return None


_add(Rule(
    "KH-AUDLOG-072", "Audit or encryption configuration tampered with", Severity.CRITICAL, (INTEGRITY, AUDIT),
    "Critical because it can blind the audit trail or disable encryption at rest of secrets: successful write "
    "to auditsinks; to kube-system configmaps/secrets whose name mentions audit or encryption; or to "
    "kube-apiserver pods in kube-system by anyone but a kubelet (mirror pods). Limit: the audit policy, audit "
    "webhook and encryption provider configs are files on the control-plane hosts (--audit-policy-file, "
    "--audit-webhook-config-file, --encryption-provider-config) and managed clusters change encryption through "
    "the cloud API, so edits made there are not in the Kubernetes audit log.",
    _audit_tamper, resources=("auditsinks", "configmaps", "secrets", "pods"),
    verbs=("create", "update", "patch", "delete", "deletecollection"),
))


def _events_deleted(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or is_control_plane(ev.username):
        return None
    return f"{ev.username or '?'} {ev.verb} events in {ev.namespace or 'all namespaces'}"


_add(Rule(
    "KH-AUDLOG-073", "Kubernetes events deleted", Severity.MEDIUM, (INTEGRITY, AUDIT),
    "Successful delete/deletecollection of events (core or events.k8s.io) by a non-control-plane identity: "
    "covering tracks.",
    _events_deleted, resources=("events",), verbs=("delete", "deletecollection"),
    refs=("sigma:Kubernetes Events Deleted",),
))


def _audit_id_reused(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    # Only called by the detector's de-duplication, on a request whose auditID a different request carried.
    return (f"auditID {ev.auditID or '?'} was already used by a different request; this one: "
            f"{ev.username or '?'} {ev.verb or '?'} {ev.object_display} from {ev.source_ip or '?'}")


_add(Rule(
    "KH-AUDLOG-074", "auditID shared by different requests (log tampering or replay)", Severity.HIGH,
    (AUDIT, INTEGRITY, INCIDENT),
    "A request whose auditID was already logged for a different request (another verb, requestURI, user or "
    "requestReceivedTimestamp). The API server takes the id from the client's Audit-ID header when one is "
    "sent, so a reused id means a client chose it (to blend a request into another one's record, or to replay "
    "it) or logs were altered or merged (e.g. kube-apiserver and an aggregated API server, which sees the same "
    "Audit-ID). Each request is still evaluated on its own; only stages of one request are merged. Raised once "
    "per reusing request (not for the first one).",
    _audit_id_reused, gate="auditid",
    remediation="Identify the client from user, source IP and user agent and find out why it sets Audit-ID; "
    "compare the log with its shipped copy (integrity); review every request carrying this auditID, each is "
    "listed separately in `kubehipaa audit timeline`.",
))

# --------------------------------------------------------------------------------------------------- PHI


def _phi(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if ev.resource == "secrets" or is_control_plane(ev.username):
        return None  # controllers copy templates (a pod of a Deployment) and post status: PHI is found where
        # a person or pipeline wrote it (the Deployment, the ConfigMap), not in every machine-made copy
    found = scan_bodies(ev)
    if not found:
        return None
    return f"PHI-shaped values in {ev.verb or '?'} {ev.object_display}: " + "; ".join(found[:5])


_add(Rule(
    "KH-AUDLOG-080", "PHI-shaped values in audited request or response bodies", Severity.HIGH,
    (AUDIT, ACCESS, ENCRYPTION),
    "requestObject/responseObject (Request/RequestResponse level) contain values shaped like an SSN, NPI, "
    "MRN, date of birth, HL7 or a FHIR Patient resource (kubehipaa.engines.phi): requestObject of "
    "create/update/patch, responseObject of get/list/watch. Output shows redacted values and JSON paths only. "
    "Secrets bodies, managedFields/status, bodies over 1 MiB, and requests by control-plane identities "
    "(controllers copying templates, kubelets posting status) are not scanned.",
    _phi, gate="body",
))

# ------------------------------------------------------------------------------------------------ activity

_ACTIVITY = ("deployments", "services", "configmaps", "namespaces", "serviceaccounts")


def _activity(ev: AuditEvent, cfg: DetectorConfig) -> str | None:
    if not succeeded(ev) or is_control_plane(ev.username):
        return None  # e.g. the root-CA publisher creates kube-root-ca.crt in every new namespace
    if ev.resource == "namespaces" and ev.verb == "delete" and ev.username.startswith("system:"):
        return None
    kind = ev.resource[:-1]
    return f"{ev.username or '?'} {ev.verb}d {kind} {'/'.join(p for p in (ev.namespace, ev.name) if p)}"


_add(Rule(
    "KH-AUDLOG-090", "Workload or configuration object created or deleted", Severity.LOW, (AUDIT, REVIEW),
    "Successful create/delete of deployments, services, configmaps, namespaces or serviceaccounts (change "
    "record for review), except by control-plane identities (controllers create per-namespace defaults).",
    _activity, resources=_ACTIVITY, verbs=("create", "delete"),
    refs=("falco:K8s Deployment Created", "falco:K8s Deployment Deleted", "falco:K8s Service Created",
          "falco:K8s Service Deleted", "falco:K8s ConfigMap Created", "falco:K8s ConfigMap Deleted",
          "falco:K8s Namespace Created", "falco:K8s Namespace Deleted", "falco:K8s Serviceaccount Created",
          "falco:K8s Serviceaccount Deleted", "sigma:Deployment Deleted From Kubernetes Cluster",
          "sigma:New Kubernetes Service Account Created"),
))

RULES.sort(key=lambda r: r.id)
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
