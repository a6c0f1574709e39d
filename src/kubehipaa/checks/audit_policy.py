"""Audit Policy coverage (KH-AUD-NNN): what the API server records for high-value events.

The policy is simulated with :mod:`kubehipaa.engines.controlplane` (audit_policy.py) (first matching rule wins) for
representative requests in the PHI namespaces (``default`` when none are known), by a human user and by a
workload service account.  CIS 3.2.1/3.2.2 ask for a minimal policy covering key security concerns;
HIPAA 164.312(b) asks that activity in systems holding ePHI be recorded - without copying ePHI or
credentials into the log.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks.apiserver import not_assessed
from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines.controlplane import (
    LEVEL_RANK,
    ClassCoverage,
    Policy,
    PolicyError,
    coverage,
    hiding_catch_all,
    parse_policy,
    request_received_recorded,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "audit"
SENSITIVE_CLASSES = ("secrets", "configmaps", "tokenreviews", "serviceaccounts/token")
EXEC_CLASSES = ("pods/exec", "pods/attach", "pods/portforward")


def policies(inv: Inventory) -> Iterator[tuple[K8sObject, Policy | None, str | None]]:
    for obj in inv.control_plane.audit_policies:
        try:
            yield obj, parse_policy(obj.doc), None
        except PolicyError as exc:
            yield obj, None, str(exc)


def phi_namespaces(inv: Inventory) -> list[str]:
    return sorted(inv.phi_namespaces) or ["default"]


def coverages(inv: Inventory) -> Iterator[tuple[K8sObject, Policy, dict[str, ClassCoverage]]]:
    nss = phi_namespaces(inv)
    for obj, pol, _ in policies(inv):
        if pol is not None:
            yield obj, pol, {c.cls.key: c for c in coverage(pol, nss)}


def _rule_path(cov: ClassCoverage) -> str:
    """The rule that decided the first offending request ("rules" when no rule matched)."""
    idx = cov.bad[0][1].rule_index if cov.bad else None
    return f"rules[{idx}]" if idx is not None else "rules"


def _summary(cov: ClassCoverage) -> str:
    first = cov.problems[0]
    more = f" (+{len(cov.problems) - 1} more)" if len(cov.problems) > 1 else ""
    return first + more


@check(
    id="KH-AUD-001",
    title="Audit policy records bodies of secrets, configmaps or tokens",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)", "164.312(a)(1)"),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Add an early rule `level: Metadata` for secrets, configmaps, serviceaccounts/token and "
    "tokenreviews.authentication.k8s.io, before any Request/RequestResponse rule.",
    description="At Request or RequestResponse the audit log stores request/response bodies, i.e. secret "
    "values, tokens and any PHI kept in ConfigMaps, in a log that is widely copied and retained for years.",
)
def bodies_recorded(inv: Inventory) -> Iterator[Hit]:
    for obj, _, cov in coverages(inv):
        for key in SENSITIVE_CLASSES:
            c = cov[key]
            too_high = [(r, d) for r, d in c.decisions if d.rank > LEVEL_RANK["Metadata"]]
            if too_high:
                req, d = too_high[0]
                yield Hit(
                    obj,
                    f"{c.cls.title}: recorded at {d.level} (e.g. {req.describe}, rule {d.rule_index})",
                    path=f"rules[{d.rule_index}]",
                    value=d.level,
                )


@check(
    id="KH-AUD-002",
    title="Audit policy does not record access to secrets, configmaps or tokens",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)",),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Record secrets, configmaps, serviceaccounts/token and tokenreviews at level Metadata.",
    description="Who read or changed a credential, or a ConfigMap with PHI, must be reconstructable.",
)
def sensitive_not_recorded(inv: Inventory) -> Iterator[Hit]:
    for obj, _, cov in coverages(inv):
        for key in SENSITIVE_CLASSES:
            c = cov[key]
            missing = [
                (r, d)
                for r, d in c.decisions
                if d.level == "None" or {"RequestReceived", "ResponseComplete"} <= d.omit_stages
            ]
            if missing:
                req, d = missing[0]
                where = f"rule {d.rule_index}" if d.rule_index is not None else "no rule matched"
                yield Hit(
                    obj,
                    f"{c.cls.title}: not recorded (e.g. {req.describe}: {d.level}, {where})",
                    path=f"rules[{d.rule_index}]" if d.rule_index is not None else "rules",
                    value=d.level,
                )


@check(
    id="KH-AUD-003",
    title="Audit policy does not record exec, attach or port-forward requests",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)",),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Add a rule `level: Request` for pods/exec, pods/attach and pods/portforward.",
    description="Interactive access to a container of a PHI workload is the most direct path to ePHI; the "
    "command and target must be recorded (level Request or above).",
)
def exec_not_recorded(inv: Inventory) -> Iterator[Hit]:
    for obj, _, cov in coverages(inv):
        for key in EXEC_CLASSES:
            c = cov[key]
            if not c.ok:
                yield Hit(obj, f"{c.cls.title}: {_summary(c)}", path=_rule_path(c))


@check(
    id="KH-AUD-004",
    title="Audit policy does not record RBAC changes in full",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(b)", "164.308(a)(4)(ii)(C)"),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Add a rule `level: RequestResponse` for roles, rolebindings, clusterroles and "
    "clusterrolebindings in group rbac.authorization.k8s.io (verbs create, update, patch, delete, "
    "deletecollection).",
    description="Access establishment and modification (164.308(a)(4)(ii)(C)) must be reconstructable: "
    "what was granted to whom needs the request and response bodies.",
)
def rbac_not_recorded(inv: Inventory) -> Iterator[Hit]:
    for obj, _, cov in coverages(inv):
        c = cov["rbac-writes"]
        if not c.ok:
            yield Hit(obj, f"{c.cls.title}: {_summary(c)}", path=_rule_path(c))


@check(
    id="KH-AUD-005",
    title="Audit policy does not record authentication failures",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=("164.312(b)", "164.308(a)(5)(ii)(C)"),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Make sure requests without a user (no users/userGroups selector) reach a rule at Metadata "
    "or above, and do not omit the ResponseStarted stage.",
    description="Failed authentications are audited at stage ResponseStarted with no user; a policy that "
    "only matches known users or omits ResponseStarted drops them (log-in monitoring, 164.308(a)(5)(ii)(C)).",
)
def authn_failures(inv: Inventory) -> Iterator[Hit]:
    for obj, _, cov in coverages(inv):
        c = cov["authn-failures"]
        if not c.ok:
            yield Hit(obj, f"{c.cls.title}: {_summary(c)}", path=_rule_path(c))


@check(
    id="KH-AUD-006",
    title="Audit policy records the RequestReceived stage",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(b)",),
    cis=("3.2.1",),
    scope="control-plane",
    remediation="Add `omitStages: [RequestReceived]` at the policy level.",
    description="RequestReceived duplicates every event without adding information, doubling log volume "
    "and the cost of the six-year retention.",
)
def request_received(inv: Inventory) -> Iterator[Hit]:
    for obj, pol, _ in policies(inv):
        if pol is None:
            continue
        rules = request_received_recorded(pol)
        if rules:
            yield Hit(
                obj,
                f"{len(rules)} recording rule(s) keep the RequestReceived stage "
                f"(rules {', '.join(map(str, rules))})",
                path="omitStages",
                value=sorted(pol.omit_stages),
            )


@check(
    id="KH-AUD-007",
    title="Early catch-all None rule hides high-value events",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)",),
    cis=("3.2.2",),
    scope="control-plane",
    remediation="Move the catch-all `level: None` rule to the end (or remove it) so the specific rules for "
    "secrets, exec and RBAC are reached first.",
    description="Rules are evaluated in order and the first match wins; an unconditional None rule before "
    "the specific rules silently disables them.",
)
def early_catch_all(inv: Inventory) -> Iterator[Hit]:
    for obj, pol, cov in coverages(inv):
        hidden = hiding_catch_all(pol, list(cov.values()))
        for idx, keys in sorted(hidden.items()):
            yield Hit(
                obj,
                f"rule {idx} (level None, matches everything) hides: {', '.join(keys)}",
                path=f"rules[{idx}]",
                value="None",
            )


@check(
    id="KH-AUD-008",
    title="Audit policy is invalid",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=("164.312(b)",),
    scope="control-plane",
    remediation="Fix the audit Policy so the API server accepts it (see the message).",
    description="An invalid policy keeps the API server from starting, or from auditing.",
)
def invalid(inv: Inventory) -> Iterator[Hit]:
    for obj, pol, err in policies(inv):
        if pol is None:
            yield Hit(obj, f"invalid audit Policy: {err}", path="rules")


@check(
    id="KH-AUD-009",
    title="Audit policy not assessed",
    area=AREA,
    severity=Severity.LOW,
    hipaa=("164.312(b)", "164.316(b)(2)(i)"),
    scope="control-plane",
    remediation="Provide the audit Policy (self-managed), or keep the listed provider evidence with your "
    "HIPAA documentation (managed control plane).",
    description="A control-plane scan was requested but the audit policy was not visible. Reported instead "
    "of a silent pass.",
)
def audit_not_assessed(inv: Inventory) -> Iterator[Hit]:
    yield from not_assessed(inv, "audit", "audit policy")
