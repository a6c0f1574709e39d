"""KH-SEC-008: credentials committed in Secret manifests are a finding, and never printed (issue 11, req 12)."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kubehipaa.checks.registry import REGISTRY, all_checks
from kubehipaa.checks.secrets import committed_credential
from kubehipaa.cli.main import app
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity
from kubehipaa.pipelines.scan import run_scan

all_checks()
CHECK = "KH-SEC-008"
PASSWORD = "Vq3-case-Lm8~pw"
TOKEN = "tok-case-7d41e8aa09"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(ns: str = "apps", meta: dict | None = None, **body: object) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns, **(meta or {})},
            **body}


def findings(*docs: dict, file: str = "secrets.yaml", phi: tuple[str, ...] = ()):
    cfg = Config.model_validate({"phi": {"namespaces": list(phi)}})
    inv = Inventory([K8sObject(d, file, 1) for d in docs], cfg)
    return run_scan(inv, cfg, checks=[REGISTRY[CHECK]]).findings


def test_string_data_and_data_values_are_found_and_named_by_key() -> None:
    [f] = findings(secret(stringData={"POSTGRES_USER": "ehr", "POSTGRES_PASSWORD": PASSWORD},
                          data={"api-token": b64(TOKEN)}))
    assert f.severity is Severity.HIGH
    assert f.evidence[0].path == "data.api-token"
    assert f.evidence[0].value == ["data.api-token", "stringData.POSTGRES_PASSWORD"]
    assert f.evidence[0].redacted
    assert "api-token, POSTGRES_PASSWORD" in f.message and "POSTGRES_USER" not in f.message


def test_critical_in_a_phi_namespace() -> None:
    [f] = findings(secret(ns="clinical", stringData={"password": PASSWORD}), phi=("clinical",))
    assert f.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("key", "text", "credential"),
    [
        ("password", PASSWORD, True),
        ("password", "CHANGEME", True),  # applied as committed, the placeholder word *is* the password
        ("password", "abc", True),  # short is still a credential
        (".dockerconfigjson", '{"auths":{"r.example":{"auth":"dTpw"}}}', True),
        ("tls.key", "-----BEGIN PRIVATE KEY-----\nMIIcase\n-----END PRIVATE KEY-----", True),
        ("bundle.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
                       "-----BEGIN EC PRIVATE KEY-----\ny\n-----END EC PRIVATE KEY-----", True),
        ("password", "", False),
        ("password", "   ", False),
        ("password", "${DB_PASSWORD}", False),
        ("password", "$(DB_PASSWORD)", False),
        ("password", "{{ .Values.password }}", False),
        ("password", "<db-password>", False),
        ("password", "((vault-password))", False),
        ("password", "****", False),
        ("password", "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]", False),
        ("ca.crt", "anything", False),
        ("namespace", "apps", False),
        ("bundle.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----", False),
        ("id_ed25519.pub", "ssh-ed25519 AAAAcase user@host", False),
        ("authorized", "ssh-rsa AAAAB3case user@host", False),
        ("DB_HOST", "db.apps.svc", False),
        ("port", "5432", False),
        ("username", "ehr", False),
    ],
)
def test_what_counts_as_a_committed_credential(key: str, text: str, credential: bool) -> None:
    assert committed_credential(key, text) is credential


@pytest.mark.parametrize(
    "doc",
    [
        secret(type="kubernetes.io/service-account-token",
               meta={"annotations": {"kubernetes.io/service-account.name": "app"}}),
        secret(data={}),
        secret(data=None, stringData={"password": ""}),
        secret(data={"password": b64("")}),
        secret(stringData={"enabled": True, "nested": {"a": "b"}, "listed": ["x"], "none": None}),
        secret(stringData={"password": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"},
               sops={"age": [{"recipient": "age1case"}], "version": "3.9.0"}),
    ],
)
def test_secrets_without_credential_values_pass(doc: dict) -> None:
    assert findings(doc) == []


def test_service_account_token_with_its_token_fires_on_the_token_only() -> None:
    [f] = findings(secret(type="kubernetes.io/service-account-token",
                          data={"ca.crt": b64("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"),
                                "namespace": b64("apps"), "token": b64("eyJhbGciOiJSUzI1NiJ9.case.sig")}))
    assert f.evidence[0].value == ["data.token"]


LIVE = {"uid": "0b1c", "resourceVersion": "4711", "creationTimestamp": "2026-01-01T00:00:00Z"}


def test_a_live_cluster_export_piped_in_is_not_a_committed_manifest() -> None:
    live = secret(meta=LIVE, data={"password": b64(PASSWORD)})
    assert findings(live, file="<stdin>") == []
    # the same export saved to a file is a file holding the credential; rendered manifests on stdin
    # (kustomize build | kubehipaa scan -) carry no server-set metadata and are judged
    assert len(findings(live, file="dump.yaml")) == 1
    assert len(findings(secret(data={"password": b64(PASSWORD)}), file="<stdin>")) == 1


def test_undecodable_data_is_still_committed_content() -> None:
    assert len(findings(secret(data={"password": "not base64!"}))) == 1


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "junit"])
def test_cli_reports_never_echo_the_value_or_its_base64(tmp_path: Path, fmt: str) -> None:
    doc = secret(stringData={"password": PASSWORD}, data={"token": b64(TOKEN)})
    (tmp_path / "secret.yaml").write_text(json.dumps(doc))
    res = CliRunner().invoke(app, ["scan", str(tmp_path / "secret.yaml"), "-f", fmt, "--check", CHECK])
    assert res.exit_code == 1, res.output
    assert CHECK in res.stdout
    for raw in (PASSWORD, TOKEN, b64(TOKEN), b64(PASSWORD)):
        assert raw not in res.output


def _random_case(value: str) -> str:
    fs = findings(secret(stringData={"secret-value": value}, data={"key-material": b64(value)}))
    return repr([f.to_dict() for f in fs])


_OWN_WORDS = _random_case("Zq9-Xv2~Lm7.Kw")
"""The finding's own words (title, key names, remediation): a draw that is one of them proves nothing."""


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "!#%+-_.~", min_size=6, max_size=30))
def test_random_secret_values_are_never_in_a_finding(value: str) -> None:
    assume(value not in _OWN_WORDS and b64(value) not in _OWN_WORDS)
    text = _random_case(value)
    for raw in (value, b64(value)):
        assert raw not in text
