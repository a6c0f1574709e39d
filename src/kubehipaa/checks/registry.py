"""The one catalog of checks: plain functions with their metadata declared beside them.

A check is `fn(inventory) -> Iterable[Hit]`. The registry, not the check, turns hits into findings, so
severity-by-PHI-namespace, HIPAA references and remediation text are applied the same way everywhere and
a check stays a few lines of logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubehipaa.inventory import Inventory
from kubehipaa.model import Evidence, Finding, K8sObject, Severity

CHECK_ID = re.compile(r"^KH-[A-Z]{2,5}-\d{3}$")
HIPAA_PARAGRAPH = re.compile(
    r"^164\.(308|310|312|314|316)\([a-e]\)(\(\d+\))?(\((i|ii|iii|iv|v|vi|vii|viii)\))?(\([A-J]\))?$"
)
REDACTED = "<redacted>"


@dataclass(frozen=True, slots=True)
class CheckMeta:
    id: str
    title: str
    area: str
    severity: Severity
    hipaa: tuple[str, ...]
    remediation: str
    description: str = ""
    phi_severity: Severity | None = None
    relation: Literal["satisfies", "supports"] = "supports"
    cis: tuple[str, ...] = ()
    nsa: tuple[str, ...] = ()
    pss: tuple[str, ...] = ()
    scope: Literal["manifest", "control-plane", "cluster"] = "manifest"

    def severity_for(self, phi: bool) -> Severity:
        return self.phi_severity if (phi and self.phi_severity is not None) else self.severity

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

    `sensitive=True` means `value` must never be shown as-is: pass an already-redacted value (e.g.
    from `kubehipaa.engines.phi`) or None, which becomes `<redacted>`. `severity` overrides the
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
        ref = inv.ref  # one ResourceRef per object, shared by all its findings
        out = []
        for hit in self.fn(inv):
            severity = hit.severity
            if not severity:
                ns = hit.namespace if hit.namespace is not None else hit.obj.namespace
                severity = phi_default if ns and ns in phi else default
            if hit.sensitive:
                evidence = Evidence(hit.path, hit.value if hit.value is not None else REDACTED, True)
            else:
                evidence = Evidence(hit.path, hit.value)
            out.append(
                Finding(check_id, title, severity, ref(hit.obj), hit.message, [evidence], remediation, hipaa)
            )
        return out


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
    """Register `fn` as a check with this metadata; ids and HIPAA paragraphs are validated here."""
    if not CHECK_ID.match(id):
        raise ValueError(f"check id {id!r} does not match KH-<AREA>-<NNN>")
    if not hipaa:
        raise ValueError(f"{id}: a check must name the HIPAA paragraphs it supports")
    for para in hipaa:
        if not HIPAA_PARAGRAPH.match(para):
            raise ValueError(f"{id}: {para!r} is not a HIPAA Security Rule paragraph id")
    meta = CheckMeta(id=id, title=title, area=area, severity=severity, hipaa=tuple(hipaa),
                     remediation=remediation, **extra)

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
