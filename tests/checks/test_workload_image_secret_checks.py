"""Unit tests for the workload, image and secret checks: semantics the generic cases do not pin down."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kubehipaa.checks.registry import REGISTRY, all_checks
from kubehipaa.checks.secrets import literal_secret_value, secret_like_name
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory, parse_image
from kubehipaa.model import Finding, K8sObject, Severity
from kubehipaa.pipelines.scan import run_scan

all_checks()

GOOD_CONTAINER: dict[str, Any] = {
    "name": "app",
    "image": "registry.example.com/app:1.0@sha256:" + "b" * 64,
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}},
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
}
GOOD_POD_SC = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def pod(ns: str | None = "apps", *, spec: dict[str, Any] | None = None, name: str = "p", **meta: Any) -> dict:
    body = spec if spec is not None else {"securityContext": copy.deepcopy(GOOD_POD_SC),
                                          "containers": [copy.deepcopy(GOOD_CONTAINER)]}
    metadata: dict[str, Any] = {"name": name, **meta}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def namespace(name: str, phi: bool) -> dict:
    labels = {"kubehipaa.io/phi": "true"} if phi else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def scan(*docs: dict, check: str) -> list[Finding]:
    objs = [K8sObject(d, "t.yaml", i + 1) for i, d in enumerate(docs)]
    inv = Inventory(objs, Config())
    return run_scan(inv, Config(), checks=[REGISTRY[check]]).findings


def test_good_pod_is_clean_for_every_workload_image_secret_check() -> None:
    ids = [c for c in REGISTRY if c.startswith(("KH-WL-", "KH-IMG-", "KH-SEC-"))]
    objs = [K8sObject(pod(), "t.yaml", 1)]
    inv = Inventory(objs, Config())
    found = run_scan(inv, Config(), checks=[REGISTRY[i] for i in ids]).findings
    assert found == []


def test_severity_is_raised_in_phi_namespaces() -> None:
    for ns, phi, expected in (("clinical", True, Severity.CRITICAL), ("web", False, Severity.HIGH)):
        p = pod(ns)
        p["spec"]["containers"][0]["securityContext"]["privileged"] = True
        (f,) = scan(namespace(ns, phi), p, check="KH-WL-001")
        assert f.severity is expected


def test_evidence_path_is_exact_for_templates() -> None:
    p = pod()
    spec = p["spec"]
    spec["initContainers"] = [dict(copy.deepcopy(GOOD_CONTAINER), name="init")]
    spec["initContainers"][0]["securityContext"]["privileged"] = True
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "apps"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    (f,) = scan(cron, check="KH-WL-001")
    assert f.evidence[0].path == "spec.jobTemplate.spec.template.spec.initContainers[0].securityContext.privileged"
    assert f.resource.kind == "CronJob" and f.resource.line == 1


def test_control_plane_static_pods_are_left_to_control_plane_checks() -> None:
    spec = {"hostNetwork": True, "containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.30.0",
                                                 "command": ["kube-apiserver", "--secure-port=6443"]}]}
    static = pod("kube-system", spec=spec, name="kube-apiserver-node1", labels={"tier": "control-plane"})
    assert scan(static, check="KH-WL-002") == []
    other = pod("kube-system", spec=copy.deepcopy(spec), name="debug")
    other["spec"]["containers"][0]["command"] = ["sh"]
    assert len(scan(other, check="KH-WL-002")) == 1


@pytest.mark.parametrize(
    ("pod_sc", "ctr_sc", "fires"),
    [
        ({"runAsNonRoot": True}, {}, False),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, True),
        ({}, {"runAsNonRoot": True}, False),
        ({"runAsNonRoot": False}, {"runAsNonRoot": True}, True),  # upstream PSS: the pod must not set false
        ({}, {}, True),
    ],
)
def test_run_as_non_root_pod_and_container_semantics(pod_sc: dict, ctr_sc: dict, fires: bool) -> None:
    p = pod()
    p["spec"]["securityContext"] = {**pod_sc, "seccompProfile": {"type": "RuntimeDefault"}}
    p["spec"]["containers"][0]["securityContext"].update(ctr_sc)
    assert bool(scan(p, check="KH-WL-006")) is fires


@pytest.mark.parametrize(
    ("pod_type", "ctr_type", "fires"),
    [
        ("RuntimeDefault", None, False),
        ("Localhost", None, False),
        (None, "RuntimeDefault", False),
        ("RuntimeDefault", "Unconfined", True),
        ("Unconfined", "RuntimeDefault", True),
        (None, None, True),
    ],
)
def test_seccomp_semantics(pod_type: str | None, ctr_type: str | None, fires: bool) -> None:
    p = pod()
    p["spec"]["securityContext"] = {"runAsNonRoot": True}
    if pod_type:
        p["spec"]["securityContext"]["seccompProfile"] = {"type": pod_type}
    if ctr_type:
        p["spec"]["containers"][0]["securityContext"]["seccompProfile"] = {"type": ctr_type}
    assert bool(scan(p, check="KH-WL-010")) is fires


def test_default_namespace_unset_is_low_explicit_is_medium() -> None:
    explicit = scan(pod("default"), check="KH-WL-012")
    unset = scan(pod(None), check="KH-WL-012")
    assert [f.severity for f in explicit] == [Severity.MEDIUM]
    assert [f.severity for f in unset] == [Severity.LOW]


@pytest.mark.parametrize(
    ("image", "repo", "tag", "digest"),
    [
        ("nginx", "nginx", None, None),
        ("nginx:1.27", "nginx", "1.27", None),
        ("registry:5000/team/app", "registry:5000/team/app", None, None),
        ("registry:5000/team/app:v2", "registry:5000/team/app", "v2", None),
        ("app@sha256:abc", "app", None, "sha256:abc"),
        ("app:latest@sha256:abc", "app", "latest", "sha256:abc"),
    ],
)
def test_parse_image(image: str, repo: str, tag: str | None, digest: str | None) -> None:
    ref = parse_image(image)
    assert (ref.repository, ref.tag, ref.digest) == (repo, tag, digest)


def test_digest_pinning_is_high_only_in_phi_namespaces() -> None:
    docs = []
    for ns, phi in (("clinical", True), ("web", False)):
        p = pod(ns, name=f"p-{ns}")
        p["spec"]["containers"][0]["image"] = "registry.example.com/app:1.0"
        docs += [namespace(ns, phi), p]
    sev = {f.resource.namespace: f.severity for f in scan(*docs, check="KH-IMG-003")}
    assert sev == {"clinical": Severity.HIGH, "web": Severity.LOW}


@pytest.mark.parametrize("name", ["DB_PASSWORD", "STRIPE_API_KEY", "apiKey", "GITHUB_TOKEN", "client-secret",
                                  "AWS_SECRET_ACCESS_KEY", "SIGNING_KEY", "ConnectionString"])
def test_secret_like_names(name: str) -> None:
    assert secret_like_name(name)


@pytest.mark.parametrize("name", ["DB_PASSWORD_FILE", "TOKEN_TTL", "SECRET_NAME", "JWT_SECRET_PATH", "LOG_LEVEL",
                                  "TOKEN_ENDPOINT", "PASSWORD_MIN_LENGTH"])
def test_not_secret_like_names(name: str) -> None:
    assert not secret_like_name(name)


@pytest.mark.parametrize(("value", "literal"), [("s3cr3t-value", True), ("", False), ("true", False),
                                               ("$(DB_PASSWORD)", False), ("/run/secrets/x", False),
                                               ("<set-me>", False), ("****", False), (True, False)])
def test_literal_secret_value(value: Any, literal: bool) -> None:
    assert literal_secret_value(value) is literal


def test_secret_findings_are_redacted_and_never_echo_the_value() -> None:
    p = pod()
    p["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": "Hunter2-clinic"},
        {"name": "DATABASE_URL", "value": "postgres://u:Hunter2-clinic@db/ehr"},
        {"name": "TEST_SSN", "value": "219-09-9999"},
    ]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
          "data": {"API_TOKEN": "Hunter2-clinic", "rows": "SSN 219099999"}}
    findings = []
    for check in ("KH-SEC-001", "KH-SEC-002", "KH-SEC-003", "KH-SEC-006", "KH-SEC-007"):
        got = scan(p, cm, check=check)
        assert got, check
        findings += got
    for f in findings:
        text = repr(f.to_dict())
        assert "Hunter2" not in text and "219-09-9999" not in text and "219099999" not in text
        assert all(e.redacted for e in f.evidence)


def test_contact_details_only_count_next_to_patient_data() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
          "data": {"oncall": "(555) 234-5678", "patient_phone": "(555) 234-5678",
                   "record": "SSN 219-09-9999 phone (555) 234-5678"}}
    paths = {e.path for f in scan(cm, check="KH-SEC-002") for e in f.evidence}
    assert paths == {"data.patient_phone", "data.record"}


def test_last_applied_annotation_is_not_scanned_twice() -> None:
    p = pod(annotations={"kubectl.kubernetes.io/last-applied-configuration": '{"ssn": "219-09-9999"}'})
    assert scan(p, check="KH-SEC-004") == []


def _credential_findings(secret: str) -> list[Any]:
    p = pod()
    p["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": secret},
        {"name": "DATABASE_URL", "value": f"postgres://app:{secret}@db:5432/ehr"},
    ]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"},
          "data": {"API_TOKEN": secret}}
    objs = [K8sObject(d, "t.yaml", 1) for d in (p, cm)]
    ids = ("KH-SEC-001", "KH-SEC-006", "KH-SEC-007")
    findings = run_scan(Inventory(objs, Config()), Config(), checks=[REGISTRY[i] for i in ids]).findings
    assert {f.check_id for f in findings} == set(ids)
    return findings


_PLACEHOLDER_TEXT = repr([f.to_dict() for f in _credential_findings("Zq9-Xv2~Lm7.Kw")])
"""The findings' own words (titles, paths, remediation): a generated secret that happens to be one of them
("source" is in "resource") proves nothing, so such draws are discarded."""


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "!#%+-_.~", min_size=6, max_size=30).filter(literal_secret_value))
def test_random_credentials_are_never_echoed(secret: str) -> None:
    assume(secret not in _PLACEHOLDER_TEXT)
    for f in _credential_findings(secret):
        assert secret not in repr(f.to_dict())
