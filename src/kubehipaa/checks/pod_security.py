"""Pod Security Standards admission (KH-PSS-NNN): would the API server admit these pods?

Why this is a HIPAA matter: the hardening practice for ePHI workloads is to enforce Pod Security Admission at
`restricted` in every PHI namespace. These checks run the same evaluation the API server runs
(`kubehipaa.engines.pss`, upstream check ids and wording), so a finding reads exactly like the rejection
`kubectl apply` would print. They complement the per-control workload checks (KH-WL-*), which point at
individual fields; here the verdict is the admission decision as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks.registry import Hit, Needs, check
from kubehipaa.engines import pss
from kubehipaa.inventory import Inventory, PodSpecRef
from kubehipaa.model import Severity

AREA = "pod_security"
RESTRICTED_LATEST = pss.LevelVersion(pss.Level.RESTRICTED, pss.LATEST)


def _policies(inv: Inventory) -> dict[str | None, pss.NamespacePolicy]:
    """Each namespace's label policy, parsed once per scan rather than once per pod spec."""
    out: dict[str | None, pss.NamespacePolicy] = {}
    for ref in inv.pod_specs:
        ns = ref.namespace
        if ns not in out:
            out[ns] = pss.policy_from_labels(inv.namespace_labels(ns) if ns else {})
    return out


def _verdict(inv: Inventory, ref: PodSpecRef, lv: pss.LevelVersion) -> pss.Verdict | None:
    try:
        return pss.evaluate_lv(ref.template_meta, ref.spec, lv)
    except pss.PodSpecError as exc:
        # Not judged, so not "admissible" either: reported as skipped input (the scan exits 2).
        inv.skip(ref.owner.file, ref.owner.line,
                 f"{ref.owner.display}: {ref.path}: {exc}; Pod Security not evaluated")
        return None


def _summary(verdict: pss.Verdict) -> str:
    return verdict.forbidden_message()


@check(
    id="KH-PSS-001",
    title="Workload in a PHI namespace is not admissible under the restricted Pod Security Standard",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(a)(1)", "164.312(c)(1)", "164.308(a)(1)(ii)(B)"),
    relation="supports",
    cis=("5.2.1",),
    nsa=("Pod security: Pod Security Admission",),
    pss=("restricted",),
    remediation="Fix the securityContext so the pod passes `restricted` (run `kubehipaa pss evaluate FILE "
    "--level restricted` for the exact fields): runAsNonRoot: true, allowPrivilegeEscalation: false, "
    'capabilities.drop: ["ALL"], seccompProfile.type: RuntimeDefault, no host namespaces, hostPath or host '
    "ports. Then label the namespace pod-security.kubernetes.io/enforce=restricted.",
    description="Every workload next to ePHI should pass the restricted Pod Security Standard, so that the "
    "namespace can enforce it. Evaluated at the namespace's pinned enforce-version when it enforces "
    "restricted, else at latest; the message is the API server's own rejection text.",
    # Alone: PHI by the config's names only (the full input adds those PHI by label: more findings), judged at
    # restricted/latest. That is the full input's verdict unless the Namespace enforces restricted at an older
    # pinned version, where latest can be stricter (runAsUser 0 since 1.23, probe and lifecycle hosts since
    # 1.34): the webhook then denies what Pod Security Admission admits, on purpose (tested). Where latest is more
    # lenient (Windows pods since 1.25, more safe sysctls) one object shows less: a subset.
    needs=Needs(("Namespace",), "needs the Namespace's labels (PHI by selector, the pinned enforce-version) and the "
                "PSS engine; use Pod Security Admission (`kubehipaa generate namespace`) and the KH-WL policies here",
                alone="default"),
)
def phi_workload_not_restricted(inv: Inventory) -> Iterator[Hit]:
    policies = _policies(inv)
    for ref in inv.pod_specs:
        ns = ref.namespace
        if not inv.is_phi(ns):
            continue
        policy = policies[ns]
        lv = policy.enforce if policy.enforce.level is pss.Level.RESTRICTED else RESTRICTED_LATEST
        verdict = _verdict(inv, ref, lv)
        if verdict is None or verdict.allowed:
            continue
        yield Hit(ref.owner, _summary(verdict), path=ref.path, value=list(verdict.checks))


@check(
    id="KH-PSS-002",
    title="Workload would be rejected by its namespace's Pod Security enforce level",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.308(a)(1)(ii)(B)", "164.308(a)(8)"),
    relation="supports",
    pss=("baseline", "restricted"),
    remediation="Bring the pod template in line with the namespace's pod-security.kubernetes.io/enforce level "
    "(see `kubehipaa pss dry-run PATH --namespace NS --level LEVEL`); never lower the label to fit the workload.",
    description="The namespace declares a Pod Security enforce level that this manifest does not meet: a "
    "Pod is refused at creation, and a controller's pods are refused when it (re)creates them, so the "
    "declared policy and what is running drift apart — an evaluation gap an auditor will ask about.",
    needs=Needs(("Namespace",), "needs the Namespace's Pod Security labels; Pod Security Admission enforces them "
                "natively"),
)
def workload_violates_namespace_enforce(inv: Inventory) -> Iterator[Hit]:
    policies = _policies(inv)
    for ref in inv.pod_specs:
        ns = ref.namespace
        if not ns:
            continue
        policy = policies[ns]
        if "enforce" not in policy.labelled or policy.enforce.level is pss.Level.PRIVILEGED:
            continue
        if policy.enforce.level is pss.Level.RESTRICTED and inv.is_phi(ns):
            continue  # KH-PSS-001 reports exactly this, at higher severity
        verdict = _verdict(inv, ref, policy.enforce)
        if verdict is None or verdict.allowed:
            continue
        yield Hit(ref.owner, _summary(verdict), path=ref.path, value=list(verdict.checks))
