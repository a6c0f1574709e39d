"""The admission decision (pipelines.admission.review): pure, no server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubehipaa.config import parse_config
from kubehipaa.errors import ConfigError
from kubehipaa.pipelines.admission import AdmissionInputError, Policy, admission_actions, review
from tests.admission.support import LABELS, cronjob, deployment, pod
from tests.admission.support import review as body

TODAY = dt.date(2026, 12, 7)


def policy(**extra: Any) -> Policy:
    return Policy(parse_config({"phi": {"namespaces": ["clinical"]}, **extra}))


def answer(obj: dict[str, Any] | None, pol: Policy | None = None, **kw: Any) -> Any:
    return review(body(obj, **kw), pol or policy(), today=TODAY)


def test_clean_pod_is_allowed_and_uid_echoed() -> None:
    d = answer(pod())
    assert d.response == {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                          "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}}


def test_privileged_pod_in_phi_namespace_is_denied_naming_rules_and_fix() -> None:
    d = answer(pod(privileged=True))
    resp = d.response["response"]
    assert resp["allowed"] is False and resp["status"]["code"] == 403
    assert "KH-WL-001" in resp["status"]["message"] and "KH-PSS-001" in resp["status"]["message"]
    assert "Fix:" in resp["status"]["message"] and "privileged" in resp["status"]["message"]
    assert d.denied == ["KH-PSS-001", "KH-WL-001"]


def test_same_pod_elsewhere_only_warns() -> None:
    d = answer(pod(privileged=True), namespace="dev")
    resp = d.response["response"]
    assert resp["allowed"] is True and "status" not in resp
    assert any(w.startswith("KH-WL-001 ") for w in resp["warnings"])


def test_deployment_template_and_cronjob_template_are_judged() -> None:
    assert answer(deployment()).allowed and answer(cronjob()).allowed
    d = answer(deployment(privileged=True))
    assert not d.allowed and "KH-WL-001" in d.denied
    assert "spec.template.spec.containers[0].securityContext.privileged" in d.response["response"]["status"]["message"]
    d = answer(cronjob(host_pid=True))
    assert not d.allowed and "KH-WL-002" in d.denied


def test_namespace_comes_from_the_request_when_the_object_has_none() -> None:
    assert not answer(pod(privileged=True), namespace="clinical").allowed
    assert answer(pod(privileged=True, namespace="dev"), namespace="dev").allowed


def role(kind: str = "Role", rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "ops"}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "rules": rules or [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}


def test_role_with_wildcards_and_secret_read_are_denied() -> None:
    d = answer(role())
    assert not d.allowed and "KH-RBAC-001" in d.denied
    d = answer(role(rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]))
    assert not d.allowed and d.denied == ["KH-ADM-002"]
    ok = answer(role(rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]))
    assert ok.allowed
    named = answer(role(rules=[{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["ehr-db"],
                                "verbs": ["get"]}]))
    assert named.allowed


def test_clusterrole_with_wildcards_uses_the_phi_table_unless_configured() -> None:
    d = answer(role("ClusterRole"), namespace="")
    assert not d.allowed and "KH-RBAC-001" in d.denied
    other = policy(admission={"clusterScoped": "other"})
    assert answer(role("ClusterRole"), other, namespace="").allowed


def binding(subject_kind: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "readers"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": subject_kind, "name": "jane@hospital.org", "apiGroup": "rbac.authorization.k8s.io"}]}


def test_rolebinding_to_a_user_is_denied_configurably() -> None:
    d = answer(binding("User"))
    assert not d.allowed and d.denied == ["KH-RBAC-004"]
    assert answer(binding("Group")).allowed
    d = answer(binding("User"), policy(admission={"denyUserBindings": False}))
    assert d.allowed and "KH-RBAC-004" in d.warned


def test_nodeport_service_and_ingress_without_tls_are_denied() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ehr"},
           "spec": {"type": "NodePort", "selector": LABELS, "ports": [{"port": 443}]}}
    assert answer(svc).denied == ["KH-NET-007"]
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ehr"},
           "spec": {"rules": [{"host": "ehr.example.org", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "ehr", "port": {"number": 443}}}}]}}]}}
    assert answer(ing).denied == ["KH-NET-009"]
    ing["spec"]["tls"] = [{"hosts": ["ehr.example.org"], "secretName": "ehr-tls"}]
    assert answer(ing).allowed


def test_image_digest_and_required_labels_are_configurable() -> None:
    p = pod()
    p["spec"]["containers"][0]["image"] = "registry.example.org/ehr/api:1.4.2"
    assert answer(p).denied == ["KH-IMG-003"]
    assert answer(p, policy(admission={"requireDigest": False})).allowed
    unlabelled = pod(labels={})
    assert answer(unlabelled).denied == ["KH-ADM-001"]
    assert answer(unlabelled, policy(admission={"requiredLabels": []})).allowed
    d = answer(pod(labels={"owner": "x"}), policy(admission={"requiredLabels": ["owner", "team"]}))
    assert d.denied == ["KH-ADM-001"]


def test_unknown_kinds_delete_connect_and_other_subresources_are_allowed() -> None:
    crd = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"privileged": True}}
    assert answer(crd).allowed and not answer(crd).evaluated
    bad = pod(privileged=True)
    assert answer(None, operation="DELETE", old=bad).allowed
    assert answer(bad, operation="CONNECT").allowed
    assert answer(bad, operation="UPDATE", sub="status", old=bad).allowed
    d = answer(bad, operation="UPDATE", sub="ephemeralcontainers", old=pod())
    assert not d.allowed and "KH-WL-001" in d.denied


def test_update_keeps_old_violations_as_warnings_unless_configured() -> None:
    old = pod(privileged=True)
    new = pod(privileged=True, labels={**LABELS, "release": "2"})
    d = answer(new, operation="UPDATE", old=old)
    assert d.allowed and "KH-WL-001" in d.warned
    d = answer(new, operation="UPDATE", old=old, pol=policy(admission={"oldViolations": "deny"}))
    assert not d.allowed
    d = answer(pod(privileged=True), operation="UPDATE", old=pod())  # a new violation still denies
    assert not d.allowed and "KH-WL-001" in d.denied


def test_dry_run_gets_the_same_verdict() -> None:
    a, b = answer(pod(privileged=True)), answer(pod(privileged=True), dry_run=True)
    assert a.response == b.response and b.dry_run and not a.dry_run


def exception(check: str, expires: str, **resource: str) -> dict[str, Any]:
    return {"check": check, "resource": resource, "justification": "vendor agent", "owner": "sec",
            "expires": expires}


def test_exception_with_expiry_is_honoured_and_expired_one_is_not() -> None:
    live = policy(exceptions=[exception("KH-WL-001", "2027-01-31", kind="Pod", name="ehr-api-0"),
                              exception("KH-PSS-001", "2027-01-31", kind="Pod", name="ehr-api-0")])
    assert answer(pod(privileged=True), live).allowed
    expired = policy(exceptions=[exception("KH-WL-001", "2026-12-06", kind="Pod", name="ehr-api-0"),
                                 exception("KH-PSS-001", "2026-12-06", kind="Pod", name="ehr-api-0")])
    d = answer(pod(privileged=True), expired)
    assert not d.allowed and d.denied == ["KH-PSS-001", "KH-WL-001"]
    labels = policy(exceptions=[exception("KH-ADM-001", "2027-01-31", kind="Pod")])
    assert answer(pod(labels={}), labels).allowed


def test_policy_tables_and_overrides() -> None:
    cfg = parse_config({"admission": {"phi": {"warn": ["KH-NET-007"]}, "other": {"deny": ["KH-WL-001"]},
                                      "namespaces": [{"namespace": "legacy-*", "ignore": ["KH-WL-*"]}]}})
    phi, other = admission_actions(cfg, True), admission_actions(cfg, False)
    assert phi["KH-RBAC-001"] == "deny" and phi["KH-NET-007"] == "warn" and phi["KH-IMG-003"] == "deny"
    assert other["KH-RBAC-001"] == "warn" and other["KH-WL-001"] == "deny"
    assert "KH-WL-001" not in admission_actions(cfg, False, "legacy-billing")
    assert set(phi.values()) <= {"deny", "warn"}


def test_admission_block_is_validated() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"admission": {"denny": ["KH-WL-001"]}})
    with pytest.raises(ConfigError, match="matches no known rule"):
        Policy(parse_config({"admission": {"phi": {"deny": ["KH-WL-9*"]}}}))


@pytest.mark.parametrize("bad", [
    [], {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}},
    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}},
    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x", "object": [1]}},
])
def test_malformed_reviews_raise_input_error(bad: Any) -> None:
    with pytest.raises(AdmissionInputError):
        review(bad, policy())


def test_scan_accepts_a_config_with_an_exception_for_an_admission_rule() -> None:
    from kubehipaa.inventory import Inventory
    from kubehipaa.pipelines.scan import run_scan

    cfg = parse_config({"exceptions": [exception("KH-ADM-001", "2027-01-31", kind="Pod")]})
    result = run_scan(Inventory([], cfg), cfg, today=TODAY)  # raised ConfigError (unknown check id) before
    assert result.findings == []


@pytest.mark.parametrize("spec", [{"containers": "x"}, "not a spec", {"containers": [1, 2]}])
def test_an_object_the_checks_cannot_read_is_not_a_pass(spec: Any) -> None:
    p = pod()
    p["spec"] = spec
    d = answer(p)
    assert not d.allowed and "KH-ADM-003" in d.denied
    assert "KH-ADM-003" in answer(p, namespace="dev").warned


def test_the_documented_admission_examples_are_valid_policies() -> None:
    from kubehipaa.sources import k8s_yaml
    from tests.server.support import ROOT

    for doc, marker in (("docs/admission.md", "### Policy"), ("docs/configuration.md", "## Full example")):
        text = (ROOT / doc).read_text().split(marker, 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
        data, _node = k8s_yaml.load_single(text)
        pol = Policy(parse_config(data))  # read as Kubernetes reads YAML: an unquoted `off` would be false
        assert pol.config.admission.namespaces[0].ignore == ["KH-WL-*"]


def namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_phi_namespace_must_enforce_restricted_and_the_namespace_is_not_its_own_namespace() -> None:
    enforced = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.30",
                "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted"}
    # the API server names a Namespace's own name as request.namespace
    assert answer(namespace("clinical", enforced), namespace="clinical").allowed
    d = answer(namespace("clinical", {"pod-security.kubernetes.io/enforce": "baseline"}), namespace="clinical")
    assert not d.allowed and "KH-NS-001" in d.denied
    d = answer(namespace("clinical", enforced), operation="UPDATE", namespace="clinical",
               old=namespace("clinical", {}))
    assert d.allowed
    d = answer(namespace("clinical", {}), operation="UPDATE", namespace="clinical", old=namespace("clinical", enforced))
    assert not d.allowed and "KH-NS-001" in d.denied  # removing enforcement from a PHI namespace
    assert answer(namespace("scratch", {}), namespace="scratch").allowed
