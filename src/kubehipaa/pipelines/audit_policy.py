"""The audit-policy check pipeline: which high-value events an audit Policy records, and at which level.

For each audit Policy among the loaded objects: parse it (`engines.controlplane`), simulate the representative
requests of every high-value event class in the PHI namespaces with the API server's first-match rule
evaluation, and keep what `reports.audit_policy` shows (coverage per class, catch-all `None` rules that hide
classes, rules that still record the `RequestReceived` stage). Nothing here prints or renders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubehipaa.engines.controlplane import (
    ClassCoverage,
    PolicyError,
    coverage,
    hiding_catch_all,
    is_audit_policy,
    parse_policy,
    request_received_recorded,
)
from kubehipaa.errors import InputError
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject

if TYPE_CHECKING:  # not imported at run time: building the config models costs ~100 ms
    from kubehipaa.config import Config

DEFAULT_NAMESPACES = ("default",)


@dataclass(slots=True)
class PolicyCoverage:
    """One audit Policy (its file and line) and how it treats every high-value event class."""

    file: str
    line: int
    rules: int
    omit_stages: list[str]
    coverage: list[ClassCoverage]
    request_received_recorded_by: list[int | None]
    """Rules (index; None: the default) whose events still include the `RequestReceived` stage."""
    catch_all_none_hides: dict[int, list[str]]
    """Catch-all `None` rules (index) and the classes they hide."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.coverage)


@dataclass(slots=True)
class AuditPolicyCheck:
    """`audit-policy check`: the namespaces requests were simulated in, and each policy's coverage."""

    namespaces: list[str]
    policies: list[PolicyCoverage]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.policies)


def phi_namespaces(objects: Sequence[K8sObject], config: Config | None) -> list[str]:
    """The PHI namespaces of the config and the input's Namespace labels, else `default`."""
    return sorted(Inventory(list(objects), config).phi_namespaces) or list(DEFAULT_NAMESPACES)


def check_policies(objects: Sequence[K8sObject], namespaces: Sequence[str] | None = None,
                   config: Callable[[], Config | None] | None = None, *, where: str = "the input") -> AuditPolicyCheck:
    """Coverage of every audit Policy among `objects`, simulated in `namespaces` (None: `phi_namespaces` of
    the config `config()` returns; it is called only then, after the input was found to hold a Policy).

    No Policy at all, or one that is not valid, is an input error: the API server refuses a policy file it
    cannot parse, so judging what was readable would mislead (`where` names the input in the message)."""
    policies = [o for o in objects if is_audit_policy(o)]
    if not policies:
        raise InputError(f"no audit Policy (apiVersion audit.k8s.io/v1, kind Policy) found in {where}")
    nss = list(namespaces) if namespaces else phi_namespaces(objects, config() if config else None)
    out = []
    for obj in policies:
        try:
            pol = parse_policy(obj.doc)
        except PolicyError as exc:
            raise InputError(f"invalid audit Policy: {exc}", obj.file, obj.line) from None
        cov = coverage(pol, nss)
        out.append(PolicyCoverage(obj.file, obj.line, len(pol.rules), sorted(pol.omit_stages), cov,
                                  request_received_recorded(pol), hiding_catch_all(pol, cov)))
    return AuditPolicyCheck(nss, out)
