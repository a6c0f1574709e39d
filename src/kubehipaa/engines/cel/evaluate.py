"""The admission plugin's evaluation order for ValidatingAdmissionPolicy + Binding, over one object.

Upstream order (k8s.io/apiserver/pkg/admission/plugin/policy/validating): the policy's matchConstraints
(resource rules), the binding's matchResources (resourceRules / excludeResourceRules; namespaceSelector:
cluster-scoped objects other than Namespaces are never skipped by it), the params (paramKind + the binding's
paramRef: `params` is the named object, none found is parameterNotFoundAction), matchConditions (all
true, else the policy does not apply), then every validation; a false validation is a violation with its
messageExpression (falling back to `message`), an error is decided by `failurePolicy` (Fail: a violation;
Ignore: nothing). The binding's validationActions
say what a violation does: Deny, Warn, Audit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    import celpy
    from celpy import celtypes
except ImportError:  # pragma: no cover - exercised only without the extra
    celpy = None  # type: ignore[assignment]
    celtypes = None  # type: ignore[assignment]

from kubehipaa.engines.cel.network import NETWORK_FUNCTIONS


class CelUnavailable(RuntimeError):
    """cel-python is not installed."""


class CelPolicyError(ValueError):
    """A policy document that cannot be evaluated (bad shape or CEL that does not compile)."""


def _require() -> None:
    if celpy is None:
        raise CelUnavailable("offline CEL evaluation needs cel-python: pip install 'kubehipaa[admission]'")


# ---- Kubernetes CEL library functions cel-python lacks -----------------------------------------------------


def _join(target: Any, sep: Any = None) -> Any:
    """k8s strings library: `list(string).join([separator])`."""
    if not isinstance(target, list) or not all(isinstance(x, str) for x in target):
        return celpy.CELEvalError("join: receiver must be a list of strings")
    if sep is not None and not isinstance(sep, str):
        return celpy.CELEvalError("join: separator must be a string")
    return celtypes.StringType((sep or "").join(target))


def _numeric(x: Any) -> bool:
    return isinstance(x, (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)) and not isinstance(
        x, celtypes.BoolType)


def _eq(a: Any, b: Any) -> Any:
    """CEL heterogeneous equality (cel-go, as Kubernetes enables it): values of different types are unequal
    (no error); numbers compare by value across int, uint and double."""
    if isinstance(a, celpy.CELEvalError):
        return a
    if isinstance(b, celpy.CELEvalError):
        return b
    if _numeric(a) and _numeric(b):
        if isinstance(a, celtypes.DoubleType) or isinstance(b, celtypes.DoubleType):
            return celtypes.BoolType(float(a) == float(b) and not math.isnan(float(a)))
        return celtypes.BoolType(int(a) == int(b))  # exact beyond 2**53
    if (a is not None and b is not None and type(a) is not type(b)
            and not (isinstance(a, type(b)) or isinstance(b, type(a)))):
        return celtypes.BoolType(False)
    if isinstance(a, celtypes.BoolType) != isinstance(b, celtypes.BoolType):
        return celtypes.BoolType(False)
    try:
        return celtypes.BoolType(a == b)
    except Exception:
        return celtypes.BoolType(False)


def _ne(a: Any, b: Any) -> Any:
    r = _eq(a, b)
    return r if isinstance(r, celpy.CELEvalError) else celtypes.BoolType(not r)


def _split(target: Any, sep: Any, limit: Any = None) -> Any:
    """k8s strings library: `string.split(separator[, limit])` with Go `strings.SplitN` semantics: an empty
    separator splits into characters, `''.split(',')` is `['']`, a limit of 0 gives `[]`, a negative one no
    limit."""
    if not isinstance(target, str) or not isinstance(sep, str):
        return celpy.CELEvalError("split: receiver and separator must be strings")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        return celpy.CELEvalError("split: limit must be an int")
    n = -1 if limit is None else int(limit)
    if n == 0:
        return celtypes.ListType([])
    if sep == "":
        chars = list(target)
        parts = chars if n < 0 or n >= len(chars) else [*chars[:n - 1], "".join(chars[n - 1:])]
    else:
        parts = target.split(sep) if n < 0 else target.split(sep, n - 1)
    return celtypes.ListType([celtypes.StringType(x) for x in parts])


SUPPORTED_K8S_FUNCTIONS: dict[str, str] = {
    "join": "k8s strings library: list(string).join() / .join(separator)",
    "split": "k8s strings library: string.split(separator) / .split(separator, limit) (Go strings.SplitN)",
    "has, all, exists, exists_one, map, filter": "CEL standard macros (cel-python)",
    "size, contains, startsWith, endsWith, matches, in, type, int, string, double": "CEL standard (cel-python)",
    "== / != across types": "cel-go heterogeneous equality (different types: false, not an error)",
    "ip, isIP, family, isUnspecified, isLoopback, isLinkLocalMulticast, isLinkLocalUnicast, isGlobalUnicast":
        "k8s IP library (engines/cel/network.py): netip grammar, zones and IPv4-mapped IPv6 refused",
    "cidr, isCIDR, containsIP, containsCIDR, prefixLength, masked, cidr.ip(), string(ip|cidr)":
        "k8s CIDR library (engines/cel/network.py); containsCIDR as fixed in Kubernetes 1.33",
}
"""What the offline evaluator supports beyond cel-python. Any other Kubernetes library function (
lowerAscii, indexOf, url, quantity, authorizer, ...) is an unknown function: the policy errors, visibly."""

_FUNCTIONS: dict[str, Callable[..., Any]] = {"join": _join, "split": _split, "_==_": _eq, "_!=_": _ne,
                                              **NETWORK_FUNCTIONS}


# ---- compiled policies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Expr:
    source: str
    program: Any


@dataclass(frozen=True)
class ParamBinding:
    """A policy's paramKind with its binding's paramRef, and the param objects of that kind found in the
    input (by (namespace, name)), so an object's evaluation reads `params` as the API server would."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    deny_not_found: bool
    candidates: Mapping[tuple[str, str], Any]


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy with one of its bindings, every expression compiled once."""

    name: str
    binding: str
    check_id: str | None
    rules: tuple[dict[str, Any], ...]
    failure_policy: str
    actions: tuple[str, ...]
    namespace_selector: Mapping[str, Any] | None
    binding_rules: tuple[dict[str, Any], ...]
    """The binding's matchResources.resourceRules (empty: every resource the policy matches)."""
    binding_excludes: tuple[dict[str, Any], ...]
    param: ParamBinding | None
    match_conditions: tuple[tuple[str, _Expr], ...]
    variables: tuple[tuple[str, _Expr], ...]
    validations: tuple[tuple[_Expr, _Expr | None, str], ...]


def _compile(env: Any, source: Any, where: str, memo: dict[str, _Expr]) -> _Expr:
    """One compiled program per distinct source (`memo`): a policy has a binding per namespace class, and
    compiling is the slow part (a program is stateless: each evaluation gets its own activation)."""
    if not isinstance(source, str) or not source.strip():
        raise CelPolicyError(f"{where}: expression must be a non-empty string")
    if source in memo:
        return memo[source]
    try:
        memo[source] = _Expr(source, env.program(env.compile(source), functions=_FUNCTIONS))
        return memo[source]
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CelPolicyError(f"{where}: CEL does not compile: {first}") from None


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def compile_policies(docs: Sequence[Mapping[str, Any]]) -> list[CompiledPolicy]:
    """Pair each ValidatingAdmissionPolicy with its bindings (by policyName) and compile its CEL.

    A policy without a binding does nothing in a cluster and is left out; a binding naming no policy is an
    error (the file is incomplete)."""
    _require()
    env = celpy.Environment()
    memo: dict[str, _Expr] = {}
    policies = {(_dict(d.get("metadata")).get("name")): d for d in docs
                if d.get("kind") == "ValidatingAdmissionPolicy"}
    out: list[CompiledPolicy] = []
    for b in (d for d in docs if d.get("kind") == "ValidatingAdmissionPolicyBinding"):
        bname = str(_dict(b.get("metadata")).get("name") or "?")
        bspec = _dict(b.get("spec"))
        pname = bspec.get("policyName")
        if pname not in policies:
            raise CelPolicyError(f"binding {bname}: policy {pname!r} is not in the input")
        p = policies[pname]
        spec = _dict(p.get("spec"))
        where = f"policy {pname}"
        actions = tuple(str(a) for a in bspec.get("validationActions") or ())
        if not actions:
            raise CelPolicyError(f"binding {bname}: validationActions is empty")
        out.append(CompiledPolicy(
            name=str(pname),
            binding=bname,
            check_id=_dict(_dict(p.get("metadata")).get("labels")).get("kubehipaa.io/check"),
            rules=tuple(r for r in _dict(spec.get("matchConstraints")).get("resourceRules") or ()
                        if isinstance(r, dict)),
            failure_policy=str(spec.get("failurePolicy") or "Fail"),
            actions=actions,
            namespace_selector=_dict(bspec.get("matchResources")).get("namespaceSelector"),
            binding_rules=tuple(r for r in _dict(bspec.get("matchResources")).get("resourceRules") or ()
                                if isinstance(r, dict)),
            binding_excludes=tuple(r for r in _dict(bspec.get("matchResources")).get("excludeResourceRules")
                                   or () if isinstance(r, dict)),
            param=_param_binding(spec, bspec, bname, docs),
            match_conditions=tuple((str(m.get("name")), _compile(env, m.get("expression"), f"{where} "
                                    f"matchCondition {m.get('name')}", memo)) for m in spec.get("matchConditions") or ()),
            variables=tuple((str(v.get("name")), _compile(env, v.get("expression"), f"{where} variable "
                             f"{v.get('name')}", memo)) for v in spec.get("variables") or ()),
            validations=tuple(
                (_compile(env, v.get("expression"), f"{where} validation {i}", memo),
                 _compile(env, v["messageExpression"], f"{where} messageExpression {i}", memo)
                 if v.get("messageExpression") else None,
                 str(v.get("message") or f"failed expression: {v.get('expression')}"))
                for i, v in enumerate(spec.get("validations") or ())),
        ))
    return out


def _param_binding(spec: Mapping[str, Any], bspec: Mapping[str, Any], bname: str,
                   docs: Sequence[Mapping[str, Any]]) -> ParamBinding | None:
    """The params a binding gives its policy (upstream: paramKind on the policy, paramRef on the binding;
    without a paramKind the paramRef is not used and `params` is null)."""
    kind_ref = spec.get("paramKind")
    if kind_ref is None:
        return None
    kind_ref = _dict(kind_ref)
    ref = bspec.get("paramRef")
    if not isinstance(ref, dict):
        raise CelPolicyError(f"binding {bname}: its policy declares paramKind but the binding has no paramRef")
    if ref.get("selector") is not None or not isinstance(ref.get("name"), str) or not ref.get("name"):
        raise CelPolicyError(f"binding {bname}: paramRef must name one object (a selector is not supported "
                             "offline)")
    api_version, kind = str(kind_ref.get("apiVersion") or ""), str(kind_ref.get("kind") or "")
    candidates = {(str(_dict(d.get("metadata")).get("namespace") or ""), str(_dict(d.get("metadata")).get("name"))): d
                  for d in docs if d.get("kind") == kind and d.get("apiVersion") == api_version}
    ns = ref.get("namespace")
    return ParamBinding(api_version, kind, str(ref["name"]), str(ns) if ns else None,
                        ref.get("parameterNotFoundAction", "Deny") != "Allow", candidates)


# ---- matching -----------------------------------------------------------------------------------------------


def guess_resource(kind: str) -> str:
    """The resource of a kind, as upstream's `meta.UnsafeGuessKindToResource` guesses it."""
    low = kind.lower()
    if not low:
        return low
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y"):
        return low[:-1] + "ies"
    return low + "s"


def _matches_rule(rule: Mapping[str, Any], group: str, version: str, resource: str, operation: str) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or ()
        return "*" in values or value in values

    return (has("apiGroups", group) and has("apiVersions", version) and has("resources", resource)
            and has("operations", operation))


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: matchLabels AND every matchExpression; an empty selector matches all."""
    if not selector:
        return True
    for k, v in _dict(selector.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or ():
        key, op, values = e.get("key"), e.get("operator"), list(e.get("values") or ())
        present = key in labels
        ok = {"In": present and labels.get(key) in values,
              "NotIn": not present or labels.get(key) not in values,
              "Exists": present,
              "DoesNotExist": not present}.get(op)
        if not ok:
            return False
    return True


# ---- evaluation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectContext:
    """What the API server knows about a request besides the object."""

    namespace: str | None
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    username: str = "kubehipaa:offline-test"
    operation: str = "CREATE"


@dataclass(frozen=True)
class Decision:
    """One policy's verdict on one object: `verdict` is allow | deny | warn | audit | skip | error."""

    policy: str
    check_id: str | None
    verdict: str
    messages: tuple[str, ...] = ()

    @property
    def violated(self) -> bool:
        return self.verdict in ("deny", "warn", "audit", "error")


def _plain(obj: Any) -> Any:
    """YAML values CEL has no type for (timestamps, dates) as the strings JSON would carry, and without the
    fields set to null: the API server decodes a built-in object into its Go type, where a null field is an
    absent one, so the object a policy sees never has them (`has(x.f)` is false, not an error later)."""
    return _drop_nulls(json.loads(json.dumps(obj, default=str)))


_STRING_MAPS = frozenset({"labels", "annotations", "matchLabels", "nodeSelector", "data", "stringData"})
"""Fields of Go type map[string]string in the built-in kinds: a null value there decodes to "", not absent."""


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ({kk: "" if vv is None else vv for kk, vv in v.items()}
                    if k in _STRING_MAPS and isinstance(v, dict) else _drop_nulls(v))
                for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _run(expr: _Expr, activation: dict[str, Any]) -> Any:
    try:
        result = expr.program.evaluate(activation)
    except Exception as exc:  # CELEvalError and cel-python internals alike: a CEL error value
        return celpy.CELEvalError(_error_text(exc))
    return result


_CEL_TYPE = re.compile(r"<class 'celpy\.celtypes\.(\w+)Type'>")


def _error_text(e: Any) -> str:
    """The first line of an error's message (cel-python packs (message, type, detail) into args)."""
    args = getattr(e, "args", None)
    first = args[0] if args else str(e)
    while isinstance(first, tuple) and first:
        first = first[0]
    text = _CEL_TYPE.sub(r"\1", str(first)).replace("Token('RULE', ", "(")
    return (text.splitlines() or [type(e).__name__])[0]


def evaluate_object(policies: Sequence[CompiledPolicy], obj: Mapping[str, Any],
                    ctx: ObjectContext) -> list[Decision]:
    """Every policy's decision on `obj` (one Decision per policy/binding pair)."""
    _require()
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    kind = str(obj.get("kind") or "")
    resource = guess_resource(kind)
    cel_obj = celpy.json_to_cel(_plain(dict(obj)))
    request = celpy.json_to_cel({
        "operation": ctx.operation,
        "namespace": ctx.namespace or "",
        "name": str(_dict(obj.get("metadata")).get("name") or ""),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "userInfo": {"username": ctx.username},
        "dryRun": False,
    })
    base = {"object": cel_obj, "oldObject": None, "params": None, "request": request}
    if ctx.namespace:
        base["namespaceObject"] = celpy.json_to_cel(
            {"metadata": {"name": ctx.namespace, "labels": dict(ctx.namespace_labels)}})
    cache: dict[tuple[tuple[str, str], ...], Any] = {}
    selected = _selector_labels(obj, kind, ctx)
    return [_decide(p, base, group, version, resource, kind, selected, ctx, cache) for p in policies]


def _selector_labels(obj: Mapping[str, Any], kind: str, ctx: ObjectContext) -> dict[str, str] | None:
    """The labels a binding's namespaceSelector is matched against, None when it never skips the object.

    Upstream (MatchResources.namespaceSelector): a namespaced object's Namespace labels; a Namespace's own
    `metadata.labels`; any other cluster-scoped object is never skipped. The API server labels every
    namespace with its name (`kubernetes.io/metadata.name`, set when the Namespace is decoded, before
    admission), whatever the manifest says."""
    if kind == "Namespace":
        meta = _dict(obj.get("metadata"))
        own = {str(k): "" if v is None else str(v) for k, v in _dict(meta.get("labels")).items()}
        return {**own, "kubernetes.io/metadata.name": str(meta.get("name") or "")}
    if ctx.namespace is None:
        return None
    return {**ctx.namespace_labels, "kubernetes.io/metadata.name": ctx.namespace}


def _decide(p: CompiledPolicy, base: dict[str, Any], group: str, version: str, resource: str, kind: str,
            selector_labels: Mapping[str, str] | None, ctx: ObjectContext,
            cache: dict[tuple[tuple[str, str], ...], Any]) -> Decision:
    def verdict(messages: list[str], error: bool = False) -> Decision:
        if not messages:
            return Decision(p.name, p.check_id, "allow")
        label = "deny" if "Deny" in p.actions else "warn" if "Warn" in p.actions else "audit"
        return Decision(p.name, p.check_id, "error" if error and label == "deny" else label, tuple(messages))

    if not any(_matches_rule(r, group, version, resource, ctx.operation) for r in p.rules):
        return Decision(p.name, p.check_id, "skip")
    if p.binding_rules and not any(_matches_rule(r, group, version, resource, ctx.operation)
                                   for r in p.binding_rules):
        return Decision(p.name, p.check_id, "skip")
    if any(_matches_rule(r, group, version, resource, ctx.operation) for r in p.binding_excludes):
        return Decision(p.name, p.check_id, "skip")
    namespaced = ctx.namespace is not None and kind != "Namespace"
    if selector_labels is not None and not selector_matches(p.namespace_selector, selector_labels):
        return Decision(p.name, p.check_id, "skip")
    activation = dict(base)
    chain: tuple[tuple[str, str], ...] = ()
    if p.param is not None:
        # paramRef.namespace unset: the object's own namespace (upstream), so a namespaced param per namespace
        ns = p.param.namespace if p.param.namespace is not None else (ctx.namespace or "" if namespaced else "")
        found = p.param.candidates.get((ns, p.param.name))
        if found is None:
            if not p.param.deny_not_found:
                return Decision(p.name, p.check_id, "allow")  # parameterNotFoundAction: Allow
            why = (f"{p.name}: no params found for binding {p.binding} ({p.param.kind} "
                   f"{ns + '/' if ns else ''}{p.param.name}; parameterNotFoundAction Deny)")
            return verdict([why], True) if p.failure_policy == "Fail" else Decision(p.name, p.check_id, "allow")
        activation["params"] = celpy.json_to_cel(_plain(dict(found)))
        chain = (("params", f"{ns}/{p.param.name}"),)  # variables reading params differ per param object
    errors: list[str] = []
    for name, expr in p.match_conditions:
        r = _run(expr, activation)
        if isinstance(r, celpy.CELEvalError):
            errors.append(f"matchCondition {name}: {_error_text(r)}")
        elif r is not True and not (isinstance(r, celtypes.BoolType) and bool(r)):
            return Decision(p.name, p.check_id, "skip")
    if errors:
        return verdict(errors, True) if p.failure_policy == "Fail" else Decision(p.name, p.check_id, "allow")
    variables: dict[str, Any] = {}
    activation["variables"] = celtypes.MapType({})
    for name, expr in p.variables:
        # A variable depends only on the request and the variables before it: policies sharing the same
        # chain (every workload policy's podSpec, allContainers, ...) compute it once per object.
        chain = (*chain, (name, expr.source))
        if chain not in cache:
            cache[chain] = _run(expr, activation)
        variables[name] = cache[chain]
        activation["variables"] = celtypes.MapType(
            {celtypes.StringType(k): v for k, v in variables.items() if not isinstance(v, celpy.CELEvalError)})
    messages: list[str] = []
    error = False
    for expr, msg_expr, message in p.validations:
        r = _run(expr, activation)
        if isinstance(r, celpy.CELEvalError) or not isinstance(r, (bool, celtypes.BoolType)):
            why = _error_text(r) if isinstance(r, celpy.CELEvalError) else "expression did not return a bool"
            bad_vars = [(k, v) for k, v in variables.items() if isinstance(v, celpy.CELEvalError)]
            if bad_vars:
                why = f"variable {bad_vars[0][0]}: {_error_text(bad_vars[0][1])}"
            if p.failure_policy == "Fail":
                messages.append(f"{p.name}: evaluation error: {why}")
                error = True
            continue
        if not r:
            text = message
            if msg_expr is not None:
                m = _run(msg_expr, activation)
                if isinstance(m, str) and m.strip() and "\n" not in m:  # upstream falls back on these
                    text = str(m)
            messages.append(text)
    return verdict(messages, error and len(messages) == sum(1 for m in messages if "evaluation error" in m))
