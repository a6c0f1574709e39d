"""Pure simulation of a Kubernetes audit ``Policy`` (audit.k8s.io/v1).

The API server walks the policy's rules in order and the *first* rule that matches a request decides its
level and omitted stages; no match means level ``None``.  Policy-level ``omitStages`` are unioned into every
rule's ``omitStages``.  Matching follows k8s.io/apiserver ``pkg/audit/policy/checker.go``:

* ``users`` / ``userGroups``: when set, the request's user (and one of its groups) must be listed; a request
  without an authenticated user (a failed authentication) never matches such a rule;
* ``verbs``: when set, the request verb must be listed;
* ``namespaces`` or ``resources`` set: only resource requests match; ``namespaces`` compares the request
  namespace ("" for cluster-scoped); each ``resources[]`` entry matches when its ``group`` equals the request's
  API group *exactly* (omitted group = core group ""), and one of its resources matches ``res``,
  ``res/sub``, ``*``, ``*/sub`` or ``res/*`` (with ``resourceNames`` restricting by object name);
* otherwise ``nonResourceURLs`` match only non-resource requests (``*``, exact, or trailing ``*`` prefix);
* a rule with none of the above matches everything.

On top of the simulator, :func:`coverage` evaluates representative requests for the high-value event
classes a HIPAA audit trail needs (secret/configmap/token access, exec/attach/port-forward, RBAC writes,
authentication failures) and says for each whether the level is acceptable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LEVELS: tuple[str, ...] = ("None", "Metadata", "Request", "RequestResponse")
LEVEL_RANK: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}
STAGES: frozenset[str] = frozenset({"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"})


class PolicyError(ValueError):
    """The document is not a usable audit Policy; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class Request:
    """The authorizer attributes the audit checker looks at."""

    verb: str
    user: str | None = "alice@example.org"
    groups: tuple[str, ...] = ("system:authenticated",)
    resource: str = ""
    subresource: str = ""
    api_group: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    is_resource: bool = True

    @property
    def describe(self) -> str:
        who = self.user or "<unauthenticated>"
        if not self.is_resource:
            return f"{who} {self.verb} {self.path}"
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        grp = f".{self.api_group}" if self.api_group else ""
        ns = f" in {self.namespace}" if self.namespace else ""
        return f"{who} {self.verb} {res}{grp}{ns}"


@dataclass(frozen=True, slots=True)
class Decision:
    """Result of evaluating one request: level, omitted stages, and which rule (index) decided."""

    level: str
    omit_stages: frozenset[str]
    rule_index: int | None

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.level]


@dataclass(slots=True)
class Policy:
    """A validated policy: rules as dicts (already type-checked) plus policy-level omitStages."""

    rules: list[dict[str, Any]]
    omit_stages: frozenset[str] = frozenset()


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where} must be a list of strings")
    return list(value)


def parse_policy(doc: dict[str, Any]) -> Policy:
    """Validate a Policy document into a :class:`Policy`; raise :class:`PolicyError` on bad shape."""
    if not isinstance(doc, dict):
        raise PolicyError("audit policy must be a mapping")
    omit = _str_list(doc.get("omitStages"), "omitStages")
    for s in omit:
        if s not in STAGES:
            raise PolicyError(f"omitStages: unknown stage {s!r}")
    rules_raw = doc.get("rules")
    if rules_raw is None:
        rules_raw = []
    if not isinstance(rules_raw, list):
        raise PolicyError("rules must be a list")
    rules: list[dict[str, Any]] = []
    for i, rule in enumerate(rules_raw):
        where = f"rules[{i}]"
        if not isinstance(rule, dict):
            raise PolicyError(f"{where} must be a mapping")
        level = rule.get("level")
        if not isinstance(level, str) or level not in LEVEL_RANK:  # a mapping or list is not even hashable
            raise PolicyError(f"{where}.level must be one of {', '.join(LEVELS)} (got {level!r})")
        for key in ("users", "userGroups", "verbs", "namespaces", "nonResourceURLs", "omitStages"):
            _str_list(rule.get(key), f"{where}.{key}")
        for s in rule.get("omitStages") or []:
            if s not in STAGES:
                raise PolicyError(f"{where}.omitStages: unknown stage {s!r}")
        res = rule.get("resources")
        if res is not None:
            if not isinstance(res, list):
                raise PolicyError(f"{where}.resources must be a list")
            for j, gr in enumerate(res):
                if not isinstance(gr, dict):
                    raise PolicyError(f"{where}.resources[{j}] must be a mapping")
                grp = gr.get("group")
                if grp is not None and not isinstance(grp, str):
                    raise PolicyError(f"{where}.resources[{j}].group must be a string")
                _str_list(gr.get("resources"), f"{where}.resources[{j}].resources")
                _str_list(gr.get("resourceNames"), f"{where}.resources[{j}].resourceNames")
        if (rule.get("resources") or rule.get("namespaces")) and rule.get("nonResourceURLs"):
            # Upstream validation rejects rules mixing resource and non-resource matchers.
            raise PolicyError(f"{where}: rules cannot apply to both regular resources and non-resource URLs")
        rules.append(rule)
    return Policy(rules=rules, omit_stages=frozenset(omit))


def _path_matches(path: str, spec: str) -> bool:
    if spec == "*" or spec == path:
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _resource_matches(rule: dict[str, Any], req: Request) -> bool:
    if not req.is_resource:
        return False
    namespaces = rule.get("namespaces") or []
    if namespaces and req.namespace not in namespaces:
        return False
    groups = rule.get("resources") or []
    if not groups:
        return True
    combined = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    for gr in groups:
        if (gr.get("group") or "") != req.api_group:
            continue
        names = gr.get("resources") or []
        if not names:
            return True
        resource_names = gr.get("resourceNames") or []
        if resource_names and req.name not in resource_names:
            continue
        for res in names:
            if res == combined or res == "*":
                return True
            if req.subresource and res.startswith("*/") and req.subresource == res[2:]:
                return True
            if res.endswith("/*") and req.resource == res[:-2]:
                return True
    return False


def rule_matches(rule: dict[str, Any], req: Request) -> bool:
    """One rule against one request, exactly as the API server's audit checker decides."""
    users = rule.get("users") or []
    if users and (req.user is None or req.user not in users):
        return False
    user_groups = rule.get("userGroups") or []
    if user_groups and (req.user is None or not any(g in user_groups for g in req.groups)):
        return False
    verbs = rule.get("verbs") or []
    if verbs and req.verb not in verbs:
        return False
    if rule.get("namespaces") or rule.get("resources"):
        return _resource_matches(rule, req)
    urls = rule.get("nonResourceURLs") or []
    if urls:
        return (not req.is_resource) and any(_path_matches(req.path, u) for u in urls)
    return True


def evaluate(policy: Policy, req: Request) -> Decision:
    """First matching rule wins; no match means level None with the policy-level omitStages."""
    for i, rule in enumerate(policy.rules):
        if rule_matches(rule, req):
            stages = policy.omit_stages | frozenset(rule.get("omitStages") or [])
            return Decision(str(rule["level"]), stages, i)
    return Decision("None", policy.omit_stages, None)


def is_catch_all(rule: dict[str, Any]) -> bool:
    """A rule that matches every request (no selector at all)."""
    return not any(
        rule.get(k) for k in ("users", "userGroups", "verbs", "namespaces", "resources", "nonResourceURLs")
    )


# --------------------------------------------------------------------------------------------------------
# High-value event classes


@dataclass(frozen=True, slots=True)
class EventClass:
    """A class of requests a HIPAA audit trail must capture, with the acceptable level range."""

    key: str
    title: str
    min_level: str
    max_level: str
    why: str
    requests: tuple[Request, ...]
    needs_stage: str = "ResponseComplete"


@dataclass(slots=True)
class ClassCoverage:
    """How the policy treats one event class."""

    cls: EventClass
    decisions: list[tuple[Request, Decision]]
    ok: bool
    problems: list[str] = field(default_factory=list)
    bad: list[tuple[Request, Decision]] = field(default_factory=list)

    @property
    def levels(self) -> list[str]:
        return sorted({d.level for _, d in self.decisions}, key=LEVEL_RANK.__getitem__)

    @property
    def rule_indexes(self) -> list[int | None]:
        seen: list[int | None] = []
        for _, d in self.decisions:
            if d.rule_index not in seen:
                seen.append(d.rule_index)
        return seen


_READ = ("get", "list", "watch")
_WRITE = ("create", "update", "patch", "delete", "deletecollection")

#: Principals whose requests are evaluated: a human user and a workload service account.  Policies commonly
#: silence system components (kube-proxy, controllers) - that is legitimate and not what we test.
HUMAN = ("alice@example.org", ("system:authenticated", "clinicians"))


def _sa(namespace: str) -> tuple[str, tuple[str, ...]]:
    return (
        f"system:serviceaccount:{namespace}:app",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
    )


def _requests(
    verbs: Sequence[str],
    resource: str,
    *,
    namespaces: Sequence[str],
    subresource: str = "",
    api_group: str = "",
    cluster_scoped: bool = False,
) -> tuple[Request, ...]:
    out: list[Request] = []
    nss = [""] if cluster_scoped else list(namespaces)
    for ns in nss:
        principals = [HUMAN, _sa(ns or "default")]
        for user, groups in principals:
            for verb in verbs:
                out.append(
                    Request(
                        verb=verb,
                        user=user,
                        groups=groups,
                        resource=resource,
                        subresource=subresource,
                        api_group=api_group,
                        namespace=ns,
                        name="" if verb in ("list", "watch", "deletecollection", "create") else "example",
                    )
                )
    return tuple(out)


def event_classes(namespaces: Sequence[str] = ("clinical",)) -> list[EventClass]:
    """The high-value classes, with representative requests in the given (PHI) namespaces."""
    nss = list(namespaces) or ["clinical"]
    exec_like: list[EventClass] = []
    for sub in ("exec", "attach", "portforward"):
        exec_like.append(
            EventClass(
                key=f"pods/{sub}",
                title=f"pods/{sub} (interactive access to containers)",
                min_level="Request",
                max_level="RequestResponse",
                why="who opened a shell or tunnel into a PHI workload, and with which command, must be recorded",
                requests=_requests(("create", "get"), "pods", namespaces=nss, subresource=sub),
            )
        )
    rbac: list[Request] = []
    for res in ("roles", "rolebindings"):
        rbac.extend(_requests(_WRITE, res, namespaces=nss, api_group="rbac.authorization.k8s.io"))
    for res in ("clusterroles", "clusterrolebindings"):
        rbac.extend(
            _requests(_WRITE, res, namespaces=nss, api_group="rbac.authorization.k8s.io", cluster_scoped=True)
        )
    unauth = (
        Request(verb="list", user=None, groups=(), resource="secrets", namespace=nss[0]),
        Request(verb="get", user=None, groups=(), resource="pods", namespace=nss[0], name="example"),
        Request(verb="get", user=None, groups=(), path="/api", is_resource=False),
    )
    return [
        EventClass(
            key="secrets",
            title="secrets (credentials)",
            min_level="Metadata",
            max_level="Metadata",
            why="secret access must be recorded, but Request/RequestResponse would copy secret values into the log",
            requests=_requests(_READ + _WRITE, "secrets", namespaces=nss),
        ),
        EventClass(
            key="configmaps",
            title="configmaps (may hold PHI or credentials)",
            min_level="Metadata",
            max_level="Metadata",
            why="configmap access must be recorded, but bodies may carry PHI or credentials into the log",
            requests=_requests(_READ + _WRITE, "configmaps", namespaces=nss),
        ),
        EventClass(
            key="tokenreviews",
            title="tokenreviews (bearer tokens in bodies)",
            min_level="Metadata",
            max_level="Metadata",
            why="TokenReview bodies contain bearer tokens; record the call, never the body",
            requests=_requests(
                ("create",),
                "tokenreviews",
                namespaces=nss,
                api_group="authentication.k8s.io",
                cluster_scoped=True,
            ),
        ),
        EventClass(
            key="serviceaccounts/token",
            title="serviceaccounts/token (issued tokens in responses)",
            min_level="Metadata",
            max_level="Metadata",
            why="TokenRequest responses contain freshly issued tokens; record the call, never the body",
            requests=_requests(("create",), "serviceaccounts", namespaces=nss, subresource="token"),
        ),
        *exec_like,
        EventClass(
            key="rbac-writes",
            title="RBAC writes (roles, bindings)",
            min_level="RequestResponse",
            max_level="RequestResponse",
            why="changes to who may access PHI must be reconstructable in full (164.308(a)(4))",
            requests=tuple(rbac),
        ),
        EventClass(
            key="authn-failures",
            title="authentication failures",
            min_level="Metadata",
            max_level="RequestResponse",
            why="failed log-in attempts must be recorded (164.308(a)(5)(ii)(C), 164.312(b))",
            requests=unauth,
            needs_stage="ResponseStarted",
        ),
    ]


def coverage(policy: Policy, namespaces: Sequence[str] = ("clinical",)) -> list[ClassCoverage]:
    """Evaluate every high-value class; a class is ok when every representative request is in range.

    Authentication failures are emitted by the API server at stage ``ResponseStarted``; omitting that stage
    silently drops them, so it is part of the requirement for that class.
    """
    out: list[ClassCoverage] = []
    for cls in event_classes(namespaces):
        decisions = [(req, evaluate(policy, req)) for req in cls.requests]
        problems: list[str] = []
        bad: list[tuple[Request, Decision]] = []
        lo, hi = LEVEL_RANK[cls.min_level], LEVEL_RANK[cls.max_level]
        for req, d in decisions:
            where = f"rule {d.rule_index}" if d.rule_index is not None else "no rule matched (default None)"
            if d.rank < lo:
                problems.append(f"{req.describe}: level {d.level} ({where}), needs at least {cls.min_level}")
            elif d.rank > hi:
                problems.append(f"{req.describe}: level {d.level} ({where}), must not exceed {cls.max_level}")
            elif cls.needs_stage in d.omit_stages:
                problems.append(f"{req.describe}: stage {cls.needs_stage} omitted ({where})")
            else:
                continue
            bad.append((req, d))
        out.append(ClassCoverage(cls=cls, decisions=decisions, ok=not problems, problems=problems, bad=bad))
    return out


def hiding_catch_all(policy: Policy, cov: Sequence[ClassCoverage]) -> dict[int, list[str]]:
    """Catch-all ``None`` rules that decided requests of classes which needed recording.

    Returns rule index -> the class keys it hides.
    """
    hidden: dict[int, list[str]] = {}
    for c in cov:
        for _, d in c.decisions:
            idx = d.rule_index
            if idx is None or d.level != "None":
                continue
            if is_catch_all(policy.rules[idx]) and c.cls.key not in hidden.setdefault(idx, []):
                hidden[idx].append(c.cls.key)
    return {k: v for k, v in hidden.items() if v}


def request_received_recorded(policy: Policy) -> list[int | None]:
    """Rules (index; None = the default) whose events still include the ``RequestReceived`` stage.

    Only rules that actually record something (level above None) matter; ``RequestReceived`` doubles the
    log volume without adding information.
    """
    out: list[int | None] = []
    for i, rule in enumerate(policy.rules):
        if rule.get("level") == "None":
            continue
        stages = policy.omit_stages | frozenset(rule.get("omitStages") or [])
        if "RequestReceived" not in stages:
            out.append(i)
    return out
