"""Namespace Pod Security labels (KH-NS-NNN): is Pod Security Admission switched on where ePHI lives?

Why this is a HIPAA matter: `pod-security.kubernetes.io/enforce: restricted` is the control that stops a
privileged or root workload from being scheduled next to ePHI; `audit` and `warn` make attempted violations
visible (audit log, client warnings); pinning `-version` keeps the rules from changing silently when the
cluster is upgraded. Labels are resolved exactly as the API server resolves them
(`kubehipaa.engines.pss.policy_from_labels`), including its fallbacks for unparsable values.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines import pss
from kubehipaa.engines.pss import LABEL_PREFIX as PREFIX
from kubehipaa.engines.pss import MODES
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "namespaces"


def _phi_namespaces(inv: Inventory) -> Iterator[tuple[K8sObject, pss.NamespacePolicy]]:
    """PHI namespaces with their effective policy. When a namespace is declared more than once, the last
    declaration is the one `kubectl apply` leaves in place (it removes labels the later one omits)."""
    for ns in inv.namespaces.values():
        if inv.is_phi(ns.name):
            yield ns, pss.policy_from_labels({str(k): str(v) for k, v in ns.labels.items()})


def _shadow_note(inv: Inventory, ns: K8sObject) -> str:
    """Explain a lost label: an earlier declaration of the same namespace sets pod-security labels that
    the last one (the one `kubectl apply` leaves in place) omits."""
    # The loader keeps only the last definition and hangs the earlier ones on it (sources.duplicates).
    for other in [*ns.extra.get("redefines", ()), *inv.of_kind("Namespace")]:
        if other is ns or other.name != ns.name:
            continue
        lost = sorted(k for k in other.labels if str(k).startswith(PREFIX) and k not in ns.labels)
        if lost:
            return (
                f"; {other.file}:{other.line} sets {len(lost)} pod-security label(s) that this later "
                "declaration omits, and kubectl apply keeps only the last declaration's labels"
            )
    return ""


def _label(ns: K8sObject, key: str) -> str | None:
    value = ns.labels.get(key)
    return None if value is None else str(value)


@check(
    id="KH-NS-001",
    title="PHI namespace does not enforce the restricted Pod Security Standard",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(a)(1)", "164.308(a)(1)(ii)(B)", "164.312(c)(1)"),
    relation="supports",
    cis=("5.2.1",),
    nsa=("Pod security: Pod Security Admission",),
    pss=("restricted",),
    remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted (check first with "
    "`kubehipaa pss dry-run PATH --namespace NS --level restricted`).",
    description="Without enforce=restricted the API server admits privileged, root and host-namespace pods "
    "into the namespace that holds ePHI; every other workload control then depends on review alone.",
)
def phi_namespace_not_enforcing_restricted(inv: Inventory) -> Iterator[Hit]:
    for ns, policy in _phi_namespaces(inv):
        if policy.enforce.level is pss.Level.RESTRICTED and "enforce" in policy.labelled:
            continue
        key = f"{PREFIX}enforce"
        current = _label(ns, key)
        what = "has no enforce label" if current is None else f"enforces {policy.enforce.level}"
        yield Hit(
            ns,
            f"PHI namespace {ns.name} {what} (pods are admitted at {policy.enforce}){_shadow_note(inv, ns)}",
            path=f"metadata.labels.{key}",
            value=current,
            namespace=ns.name,
        )


@check(
    id="KH-NS-002",
    title="PHI namespace does not audit and warn at the restricted Pod Security level",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.MEDIUM,
    hipaa=("164.312(b)", "164.308(a)(1)(ii)(D)"),
    relation="supports",
    pss=("restricted",),
    remediation="Label the namespace pod-security.kubernetes.io/audit=restricted and "
    "pod-security.kubernetes.io/warn=restricted.",
    description="audit=restricted records every violating request in the API audit log and warn=restricted "
    "shows it to the client: the evidence trail for attempted policy violations next to ePHI.",
)
def phi_namespace_without_audit_warn(inv: Inventory) -> Iterator[Hit]:
    for ns, policy in _phi_namespaces(inv):
        for mode in ("audit", "warn"):
            lv = policy.mode(mode)
            if lv.level is pss.Level.RESTRICTED and mode in policy.labelled:
                continue
            key = f"{PREFIX}{mode}"
            current = _label(ns, key)
            what = f"has no {mode} label" if current is None else f"{mode}s at {lv.level}"
            yield Hit(
                ns,
                f"PHI namespace {ns.name} {what}{_shadow_note(inv, ns)}",
                path=f"metadata.labels.{key}",
                value=current,
                namespace=ns.name,
            )


@check(
    id="KH-NS-003",
    title="PHI namespace does not pin its Pod Security policy version",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.LOW,
    hipaa=("164.308(a)(8)", "164.308(a)(1)(ii)(B)"),
    relation="supports",
    pss=("restricted",),
    remediation="Add pod-security.kubernetes.io/enforce-version=v1.N (the version you tested against), and the "
    "same for audit-version and warn-version; raise it deliberately after `kubehipaa pss dry-run`.",
    description="Without a pinned -version the rules are `latest`, which changes with every control-plane "
    "upgrade: the evaluated policy stops matching the documented one.",
)
def phi_namespace_unpinned_version(inv: Inventory) -> Iterator[Hit]:
    for ns, policy in _phi_namespaces(inv):
        for mode in ("enforce", "audit", "warn"):
            if mode not in policy.labelled or policy.mode(mode).level is pss.Level.PRIVILEGED:
                continue  # KH-NS-001/002 report the missing level itself
            key = f"{PREFIX}{mode}-version"
            current = _label(ns, key)
            if current is not None and policy.mode(mode).version != pss.LATEST:
                continue
            yield Hit(
                ns,
                f"PHI namespace {ns.name}: {mode} level is not pinned to a version ({key} "
                f"{'missing' if current is None else '= ' + current})",
                path=f"metadata.labels.{key}",
                value=current,
                namespace=ns.name,
            )


@check(
    id="KH-NS-004",
    title="Invalid Pod Security label value on a namespace",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(a)(1)", "164.312(b)"),
    relation="supports",
    pss=("baseline", "restricted"),
    remediation="Use exactly privileged, baseline or restricted (lower case) for levels and latest or v1.N for "
    "versions.",
    description="The API server does not reject a bad pod-security label: an unparsable enforce level becomes "
    "restricted, but an unparsable audit or warn level silently becomes privileged (no audit events, no "
    "warnings) and an unparsable version becomes latest.",
)
def invalid_pod_security_label(inv: Inventory) -> Iterator[Hit]:
    for ns in inv.of_kind("Namespace"):
        for key, value in sorted(ns.labels.items()):
            key = str(key)
            if not key.startswith(PREFIX):
                continue
            mode, _, suffix = key[len(PREFIX) :].partition("-")
            if mode not in MODES or suffix not in ("", "version"):
                yield Hit(
                    ns,
                    f"unknown Pod Security label {key} (ignored by the API server)",
                    path=f"metadata.labels.{key}",
                    value=value,
                    namespace=ns.name,
                )
                continue
            try:
                if suffix:
                    pss.parse_version(str(value))
                else:
                    pss.parse_level(str(value))
            except pss.PolicyError as exc:
                fallback = "latest" if suffix else ("restricted" if mode == "enforce" else "privileged")
                yield Hit(
                    ns,
                    f"{key}: {exc}; the API server falls back to {fallback}",
                    path=f"metadata.labels.{key}",
                    value=value,
                    namespace=ns.name,
                )
