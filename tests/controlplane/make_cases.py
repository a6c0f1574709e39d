"""Regenerate tests/cases/KH-{API,ENC,AUD,KUB}-*/ from the hardened example plus one mutation per case.

Run: .venv/bin/python tests/controlplane/make_cases.py   (the generated YAML is committed; this script
documents how each case differs from the hardened baseline)
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HARDENED = ROOT / "examples" / "clinic-hardened" / "control-plane"
CASES = ROOT / "tests" / "cases"

Doc = dict[str, Any]


def load(name: str) -> Doc:
    return yaml.safe_load((HARDENED / name).read_text())


API = load("kube-apiserver.yaml")
ENC = load("encryption-config.yaml")
AUD = load("audit-policy.yaml")
KUB = load("kubelet-config.yaml")
ETCD = load("etcd.yaml")
MARKER: Doc = {
    "apiVersion": "kubehipaa.io/v1alpha1",
    "kind": "ControlPlaneScan",
    "metadata": {"name": "control-plane"},
    "spec": {"requested": {"controlPlaneDir": "/etc/kubernetes"}},
}


def api(mutate: Callable[[list[str]], None]) -> Doc:
    doc = copy.deepcopy(API)
    mutate(doc["spec"]["containers"][0]["command"])
    return doc


def drop(prefix: str) -> Callable[[list[str]], None]:
    def f(cmd: list[str]) -> None:
        cmd[:] = [c for c in cmd if not c.startswith(prefix)]

    return f


def setf(flag: str, value: str) -> Callable[[list[str]], None]:
    def f(cmd: list[str]) -> None:
        cmd[:] = [c for c in cmd if not c.startswith(f"--{flag}=")]
        cmd.append(f"--{flag}={value}")

    return f


def etcd(mutate: Callable[[list[str]], None]) -> Doc:
    doc = copy.deepcopy(ETCD)
    mutate(doc["spec"]["containers"][0]["command"])
    return doc


def enc(resources: list[Doc], **meta: Any) -> Doc:
    doc: Doc = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration"}
    if meta:
        doc["metadata"] = meta
    doc["resources"] = resources
    return doc


KEY32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes of ASCII digits: a dummy, not a real key
KMS2 = {
    "kms": {"apiVersion": "v2", "name": "clinic-kms", "endpoint": "unix:///var/run/kmsplugin/socket.sock"}
}


def aud(mutate: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(AUD)
    mutate(doc)
    return doc


def drop_rule(level: str, marker: str) -> Callable[[Doc], None]:
    def f(doc: Doc) -> None:
        doc["rules"] = [r for r in doc["rules"] if not (r["level"] == level and marker in yaml.safe_dump(r))]

    return f


def kub(**changes: Any) -> Doc:
    doc = copy.deepcopy(KUB)
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


CASESET: dict[str, dict[str, tuple[str, list[Doc]]]] = {
    "KH-API-001": {
        "fire": ("--anonymous-auth absent: the default is true", [api(drop("--anonymous-auth"))]),
        "fire-bool-flag-space": (
            "pflag: '--anonymous-auth false' sets true (bool flags never take the next token)",
            [
                {
                    "apiVersion": "kubehipaa.io/v1alpha1",
                    "kind": "KubeAPIServerFlags",
                    "metadata": {"name": "kube-apiserver"},
                    "spec": {"args": ["--anonymous-auth", "false", "--authorization-mode=Node,RBAC"]},
                }
            ],
        ),
        "pass": ("hardened kube-apiserver", [API]),
    },
    "KH-API-002": {
        "fire": ("AlwaysAllow among the modes", [api(setf("authorization-mode", "Node,RBAC,AlwaysAllow"))]),
        "fire-default": ("no --authorization-mode: default AlwaysAllow", [api(drop("--authorization-mode"))]),
        "pass": ("Node,RBAC", [API]),
    },
    "KH-API-003": {
        "fire": ("RBAC missing", [api(setf("authorization-mode", "Node,Webhook"))]),
        "pass": ("Node,RBAC", [API]),
    },
    "KH-API-004": {
        "fire": ("static token file", [api(setf("token-auth-file", "/etc/kubernetes/tokens.csv"))]),
        "pass": ("no static tokens", [API]),
    },
    "KH-API-005": {
        "fire": (
            "AlwaysAdmit enabled",
            [api(setf("enable-admission-plugins", "NodeRestriction,AlwaysAdmit"))],
        ),
        "pass": ("no AlwaysAdmit", [API]),
    },
    "KH-API-006": {
        "fire": ("NodeRestriction missing", [api(setf("enable-admission-plugins", "PodSecurity"))]),
        "pass": ("NodeRestriction enabled", [API]),
    },
    "KH-API-007": {
        "fire": ("no encryption config", [api(drop("--encryption-provider-config"))]),
        "pass": ("encryption config set", [API]),
    },
    "KH-API-008": {
        "fire": ("policy but no backend", [api(drop("--audit-log-"))]),
        "fire-no-policy": ("backend but no policy", [api(drop("--audit-policy-file"))]),
        "pass": ("policy and log path", [API]),
        "pass-webhook": (
            "policy and webhook backend",
            [
                api(
                    lambda c: (
                        drop("--audit-log-")(c),
                        c.append("--audit-webhook-config-file=/etc/kubernetes/wh.yaml"),
                    )
                )
            ],
        ),
    },
    "KH-API-009": {
        "fire": ("30 days < 2190", [api(setf("audit-log-maxage", "30"))]),
        "pass": ("2190 days", [API]),
        "pass-unset": ("maxage unset: no age-based deletion", [api(drop("--audit-log-maxage"))]),
    },
    "KH-API-010": {
        "fire": ("no maxsize", [api(drop("--audit-log-maxsize"))]),
        "pass": ("rotation set", [API]),
    },
    "KH-API-011": {
        "fire": ("no serving cert", [api(drop("--tls-cert-file"))]),
        "pass": ("serving cert set", [API]),
    },
    "KH-API-012": {
        "fire": ("TLS 1.1 allowed", [api(setf("tls-min-version", "VersionTLS11"))]),
        "pass": ("TLS 1.2 minimum", [API]),
        "pass-default": ("default (TLS 1.2)", [api(drop("--tls-min-version"))]),
    },
    "KH-API-013": {
        "fire": ("CBC suite", [api(setf("tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"))]),
        "fire-unset": ("not restricted", [api(drop("--tls-cipher-suites"))]),
        "pass": ("ECDHE+GCM only", [API]),
    },
    "KH-API-014": {
        "fire": ("no kubelet CA", [api(drop("--kubelet-certificate-authority"))]),
        "pass": ("kubelet client certs and CA", [API]),
    },
    "KH-API-015": {
        "fire": ("plain http etcd", [api(setf("etcd-servers", "http://127.0.0.1:2379"))]),
        "fire-no-ca": ("no etcd CA", [api(drop("--etcd-cafile"))]),
        "pass": ("etcd over mTLS", [API]),
    },
    "KH-API-016": {
        "fire": ("profiling on", [api(setf("profiling", "true"))]),
        "pass": ("profiling off", [API]),
    },
    "KH-API-017": {
        "fire": ("lookup off", [api(setf("service-account-lookup", "false"))]),
        "pass": ("lookup on", [API]),
        "pass-default": ("default true", [api(drop("--service-account-lookup"))]),
    },
    "KH-API-018": {
        "fire": ("uncapped", [api(drop("--service-account-max-token-expiration"))]),
        "fire-long": ("a year", [api(setf("service-account-max-token-expiration", "8760h"))]),
        "pass": ("24h", [API]),
    },
    "KH-API-019": {
        "fire": ("no client CA", [api(drop("--client-ca-file"))]),
        "pass": ("client CA set", [API]),
    },
    "KH-API-020": {
        "fire": ("control-plane scan requested, no apiserver evidence", [MARKER]),
        "fire-managed": (
            "managed EKS",
            [{**MARKER, "spec": {"managed": "eks", "requested": {}}}],
        ),
        "pass": ("apiserver evidence present", [MARKER, API]),
    },
    "KH-API-021": {
        "fire": ("client certificates not required", [etcd(drop("--client-cert-auth"))]),
        "fire-http": (
            "plain HTTP on all interfaces, auto-TLS peers",
            [
                etcd(
                    lambda c: (
                        setf("listen-client-urls", "http://0.0.0.0:2379")(c),
                        c.append("--peer-auto-tls"),
                    )
                )
            ],
        ),
        "pass": ("hardened etcd", [ETCD]),
    },
    "KH-ENC-001": {
        "fire": ("configmaps not covered", [enc([{"resources": ["secrets"], "providers": [KMS2]}])]),
        "pass": ("secrets and configmaps", [ENC]),
        "pass-wildcard": ("*.* covers everything", [enc([{"resources": ["*.*"], "providers": [KMS2]}])]),
    },
    "KH-ENC-002": {
        "fire": (
            "identity first",
            [
                enc(
                    [
                        {
                            "resources": ["secrets", "configmaps"],
                            "providers": [
                                {"identity": {}},
                                {"aescbc": {"keys": [{"name": "key1", "secret": KEY32}]}},
                            ],
                        }
                    ]
                )
            ],
        ),
        "pass": ("KMS v2 first", [ENC]),
    },
    "KH-ENC-003": {
        "fire": (
            "aescbc first",
            [
                enc(
                    [
                        {
                            "resources": ["secrets", "configmaps"],
                            "providers": [{"aescbc": {"keys": [{"name": "key1", "secret": KEY32}]}}],
                        }
                    ]
                )
            ],
        ),
        "fire-kms-v1": (
            "KMS v1 first",
            [
                enc(
                    [
                        {
                            "resources": ["secrets", "configmaps"],
                            "providers": [{"kms": {"name": "old", "endpoint": "unix:///kms.sock"}}],
                        }
                    ]
                )
            ],
        ),
        "pass": ("KMS v2 first", [ENC]),
    },
    "KH-ENC-004": {
        "fire": (
            "identity kept for reads",
            [enc([{"resources": ["secrets", "configmaps"], "providers": [KMS2, {"identity": {}}]}])],
        ),
        "pass": ("no identity", [ENC]),
    },
    "KH-ENC-005": {
        "fire": (
            "10-byte aescbc key",
            [
                enc(
                    [
                        {
                            "resources": ["secrets", "configmaps"],
                            "providers": [
                                KMS2,
                                {"aescbc": {"keys": [{"name": "old", "secret": "MDEyMzQ1Njc4OQ=="}]}},
                            ],
                        }
                    ]
                )
            ],
        ),
        "pass": ("KMS v2 only", [ENC]),
    },
    "KH-ENC-006": {
        "fire": (
            "observed mode 0644",
            [enc(ENC["resources"], annotations={"kubehipaa.io/observed-file-mode": "0644"})],
        ),
        "pass": (
            "observed mode 0600",
            [enc(ENC["resources"], annotations={"kubehipaa.io/observed-file-mode": "0600"})],
        ),
    },
    "KH-ENC-007": {
        "fire": ("unknown provider", [enc([{"resources": ["secrets"], "providers": [{"aesxts": {}}]}])]),
        "pass": ("valid", [ENC]),
    },
    "KH-ENC-008": {
        "fire": ("no encryption config", [MARKER]),
        "pass": ("encryption config present", [MARKER, ENC]),
    },
    "KH-AUD-001": {
        "fire": (
            "secrets bodies recorded",
            [
                aud(
                    lambda d: d["rules"].insert(
                        0,
                        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets"]}]},
                    )
                )
            ],
        ),
        "pass": ("Metadata only", [AUD]),
    },
    "KH-AUD-002": {
        "fire": (
            "only RBAC recorded",
            [aud(lambda d: d.update(rules=[r for r in d["rules"] if r["level"] == "RequestResponse"]))],
        ),
        "pass": ("recorded at Metadata", [AUD]),
    },
    "KH-AUD-003": {
        "fire": ("exec falls to Metadata", [aud(drop_rule("Request", "pods/exec"))]),
        "pass": ("exec at Request", [AUD]),
    },
    "KH-AUD-004": {
        "fire": ("RBAC falls to Metadata", [aud(drop_rule("RequestResponse", "rbac"))]),
        "pass": ("RBAC at RequestResponse", [AUD]),
    },
    "KH-AUD-005": {
        "fire": (
            "catch-all limited to authenticated users",
            [aud(lambda d: d["rules"][-1].update(userGroups=["system:authenticated"]))],
        ),
        "fire-stage": ("ResponseStarted omitted", [aud(lambda d: d["omitStages"].append("ResponseStarted"))]),
        "pass": ("unauthenticated requests reach Metadata", [AUD]),
    },
    "KH-AUD-006": {
        "fire": ("RequestReceived kept", [aud(lambda d: d.pop("omitStages"))]),
        "pass": ("RequestReceived omitted", [AUD]),
    },
    "KH-AUD-007": {
        "fire": ("None first", [aud(lambda d: d["rules"].insert(0, {"level": "None"}))]),
        "pass": ("catch-all last at Metadata", [AUD]),
    },
    "KH-AUD-008": {
        "fire": ("unknown level", [aud(lambda d: d["rules"].insert(0, {"level": "Verbose"}))]),
        "pass": ("valid", [AUD]),
    },
    "KH-AUD-009": {
        "fire": ("no audit policy", [MARKER]),
        "pass": ("audit policy present", [MARKER, AUD]),
    },
    "KH-KUB-001": {
        "fire": (
            "anonymous on",
            [kub(authentication={**KUB["authentication"], "anonymous": {"enabled": True}})],
        ),
        "fire-flags": (
            "kubelet flags without --config: command-line defaults (anonymous on)",
            [
                {
                    "apiVersion": "kubehipaa.io/v1alpha1",
                    "kind": "KubeletFlags",
                    "metadata": {"name": "kubelet"},
                    "spec": {"args": ["--kubeconfig=/etc/kubernetes/kubelet.conf"]},
                }
            ],
        ),
        "pass": ("anonymous off", [KUB]),
        "pass-flags-defer": (
            "flags with --config defer to the file",
            [
                {
                    "apiVersion": "kubehipaa.io/v1alpha1",
                    "kind": "KubeletFlags",
                    "metadata": {"name": "kubelet"},
                    "spec": {"args": ["--config=/var/lib/kubelet/config.yaml"]},
                }
            ],
        ),
    },
    "KH-KUB-002": {
        "fire": ("AlwaysAllow", [kub(authorization={"mode": "AlwaysAllow"})]),
        "pass": ("Webhook", [KUB]),
        "pass-default": ("config-file default is Webhook", [kub(authorization=None)]),
    },
    "KH-KUB-003": {
        "fire": ("10255 open", [kub(readOnlyPort=10255)]),
        "pass": ("0", [KUB]),
    },
    "KH-KUB-004": {
        "fire": ("rotation off", [kub(rotateCertificates=False)]),
        "pass": ("rotation on", [KUB]),
    },
    "KH-KUB-005": {
        "fire": ("never times out", [kub(streamingConnectionIdleTimeout="0s")]),
        "pass": ("5m", [KUB]),
    },
    "KH-KUB-006": {
        "fire": ("false", [kub(protectKernelDefaults=False)]),
        "pass": ("true", [KUB]),
    },
    "KH-KUB-007": {
        "fire": (
            "no client CA",
            [kub(authentication={"anonymous": {"enabled": False}, "webhook": {"enabled": True}})],
        ),
        "pass": ("client CA", [KUB]),
    },
    "KH-KUB-008": {
        "fire": ("CBC suite", [kub(tlsCipherSuites=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"])]),
        "pass": ("ECDHE+GCM", [KUB]),
    },
    "KH-KUB-009": {
        "fire": ("no kubelet evidence", [MARKER]),
        "pass": ("kubelet config present", [MARKER, KUB]),
    },
}


def main() -> None:
    for check_id, cases in CASESET.items():
        folder = CASES / check_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, (why, docs) in cases.items():
            body = yaml.safe_dump_all(docs, sort_keys=False, width=120)
            header = f"# {check_id} {name}: {why}\n# generated by tests/controlplane/make_cases.py\n"
            (folder / f"{name}.yaml").write_text(header + body)


if __name__ == "__main__":
    main()
