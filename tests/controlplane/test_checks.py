"""Check behaviour that depends on configuration and on combining sources."""

from __future__ import annotations

from kubehipaa.config import AuditConfig, Config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.scan import run_scan


def _obj(doc: dict, file: str = "x.yaml") -> K8sObject:
    return K8sObject(doc, file, 1)


def _ids(objs: list[K8sObject], config: Config | None = None) -> dict[str, list[str]]:
    cfg = config or Config()
    res = run_scan(Inventory(objs, cfg), cfg)
    assert not res.errors
    out: dict[str, list[str]] = {}
    for f in res.findings:
        out.setdefault(f.check_id, []).append(f.message)
    return out


def _flags(*args: str) -> K8sObject:
    return _obj(
        {
            "apiVersion": "kubehipaa.io/v1alpha1",
            "kind": "KubeAPIServerFlags",
            "metadata": {"name": "kube-apiserver"},
            "spec": {"args": list(args)},
        }
    )


def test_retention_comes_from_config() -> None:
    api = _flags("--audit-log-path=/var/log/a.log", "--audit-policy-file=/p.yaml", "--audit-log-maxage=400")
    assert "below the 2190-day retention" in _ids([api])["KH-API-009"][0]
    cfg = Config(audit=AuditConfig(retention_days=365))
    assert "KH-API-009" not in _ids([api], cfg)
    cfg = Config(audit=AuditConfig(retention_days=3000))
    assert "below the 3000-day retention" in _ids([api], cfg)["KH-API-009"][0]


def test_stdout_audit_log_skips_retention_and_rotation() -> None:
    found = _ids([_flags("--audit-log-path=-", "--audit-policy-file=/p.yaml", "--audit-log-maxage=1")])
    assert "KH-API-009" not in found and "KH-API-010" not in found and "KH-API-008" not in found


def test_kubelet_flags_override_and_defer() -> None:
    conf = _obj(
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "authentication": {"anonymous": {"enabled": False}, "x509": {"clientCAFile": "/ca"}},
            "readOnlyPort": 0,
            "rotateCertificates": True,
            "serverTLSBootstrap": True,
            "protectKernelDefaults": True,
            "tlsCipherSuites": ["TLS_AES_128_GCM_SHA256"],
        }
    )
    flags = _obj(
        {
            "apiVersion": "kubehipaa.io/v1alpha1",
            "kind": "KubeletFlags",
            "metadata": {"name": "kubelet"},
            "spec": {"args": ["--config=/var/lib/kubelet/config.yaml", "--read-only-port=10255"]},
        }
    )
    found = _ids([conf, flags])
    assert [m for m in found["KH-KUB-003"]] == ["unauthenticated read-only port 10255 is open"]
    assert not {"KH-KUB-001", "KH-KUB-002", "KH-KUB-004", "KH-KUB-007"} & set(found)


def test_audit_coverage_uses_phi_namespaces() -> None:
    ns = _obj(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true"}},
        }
    )
    policy = _obj(
        {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "None", "namespaces": ["clinical"]},
                {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
                {"level": "Metadata"},
            ],
        }
    )
    with_phi = _ids([ns, policy])
    assert any("in clinical" in m for m in with_phi["KH-AUD-002"])
    without_phi = _ids([policy])  # simulated in 'default': the namespace-scoped None rule does not apply
    assert "KH-AUD-002" not in without_phi


def test_kyverno_policy_is_not_an_audit_policy() -> None:
    kyv = _obj(
        {
            "apiVersion": "kyverno.io/v1",
            "kind": "Policy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {"rules": []},
        }
    )
    assert not [k for k in _ids([kyv]) if k.startswith("KH-AUD")]


def test_stdout_audit_log_in_space_form_is_a_backend() -> None:
    # `--audit-log-path -` (pflag hands "-" to the flag): before, "-" was taken for a positional argument and
    # KH-API-008 said no audit backend was set.
    found = _ids([_flags("--audit-log-path", "-", "--audit-policy-file", "/p.yaml")])
    assert "KH-API-008" not in found and "KH-API-009" not in found
