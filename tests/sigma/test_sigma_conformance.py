"""Every SigmaHQ kubernetes/audit rule loads through pySigma and fires on its natural Falco trace only.

The expected table is the SOURCE.md mapping (Falco trace → SigmaHQ rule) completed for the other traces:
a trace not listed must fire nothing (benign for these 16 rules), a listed one fires exactly the listed rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kubehipaa.engines.auditlog import SigmaRuleSet
from kubehipaa.pipelines.audit import read_sigma_rules

# trace file → SigmaHQ rule file stems (without "kubernetes_audit_") expected to fire
EXPECTED: dict[str, set[str]] = {
    "exec_pod.json": {"exec_into_container"},
    "create_pod_kube_system_namespace.json": {"pod_in_system_namespace"},
    "create_secret.json": {"secrets_modified_or_deleted"},
    "delete_secret.json": {"secrets_modified_or_deleted"},
    # any secret write is in scope of that rule, including the two Falco keeps quiet about
    "create_kube_system_secret.json": {"secrets_modified_or_deleted"},
    "create_service_account_token_secret.json": {"secrets_modified_or_deleted"},
    "create_serviceaccount.json": {"serviceaccount_creation"},
    "create_serviceaccount_kube_public_namespace.json": {"serviceaccount_creation"},
    "create_serviceaccount_kube_system_namespace.json": {"serviceaccount_creation"},
    "delete_deployment.json": {"deployment_deleted"},
    "create_clusterrolebinding.json": {"rolebinding_modification"},
    "delete_clusterrolebinding.json": {"rolebinding_modification"},
    "attach_cluster_admin_role.json": {"rolebinding_modification"},
    "create_nginx_pod_privileged.json": {"privileged_pod_creation"},
    "create_nginx_pod_privileged_2nd_container.json": {"privileged_pod_creation"},
    "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json": {"privileged_pod_creation"},
    "create_nginx_pod_sensitive_mount.json": {"hostpath_mount"},
    "create_nginx_pod_sensitive_mount_2nd_container.json": {"hostpath_mount"},
}

# traces that must stay silent (they are the benign counterparts of the ones above)
BENIGN = {
    "create_nginx_pod_unprivileged.json",
    "create_nginx_pod_nohostnetwork.json",
    "create_nginx_pod_unsensitive_mount.json",
    "create_pod_kube_public_namespace.json",
    "create_deployment.json",
    "create_configmap.json",
    "fal_01_003.json",
}


def _stem(file: str) -> str:
    return Path(file).stem.removeprefix("kubernetes_audit_")


@pytest.fixture(scope="module")
def sigma_dir() -> Path:
    from tests.conftest import SHARED

    path = SHARED / "conformance/audit/sigma"
    if not path.exists():
        pytest.skip(f"SigmaHQ rules not found at {path} (they live beside the project in ../shared)")
    return path


@pytest.fixture(scope="module")
def ruleset(sigma_dir: Path) -> SigmaRuleSet:
    return read_sigma_rules([sigma_dir])


def _fired(ruleset: SigmaRuleSet, trace: Path) -> set[str]:
    fired: set[str] = set()
    for line in trace.read_text().splitlines():
        if line.strip():
            fired |= {_stem(m.file) for m in ruleset.match(json.loads(line))}
    return fired


def test_every_sigmahq_rule_loads(sigma_dir: Path, ruleset: SigmaRuleSet) -> None:
    files = sorted(sigma_dir.glob("*.yml"))
    assert len(files) == 16
    assert not ruleset.skipped
    assert sorted(_stem(r.file) for r in ruleset.rules) == sorted(_stem(str(f)) for f in files)
    for r in ruleset.rules:
        assert r.level in {"informational", "low", "medium", "high", "critical"}
        assert len(r.rule_id) == 36  # SigmaHQ rules carry UUIDs


def test_falco_traces_fire_expected_sigma_rules(
    ruleset: SigmaRuleSet, shared_dir: Callable[[str], Path]
) -> None:
    traces = shared_dir("conformance/audit/falco/trace_files")
    files = sorted(traces.glob("*.json"))
    assert len(files) == 47
    disagreements = []
    for trace in files:
        want = EXPECTED.get(trace.name, set())
        got = _fired(ruleset, trace)
        if got != want:
            disagreements.append(f"{trace.name}: expected {sorted(want)}, got {sorted(got)}")
    print(f"sigma on falco traces: {len(files) - len(disagreements)}/{len(files)} agree")
    assert not disagreements, "\n".join(disagreements)
    assert BENIGN.isdisjoint(EXPECTED)
    for name in BENIGN:
        assert not _fired(ruleset, traces / name)


def test_every_rule_fires_on_some_event(ruleset: SigmaRuleSet) -> None:
    """The rules without a Falco counterpart fire on a hand-written event shaped like a real one."""
    base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete",
            "annotations": {"authorization.k8s.io/decision": "allow"}, "responseStatus": {"code": 200},
            "user": {"username": "jane"}, "sourceIPs": ["10.0.0.1"]}
    events = {
        "change_admission_controller": {"verb": "create", "objectRef": {
            "apiGroup": "admissionregistration.k8s.io", "resource": "validatingwebhookconfigurations"}},
        "cronjob_modification": {"verb": "patch", "objectRef": {"apiGroup": "batch", "resource": "cronjobs"}},
        "events_deleted": {"verb": "delete", "objectRef": {"resource": "events", "namespace": "default"}},
        "potential_enumeration_activity": {
            "verb": "create", "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default"},
            "requestURI": "/api/v1/namespaces/default/pods/p/exec?command=%2Fbin%2Fsh&stdin=true"},
        "rbac_permisions_listing": {"verb": "create", "objectRef": {
            "apiGroup": "authorization.k8s.io", "resource": "selfsubjectrulesreviews"}},
        "secrets_enumeration": {"verb": "list", "objectRef": {"resource": "secrets"}},
        "sidecar_injection": {"verb": "patch", "objectRef": {"apiGroup": "apps", "resource": "deployments",
                                                             "namespace": "clinical"}},
        "unauthorized_unauthenticated_actions": {
            "verb": "get", "objectRef": {"resource": "pods"}, "responseStatus": {"code": 403},
            "annotations": {"authorization.k8s.io/decision": "forbid"}},
    }
    for stem, extra in events.items():
        got = {_stem(m.file) for m in ruleset.match(base | extra)}
        assert stem in got, (stem, got)
    # the enumeration rule is gated on an allowed decision: a forbidden exec does not fire it
    denied = base | events["potential_enumeration_activity"] | {
        "annotations": {"authorization.k8s.io/decision": "forbid"}}
    assert "potential_enumeration_activity" not in {_stem(m.file) for m in ruleset.match(denied)}
