"""`kubehipaa generate audit-policy | encryption-config | break-glass` (issue 17 req 3, 4).

Every generated file goes through the project's OWN checks, the way a user runs them: the audit Policy through
`kubehipaa audit-policy check` and `scan --audit-policy` (KH-AUD-*), the EncryptionConfiguration through
`scan --encryption-config` (KH-ENC-*, the file's mode included), the break-glass binding through `scan`
(KH-RBAC-009). Shapes are validated strictly: the binding with `kubernetes-validate` (upstream OpenAPI); the
Policy and the EncryptionConfiguration are not API resources (no OpenAPI schema exists for them), so they are
checked against strict JSON schemas written here from the upstream Go types (k8s.io/apiserver
pkg/apis/audit/v1 and pkg/apis/apiserver/v1) plus the upstream validation rules that matter, and parsed with
our own loaders (engines.controlplane).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.checks.encryption import MUST_ENCRYPT
from kubehipaa.checks.rbac import BREAK_GLASS_MARK, EXPIRES_ANNOTATION
from kubehipaa.cli import generate_controlplane
from kubehipaa.cli.main import app
from kubehipaa.engines.controlplane import Request, evaluate, parse_encryption_config, parse_policy
from kubehipaa.generate import audit_policy, rfc3339

runner = CliRunner()
KMS = "unix:///var/run/kmsplugin/socket"
NOW = dt.datetime(2026, 12, 7, 10, 0, 0, tzinfo=dt.UTC)


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _doc(text: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert len(docs) == 1
    return docs[0]


def _findings(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    out = tmp_path / "scan.json"
    code, _, err = _run("scan", *args, "--format", "json", "-o", str(out), "--fail-on", "never")
    assert code == 0, err
    return json.loads(out.read_text())["findings"]


def _one_line_error(code: int, out: str, err: str) -> None:
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err


# ---------------------------------------------------------------- strict schemas from the upstream Go types

_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_STAGES = {"type": "array", "items": {"enum": ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]}}
AUDIT_POLICY_SCHEMA = {  # audit.k8s.io/v1 Policy, PolicyRule, GroupResources
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "rules"],
    "properties": {
        "apiVersion": {"const": "audit.k8s.io/v1"}, "kind": {"const": "Policy"}, "metadata": {"type": "object"},
        "omitStages": _STAGES, "omitManagedFields": {"type": "boolean"},
        "rules": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["level"],
            "properties": {
                "level": {"enum": ["None", "Metadata", "Request", "RequestResponse"]},
                "users": _STRINGS, "userGroups": _STRINGS, "verbs": _STRINGS, "namespaces": _STRINGS,
                "nonResourceURLs": _STRINGS, "omitStages": _STAGES, "omitManagedFields": {"type": "boolean"},
                "resources": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"group": {"type": "string"}, "resources": _STRINGS, "resourceNames": _STRINGS}}},
            }}},
    },
}
_KEYS = {"type": "object", "additionalProperties": False, "required": ["keys"], "properties": {"keys": {
    "type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
                                              "required": ["name", "secret"],
                                              "properties": {"name": {"type": "string", "minLength": 1},
                                                             "secret": {"type": "string", "minLength": 1}}}}}}
ENCRYPTION_SCHEMA = {  # apiserver.config.k8s.io/v1 EncryptionConfiguration, ResourceConfiguration, providers
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "resources"],
    "properties": {
        "apiVersion": {"const": "apiserver.config.k8s.io/v1"}, "kind": {"const": "EncryptionConfiguration"},
        "resources": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["resources", "providers"],
            "properties": {
                "resources": _STRINGS,
                "providers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                    "properties": {
                        "aescbc": _KEYS, "aesgcm": _KEYS, "secretbox": _KEYS,
                        "identity": {"type": "object", "additionalProperties": False},
                        "kms": {"type": "object", "additionalProperties": False, "required": ["name", "endpoint"],
                                "properties": {"apiVersion": {"enum": ["v1", "v2"]}, "name": {"type": "string"},
                                               "endpoint": {"type": "string"}, "cachesize": {"type": "integer"},
                                               "timeout": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}}},
                    }}},
            }}},
    },
}


def _upstream_audit_validation(doc: dict[str, Any]) -> None:
    """The rules of k8s.io/apiserver pkg/apis/audit/validation that a schema cannot express."""
    for rule in doc["rules"]:
        assert not ((rule.get("resources") or rule.get("namespaces")) and rule.get("nonResourceURLs"))
        for url in rule.get("nonResourceURLs", []):
            assert url == "*" or (url.startswith("/") and "*" not in url[:-1])
        for gr in rule.get("resources", []):
            for res in gr.get("resources", []):
                assert not (gr.get("resourceNames") and "*" in res)


# ---------------------------------------------------------------- audit policy (req 3)


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ap") / "audit-policy.yaml"
    code, _, err = _run("generate", "audit-policy", "-o", str(path))
    assert code == 0, err
    return path


@pytest.mark.parametrize("namespaces", [["clinical"], ["default"], ["kube-system", "kube-node-lease", "clinical"]])
def test_audit_policy_is_rated_compliant_by_audit_policy_check(audit_file: Path, namespaces: list[str]) -> None:
    args = [a for ns in namespaces for a in ("-n", ns)]
    code, out, err = _run("audit-policy", "check", str(audit_file), *args, "--format", "json")
    assert code == 0, out + err
    report = json.loads(out)
    classes = [c for p in report["policies"] for c in p["coverage"]]
    assert classes and all(c["ok"] for c in classes), classes
    assert all(not p["requestReceivedRecordedBy"] and not p["catchAllNoneHides"] for p in report["policies"])


def test_audit_policy_has_no_kh_aud_finding_in_a_scan(audit_file: Path, tmp_path: Path) -> None:
    findings = _findings(tmp_path, "--audit-policy", str(audit_file))
    assert not [f for f in findings if f["checkId"].startswith("KH-AUD")], findings


def test_audit_policy_shape_is_upstream_valid_and_every_rule_explains_itself(audit_file: Path) -> None:
    text = audit_file.read_text()
    doc = _doc(text)
    assert doc == audit_policy()[1]  # the per-rule comments never leak into a value
    jsonschema.validate(doc, AUDIT_POLICY_SCHEMA)
    _upstream_audit_validation(doc)
    assert parse_policy(doc).omit_stages == frozenset({"RequestReceived"})
    assert doc["rules"][-1] == {"level": "Metadata"}  # at least Metadata for whatever nothing else matched
    # each `  - level:` line is directly preceded by its own comment block citing a HIPAA paragraph
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("  - level:")]
    assert len(starts) == len(doc["rules"])
    for i in starts:
        block: list[str] = []
        j = i - 1
        while j >= 0 and lines[j].startswith("  #"):
            block.insert(0, lines[j])
            j -= 1
        assert block and "164." in " ".join(block), lines[i]


def _levels(doc: dict[str, Any], *requests: Request) -> list[str]:
    policy = parse_policy(doc)
    return [evaluate(policy, r).level for r in requests]


def test_audit_policy_first_match_semantics(audit_file: Path) -> None:
    """Upstream's first-match evaluation (engines.controlplane simulator) on requests the coverage classes do
    not probe: the quiet rules stay narrow, bodies of secrets/configmaps are never recorded by anyone."""
    doc = _doc(audit_file.read_text())
    proxy = ("system:kube-proxy", ("system:authenticated",))
    kcm = ("system:kube-controller-manager", ("system:authenticated",))
    node = ("system:node:n1", ("system:nodes", "system:authenticated"))
    kcm_sa = ("system:serviceaccount:kube-system:endpoint-controller", ("system:serviceaccounts",))
    assert _levels(
        doc,
        Request("watch", *proxy, resource="endpoints", namespace="clinical"),
        Request("watch", *proxy, resource="endpointslices", api_group="discovery.k8s.io", namespace="clinical"),
        Request("update", *kcm, resource="leases", api_group="coordination.k8s.io", namespace="kube-system"),
        Request("update", *node, resource="leases", api_group="coordination.k8s.io", namespace="kube-node-lease"),
        Request("get", *node, resource="nodes", name="n1"),
        Request("get", path="/healthz", is_resource=False),
        Request("get", path="/readyz/etcd", is_resource=False),
    ) == ["None"] * 7
    assert _levels(
        doc,
        Request("watch", *proxy, resource="secrets", namespace="clinical"),  # named user, other resource
        Request("get", *node, resource="secrets", namespace="clinical", name="db"),
        Request("update", *kcm, resource="leases", api_group="coordination.k8s.io", namespace="clinical"),
        Request("update", *kcm_sa, resource="endpoints", namespace="kube-system", name="x"),
        Request("patch", *node, resource="nodes", subresource="status", name="n1"),
        Request("get", path="/metrics", is_resource=False),
        Request("get", user=None, groups=(), path="/openapi/v2", is_resource=False),
        Request("delete", resource="events", namespace="clinical", name="e"),
    ) == ["Metadata"] * 8
    users = [("alice@example.org", ("system:authenticated",)), proxy, kcm, node, kcm_sa]
    body_levels = {evaluate(parse_policy(doc), Request(verb, u, g, resource=res, subresource=sub,
                                                       namespace=ns, name="x")).level
                   for u, g in users for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
                   for res, sub in (("secrets", ""), ("configmaps", ""), ("serviceaccounts", "token"))
                   for ns in ("clinical", "kube-system", "kube-node-lease")}
    assert body_levels == {"Metadata"}
    assert _levels(doc, Request("create", resource="namespaces", name="clinical"),
                   Request("patch", resource="networkpolicies", api_group="networking.k8s.io", namespace="c"),
                   Request("delete", resource="validatingwebhookconfigurations",
                           api_group="admissionregistration.k8s.io", name="w"),
                   Request("create", resource="pods", subresource="exec", namespace="c", name="p")) == [
        "RequestResponse"] * 4
    assert _levels(doc, Request("get", resource="pods", subresource="proxy", namespace="c", name="p"),
                   Request("get", resource="nodes", subresource="proxy", name="n1")) == ["Metadata"] * 2


def test_audit_policy_stdout_equals_the_file(audit_file: Path) -> None:
    code, out, _ = _run("generate", "audit-policy")
    assert code == 0 and out == audit_file.read_text()


# ---------------------------------------------------------------- encryption config (req 3)


def _enc_findings(tmp_path: Path, path: Path) -> list[tuple[str, str]]:
    return sorted((f["checkId"], f["severity"]) for f in _findings(tmp_path, "--encryption-config", str(path))
                  if f["checkId"].startswith("KH-ENC"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_encryption_config_kms_v2_is_rated_compliant(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    code, out, err = _run("generate", "encryption-config", "--kms-endpoint", KMS, "-o", str(path))
    assert code == 0 and out == "", err
    assert _mode(path) == 0o600
    doc = _doc(path.read_text())
    assert doc["resources"][0]["providers"] == [
        {"kms": {"apiVersion": "v2", "name": "kubehipaa-kms", "endpoint": KMS, "timeout": "3s"}}]
    assert _enc_findings(tmp_path, path) == []


def test_encryption_config_covers_what_the_checks_require_and_is_upstream_shaped(tmp_path: Path) -> None:
    for args in (("--kms-endpoint", KMS), (), ("--allow-plaintext-reads",)):
        code, out, err = _run("generate", "encryption-config", *args)
        assert code == 0, err
        doc = _doc(out)
        jsonschema.validate(doc, ENCRYPTION_SCHEMA)
        cfg = parse_encryption_config(doc)
        for resource, group in MUST_ENCRYPT:
            writer = cfg.write_provider(resource, group)
            assert writer is not None and writer.type != "identity"
        kms = [p["kms"] for e in doc["resources"] for p in e["providers"] if "kms" in p]
        assert all("cachesize" not in k and ":" not in k["name"] for k in kms)  # not allowed with KMS v2


def test_encryption_config_placeholder_is_never_taken_for_a_usable_config(tmp_path: Path) -> None:
    """Without KMS and without --generate-key the key is a placeholder: the tool says it must be replaced,
    and the project's own check rates it non-compliant (KH-ENC-005, high), as the API server would refuse it."""
    path = tmp_path / "enc.yaml"
    code, out, err = _run("generate", "encryption-config", "-o", str(path))
    assert code == 0 and out == ""
    assert "PLACEHOLDER" in err and "replace" in err
    text = path.read_text()
    assert "head -c 32 /dev/urandom | base64" in text
    (key,) = _doc(text)["resources"][0]["providers"][0]["secretbox"]["keys"]
    with pytest.raises(ValueError):
        base64.b64decode(key["secret"], validate=True)
    assert ("KH-ENC-005", "high") in _enc_findings(tmp_path, path)


def test_encryption_config_generate_key_writes_a_fresh_key_0600_only_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text("old\n")
    os.chmod(path, 0o644)  # a wider existing file is replaced, not reused
    code, out, err = _run("generate", "encryption-config", "--generate-key", "-o", str(path))
    assert code == 0, err
    assert _mode(path) == 0o600
    (key,) = _doc(path.read_text())["resources"][0]["providers"][0]["secretbox"]["keys"]
    assert len(base64.b64decode(key["secret"], validate=True)) == 32
    assert key["secret"] not in out + err
    # the only remaining finding is the check's position on local keys (low), nothing about the key
    assert _enc_findings(tmp_path, path) == [("KH-ENC-003", "low")]
    other = tmp_path / "enc2.yaml"
    assert _run("generate", "encryption-config", "--generate-key", "-o", str(other))[0] == 0
    assert _doc(other.read_text())["resources"][0]["providers"][0]["secretbox"]["keys"][0]["secret"] != key["secret"]


@pytest.mark.parametrize("args", [
    ("--generate-key",),
    ("--generate-key", "-o", "-"),
    ("--generate-key", "--kms-endpoint", KMS, "-o", "x.yaml"),
    ("--kms-endpoint", "https://kms.example/v2"),
    ("--kms-endpoint", "unix://"),
    ("--kms-endpoint", KMS, "--kms-name", "a:b"),
], ids=["key-to-stdout", "key-to-dash", "key-with-kms", "http-endpoint", "empty-socket", "colon-name"])
def test_encryption_config_refuses_bad_options_in_one_line(args: tuple[str, ...], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _one_line_error(*_run("generate", "encryption-config", *args))
    assert not (tmp_path / "x.yaml").exists()


def test_encryption_config_key_never_goes_to_a_device(tmp_path: Path) -> None:
    code, out, err = _run("generate", "encryption-config", "--generate-key", "-o", "/dev/null")
    _one_line_error(code, out, err)


def test_encryption_config_identity_only_last_and_reported_until_removed(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    assert _run("generate", "encryption-config", "--kms-endpoint", KMS, "--allow-plaintext-reads",
                "-o", str(path))[0] == 0
    providers = _doc(path.read_text())["resources"][0]["providers"]
    assert list(providers[0]) == ["kms"] and providers[-1] == {"identity": {}}
    assert _enc_findings(tmp_path, path) == [("KH-ENC-004", "low")]


# ---------------------------------------------------------------- break-glass (req 4)


def _break_glass(monkeypatch: pytest.MonkeyPatch, now: dt.datetime, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(generate_controlplane, "NOW", lambda: now)
    return _run("generate", "break-glass", *args)


@pytest.mark.parametrize("args", [("--group", "incident-responders", "--expires", "4h"),
                                  ("--group", "oidc:IR Team@hospital.org", "--expires", "2d", "--role", "edit",
                                   "--namespace", "clinical")], ids=["cluster", "namespace"])
def test_break_glass_validates_and_binds_a_group_with_the_expiry(args: tuple[str, ...],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _break_glass(monkeypatch, NOW, *args)
    assert code == 0, err
    doc = _doc(out)
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert doc["kind"] == ("RoleBinding" if "--namespace" in args else "ClusterRoleBinding")
    assert doc["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": args[1]}]
    ann = doc["metadata"]["annotations"]
    assert ann[BREAK_GLASS_MARK] == "true"
    delta = dt.timedelta(hours=4) if "4h" in args else dt.timedelta(days=2)
    assert ann[EXPIRES_ANNOTATION] == (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"kubectl delete {doc['kind'].lower()}" in out and doc["metadata"]["name"] in out


@pytest.mark.parametrize("expires", ["31d", "2099-01-01T00:00:00Z"])
def test_break_glass_long_expiry_is_generated_with_a_warning(expires: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _break_glass(monkeypatch, NOW, "--group", "ir", "--expires", expires)
    assert code == 0
    assert _doc(out)["metadata"]["annotations"][EXPIRES_ANNOTATION] > rfc3339(NOW)
    assert "long for break-glass" in err


def test_break_glass_timestamp_is_normalised_to_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _break_glass(monkeypatch, NOW, "--group", "ir", "--expires", "2026-12-08T02:30:00+02:00")
    assert code == 0
    assert _doc(out)["metadata"]["annotations"][EXPIRES_ANNOTATION] == "2026-12-08T00:30:00Z"


def test_break_glass_is_flagged_by_kh_rbac_009_once_expired(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    real_now = dt.datetime.now(dt.UTC)
    expired, current = tmp_path / "expired.yaml", tmp_path / "current.yaml"
    for path, clock in ((expired, real_now - dt.timedelta(days=2)), (current, real_now)):
        code, _, err = _break_glass(monkeypatch, clock, "--group", "incident-responders", "--expires", "4h",
                                    "-o", str(path))
        assert code == 0, err

    def rbac_009(path: Path) -> list[dict[str, Any]]:
        return [f for f in _findings(tmp_path, str(path)) if f["checkId"] == "KH-RBAC-009"]

    flagged = rbac_009(expired)
    assert len(flagged) == 1 and "expired" in flagged[0]["message"]
    assert rbac_009(current) == []


@pytest.mark.parametrize("args", [
    ("--group", "ir", "--expires", "4x"),
    ("--group", "ir", "--expires", "0h"),
    ("--group", "ir", "--expires", "999999w"),  # would overflow the calendar
    ("--group", "ir", "--expires", "0001-01-01T00:00:00+01:00"),  # no UTC representation
    ("--group", "ir", "--expires", "2026-12-08T00:00:00"),  # no zone: ambiguous
    ("--group", "ir", "--expires", "2026-12-01T00:00:00Z"),  # already past
    ("--group", "system:authenticated", "--expires", "4h"),
    ("--group", "", "--expires", "4h"),
    ("--group", "ir", "--expires", "4h", "--role", "a/b"),
    ("--group", "ir", "--expires", "4h", "--namespace", "Not_A_Namespace"),
    ("--group", "ir\nx", "--expires", "4h"),
    ("--group", "ir", "--expires", "4h", "--role", "edit\n"),
], ids=["bad-unit", "zero", "overflow", "year-1", "no-zone", "past", "system-group", "empty-group", "bad-role", "bad-ns",
                             "newline-group", "newline-role"])
def test_break_glass_refuses_bad_input_in_one_line(args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    _one_line_error(*_break_glass(monkeypatch, NOW, *args))
