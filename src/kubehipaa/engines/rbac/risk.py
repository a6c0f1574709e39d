"""RBAC risk rules: a validated data catalog (`risk_rules.yaml`) and its evaluation over an `RbacIndex`.

The catalog is data so that security teams can read and review it without reading code; it is checked against
a JSON Schema, duplicate YAML keys and duplicate ids are rejected, every request string must parse, and every
rule's metadata passes the common rule validator (`frameworks.rules`: HIPAA paragraphs in the catalog, a
remediation), so a typo can never silently disable a rule or cite a paragraph that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources as importlib_resources
from typing import TYPE_CHECKING, Any

import yaml

from kubehipaa.engines.rbac.defaults import bootstrap_policy, builtin_audit
from kubehipaa.engines.rbac.index import RbacIndex
from kubehipaa.engines.rbac.matching import rule_allows
from kubehipaa.engines.rbac.resources import RequestSyntaxError, request_attributes, rolebinding_can_grant
from kubehipaa.engines.rbac.types import Attributes, Binding, Role, Subject
from kubehipaa.errors import InputError
from kubehipaa.frameworks.rules import Family, RuleError, RuleMeta, validate
from kubehipaa.model import Severity

if TYPE_CHECKING:  # imported where the catalog is validated: `rbac can-i`/`who-can` never load it (~100 ms)
    import jsonschema

AGGREGATE_LABEL_PREFIX = "rbac.authorization.k8s.io/aggregate-to-"
ELEVATED_NAMESPACES = frozenset({"kube-system"})
DEFAULT_HIPAA = ("164.312(a)(1)", "164.308(a)(4)(ii)(B)")
"""Paragraphs of a rule in a user's catalog (`--rules`) that names none: access control and access
authorization, what every risky grant is about. The built-in catalog states each rule's own."""
DEFAULT_REMEDIATION = ("Remove the grant or limit it with resourceNames to what the subject needs; see "
                       "`kubehipaa rbac escalation` for where it leads.")
"""Remediation of a rule in a user's catalog that states none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRule(RuleMeta):
    """One risk rule: the common rule metadata (`description` is the catalog's `why`) and what to match."""

    kind: str
    covered_by: str | None = None
    any_of: tuple[tuple[Attributes, ...], ...] = ()
    any_of_text: tuple[tuple[str, ...], ...] = ()
    family: Family = "rbac-risk"


@dataclass(frozen=True, slots=True)
class RiskHit:
    """One risk rule firing on one binding (or, for aggregate-label, one ClusterRole)."""

    rule: RiskRule
    severity: Severity
    message: str
    binding: Binding | None = None
    role: Role | None = None
    elevated: bool = False
    """True when the grant reaches a PHI namespace or kube-system, which raised its severity."""

    def to_dict(self) -> dict[str, Any]:
        target = self.binding or self.role
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "severity": self.severity.label,
            "message": self.message,
            "object": None if target is None else {
                "kind": target.kind, "name": target.name,
                **({"namespace": target.namespace} if target.namespace else {}),
                "file": target.origin.file, "line": target.origin.line,
            },
            "subjects": [s.to_dict() for s in self.binding.subjects] if self.binding else [],
            "elevated": self.elevated,
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise InputError(f"duplicate key {key!r} (first at line {seen[key]})", None, key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _CUniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same, over libyaml's parser: for the packaged catalog only (a user's `--rules` file keeps the pure-
    Python parser, whose error messages the CLI reports)."""


_CUniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _schema() -> dict[str, Any]:
    text = importlib_resources.files(__package__).joinpath("risk_rules.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def parse_request(text: str) -> Attributes:
    """`"create pods/exec"` -> Attributes (no namespace; scope is decided per binding)."""
    verb, _, target = text.partition(" ")
    return request_attributes(verb, target.strip(), as_request=False)


def _schema_problem(err: jsonschema.ValidationError) -> str:
    """What is wrong, in the schema's terms, never quoting the offending value (a wrong file given as
    `--rules` may hold anything, secrets included)."""
    kw, want = err.validator, err.validator_value
    if kw == "type":
        return f"expected {want if isinstance(want, str) else ' or '.join(want)}"
    if kw == "required" and isinstance(err.instance, dict):
        return f"missing key(s) {', '.join(k for k in want if k not in err.instance)}"
    if kw == "enum":
        return f"must be one of {', '.join(map(str, want))}"
    if kw == "pattern":
        return f"does not match {want!r}"
    if kw == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set((err.schema or {}).get("properties", {}))
        return f"unknown key(s) {', '.join(sorted(str(k) for k in err.instance if k not in allowed))}"
    return f"does not satisfy the schema keyword {kw!r}"


def load_risk_rules(text: str | None = None, source: str = "risk_rules.yaml") -> list[RiskRule]:
    """Parse and validate a risk-rule catalog (the built-in one when `text` is None).

    The built-in catalog is read with libyaml and not checked against the JSON Schema at run time: every scan
    loads it, and the pure-Python parser plus importing jsonschema cost ~0.13 s of CPU, a tenth of the checks
    on 2,000 workloads. tests/rbac/test_risk.py validates the packaged file against the schema and holds this
    path equal to the full one. Every other check below (ids, requests, HIPAA paragraphs) still runs."""
    builtin = text is None
    if text is None:
        text = importlib_resources.files(__package__).joinpath("risk_rules.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_CUniqueKeyLoader if builtin else _UniqueKeyLoader)  # SafeLoader rules
    except InputError as exc:
        raise InputError(exc.message, source, exc.line) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise InputError(f"malformed YAML: {exc.problem}", source, line) from None
    errors: list[jsonschema.ValidationError] = []
    if not builtin:
        import jsonschema

        errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.path) or "<root>"
        raise InputError(f"{where}: {_schema_problem(err)}", source)
    out: list[RiskRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["rules"]):
        if raw["id"] in seen:
            raise InputError(f"rules/{i}: duplicate rule id {raw['id']}", source)
        seen.add(raw["id"])
        alternatives = []
        for j, alt in enumerate(raw.get("any_of") or ()):
            try:
                alternatives.append(tuple(parse_request(r) for r in alt))
            except RequestSyntaxError as exc:
                raise InputError(f"rules/{i}/any_of/{j}: {exc}", source) from None
        rule = RiskRule(
            id=raw["id"],
            title=raw["title"],
            kind=raw["kind"],
            severity=Severity.parse(raw["severity"]),
            hipaa=tuple(raw.get("hipaa") or DEFAULT_HIPAA),
            remediation=" ".join(str(raw.get("remediation") or DEFAULT_REMEDIATION).split()),
            description=" ".join(str(raw["why"]).split()),
            covered_by=raw.get("covered_by"),
            any_of=tuple(alternatives),
            any_of_text=tuple(tuple(alt) for alt in raw.get("any_of") or ()),
        )
        try:
            out.append(validate(rule))
        except RuleError as exc:
            raise InputError(f"rules/{i}: {exc}", source) from None
    return out


@cache
def builtin_risk_rules() -> tuple[RiskRule, ...]:
    return tuple(load_risk_rules())


def role_allows_any_name(role: Role, attrs: Attributes) -> bool:
    """Does the role allow this request for at least one object name (resourceNames ignored)?"""
    for rule in role.rules:
        r = replace(rule, resource_names=()) if rule.resource_names else rule
        if rule_allows(attrs, r):
            return True
    return False


def binding_grants(idx: RbacIndex, binding: Binding, attrs: Attributes) -> bool:
    """Does this binding grant `attrs` for some name, in the binding's scope? A RoleBinding grants only requests
    that carry its namespace: never non-resource URLs or cluster-scoped resources, except the ones the API
    server asks about in a namespace (`bind` of a ClusterRole for a RoleBinding there; its own Namespace)."""
    role = idx.role_for(binding)
    if role is None:
        return False
    if binding.namespace and not rolebinding_can_grant(attrs):
        return False
    # Rule matching never looks at the namespace (scoping is the binding's job, handled above), so the answer
    # depends only on the role's rules and the request: evaluate_risks caches on exactly that.
    return role_allows_any_name(role, attrs)


def _bump(sev: Severity) -> Severity:
    return Severity(min(int(sev) + 1, int(Severity.CRITICAL)))


def _subjects_text(binding: Binding) -> str:
    return ", ".join(binding.effective_subject(s).display for s in binding.subjects) or "no subjects"


def evaluate_risks(
    idx: RbacIndex,
    phi_namespaces: Iterable[str] = (),
    rules: Iterable[RiskRule] | None = None,
) -> list[RiskHit]:
    """Every risk rule firing on the index, severity raised where the grant reaches PHI or kube-system.

    Built-in objects as Kubernetes ships them are skipped (by name and content, never by label: see
    engines/rbac/defaults.py); a modified or look-alike built-in is evaluated like any other object."""
    rules = list(builtin_risk_rules() if rules is None else rules)
    audit = builtin_audit(idx)
    policy = bootstrap_policy()
    elevated_ns = set(phi_namespaces) | ELEVATED_NAMESPACES
    defined_sas = {(ns, name) for ns, name, _ in idx.loaded.service_accounts}
    sa_namespaces = {ns for ns, _ in defined_sas}
    out: list[RiskHit] = []
    # Keyed on the role's rules, not its name: thousands of Roles often share identical rules. The rules
    # tuple (of dataclasses, hashed in Python) is numbered once per binding, and requests by identity.
    grant_cache: dict[tuple[int, bool, int], bool] = {}
    rules_ids: dict[tuple[Any, ...] | None, int] = {}

    def grants(b: Binding, bk: tuple[int, bool], attrs: Attributes) -> bool:
        key = (bk[0], bk[1], id(attrs))
        hit = grant_cache.get(key)
        if hit is None:
            hit = grant_cache[key] = binding_grants(idx, b, attrs)
        return hit

    # What every rule asks of a binding, computed once per binding rather than once per (rule, binding): the
    # built-in verdict, whether the grant reaches PHI or kube-system, and the key of the rules it grants (on
    # 2,000 bindings and 27 rules that walk was most of the check's time).
    judged: list[tuple[Binding, bool, tuple[int, bool]]] = []
    for b in idx.bindings:
        if audit.exempt(b):
            continue
        role = idx.role_for(b)
        role_rules = role.rules if role is not None else None
        bk = (rules_ids.setdefault(role_rules, len(rules_ids)), bool(b.namespace))
        judged.append((b, not b.namespace or b.namespace in elevated_ns, bk))
    for rule in rules:
        if rule.kind == "aggregate-label":
            for role in idx.roles.values():
                if role.kind != "ClusterRole" or audit.exempt(role):
                    continue
                labels = [k for k, v in role.labels if k.startswith(AGGREGATE_LABEL_PREFIX) and v == "true"]
                if labels:
                    out.append(RiskHit(rule, rule.severity, f"{rule.title}: {', '.join(labels)}", role=role))
            continue
        bumped = _bump(rule.severity)
        # Whether a permission rule fires depends only on the binding's key (its role's rules, namespaced or
        # not): the first matching alternative is found once per key.
        fired: dict[tuple[int, bool], int | None] = {}
        for b, elevated, bk in judged:
            sev = bumped if elevated else rule.severity
            if rule.kind == "missing-role":
                # A built-in role exists in every cluster even when the input lacks it (an index built without
                # the built-ins has no entry for it); any other name, `system:` ones included, is dangling.
                if idx.role_for(b) is None and policy.referenced_role(b) is None:
                    out.append(RiskHit(rule, sev, idx.missing_role_error(b), binding=b, elevated=elevated))
            elif rule.kind == "missing-subject":
                for s in b.subjects:
                    e = b.effective_subject(s)
                    if (e.kind == "ServiceAccount" and e.namespace in sa_namespaces and e.name != "default"
                            and (e.namespace, e.name) not in defined_sas):
                        out.append(RiskHit(rule, sev, f"{rule.title}: {e.display} is not defined", binding=b,
                                           elevated=elevated))
            else:
                if bk in fired:
                    which = fired[bk]
                else:
                    which = fired[bk] = next(
                        (n for n, alt in enumerate(rule.any_of) if all(grants(b, bk, a) for a in alt)), None)
                if which is not None:
                    text = rule.any_of_text[which]
                    scope = f"namespace {b.namespace}" if b.namespace else "all namespaces"
                    out.append(RiskHit(
                        rule, sev,
                        f"{rule.title} ({' + '.join(text)}) in {scope} for {_subjects_text(b)}",
                        binding=b, elevated=elevated,
                    ))
    return out


def subject_risks(hits: Iterable[RiskHit]) -> dict[Subject, list[RiskHit]]:
    """Risk hits grouped by the (defaulted) subjects that receive them."""
    out: dict[Subject, list[RiskHit]] = {}
    for h in hits:
        if h.binding is None:
            continue
        for s in h.binding.subjects:
            out.setdefault(h.binding.effective_subject(s), []).append(h)
    return out
