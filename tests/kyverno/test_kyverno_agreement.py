"""Agreement with an outside oracle: the verdicts of the Kyverno policy library's own tests.

For every Kyverno (policy, rule) that means the same thing as a kubehipaa check, every `pass`/`fail` verdict
in the policy's `kyverno-test.yaml` must agree with kubehipaa: `fail` ⇒ the mapped check fires on that
resource, `pass` ⇒ it does not. The resources are the policy's own test manifests
(../shared/conformance/kyverno, see its SOURCE.md), scanned exactly as a user's files would be.

Some kubehipaa checks are deliberately stricter or narrower than a Kyverno rule; those verdicts are listed in
DIFFERENCES with the reason and are not asserted (and a listed difference that no longer differs fails, so
the list cannot go stale). Checks of other areas are mapped only once they are registered, so the test stays
green while the catalog grows; `test_enough_policies_are_mapped` keeps the floor at 15 policies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

from kubehipaa.checks.registry import REGISTRY, all_checks
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths
from tests.conftest import CONFORMANCE

KYVERNO = CONFORMANCE / "kyverno"


@dataclass(frozen=True)
class Mapping:
    """Kyverno `policy_dir` + `rule` means kubehipaa `check` (optionally only hits whose evidence path matches)."""

    policy_dir: str
    rule: str
    check: str
    evidence: str | None = None  # regex searched in the finding's evidence path
    note: str = ""


MAPPINGS: tuple[Mapping, ...] = (
    # workloads, images, secrets
    Mapping("pod-security/baseline/disallow-privileged-containers", "privileged-containers", "KH-WL-001"),
    Mapping("pod-security/baseline/disallow-host-namespaces", "host-namespaces", "KH-WL-002"),
    Mapping("pod-security/baseline/disallow-host-path", "host-path", "KH-WL-003"),
    Mapping("pod-security/restricted/disallow-capabilities-strict", "adding-capabilities-strict", "KH-WL-004"),
    Mapping("pod-security/restricted/disallow-capabilities-strict", "require-drop-all", "KH-WL-005"),
    Mapping("best-practices/require-drop-all", "require-drop-all", "KH-WL-005"),
    Mapping("pod-security/restricted/require-run-as-nonroot", "run-as-non-root", "KH-WL-006"),
    Mapping("pod-security/restricted/require-run-as-non-root-user", "run-as-non-root-user", "KH-WL-007"),
    Mapping("pod-security/restricted/disallow-privilege-escalation", "privilege-escalation", "KH-WL-008"),
    Mapping("best-practices/require-ro-rootfs", "validate-readOnlyRootFilesystem", "KH-WL-009"),
    Mapping("pod-security/restricted/restrict-seccomp-strict", "check-seccomp-strict", "KH-WL-010"),
    Mapping("pod-security/baseline/restrict-seccomp", "check-seccomp", "KH-WL-010", r"seccompProfile\.type$",
            "baseline forbids only an explicit bad type; KH-WL-010's 'missing' hits are the restricted part"),
    Mapping("best-practices/require-pod-requests-limits", "validate-resources", "KH-WL-011"),
    Mapping("best-practices/disallow-default-namespace", "validate-namespace", "KH-WL-012"),
    Mapping("best-practices/disallow-default-namespace", "validate-podcontroller-namespace", "KH-WL-012"),
    Mapping("best-practices/disallow-latest-tag", "validate-image-tag", "KH-IMG-001"),
    Mapping("best-practices/disallow-latest-tag", "require-image-tag", "KH-IMG-002"),
    Mapping("other/require-image-checksum", "require-image-checksum", "KH-IMG-003"),
    Mapping("other/disallow-secrets-from-env-vars", "secrets-not-from-env-vars", "KH-SEC-005", r"\.env\["),
    Mapping("other/disallow-secrets-from-env-vars", "secrets-not-from-envfrom", "KH-SEC-005", r"\.envFrom\["),
    # RBAC (KH-RBAC-*), network (KH-NET-*), namespaces (KH-NS-*): mapped when those checks are registered
    Mapping("other/restrict-automount-sa-token", "validate-automountServiceAccountToken", "KH-RBAC-011"),
    Mapping("other/restrict-sa-automount-sa-token", "validate-sa-automountServiceAccountToken", "KH-RBAC-010"),
    Mapping("other/restrict-wildcard-verbs", "wildcard-verbs", "KH-RBAC-001", r"verbs"),
    Mapping("other/restrict-wildcard-resources", "wildcard-resources", "KH-RBAC-001", r"resources"),
    Mapping("other/restrict-binding-clusteradmin", "clusteradmin-bindings", "KH-RBAC-002"),
    Mapping("other/restrict-binding-system-groups", "restrict-masters", "KH-RBAC-002"),
    Mapping("other/restrict-binding-system-groups", "restrict-anonymous", "KH-RBAC-003"),
    Mapping("other/restrict-binding-system-groups", "restrict-unauthenticated", "KH-RBAC-003"),
    Mapping("other/restrict-escalation-verbs-roles", "escalate", "KH-RBAC-006"),
    Mapping("other/restrict-secret-role-verbs", "secret-verbs", "KH-RBAC-005"),
    Mapping("other/deny-secret-service-account-token-type", "deny-secret-service-account-token-type", "KH-RBAC-012"),
    Mapping("best-practices/restrict-node-port", "validate-nodeport", "KH-NET-007"),
    Mapping("other/restrict-loadbalancer", "no-LoadBalancer", "KH-NET-008"),
    Mapping("other/require-ingress-https", "has-tls", "KH-NET-009"),
)


@dataclass(frozen=True)
class Difference:
    """A verdict kubehipaa deliberately does not share, with the reason (documented in docs/kyverno-agreement.md)."""

    policy_dir: str
    rule: str
    kind: str
    resource: str
    kyverno: str  # the verdict Kyverno expects
    reason: str


_ROLE_NAMED_CLUSTER_ADMIN = (
    "roleRef is kind: Role named cluster-admin: a namespaced Role that happens to share the name, not the "
    "cluster-admin ClusterRole. The authorizer resolves roleRef by kind and name; Kyverno compares the name only."
)
_GROUP_ANONYMOUS = (
    "system:anonymous is a user name; a Group subject called system:anonymous matches no request (anonymous "
    "requests carry the group system:unauthenticated), so the binding grants nothing to anyone."
)
_IMPERSONATE_ROLES = (
    "impersonate on roles/clusterroles grants nothing: impersonation is authorized on users, groups, "
    "serviceaccounts and uids. bind/escalate on roles are reported; this rule has only impersonate."
)
_ADMIN_ONCE = (
    "A role granting every verb on every resource is reported once, by KH-RBAC-001 as admin-equivalent "
    "(which names escalate, bind and impersonate in its message), not repeated as KH-RBAC-006."
)
_UNBOUND_ROLE = (
    "KH-RBAC-005 reports the binding that gives a subject read access to Secrets (the access a HIPAA review "
    "asks about); a Role or ClusterRole nobody is bound to grants nothing, and these test files bind none."
)

DIFFERENCES: tuple[Difference, ...] = (
    Difference("other/restrict-binding-clusteradmin", "clusteradmin-bindings", "RoleBinding", "badrb01", "fail",
               _ROLE_NAMED_CLUSTER_ADMIN),
    Difference("other/restrict-binding-clusteradmin", "clusteradmin-bindings", "RoleBinding", "badrb02", "fail",
               _ROLE_NAMED_CLUSTER_ADMIN),
    Difference("other/restrict-binding-system-groups", "restrict-anonymous", "ClusterRoleBinding", "badcrb01",
               "fail", _GROUP_ANONYMOUS),
    Difference("other/restrict-binding-system-groups", "restrict-anonymous", "RoleBinding", "badrb01", "fail",
               _GROUP_ANONYMOUS),
    Difference("other/restrict-escalation-verbs-roles", "escalate", "Role", "badrole01", "fail", _IMPERSONATE_ROLES),
    Difference("other/restrict-escalation-verbs-roles", "escalate", "ClusterRole", "badclusterrole02", "fail",
               _ADMIN_ONCE),
    *(
        Difference("other/restrict-secret-role-verbs", "secret-verbs", kind, name, "fail", _UNBOUND_ROLE)
        for kind in ("ClusterRole", "Role")
        for name in ("badcr01", "badcr02", "badcr03")
    ),
)
# Only differences of these areas must stay different (a stale entry fails); the others belong to areas that
# are still changing and are re-checked by hand when their checks change.
STRICT_STALENESS = ("KH-WL-", "KH-IMG-", "KH-SEC-")


# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    policy_dir: str
    rule: str
    kind: str
    namespace: str | None
    name: str
    result: str


def _test_files(policy_dir: str) -> list[Path]:
    return sorted((KYVERNO / policy_dir).glob(".kyverno-test/kyverno-test.yaml"))


def _verdicts(policy_dir: str, rule: str) -> Iterator[tuple[Path, Verdict]]:
    for test_file in _test_files(policy_dir):
        test = yaml.safe_load(test_file.read_text())
        for res in test.get("results") or ():
            if res.get("rule") != rule or res.get("result") not in ("pass", "fail"):
                continue
            for ref in res.get("resources") or ():
                ns, _, name = str(ref).rpartition("/")
                yield test_file, Verdict(policy_dir, rule, res["kind"], ns or None, name, res["result"])


@cache
def _fired(test_file: Path, check: str, evidence: str | None) -> tuple[frozenset[tuple[str, str, str]], tuple]:
    """(kind, namespace, name) of every resource of the test on which `check` fires; and the objects seen."""
    test = yaml.safe_load(test_file.read_text())
    paths = [str((test_file.parent / r).resolve()) for r in test.get("resources") or ()]
    loaded = load_paths(paths)
    inv = Inventory(loaded.objects, Config())
    result = run_scan(inv, Config(), checks=[REGISTRY[check]])
    assert not result.errors, result.errors
    pattern = re.compile(evidence) if evidence else None
    fired = frozenset(
        (f.resource.kind, f.resource.namespace or "default", f.resource.name)
        for f in result.findings
        if pattern is None or any(pattern.search(e.path) for e in f.evidence)
    )
    seen = tuple((o.kind, o.namespace or "default", o.name) for o in loaded.objects)
    return fired, seen


def _registered(m: Mapping) -> bool:
    all_checks()
    return m.check in REGISTRY


def _id(m: Mapping) -> str:
    return f"{m.policy_dir.rsplit('/', 1)[-1]}:{m.rule}->{m.check}"


def _differs(v: Verdict) -> Difference | None:
    for d in DIFFERENCES:
        if (d.policy_dir, d.rule, d.kind, d.resource) == (v.policy_dir, v.rule, v.kind, v.name):
            return d
    return None


@pytest.mark.parametrize("mapping", MAPPINGS, ids=_id)
def test_agrees_with_kyverno(mapping: Mapping, shared_dir) -> None:
    shared_dir("conformance/kyverno")
    if not _registered(mapping):
        pytest.skip(f"{mapping.check} is not registered yet")
    verdicts = list(_verdicts(mapping.policy_dir, mapping.rule))
    assert verdicts, f"no pass/fail verdicts for {mapping.policy_dir} rule {mapping.rule}"
    disagreements, stale = [], []
    for test_file, v in verdicts:
        fired, seen = _fired(test_file, mapping.check, mapping.evidence)
        candidates = [s for s in seen if s[0] == v.kind and s[2] == v.name and (v.namespace in (None, s[1]))]
        assert candidates, f"{v.kind} {v.name} named in {test_file} is not among its resources"
        fires = any(c in fired for c in candidates)
        agrees = fires == (v.result == "fail")
        diff = _differs(v)
        if diff is not None:
            assert diff.kyverno == v.result, f"{diff} records the wrong Kyverno verdict"
            if agrees and mapping.check.startswith(STRICT_STALENESS):
                stale.append(f"{v.kind}/{v.name}: listed as a difference but now agrees")
            continue
        if not agrees:
            what = "fires" if fires else "does not fire"
            disagreements.append(f"{v.kind}/{v.name}: Kyverno {v.result}, {mapping.check} {what}")
    assert not disagreements, f"{_id(mapping)} disagrees:\n" + "\n".join(disagreements)
    assert not stale, "\n".join(stale)


def test_enough_policies_are_mapped(shared_dir) -> None:
    shared_dir("conformance/kyverno")
    policies = {m.policy_dir for m in MAPPINGS if _registered(m)}
    assert len(policies) >= 15, f"only {len(policies)} Kyverno policies mapped to registered checks: {policies}"


def test_mapped_policies_exist(shared_dir) -> None:
    shared_dir("conformance/kyverno")
    for m in MAPPINGS:
        files = _test_files(m.policy_dir)
        assert files, f"{m.policy_dir}: no .kyverno-test/kyverno-test.yaml"
        rules = {r.get("rule") for f in files for r in yaml.safe_load(f.read_text()).get("results") or ()}
        assert m.rule in rules, f"{m.policy_dir}: rule {m.rule} has no verdicts"


def test_differences_name_real_verdicts(shared_dir) -> None:
    shared_dir("conformance/kyverno")
    mapped = {(m.policy_dir, m.rule) for m in MAPPINGS}
    for d in DIFFERENCES:
        assert (d.policy_dir, d.rule) in mapped, d
        assert d.reason and d.kyverno in ("pass", "fail")
        names = {(v.kind, v.name, v.result) for _, v in _verdicts(d.policy_dir, d.rule)}
        assert (d.kind, d.resource, d.kyverno) in names, f"{d} is not a verdict of the Kyverno test"
