"""The one catalog of checks: plain functions with their metadata declared beside them.

A check is `fn(inventory) -> Iterable[Hit]`. The registry, not the check, turns hits into findings, so
severity-by-PHI-namespace, HIPAA references and remediation text are applied the same way everywhere and
a check stays a few lines of logic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from kubehipaa.frameworks.rules import Family, RuleError, RuleMeta, validate
from kubehipaa.inventory import Inventory
from kubehipaa.model import Evidence, Finding, K8sObject, ResourceRef, Severity
from kubehipaa.redaction import GENERIC, mask_sensitive, redact_text, redact_tree, redacted

REDACTED = GENERIC

Alone = Literal["exact", "subset", "default", "skip"]
"""What one object shows of a check (`CheckMeta.alone`; "subset", "default", "skip" as `Needs.alone` says)."""


@dataclass(frozen=True, slots=True)
class Needs:
    """What a check reads beyond the object it reports on: the one catalog of the checks one object cannot
    decide. The admission webhook judges a one-object inventory (the AdmissionReview carries one object) and a
    ValidatingAdmissionPolicy sees one object, so both read this, never a list of their own: the webhook skips
    the checks marked "skip" (`pipelines.admission.checks_for_kind`), and `generate admission-policies` lists
    `why` as the reason a check has no policy. tests/admission/test_cross_object.py runs every check on each
    object alone and in its full input and fails on a check that reads other objects without saying so."""

    objects: tuple[str, ...]
    """The other objects read, by kind (`Role`, `ServiceAccount`, `Namespace`, `NetworkPolicy`, `workloads`)."""
    why: str
    """One line: what the verdict needs from them (the reason listed for a check without a policy)."""
    alone: Literal["subset", "default", "skip"] = "skip"
    """What a one-object inventory gives. "skip": the others' absence makes the check fire (a binding to a Role
    the request does not carry, a workload with no NetworkPolicy in sight) or it can fire on nothing: the
    webhook does not run it. "subset": every finding on one object is a finding in its full input too; the
    others can only add findings (a binding to a built-in role, which the RBAC engine knows without the
    cluster; a namespace that is PHI by the config's names): the webhook runs it and misses what only the
    others show. "default": the object is judged as if the others held their defaults (a Namespace without
    Pod Security labels: restricted at latest), which is the full input's verdict unless one of them departs
    from its default in the way `why` names: the webhook runs it, knowingly stricter there."""
    kinds: tuple[str, ...] = ()
    """The kinds under review whose verdict needs the others; empty: every kind. On any other kind one object
    decides (KH-RBAC-013 judges a ClusterRole's aggregate-to labels alone, a binding against its role)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckMeta(RuleMeta):
    """A check's metadata: the common `RuleMeta` (id, title, severity, HIPAA paragraphs, remediation, description,
    relation) plus what only the scanner uses."""

    area: str
    phi_severity: Severity | None = None
    cis: tuple[str, ...] = ()
    nsa: tuple[str, ...] = ()
    pss: tuple[str, ...] = ()
    scope: Literal["manifest", "control-plane", "cluster"] = "manifest"
    family: Family = "check"
    needs: Needs | None = None
    """The other objects the check reads to judge an object (None: the object alone decides). The config is not
    another object; a Namespace's labels are, but where they only raise a severity (a namespace PHI by
    `phi.selector`) the check is not marked: findings, not severities, are what one object must get right."""

    def severity_for(self, phi: bool) -> Severity:
        return self.phi_severity if (phi and self.phi_severity is not None) else self.severity

    def alone(self, kind: str) -> Alone:
        """What a one-object inventory holding an object of `kind` shows of this check (see `Needs.alone`)."""
        needs = self.needs
        if needs is None or (needs.kinds and kind not in needs.kinds):
            return "exact"
        return needs.alone

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "severity": self.severity.label,
            "phiSeverity": (self.phi_severity or self.severity).label,
            "hipaa": list(self.hipaa),
            "relation": self.relation,
            "cis": list(self.cis),
            "nsa": list(self.nsa),
            "pss": list(self.pss),
            "remediation": self.remediation,
            "description": self.description,
            "scope": self.scope,
        }


@dataclass(slots=True)
class Hit:
    """What a check yields: the object, a message and the offending field.

    `sensitive=True` means `value` must never be shown as-is: pass None, or key names / paths that say where the
    sensitive value is; any string without a letter or digit (a `phi.redact` shape, which would tell the value's
    length and punctuation) and None become the fixed mask `<redacted>`. Every other message, path and value, and
    the object's name and file, are passed through `kubehipaa.redaction` when the finding is made (`Check.run`;
    the message is then a `redaction.Redacted`, which tells the reports' exit pass it has nothing left to do).
    `severity` overrides the
    check's default for this one hit; `namespace` overrides the object's namespace for the PHI decision
    (e.g. a ClusterRoleBinding judged by the namespace it affects).
    """

    obj: K8sObject
    message: str
    path: str = ""
    value: Any = None
    sensitive: bool = False
    severity: Severity | None = None
    namespace: str | None = None


CheckFn = Callable[[Inventory], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Check:
    meta: CheckMeta
    fn: CheckFn

    def run(self, inv: Inventory) -> list[Finding]:
        meta = self.meta
        check_id, title, remediation, hipaa = meta.id, meta.title, meta.remediation, meta.hipaa
        default, phi_default = meta.severity_for(False), meta.severity_for(True)
        phi = inv.phi_namespaces
        shown_ref = inv.finding_ref  # one redacted ResourceRef per object, shared by all its findings
        out: list[Finding] = []
        append = out.append
        paths: dict[str, str] = {}  # a check reports the same few field paths on every object
        for hit in self.fn(inv):
            severity = hit.severity
            if not severity:
                ns = hit.namespace if hit.namespace is not None else hit.obj.namespace
                severity = phi_default if ns and ns in phi else default
            append(Finding(check_id, title, severity, shown_ref(hit.obj, redact_ref), redacted(hit.message),
                           [_evidence(hit, paths)], remediation, hipaa))
        return out

    def location(self) -> str:
        """`kubehipaa/checks/rbac.py:109`: where the check is defined (its `@check` line), relative to the
        directory that holds the package, so the same text points into a checkout's src/ and an installed
        site-packages alike (`kubehipaa checks show`)."""
        code = getattr(self.fn, "__code__", None)
        if code is None:  # a callable object, not a function: its module is all we know
            return self.fn.__module__.replace(".", "/") + ".py"
        path = Path(code.co_filename)
        try:
            rel = path.relative_to(_PACKAGE_PARENT).as_posix()
        except ValueError:
            rel = self.fn.__module__.replace(".", "/") + ".py"
        return f"{rel}:{code.co_firstlineno}"


_PACKAGE_PARENT = Path(__file__).parents[2]
"""The directory holding the `kubehipaa` package (src/ in a checkout, site-packages when installed)."""


@lru_cache(maxsize=1 << 17)
def redact_ref(ref: ResourceRef) -> ResourceRef:
    """`ref` with its name, namespace and file redacted (an object named after a patient identifier); the same
    object when nothing changes, which is nearly always. Cached: every check that fires on an object asks."""
    name, file = redact_text(ref.name), redact_text(ref.file)
    ns = redact_text(ref.namespace) if ref.namespace else ref.namespace
    if name is ref.name and ns is ref.namespace and file is ref.file:
        return ref
    return dataclasses.replace(ref, name=name, namespace=ns, file=file)


EVIDENCE_DEPTH = 16
"""Nesting shown in an evidence value; deeper parts are shown as `…`. A wrong-typed field can hold a value
nested hundreds of levels deep, which no report format carries (orjson stops at 255 levels, the redaction
walk is recursive) and no reader needs."""
_JSON_INTS = (-(2**63), 2**64)
"""Integers every report encoder writes as numbers (orjson: int64 and uint64); larger ones become text."""


def _bounded(value: Any, depth: int = 0) -> Any:
    """`value` as every renderer can write it: nesting cut at `EVIDENCE_DEPTH`, integers beyond 64 bits as
    their digits (or their size, past what Python converts to text). Scalars come back as they are."""
    if isinstance(value, int) and not isinstance(value, bool):
        if _JSON_INTS[0] <= value < _JSON_INTS[1]:
            return value
        return str(value) if value.bit_length() <= 4096 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, dict | list | tuple):
        if depth >= EVIDENCE_DEPTH:
            return "…"
        if isinstance(value, dict):
            return {k: _bounded(v, depth + 1) for k, v in value.items()}
        return [_bounded(v, depth + 1) for v in value]
    return value


def _evidence(hit: Hit, paths: dict[str, str] | None = None) -> Evidence:
    """The hit's evidence as it may be shown: a sensitive value masked, any other value redacted (a manifest
    value can hold a password or an SSN the check was not looking for), and bounded (`_bounded`). `paths`
    remembers redacted paths (`redact_text` is a pure function of the text)."""
    path = hit.path
    if paths is None or type(path) is not str:
        path = redact_text(path)
    else:
        shown_path = paths.get(path)
        if shown_path is None:
            shown_path = paths[path] = redact_text(path)
        path = shown_path
    value = hit.value
    if not hit.sensitive:  # the two shapes nearly every hit has, without the general walk below
        if value is None:
            return Evidence(path, None)
        if type(value) is str:
            shown = redact_text(value)
            return Evidence(path, shown, shown != value)
    if hit.sensitive:
        return Evidence(path, mask_sensitive(_bounded(hit.value)), True)
    value = _bounded(hit.value)
    if isinstance(value, str | list | tuple | dict):
        shown = redact_tree(value)
        return Evidence(path, shown, shown != (list(value) if isinstance(value, tuple) else value))
    return Evidence(path, value)


REGISTRY: dict[str, Check] = {}


def check(
    *,
    id: str,
    title: str,
    area: str,
    severity: Severity,
    hipaa: tuple[str, ...],
    remediation: str,
    **extra: Any,
) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as a check with this metadata, validated here (`frameworks.rules.validate`: id format,
    severity, HIPAA paragraphs in the catalog, remediation)."""
    meta = validate(CheckMeta(id=id, title=title, area=area, severity=severity, hipaa=tuple(hipaa),
                              remediation=remediation, **extra))
    if meta.phi_severity is not None and not isinstance(meta.phi_severity, Severity):
        raise RuleError(f"{id}: phi_severity {meta.phi_severity!r} is not a Severity")
    needs = meta.needs
    if needs is not None and (not isinstance(needs, Needs) or not needs.objects or not needs.why.strip()
                              or needs.alone not in ("subset", "default", "skip")):
        raise RuleError(f"{id}: needs must be a Needs naming the objects read, why, and alone subset|default|skip")

    def register(fn: CheckFn) -> CheckFn:
        if id in REGISTRY and REGISTRY[id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"duplicate check id {id}")
        REGISTRY[id] = Check(meta, fn)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every registered check, sorted by id (importing the check modules registers them)."""
    import kubehipaa.checks  # noqa: F401  (side effect: registration)

    return [REGISTRY[k] for k in sorted(REGISTRY)]
