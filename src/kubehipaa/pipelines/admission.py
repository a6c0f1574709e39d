"""The admission decision: one `admission.k8s.io/v1` AdmissionReview + the policy -> the AdmissionReview answer.

Pure (no I/O, no clock beyond `today` for exception expiry): `server.admission` reads the body, calls
`review`, writes the answer, counts and logs. The object under review is judged by the scanner's own checks:
it becomes a one-object Inventory (namespace taken from `request.namespace` when the object has none, as the
API server would store it) and `pipelines.scan.run_scan` runs the checks that read its kind (the map in
`pipelines.check_inputs`), minus the checks whose metadata (`CheckMeta.needs`) says one object of that kind
cannot decide them (default-deny policies of its namespace, the role a binding names). Exceptions from
`.kubehipaa.yaml` are applied by `run_scan`, with their expiry.

Decisions (docs/admission.md):
- CREATE and UPDATE are judged; on UPDATE a finding already present in `oldObject` (same rule, same field) only
  warns unless `admission.oldViolations: deny`, so an unrelated edit of an old object is not blocked.
- DELETE and CONNECT are allowed: no rule judges the removal of an object or an exec/attach stream (RBAC on
  exec is KH-RBAC-007, judged on the Role).
- Sub-resources: `pods/ephemeralcontainers` is judged (its object is the whole Pod, and an ephemeral container
  can be privileged); every other sub-resource (status, scale, binding, eviction, ...) is allowed, since it
  cannot change what the rules read.
- Unknown kinds (no check reads them) are allowed.
- `dryRun` gets the same verdict; the answer does not depend on it (the server counts it under its own label).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import ADMISSION_ONLY_RULES, Config
from kubehipaa.errors import ConfigError
from kubehipaa.inventory import Inventory
from kubehipaa.model import Evidence, Finding, K8sObject, Severity
from kubehipaa.pipelines.check_inputs import affected_checks
from kubehipaa.pipelines.scan import ContainerNames, apply_exceptions, known_check_ids, run_scan
from kubehipaa.redaction import redact_text
from kubehipaa.workload_kinds import WORKLOAD_KINDS

Action = Literal["deny", "warn"]
API_VERSION = "admission.k8s.io/v1"
SOURCE = "<admission>"

REQUIRED_LABELS = "KH-ADM-001"
"""Admission-only rule: the labels `admission.requiredLabels` names are missing (Pods and workloads)."""
SECRET_READ = "KH-ADM-002"
"""Admission-only rule: a Role or ClusterRole lets its holders get (unnamed), list or watch every Secret in
scope. KH-RBAC-005 says the same of a binding, but needs the role it names, which an admission request does
not carry; judging the role itself stops the grant where it is written."""
UNREADABLE = "KH-ADM-003"
"""Admission-only rule: an engine could not read the object (a pod spec of the wrong shape, a malformed Role),
so the checks judged nothing in it; silence there is not a pass."""
ADMISSION_RULES: dict[str, tuple[str, str]] = {
    REQUIRED_LABELS: ("Required labels missing",
                      "Add the labels listed under admission.requiredLabels in .kubehipaa.yaml to metadata.labels "
                      "(and to the pod template's labels, so the pods carry them too)."),
    SECRET_READ: ("Role grants read access to all Secrets",
                  "Restrict get to named Secrets with resourceNames; avoid list and watch on secrets."),
    UNREADABLE: ("Object could not be judged",
                 "Give the object the shape its kind's schema defines; kubehipaa could not read the part named."),
}

PHI_DENY: tuple[str, ...] = (
    # Pod Security restricted: the namespace-level verdict and the per-field rules that name the fix
    "KH-PSS-001", "KH-PSS-002", "KH-WL-001", "KH-WL-002", "KH-WL-003", "KH-WL-004", "KH-WL-005", "KH-WL-006",
    "KH-WL-007", "KH-WL-008", "KH-WL-010",
    "KH-NS-001", "KH-NS-004",  # a PHI namespace must enforce restricted (Pod Security Admission), with valid labels
    "KH-RBAC-001",  # wildcards in Roles/ClusterRoles
    UNREADABLE,  # what the checks could not read is not a pass
    "KH-RBAC-005", SECRET_READ,  # read access to all Secrets (by a binding; by the role itself)
    "KH-NET-007",   # NodePort Services
    "KH-NET-009",   # Ingress without TLS
)
"""Rules that deny by default in PHI namespaces (issue 18, req 2); elsewhere they warn. `requireDigest`
adds KH-IMG-001/002/003, `denyUserBindings` KH-RBAC-004, a non-empty `requiredLabels` KH-ADM-001."""
DIGEST_RULES = ("KH-IMG-001", "KH-IMG-002", "KH-IMG-003")
USER_BINDING_RULES = ("KH-RBAC-004",)

MAX_WARNINGS_CHARS = 4096
"""The API server keeps at most 4096 characters of warnings per response, and truncates each to 256."""
MAX_WARNING_CHARS = 256
MAX_MESSAGE_CHARS = 4096


class AdmissionInputError(ValueError):
    """The body is not an AdmissionReview request this webhook can answer (the server answers 400)."""


assert set(ADMISSION_RULES) == ADMISSION_ONLY_RULES, "config.ADMISSION_ONLY_RULES must list the admission rules"


def rule_ids() -> list[str]:
    """Every rule an admission policy can name: the registered checks and the admission-only rules."""
    return sorted(known_check_ids())  # the checks and the admission-only rules


def _matching(patterns: Iterable[str], ids: Iterable[str]) -> set[str]:
    pats = list(patterns)
    return {i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in pats)}


def _apply(table: dict[str, Action], ids: list[str], ignore: Iterable[str], warn: Iterable[str],
           deny: Iterable[str]) -> None:
    for rid in _matching(ignore, ids):
        table.pop(rid, None)
    for rid in _matching(warn, ids):
        table[rid] = "warn"
    for rid in _matching(deny, ids):
        table[rid] = "deny"


def admission_actions(config: Config, namespace_is_phi: bool, namespace: str | None = None) -> dict[str, Action]:
    """{rule id: "deny" | "warn"} for a namespace (rules switched off are absent).

    The default table: every rule warns; in PHI scope the `PHI_DENY` rules deny (plus the image-digest, user-binding
    and required-label rules as configured). Then `admission.phi` or `admission.other`, then every
    `admission.namespaces` entry whose glob matches `namespace`. The generator of ValidatingAdmissionPolicies uses
    the same table, so a webhook and a native policy agree on Deny or Warn.
    """
    adm = config.admission
    ids = rule_ids()
    table: dict[str, Action] = dict.fromkeys(ids, "warn")
    if not adm.required_labels:
        table.pop(REQUIRED_LABELS)
    if namespace_is_phi:
        deny = list(PHI_DENY)
        if adm.require_digest:
            deny += DIGEST_RULES
        if adm.deny_user_bindings:
            deny += USER_BINDING_RULES
        if adm.required_labels:
            deny.append(REQUIRED_LABELS)
        for rid in deny:
            if rid in table:
                table[rid] = "deny"
    rules = adm.phi if namespace_is_phi else adm.other
    _apply(table, ids, rules.ignore, rules.warn, rules.deny)
    for entry in adm.namespaces:
        if namespace is not None and fnmatch.fnmatchcase(namespace, entry.namespace):
            _apply(table, ids, entry.ignore, entry.warn, entry.deny)
    if not adm.required_labels:
        table.pop(REQUIRED_LABELS, None)
    return table


def validate_admission(config: Config) -> None:
    """Every rule pattern of the `admission:` block must match a known rule (a typo must not disable a deny)."""
    ids = rule_ids()
    adm = config.admission
    groups: list[tuple[tuple[str | int, ...], Any]] = [(("admission", "phi"), adm.phi), (("admission", "other"), adm.other)]
    groups += [(("admission", "namespaces", i), entry) for i, entry in enumerate(adm.namespaces)]
    for loc, rules in groups:
        for key in ("deny", "warn", "ignore"):
            for j, pattern in enumerate(getattr(rules, key)):
                if not _matching([pattern], ids):
                    where = ".".join(str(p) for p in (*loc, key, j))
                    raise ConfigError(f"{config.where(*loc, key, j)}: {where}: {pattern!r} matches no known rule "
                                      "(see `kubehipaa checks list`; admission-only: KH-ADM-001)")


@dataclass(slots=True)
class Policy:
    """What the webhook enforces, built once at start: the config (validated), its action tables, the checks
    per kind. `today` is read per review (an exception that expires while the server runs stops applying)."""

    config: Config
    _tables: dict[tuple[bool, str | None], dict[str, Action]] = field(init=False, default_factory=dict)
    _phi_configs: dict[str, Config] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        validate_admission(self.config)
        from kubehipaa.pipelines.scan import check_exceptions

        check_exceptions(self.config)  # an invalid exception is a start-up error, not a per-request one

    def phi_config(self, namespace: str) -> Config:
        """The config with `namespace` among `phi.namespaces`: for a request the API server sent to the PHI
        webhook (`/validate/phi`, selected by the namespace's labels, which the request does not carry). The
        checks that read PHI-ness (KH-PSS-001, severities) then see what a scan with the Namespace sees."""
        if namespace in self.config.phi.namespaces:
            return self.config
        cfg = self._phi_configs.get(namespace)
        if cfg is None:
            if len(self._phi_configs) > 4096:
                self._phi_configs.clear()  # namespaces come from requests: keep the cache bounded
            phi = self.config.phi.model_copy(update={"namespaces": [*self.config.phi.namespaces, namespace]})
            cfg = self._phi_configs[namespace] = self.config.model_copy(update={"phi": phi})
        return cfg

    def actions(self, namespace_is_phi: bool, namespace: str | None) -> dict[str, Action]:
        key = (namespace_is_phi, namespace if self.config.admission.namespaces else None)
        table = self._tables.get(key)
        if table is None:
            if len(self._tables) > 4096:
                self._tables.clear()  # namespaces come from requests: keep the cache bounded
            table = self._tables[key] = admission_actions(self.config, namespace_is_phi, namespace)
        return table


@lru_cache(maxsize=256)
def checks_for_kind(kind: str) -> tuple[Check, ...]:
    """The manifest checks that read objects of `kind` (empty: unknown kind), minus those one such object cannot
    decide: the checks whose metadata (`CheckMeta.needs`, the one catalog) says a one-object inventory gives
    findings the other objects would contradict, or none (the namespace's NetworkPolicies, the Role a binding
    names, the pod's ServiceAccount). Checks marked "subset" run: what one object shows of them holds with the
    others too (a binding to a built-in role, which the RBAC engine knows without the cluster)."""
    wanted = set(affected_checks(kind))
    return tuple(c for c in all_checks()
                 if c.meta.id in wanted and c.meta.scope == "manifest" and c.meta.alone(kind) != "skip")


@dataclass(slots=True)
class Decision:
    """The answer and what the server logs and counts about it (never the object's body)."""

    response: dict[str, Any]
    uid: str
    allowed: bool
    kind: str = ""
    namespace: str = ""
    name: str = ""
    operation: str = ""
    dry_run: bool = False
    denied: list[str] = field(default_factory=list)
    """Rule ids that denied (sorted, unique)."""
    warned: list[str] = field(default_factory=list)
    evaluated: bool = False
    """False when the request was allowed without judging (DELETE, CONNECT, sub-resource, unknown kind)."""


def parse_request(body: Any) -> dict[str, Any]:
    """The `request` of an AdmissionReview, or AdmissionInputError naming what is wrong."""
    if not isinstance(body, dict):
        raise AdmissionInputError("body is not a JSON object")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != "AdmissionReview":
        raise AdmissionInputError(f"expected apiVersion {API_VERSION}, kind AdmissionReview; got "
                                  f"{str(body.get('apiVersion'))[:64]!r}, {str(body.get('kind'))[:64]!r}")
    req = body.get("request")
    if not isinstance(req, dict):
        raise AdmissionInputError("AdmissionReview has no request")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise AdmissionInputError("request.uid is missing")
    for key in ("object", "oldObject"):
        if req.get(key) is not None and not isinstance(req.get(key), dict):
            raise AdmissionInputError(f"request.{key} is not an object")
    return req


def review(body: Any, policy: Policy, *, today: dt.date | None = None,
           namespace_is_phi: bool | None = None) -> Decision:
    """Decide one AdmissionReview (`body`, decoded JSON). Raises AdmissionInputError for a malformed body.

    `namespace_is_phi` is what the caller knows of the request's namespace beyond the request: None decides
    from the config (`phi.namespaces` by name), True judges it as a PHI namespace (the API server sent it to
    the PHI webhook, whose namespaceSelector is the config's `phi.selector`), False with the non-PHI table.
    A Namespace object is its own namespace here; other cluster-scoped objects (ClusterRoles, bindings) have
    none, so the hint does not apply to them: `admission.clusterScoped` decides."""
    req = parse_request(body)
    uid: str = req["uid"]
    operation = str(req.get("operation") or "")
    obj_doc = req.get("object")
    kind = _kind_of(req, obj_doc)
    namespace = str(req.get("namespace") or "")
    name = str(req.get("name") or (_meta(obj_doc).get("name") if obj_doc else "") or "")
    decision = Decision({}, uid, True, kind, namespace, name, operation, bool(req.get("dryRun")))
    sub = str(req.get("subResource") or "")
    judged = (operation in ("CREATE", "UPDATE") and isinstance(obj_doc, dict)
              and sub in ("", "ephemeralcontainers") and bool(checks_for_kind(kind)))
    if judged:
        assert isinstance(obj_doc, dict)
        today = today or dt.date.today()
        obj = _object(obj_doc, namespace)
        ns = obj.namespace
        own = obj.name if kind == "Namespace" else ns  # the namespace whose PHI-ness decides
        config = policy.phi_config(own) if namespace_is_phi and own else policy.config
        inv = Inventory([obj], config)
        findings = _findings(inv, obj, policy, today)
        old_keys: set[tuple[str, str]] = set()
        old_doc = req.get("oldObject")
        if operation == "UPDATE" and isinstance(old_doc, dict) and policy.config.admission.old_violations == "warn":
            old_obj = _object(old_doc, namespace)
            old_keys = {_key(f) for f in _findings(Inventory([old_obj], config), old_obj, policy, today)}
        if kind != "Namespace" and not ns:  # ClusterRoles, ClusterRoleBindings: no namespace to be PHI
            phi = policy.config.admission.cluster_scoped == "phi"
        elif namespace_is_phi is None:
            phi = inv.is_phi(own)
        else:
            phi = namespace_is_phi
        table = policy.actions(phi, own or None)
        deny: list[Finding] = []
        warn: list[Finding] = []
        for f in findings:
            action = table.get(f.check_id)
            if action is None:
                continue
            (deny if action == "deny" and _key(f) not in old_keys else warn).append(f)
        decision.evaluated = True
        decision.allowed = not deny
        decision.denied = sorted({f.check_id for f in deny})
        decision.warned = sorted({f.check_id for f in warn})
        shown = deny[0].resource.name if deny else obj.name  # the redacted name (a name can be an identifier)
        decision.response = _response(uid, deny, warn, kind, shown)
    else:
        decision.response = _response(uid, [], [], kind, name)
    return decision


def _kind_of(req: Mapping[str, Any], obj_doc: Any) -> str:
    if isinstance(obj_doc, dict) and isinstance(obj_doc.get("kind"), str):
        return str(obj_doc["kind"])
    k = req.get("kind")
    return str(k.get("kind") or "") if isinstance(k, dict) else ""


def _meta(doc: Any) -> dict[str, Any]:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    return meta if isinstance(meta, dict) else {}


def _object(doc: dict[str, Any], namespace: str) -> K8sObject:
    """The object as the API server will store it: in `request.namespace` when it names none (not mutated)."""
    meta = _meta(doc)
    # the API server names a Namespace's own name as request.namespace; it is cluster-scoped all the same
    if namespace and not meta.get("namespace") and doc.get("kind") != "Namespace":
        doc = {**doc, "metadata": {**meta, "namespace": namespace}}
    return K8sObject(doc, SOURCE, 0)


def _findings(inv: Inventory, obj: K8sObject, policy: Policy, today: dt.date) -> list[Finding]:
    """Active (not excepted) findings of the checks that read this kind, and of the admission-only rules."""
    checks = checks_for_kind(obj.kind)
    out: list[Finding] = []
    unreadable: list[Finding] = []
    if checks:
        result = run_scan(inv, inv.config, checks=checks, today=today, assess=False)  # PHI per the request
        out = [f for f in result.findings if not f.suppressed]
        title, fix = ADMISSION_RULES[UNREADABLE]
        # the engine's reason, without the object's name it starts with ("Pod ns/name: spec.x must be ...")
        reasons = [p.message.split(": ", 1)[-1].split(";", 1)[0] for p in result.skipped[:1]]
        reasons += [f"{e.check_id} failed ({e.message.split(':', 1)[0]})" for e in result.errors[:1]]
        unreadable = [Finding(UNREADABLE, title, Severity.HIGH, obj.ref, reason,
                              [Evidence(redact_text(reason[:160]), None)], fix, ()) for reason in reasons]
    extra = _required_labels(obj, policy.config) + _secret_read(inv, obj) + unreadable
    if extra:  # the admission-only rules: exceptions applied here, as run_scan applies them to the checks
        apply_exceptions(extra, policy.config.exceptions, today, ContainerNames(inv))
        out += [f for f in extra if not f.suppressed]
    return out


def _required_labels(obj: K8sObject, config: Config) -> list[Finding]:
    required = config.admission.required_labels
    if not required or obj.kind not in WORKLOAD_KINDS:
        return []
    labels = obj.labels
    missing = [k for k in required if k not in labels]
    if not missing:
        return []
    title, fix = ADMISSION_RULES[REQUIRED_LABELS]
    return [Finding(REQUIRED_LABELS, title, Severity.MEDIUM, obj.ref, f"missing labels: {', '.join(missing)}",
                    [Evidence("metadata.labels", missing)], fix, ("164.308(a)(1)(ii)(A)",))]


def _secret_read(inv: Inventory, obj: K8sObject) -> list[Finding]:
    if obj.kind not in ("Role", "ClusterRole"):
        return []
    from kubehipaa.engines.rbac import request_attributes, rule_allows

    ns = obj.namespace or "" if obj.kind == "Role" else ""
    out: list[Finding] = []
    title, fix = ADMISSION_RULES[SECRET_READ]
    for role in inv.rbac.roles.values():
        if role.origin.obj is not obj:
            continue
        verbs = [verb for verb in ("get", "list", "watch")
                 if any(rule_allows(request_attributes(verb, "secrets", ns, as_request=False), r) for r in role.rules)]
        if verbs:
            out.append(Finding(SECRET_READ, title, Severity.HIGH, obj.ref,
                               f"{'/'.join(verbs)} on every Secret", [Evidence("rules", verbs)], fix,
                               ("164.312(a)(1)", "164.312(a)(2)(iv)")))
    return out


def _key(f: Finding) -> tuple[str, str]:
    """A violation's identity across an update: rule + first evidence path (the field it is about)."""
    return f.check_id, f.evidence[0].path if f.evidence else ""


def _line(f: Finding) -> str:
    path = f.evidence[0].path if f.evidence else ""
    return f"{f.check_id} {f.title}" + (f" ({path})" if path else "")


def _response(uid: str, deny: list[Finding], warn: list[Finding], kind: str, name: str) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": not deny}
    if deny:
        parts: list[str] = []
        fixes: dict[str, str] = {}
        for f in deny:
            line = _line(f)
            if line not in parts:
                parts.append(line)
            fixes.setdefault(f.check_id, f.remediation)
        fix = " ".join(f"[{rid}] {text}" for rid, text in fixes.items())
        message = (f"kubehipaa denied {kind} {name!r}: " + "; ".join(parts) + f". Fix: {fix}")
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        resp["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    warnings: list[str] = []
    used = 0
    for f in warn:
        text = _line(f)
        if len(text) > MAX_WARNING_CHARS:
            text = text[: MAX_WARNING_CHARS - 1] + "…"
        if text in warnings:
            continue
        if used + len(text) > MAX_WARNINGS_CHARS:
            break
        warnings.append(text)
        used += len(text)
    if warnings:
        resp["warnings"] = warnings
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": resp}
