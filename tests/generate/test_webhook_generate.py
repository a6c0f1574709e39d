"""`kubehipaa generate webhook` (issue 18 req 4): what the manifests contain, our own scan of them (clean, and
not clean once weakened), strict validation against the upstream schemas of the supported Kubernetes versions,
the matchConditions evaluated as CEL, and one-line errors for bad input."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes_validate.utils import all_versions
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.generate.webhook import MATCH_CONDITIONS_MINOR, MIN_MINOR, PLACEHOLDER_IMAGE

runner = CliRunner()
LOW_OR_ABOVE = {"low", "medium", "high", "critical"}
IMAGE = "registry.example/kubehipaa:0.1.0@sha256:" + "ab" * 32
VARIANTS = {
    "issue-example": ("--namespace", "kubehipaa"),
    "image-ignore-timeout": ("--namespace", "admission", "--image", IMAGE, "--failure-policy", "Ignore",
                             "--timeout-seconds", "10"),
    "no-namespace-max-timeout": ("-n", "security-tools", "--image", IMAGE, "--no-namespace",
                                 "--timeout-seconds", "30"),
    "apiserver-cidrs": ("-n", "kubehipaa", "--image", IMAGE, "--apiserver-cidr", "10.0.0.0/24",
                        "--apiserver-cidr", "fd00:10::/64", "--timeout-seconds", "1"),
    "oldest-version": ("-n", "kubehipaa", "--image", IMAGE, "--k8s-version", f"v1.{MIN_MINOR}.4"),
}
SUPPORTED = sorted({v for v in all_versions() if int(v.split(".")[1]) >= MIN_MINOR},
                   key=lambda v: int(v.split(".")[1]))
WITH_MATCH_CONDITIONS = [v for v in SUPPORTED if int(v.split(".")[1]) >= MATCH_CONDITIONS_MINOR]


def _key_and_cert(cn: str = "kubehipaa-test-ca", *, ca: bool = True, days: int = 1,
                  issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
                  ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=3) if days < 0 else now
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer[1].subject if issuer else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(now + datetime.timedelta(days=days)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, cert = _key_and_cert()
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`generate webhook` uses the current directory's .kubehipaa.yaml: run where there is none."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _gen(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["generate", "webhook", *args])
    return res.exit_code, res.stdout, res.stderr


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return doc


def _scan(path: Path) -> tuple[int, dict[str, Any]]:
    """The real `kubehipaa scan` (loader, inventory, every check), JSON report."""
    res = runner.invoke(app, ["scan", str(path), "-f", "json", "--fail-on", "low"])
    assert res.exit_code in (0, 1), res.stderr
    return res.exit_code, json.loads(res.stdout)


def _write(tmp_path: Path, ca: Path, args: tuple[str, ...]) -> Path:
    path = tmp_path / "webhook.yaml"
    code, _, err = _gen(*args, "--ca-bundle", str(ca), "-o", str(path))
    assert code == 0, err
    return path


# --- our own scan, strict upstream schemas ----------------------------------------------------------------


@pytest.mark.parametrize("args", VARIANTS.values(), ids=VARIANTS.keys())
def test_webhook_manifests_pass_our_own_scan_with_no_finding(tmp_path: Path, ca: Path, args: tuple[str, ...]) -> None:
    path = _write(tmp_path, ca, args)
    code, report = _scan(path)
    assert [f for f in report["findings"] if f["severity"] in LOW_OR_ABOVE] == []
    assert code == 0
    docs = _docs(path.read_text())
    assert report["summary"]["objects"] == len(docs) and report["summary"]["skipped"] == 0
    assert len({(d["kind"], d["metadata"]["name"]) for d in docs}) == len(docs)


@pytest.mark.parametrize("args", VARIANTS.values(), ids=VARIANTS.keys())
def test_webhook_manifests_validate_strictly_for_every_version_with_match_conditions(
        ca: Path, args: tuple[str, ...]) -> None:
    code, out, err = _gen(*args, "--ca-bundle", str(ca))
    assert code == 0, err
    docs = _docs(out)
    assert WITH_MATCH_CONDITIONS[0] == f"1.{MATCH_CONDITIONS_MINOR}.0" and len(WITH_MATCH_CONDITIONS) >= 10
    for version in WITH_MATCH_CONDITIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", SUPPORTED)
def test_k8s_version_output_validates_strictly_against_that_version(ca: Path, version: str) -> None:
    """`--k8s-version 1.N` for every version from 1.25: valid against 1.N's schema, Pod Security pinned to
    v1.N, matchConditions only where the API server applies them (1.28+)."""
    minor = int(version.split(".")[1])
    code, out, err = _gen("-n", "kubehipaa", "--image", IMAGE, "--k8s-version", f"1.{minor}", "--ca-bundle", str(ca))
    assert code == 0, err
    docs = _docs(out)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    assert _one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == f"v1.{minor}"
    hook = _one(docs, "ValidatingWebhookConfiguration")["webhooks"][0]
    assert ("matchConditions" in hook) == (minor >= MATCH_CONDITIONS_MINOR)
    assert ("No matchConditions" in out) == (minor < MATCH_CONDITIONS_MINOR)


def test_strict_validation_can_fail_matchconditions_are_unknown_before_1_27(ca: Path) -> None:
    """Why --k8s-version matters, and proof the validation above can fail: 1.26's schema has no matchConditions."""
    vwc = _one(_docs(_gen(*VARIANTS["issue-example"], "--ca-bundle", str(ca))[1]), "ValidatingWebhookConfiguration")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(vwc, "1.26.0", strict=True)


@pytest.mark.parametrize("weaken, check", [
    (lambda c: c.update(image="registry.example/kubehipaa:0.1.0"), "KH-IMG-003"),
    (lambda c: c["securityContext"].update(readOnlyRootFilesystem=False), "KH-WL-009"),
    (lambda c: c["securityContext"].update(allowPrivilegeEscalation=True), "KH-WL-008"),
    (lambda c: c.pop("resources"), "KH-WL-011"),
])
def test_scan_flags_a_weakened_deployment(tmp_path: Path, ca: Path, weaken: Any, check: str) -> None:
    """The clean scan is evidence only if the scan would see a gap: weaken the container, a check fires."""
    docs = _docs(_gen(*VARIANTS["image-ignore-timeout"], "--ca-bundle", str(ca))[1])
    weaken(_one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    path = tmp_path / "weak.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    code, report = _scan(path)
    assert code == 1 and check in {f["checkId"] for f in report["findings"]}


# --- what the manifests contain ---------------------------------------------------------------------------


def test_issue_example_emits_every_object(ca: Path) -> None:
    code, out, err = _gen("--namespace", "kubehipaa", "--ca-bundle", str(ca))
    assert code == 0
    docs = _docs(out)
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "Deployment", "Service",
                                         "PodDisruptionBudget", "NetworkPolicy", "NetworkPolicy",
                                         "ValidatingWebhookConfiguration"]
    assert all(d["metadata"].get("namespace", "kubehipaa") == "kubehipaa" for d in docs)
    labels = _one(docs, "Namespace")["metadata"]["labels"]
    assert all(labels[f"pod-security.kubernetes.io/{m}"] == "restricted" for m in ("enforce", "audit", "warn"))

    phi_hook, hook = _one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    excluded = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "kubehipaa"]}
    assert (phi_hook["name"], hook["name"]) == ("validate-phi.kubehipaa.io", "validate.kubehipaa.io")
    assert phi_hook["clientConfig"]["service"]["path"] == "/validate/phi"
    assert phi_hook["namespaceSelector"] == {"matchLabels": {"kubehipaa.io/phi": "true"}, "matchExpressions": [excluded]}
    assert hook["clientConfig"]["service"] == {"namespace": "kubehipaa", "name": "kubehipaa-admission",
                                               "path": "/validate", "port": 443}
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca.read_bytes()
    assert (hook["failurePolicy"], hook["sideEffects"], hook["timeoutSeconds"]) == ("Fail", "None", 5)
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubehipaa.io/phi", "operator": "NotIn", "values": ["true"]}, excluded]}
    assert "clusterroles" not in {r for rule in hook["rules"] for r in rule["resources"]}  # sent once: PHI hook
    assert {k: v for k, v in phi_hook.items() if k not in ("name", "clientConfig", "namespaceSelector")} == {
        k: v for k, v in hook.items() if k not in ("name", "clientConfig", "namespaceSelector", "rules")} | {
        "rules": phi_hook["rules"]}
    resources = {r for rule in phi_hook["rules"] for r in rule["resources"]}
    assert resources >= {"pods", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs",
                         "replicationcontrollers", "services", "ingresses", "roles", "clusterroles", "rolebindings",
                         "clusterrolebindings", "networkpolicies", "namespaces"}
    assert "secrets" not in resources and not any(r.endswith("/status") for r in resources)
    for rule in phi_hook["rules"]:
        assert set(rule["operations"]) >= {"CREATE", "UPDATE"}
        assert "DELETE" not in rule["operations"] or rule["resources"] == ["networkpolicies"]
    assert [c["name"] for c in hook["matchConditions"]] == ["not-a-controller-copy", "not-a-mirror-pod",
                                                            "not-finalizing"]
    assert "PLACEHOLDER" in out.split("---")[0] and "placeholder" in err  # the header and stderr say so
    assert "NO .kubehipaa.yaml" in out.split("---")[0] and not [d for d in docs if d["kind"] == "ConfigMap"]

    deploy = _one(docs, "Deployment")["spec"]
    pod = deploy["template"]["spec"]
    (container,) = pod["containers"]
    assert deploy["replicas"] == 2 and pod["automountServiceAccountToken"] is False
    term = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == deploy["selector"]["matchLabels"]
    assert container["image"] == PLACEHOLDER_IMAGE
    assert container["command"] + container["args"] == [
        "kubehipaa", "serve", "admission", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key",
        "--port", "8443"]
    sc = container["securityContext"]
    assert (sc["runAsNonRoot"], sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"]) == (True, True, False)
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "https", "scheme": "HTTPS"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}
    assert {"requests", "limits"} <= set(container["resources"])
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "kubehipaa-admission-tls"

    svc = _one(docs, "Service")["spec"]
    assert svc["type"] == "ClusterIP" and svc["ports"][0]["port"] == 443
    assert container["ports"][0] == {"name": "https", "containerPort": 8443, "protocol": "TCP"}
    assert _one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert _one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    netpol = _one(docs, "NetworkPolicy", "kubehipaa-admission")["spec"]
    assert netpol["policyTypes"] == ["Ingress", "Egress"] and "egress" not in netpol  # no egress at all
    assert netpol["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8443}]}]


def test_options_reach_the_manifests(ca: Path) -> None:
    code, out, err = _gen(*VARIANTS["image-ignore-timeout"], "--ca-bundle", str(ca))
    assert code == 0 and err == ""  # a real image: no placeholder warning
    docs = _docs(out)
    for hook in _one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        assert (hook["failurePolicy"], hook["timeoutSeconds"]) == ("Ignore", 10)
        assert hook["namespaceSelector"]["matchExpressions"][-1]["values"] == ["admission", "kube-system"]
    assert "failurePolicy Ignore" in out and "PLACEHOLDER" not in out
    assert _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    no_ns = _docs(_gen(*VARIANTS["no-namespace-max-timeout"], "--ca-bundle", str(ca))[1])
    assert not [d for d in no_ns if d["kind"] == "Namespace" or d["metadata"]["name"] == "default-deny-all"]


def test_apiserver_cidr_limits_the_webhook_ingress(tmp_path: Path, ca: Path) -> None:
    """Without --apiserver-cidr anyone may reach 8443, and a scan that treats the namespace as PHI says so
    (KH-NET-002 from every address); with it only the API server's networks can, and declaring exactly them
    (network.allowed_ingress) clears the finding."""
    phi = "phi:\n  namespaces: [kubehipaa]\n"
    declared = phi + "network:\n  allowed_ingress:\n" + "".join(
        f"    - {{to_namespace: kubehipaa, from_cidr: '{c}'}}\n" for c in ("10.0.0.0/24", "fd00:10::/64"))

    def net002(variant: str, config_text: str) -> list[str]:
        config = tmp_path / "kubehipaa.yaml"
        config.write_text(config_text)
        path = _write(tmp_path, ca, VARIANTS[variant])
        res = runner.invoke(app, ["scan", str(path), "-f", "json", "--config", str(config)])
        return [f["message"] for f in json.loads(res.stdout)["findings"] if f["checkId"] == "KH-NET-002"]

    (anywhere,) = net002("issue-example", phi)
    assert "0.0.0.0-255.255.255.255" in anywhere
    (limited,) = net002("apiserver-cidrs", phi)
    assert "10.0.0.0-10.0.0.255" in limited and "255.255.255.255" not in limited
    assert net002("apiserver-cidrs", declared) == []
    assert net002("issue-example", declared)  # declaring the API server's networks does not cover "anywhere"
    netpol = _one(_docs(_gen(*VARIANTS["apiserver-cidrs"], "--ca-bundle", str(ca))[1]),
                  "NetworkPolicy", "kubehipaa-admission")["spec"]
    assert netpol["ingress"] == [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "fd00:10::/64"}}],
                                  "ports": [{"protocol": "TCP", "port": 8443}]}]


def test_ca_bundle_keeps_only_the_certificates(tmp_path: Path, ca: Path) -> None:
    """Text around the PEM blocks (openssl's `subject=` lines) is not carried into caBundle; two CAs stay two."""
    _, other = _key_and_cert()
    bundle = tmp_path / "bundle.crt"
    bundle.write_bytes(b"subject=CN=kubehipaa-test-ca\n" + ca.read_bytes() + b"\n# note\n"
                       + other.public_bytes(serialization.Encoding.PEM))
    hook = _one(_docs(_gen("-n", "kubehipaa", "--ca-bundle", str(bundle))[1]),
                "ValidatingWebhookConfiguration")["webhooks"][0]
    decoded = base64.b64decode(hook["clientConfig"]["caBundle"])
    assert decoded == ca.read_bytes() + other.public_bytes(serialization.Encoding.PEM)


def test_a_self_signed_serving_certificate_is_its_own_ca(tmp_path: Path) -> None:
    """The API server accepts the serving certificate itself as caBundle when it is self-signed."""
    path = tmp_path / "self.crt"
    path.write_bytes(_pem(_key_and_cert("kubehipaa-admission.kubehipaa.svc", ca=False)[1]))
    code, out, err = _gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(path))
    assert code == 0, err
    hook = _one(_docs(out), "ValidatingWebhookConfiguration")["webhooks"][0]
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == path.read_bytes()


def test_match_conditions_skip_controller_copies_mirror_pods_and_finalizing(ca: Path) -> None:
    """The CEL the API server evaluates: a user's request is sent, a controller's copy, a mirror pod and a
    finalizer removal are not."""
    celpy = pytest.importorskip("celpy")
    hook = _one(_docs(_gen("-n", "kubehipaa", "--ca-bundle", str(ca))[1]),
                "ValidatingWebhookConfiguration")["webhooks"][0]
    env = celpy.Environment()
    programs = [env.program(env.compile(c["expression"])) for c in hook["matchConditions"]]

    def sent(user: str, resource: str = "pods", operation: str = "CREATE", deleting: bool = False) -> bool:
        meta: dict[str, Any] = {"name": "x"}
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        activation = {"request": celpy.json_to_cel({"userInfo": {"username": user}, "operation": operation,
                                                    "resource": {"resource": resource}}),
                      "object": celpy.json_to_cel({"metadata": meta})}
        return all(bool(p.evaluate(activation)) for p in programs)

    assert sent("alice@example.org") and sent("system:serviceaccount:ci:deployer", "deployments")
    assert sent("alice@example.org", operation="UPDATE")
    assert not sent("system:serviceaccount:kube-system:replicaset-controller")
    assert not sent("system:serviceaccount:kube-system:cronjob-controller", "jobs")
    assert not sent("system:kube-controller-manager", "replicasets")
    assert not sent("system:node:worker-1")
    assert sent("system:node:worker-1", "nodes")  # the node condition is about mirror pods only
    assert sent("system:serviceaccount:kube-system:some-addon")  # only the named built-in controllers
    assert not sent("alice@example.org", operation="UPDATE", deleting=True)
    # a deleted namespace's NetworkPolicies are removed by the namespace controller: never held up
    assert not sent("system:serviceaccount:kube-system:namespace-controller", "networkpolicies", "DELETE")
    assert sent("alice@example.org", "networkpolicies", "DELETE")


# --- bad input: one line, exit 2 --------------------------------------------------------------------------


def _key_pem() -> bytes:
    key, _ = _key_and_cert()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


BAD_CA = {
    "missing": (None, "cannot read"),
    "empty": (b"\n", "empty"),
    "not-pem": (b"hello, not a certificate\n", "not a PEM certificate"),
    "private-key": ("KEY", "PRIVATE KEY block"),
    "cert-and-key": ("CERT+KEY", "PRIVATE KEY block"),
    "broken-block": (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
    "expired": ("EXPIRED", "expired on"),
    "leaf-of-another-ca": ("LEAF", "is not a CA but was issued by CN=kubehipaa-test-ca"),
}


@pytest.mark.parametrize("content, says", BAD_CA.values(), ids=BAD_CA.keys())
def test_bad_ca_bundle_is_one_line_and_exit_2(tmp_path: Path, ca: Path, content: Any, says: str) -> None:
    path = tmp_path / "ca.crt"
    if content == "KEY":
        content = _key_pem()
    elif content == "CERT+KEY":
        content = ca.read_bytes() + _key_pem()
    elif content == "EXPIRED":
        content = _pem(_key_and_cert(days=-1)[1])
    elif content == "LEAF":
        content = _pem(_key_and_cert("kubehipaa-admission.kubehipaa.svc", ca=False, issuer=_key_and_cert())[1])
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "webhook.yaml"
    code, stdout, stderr = _gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(path), "-o", str(out))
    assert code == 2 and says in stderr and stderr.strip().count("\n") == 0, stderr
    assert "Traceback" not in stderr and "PRIVATE KEY-----" not in stderr + stdout and not out.exists()


BAD_ARGS = {
    "bad-namespace": (("-n", "Kube_HIPAA"), "not a valid namespace name"),
    "long-namespace": (("-n", "a" * 64), "not a valid namespace name"),
    "kube-system": (("-n", "kube-system"), "Kubernetes' own namespaces"),
    "timeout-zero": (("-n", "kubehipaa", "--timeout-seconds", "0"), "1 to 30 seconds"),
    "timeout-31": (("-n", "kubehipaa", "--timeout-seconds", "31"), "1 to 30 seconds"),
    "timeout-text": (("-n", "kubehipaa", "--timeout-seconds", "5s"), "whole number of seconds"),
    "failure-policy": (("-n", "kubehipaa", "--failure-policy", "fail"), "give Fail or Ignore"),
    "image-without-digest": (("-n", "kubehipaa", "--image", "registry.example/kubehipaa:0.1.0"), "crane digest"),
    "image-short-digest": (("-n", "kubehipaa", "--image", "r.example/k@sha256:abc"), "not pinned by digest"),
    "k8s-version-old": (("-n", "kubehipaa", "--k8s-version", "1.24"), "supported are 1.25"),
    "k8s-version-garbage": (("-n", "kubehipaa", "--k8s-version", "latest"), "give a Kubernetes version"),
    "cidr-garbage": (("-n", "kubehipaa", "--apiserver-cidr", "10.0.0.300/24"), "not a valid CIDR"),
    "cidr-host-bits": (("-n", "kubehipaa", "--apiserver-cidr", "10.0.0.5/24"), "canonical form"),
    "cidr-anywhere": (("-n", "kubehipaa", "--apiserver-cidr", "0.0.0.0/0"), "every address"),
    "image-whitespace": (("-n", "kubehipaa", "--image", "r.example/k:1 @sha256:" + "a" * 64), "image reference"),
}


@pytest.mark.parametrize("args, says", BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_options_are_one_line_and_exit_2(tmp_path: Path, ca: Path, args: tuple[str, ...], says: str) -> None:
    out = tmp_path / "webhook.yaml"
    code, _, stderr = _gen(*args, "--ca-bundle", str(ca), "-o", str(out))
    assert code == 2 and says in stderr and stderr.strip().count("\n") == 0, stderr
    assert "Traceback" not in stderr and not out.exists()


def test_help_explains_the_failure_policy_choice() -> None:
    res = runner.invoke(app, ["generate", "webhook", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "Fail refuses the request" in res.stdout and "Ignore admits it" in res.stdout


# --- the config the server runs with (a ConfigMap) --------------------------------------------------------

CONFIG = """# the clinic's policy
phi:
  namespaces: [clinical]
  selector: {hospital.example/phi: "yes", tier: records}
admission:
  clusterScoped: other
  other: {deny: [KH-WL-001]}
exceptions:
  - check: KH-WL-011
    resource: {kind: Deployment, namespace: legacy, name: pacs}
    justification: vendor appliance (RISK-42)
    owner: platform-team
    expires: 2026-12-31
"""


def _mount(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    template = _one(docs, "Deployment")["spec"]["template"]
    return template, template["spec"]["containers"][0]


def test_config_is_shipped_in_a_configmap_mounted_read_only_with_a_checksum(tmp_path: Path, ca: Path) -> None:
    import hashlib

    config = tmp_path / "policy.yaml"
    config.write_text(CONFIG)
    path = tmp_path / "webhook.yaml"
    code, _, err = _gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca), "-c", str(config), "-o", str(path))
    assert code == 0, err
    out = path.read_text()
    docs = _docs(out)
    assert _one(docs, "ConfigMap", "kubehipaa-admission-config")["data"] == {"kubehipaa.yaml": CONFIG}  # verbatim
    template, container = _mount(docs)
    assert container["args"][-2:] == ["--config", "/etc/kubehipaa/kubehipaa.yaml"]
    assert {"name": "config", "mountPath": "/etc/kubehipaa", "readOnly": True} in container["volumeMounts"]
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "kubehipaa-admission-config"
    assert template["metadata"]["annotations"] == {
        "kubehipaa.io/config-sha256": hashlib.sha256(CONFIG.encode()).hexdigest()}
    assert f"--config {config}" in out.split("---")[0]
    # the ConfigMap comes before the Deployment that mounts it
    kinds = [d["kind"] for d in docs]
    assert kinds.index("ConfigMap") < kinds.index("Deployment")
    code, report = _scan(path)
    assert code == 0 and [f for f in report["findings"] if f["severity"] in LOW_OR_ABOVE] == []
    for version in ("1.27.0", "1.28.0", "1.30.0"):
        for doc in _docs(_gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca), "-c", str(config),
                              "--k8s-version", version[:4])[1]):
            kubernetes_validate.validate(doc, version, strict=True)

    # a changed config changes the pod template: the Deployment rolls its pods
    config.write_text(CONFIG.replace("KH-WL-001", "KH-WL-002"))
    again = _docs(_gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca), "-c", str(config))[1])
    assert _mount(again)[0]["metadata"]["annotations"] != template["metadata"]["annotations"]


def test_the_current_directorys_config_is_used_and_its_absence_said(tmp_path: Path, ca: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca))
    assert code == 0 and "NO .kubehipaa.yaml" in out.split("---")[0]
    docs = _docs(out)
    assert "--config" not in _mount(docs)[1]["args"] and "annotations" not in _mount(docs)[0]["metadata"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".kubehipaa.yaml").write_text(CONFIG)
    code, out, err = _gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca))
    assert code == 0, err
    assert _one(_docs(out), "ConfigMap")["data"]["kubehipaa.yaml"] == CONFIG
    assert "found in the current directory" in out.split("---")[0]


BAD_CONFIG = {
    "credential-in-a-value": ("history:\n  url: https://history.example/api?token=c2VjcmV0\n", ":2: holds a value"),
    "password-in-a-comment": ("phi:\n  namespaces: [clinical]   # db password: hunter2hunter2\n", ":2: holds a value"),
    "patient-data": ("phi:\n  namespaces: [clinical]\n# patient ssn 219-09-9999\n", ":3: holds a value"),
    "unknown-rule": ("admission:\n  phi:\n    deny: [KH-NOPE-*]\n", "matches no known rule"),
    "bad-selector-key": ("phi:\n  selector: {'bad key': 'true'}\n", "not a valid label key"),
    "bad-selector-value": ("phi:\n  selector: {kubehipaa.io/phi: 'yes please'}\n", "not a valid label value"),
    "not-a-config": ("phi: [\n", "policy.yaml"),
    "too-large": ("phi:\n  namespaces: [" + ", ".join(f"ns-{i}" for i in range(20000)) + "]\n", "larger than"),
}


@pytest.mark.parametrize("text, says", BAD_CONFIG.values(), ids=BAD_CONFIG.keys())
def test_bad_or_sensitive_config_is_refused_in_one_line(tmp_path: Path, ca: Path, text: str, says: str) -> None:
    """Nothing redaction would mask goes into a ConfigMap, and a config the server would refuse at start
    (its pods crash-looping while failurePolicy Fail refuses writes) is refused here."""
    config = tmp_path / "policy.yaml"
    config.write_text(text)
    out = tmp_path / "webhook.yaml"
    code, stdout, stderr = _gen("-n", "kubehipaa", "--ca-bundle", str(ca), "-c", str(config), "-o", str(out))
    assert code == 2 and says in stderr and "Traceback" not in stderr, stderr
    assert stderr.strip().count("\n") == 0 and not out.exists() and stdout == ""
    for secret in ("c2VjcmV0", "hunter2", "219-09-9999"):
        assert secret not in stderr


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """metav1.LabelSelector semantics: matchLabels and every matchExpression (In / NotIn: an absent label is
    not In anything and is NotIn everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels and labels[expr["key"]] in expr["values"]
        if present != (expr["operator"] == "In"):
            return False
    return True


@pytest.mark.parametrize("selector", [{}, {"kubehipaa.io/phi": "true"},
                                      {"hospital.example/phi": "yes", "tier": "records", "zone": "a"}])
def test_phi_selector_webhooks_partition_the_namespaces(tmp_path: Path, ca: Path, selector: dict[str, str]) -> None:
    """Every namespace matches exactly one webhook: the PHI one (/validate/phi) iff it carries every label of
    phi.selector; kube-system and the webhook's own namespace none. ClusterRoles go to exactly one webhook."""
    import itertools

    config = tmp_path / "policy.yaml"
    config.write_text(f"phi:\n  selector: {json.dumps(selector)}\n")
    hooks = _one(_docs(_gen("-n", "kubehipaa", "--image", IMAGE, "--ca-bundle", str(ca), "-c", str(config))[1]),
                 "ValidatingWebhookConfiguration")["webhooks"]
    assert len(hooks) == max(len(selector) + 1, 1) and len({h["name"] for h in hooks}) == len(hooks)
    values = {k: (None, v, "other") for k, v in selector.items()}
    for combo in itertools.product(*values.values()):
        labels = {k: v for k, v in zip(values, combo, strict=True) if v is not None}
        for name, expected in (("clinical", 1), ("kube-system", 0), ("kubehipaa", 0)):
            ns_labels = {**labels, "kubernetes.io/metadata.name": name}
            matched = [h for h in hooks if _selector_matches(h["namespaceSelector"], ns_labels)]
            assert len(matched) == expected, (labels, name)
            if matched:
                phi = bool(selector) and labels == selector
                assert matched[0]["clientConfig"]["service"]["path"] == ("/validate/phi" if phi else "/validate")
    rbac = [h["name"] for h in hooks if any("clusterroles" in r["resources"] for r in h["rules"])]
    assert rbac == (["validate-phi.kubehipaa.io"] if selector else ["validate.kubehipaa.io"])


def test_cluster_scoped_rbac_follows_admission_cluster_scoped(tmp_path: Path, ca: Path) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text("admission:\n  clusterScoped: other\n")
    hooks = _one(_docs(_gen("-n", "kubehipaa", "--ca-bundle", str(ca), "-c", str(config))[1]),
                 "ValidatingWebhookConfiguration")["webhooks"]
    rbac = [h["clientConfig"]["service"]["path"] for h in hooks
            if any("clusterrolebindings" in r["resources"] for r in h["rules"])]
    assert rbac == ["/validate"]
