"""Bad input anywhere in the CLI: one `error:` line naming the file (and line) or the option, exit 2, never a
traceback nor "internal error" (exit 3), and never a clean exit over input that was not read.

Each case runs `kubehipaa ARGV` through `main()` in-process, as the console script does, so the error
mapping in `main()` is part of what is tested. Placeholders in ARGV: `{NAME}` is a file of FILES written to
a temporary directory, `{tmp}` that directory, `{busy}` a local port something is already listening on.
"""

from __future__ import annotations

import gzip
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubehipaa.cli.main import main

AUDIT_EVENT = (
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete",'
    '"requestURI":"/api/v1/namespaces/default/secrets","verb":"list","user":{"username":"jane"},'
    '"objectRef":{"resource":"secrets","namespace":"default","apiVersion":"v1"},"responseStatus":{"code":200},'
    '"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","stageTimestamp":"2024-01-01T00:00:00.100000Z"}\n'
)
RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: default}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: User, name: jane, apiGroup: rbac.authorization.k8s.io}
"""
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
ENCRYPTION = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: key1, secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==}]}
  - identity: {}
"""

FILES: dict[str, str | bytes] = {
    "empty.yaml": "",
    "binary.yaml": bytes(range(0x80, 0x100)) + b"\x00\x01",
    "tab.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n",
    "unclosed.yaml": 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: "x\n',
    "dupsep.yaml": "---\n---\n---\n",
    "list.yaml": "- a\n- b\n",
    "scalar.yaml": "hello\n",
    "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ndata: {k: aGk=}\n",
    "rbac.yaml": RBAC,
    "policy.yaml": POLICY,
    "encryption.yaml": ENCRYPTION,
    "good.log": AUDIT_EVENT,
    "badjson.log": '{"kind":"Event", broken\nnot json at all\n',
    "trunc.log.gz": gzip.compress(AUDIT_EVENT.encode() * 50)[:200],
    "notrule.yaml": "a: 1\n",
    "risk-unknown-key.yaml": "version: 1\nrules: []\nbogus: s3cr3t-value\n",
}

# (id, argv, expected exit code, fragments the one `error:` line must contain)
CASES: list[tuple[str, list[str], int, list[str]]] = [
    # --- regressions: already one line with file and line before this sweep ---
    ("scan-missing-file", ["scan", "{tmp}/nope.yaml"], 2, ["nope.yaml", "no such file"]),
    ("scan-tab-indent", ["scan", "{tab.yaml}"], 2, ["tab.yaml:4", "malformed YAML"]),
    ("pss-unclosed-quote", ["pss", "evaluate", "{unclosed.yaml}"], 2, ["unclosed.yaml:5", "malformed YAML"]),
    ("scan-config-two-documents", ["scan", "{rbac.yaml}", "--config", "{dupsep.yaml}"], 2, ["dupsep.yaml:2"]),
    ("audit-analyze-missing", ["audit", "analyze", "{tmp}/nope.log"], 2, ["nope.log", "no such file"]),
    ("netpol-port-range", ["netpol", "can-reach", "a/b", "c/d", "{rbac.yaml}", "--port", "99999"], 2, ["--port"]),
    ("rbac-unused-window", ["rbac", "unused", "{rbac.yaml}", "{good.log}", "--window", "banana"], 2, ["--window"]),
    ("etcd-unreachable", ["etcd", "verify", "--endpoints", "http://127.0.0.1:1"], 2,
     ["http://127.0.0.1:1", "cannot connect"]),
    # --- rbac risks --rules: binary file crashed (UnicodeDecodeError, exit 3); empty file named no cause ---
    ("rbac-risks-rules-binary", ["rbac", "risks", "{rbac.yaml}", "--rules", "{binary.yaml}"], 2,
     ["binary.yaml", "not UTF-8"]),
    ("rbac-risks-rules-empty", ["rbac", "risks", "{rbac.yaml}", "--rules", "{empty.yaml}"], 2,
     ["empty.yaml", "empty file"]),
    # --- etcd verify: bad URLs and timeouts crashed (InvalidURL / ValueError, exit 3); TLS errors named no file ---
    ("etcd-url-unclosed-ipv6", ["etcd", "verify", "--endpoints", "http://[::1"], 2, ["http://[::1", "not a valid URL"]),
    ("etcd-url-no-host", ["etcd", "verify", "--endpoints", "http://"], 2, ["no host"]),
    ("etcd-url-port-range", ["etcd", "verify", "--endpoints", "http://127.0.0.1:99999"], 2, ["not a valid URL"]),
    ("etcd-timeout-negative", ["etcd", "verify", "--endpoints", "http://127.0.0.1:1", "--timeout", "-1"], 2,
     ["--timeout"]),
    ("etcd-timeout-zero", ["etcd", "verify", "--endpoints", "http://127.0.0.1:1", "--timeout", "0"], 2, ["--timeout"]),
    ("etcd-cacert-not-pem", ["etcd", "verify", "--endpoints", "https://127.0.0.1:1", "--cacert", "{secret.yaml}"], 2,
     ["secret.yaml", "--cacert"]),
    ("etcd-cert-not-pem",
     ["etcd", "verify", "--endpoints", "https://127.0.0.1:1", "--cert", "{secret.yaml}", "--key", "{rbac.yaml}"], 2,
     ["secret.yaml", "--cert"]),
    ("etcd-encryption-config-binary",
     ["etcd", "verify", "--endpoints", "http://127.0.0.1:1", "--encryption-config", "{binary.yaml}"], 2,
     ["binary.yaml", "not UTF-8"]),
    # --- checks list: an unknown --area / --hipaa printed an empty catalog and exit 0 ---
    ("checks-unknown-area", ["checks", "list", "--area", "bogus"], 2, ["--area 'bogus'", "rbac"]),
    ("checks-unknown-hipaa", ["checks", "list", "--hipaa", "bogus"], 2, ["--hipaa 'bogus'"]),
    # --- audit serve: uvicorn's start-up failure exited 3 (the internal-error code) after a multi-line log ---
    ("serve-port-too-big", ["audit", "serve", "--no-tls", "--port", "99999"], 2, ["--port"]),
    ("serve-port-zero", ["audit", "serve", "--no-tls", "--port", "0"], 2, ["--port"]),
    ("serve-port-busy", ["audit", "serve", "--no-tls", "--host", "127.0.0.1", "--port", "{busy}"], 2,
     ["cannot listen on 127.0.0.1:"]),
    ("serve-sigma-no-rules", ["audit", "serve", "--no-tls", "--host", "127.0.0.1", "--port", "{busy}",
                              "--sigma", "{empty.yaml}"], 2, ["empty.yaml", "no Sigma rule"]),
    # --- a file that could not be read was only a warning (exit 0) where the answer needs every document ---
    ("netpol-connlist-malformed", ["netpol", "connlist", "{tab.yaml}"], 2, ["tab.yaml:4", "malformed YAML"]),
    ("netpol-diff-malformed", ["netpol", "diff", "{secret.yaml}", "{unclosed.yaml}"], 2, ["unclosed.yaml:5"]),
    ("netpol-connlist-binary", ["netpol", "connlist", "{binary.yaml}"], 2, ["binary.yaml", "not UTF-8"]),
    ("pss-namespaces-binary", ["pss", "namespaces", "{binary.yaml}"], 2, ["binary.yaml", "not UTF-8"]),
    ("pss-dry-run-binary", ["pss", "dry-run", "-n", "default", "{binary.yaml}"], 2, ["binary.yaml", "not UTF-8"]),
    ("rbac-who-can-binary", ["rbac", "who-can", "get", "secrets", "-n", "default", "{rbac.yaml}", "{binary.yaml}"], 2,
     ["binary.yaml", "not UTF-8"]),
    ("audit-policy-binary", ["audit-policy", "check", "{policy.yaml}", "{binary.yaml}"], 2,
     ["binary.yaml", "not UTF-8"]),
    # --- rbac unused / suggest: broken RBAC or a log with no event gave "everything unused", exit 0 ---
    ("rbac-unused-malformed-rbac", ["rbac", "unused", "{tab.yaml}", "{good.log}"], 2, ["tab.yaml:4", "malformed"]),
    ("rbac-unused-no-rbac", ["rbac", "unused", "{secret.yaml}", "{good.log}"], 2, ["no Role", "secret.yaml"]),
    ("rbac-unused-empty-log", ["rbac", "unused", "{rbac.yaml}", "{empty.yaml}"], 2,
     ["empty.yaml", "no audit events"]),
    ("rbac-unused-invalid-json-log", ["rbac", "unused", "{rbac.yaml}", "{badjson.log}"], 2,
     ["badjson.log:1", "no audit event could be read"]),
    ("rbac-suggest-empty-dir", ["rbac", "suggest", "--user", "jane", "{tmp}/logs"], 2, ["no audit events"]),
    # --- scan: nothing to scan, or a control-plane file that is no manifest, passed (exit 0 or 1) ---
    ("scan-empty-dir", ["scan", "{tmp}/logs"], 2, ["no Kubernetes objects found", "logs"]),
    ("scan-only-separators", ["scan", "{dupsep.yaml}"], 2, ["no Kubernetes objects found", "dupsep.yaml"]),
    ("scan-list-document-only", ["scan", "{list.yaml}"], 2, ["no Kubernetes objects found", "list.yaml"]),
    ("scan-apiserver-empty", ["scan", "--apiserver-manifest", "{empty.yaml}"], 2, ["empty.yaml", "kube-apiserver"]),
    ("scan-apiserver-scalar", ["scan", "--apiserver-manifest", "{scalar.yaml}"], 2, ["scalar.yaml", "kube-apiserver"]),
    ("scan-kubelet-list", ["scan", "--kubelet-config", "{list.yaml}"], 2, ["list.yaml", "KubeletConfiguration"]),
    ("scan-kubelet-separators", ["scan", "--kubelet-config", "{dupsep.yaml}"], 2, ["dupsep.yaml"]),
    ("scan-control-plane-empty-dir", ["scan", "--control-plane", "{tmp}/logs"], 2, ["logs", "no kube-apiserver"]),
    # --- netpol / pss over no object at all answered with an empty list, exit 0 ---
    ("netpol-connlist-empty-dir", ["netpol", "connlist", "{tmp}/logs"], 2, ["no Kubernetes objects found", "logs"]),
    ("netpol-diff-empty-dir", ["netpol", "diff", "{tmp}/logs", "{rbac.yaml}"], 2, ["no Kubernetes objects found"]),
    ("pss-namespaces-empty-dir", ["pss", "namespaces", "{tmp}/logs"], 2, ["no Kubernetes objects found", "logs"]),
    # --- audit analyze / timeline: nothing read was a clean exit 0; --since overflow crashed (exit 3) ---
    ("audit-analyze-empty-dir", ["audit", "analyze", "{tmp}/logs"], 2, ["no audit events read", "logs"]),
    ("audit-analyze-empty-file", ["audit", "analyze", "{empty.yaml}"], 2, ["no audit events read", "empty.yaml"]),
    ("audit-analyze-yaml-as-log", ["audit", "analyze", "{rbac.yaml}"], 2,
     ["rbac.yaml:1", "no audit event could be read"]),
    ("audit-analyze-invalid-json", ["audit", "analyze", "{badjson.log}", "--format", "json"], 2,
     ["badjson.log:1", "no audit event could be read"]),
    ("audit-analyze-binary-gz", ["audit", "analyze", "{trunc.log.gz}"], 2, ["trunc.log.gz"]),
    ("audit-timeline-binary", ["audit", "timeline", "{binary.yaml}"], 2, ["binary.yaml:1", "no audit event"]),
    ("audit-timeline-empty-dir", ["audit", "timeline", "{tmp}/logs"], 2, ["no audit events read"]),
    ("audit-analyze-since-overflow", ["audit", "analyze", "{good.log}", "--since", "99999999999d"], 2,
     ["--since", "too far back"]),
    ("audit-analyze-sigma-no-rules", ["audit", "analyze", "{good.log}", "--sigma", "{tmp}/logs"], 2,
     ["no Sigma rule"]),
    ("audit-analyze-sigma-not-a-rule", ["audit", "analyze", "{good.log}", "--sigma", "{notrule.yaml}"], 2,
     ["notrule.yaml", "invalid Sigma rule: Sigma rule must have a title"]),
    ("audit-analyze-sigma-binary", ["audit", "analyze", "{good.log}", "--sigma", "{binary.yaml}"], 2,
     ["binary.yaml", "not UTF-8"]),
    # --- rbac risks --rules: schema errors quoted the offending value from the file ---
    ("rbac-risks-rules-scalar", ["rbac", "risks", "{rbac.yaml}", "--rules", "{scalar.yaml}"], 2,
     ["scalar.yaml", "expected object"]),
    ("rbac-risks-rules-unknown-key", ["rbac", "risks", "{rbac.yaml}", "--rules", "{risk-unknown-key.yaml}"], 2,
     ["risk-unknown-key.yaml", "unknown key(s) bogus"]),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A local port that something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _argv(argv: list[str], tmp: Path, busy: int) -> list[str]:
    out = []
    for arg in argv:
        arg = arg.replace("{tmp}", str(tmp)).replace("{busy}", str(busy))
        for name in FILES:
            arg = arg.replace("{" + name + "}", str(tmp / name))
        out.append(arg)
    return out


@pytest.mark.parametrize(("argv", "code", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], code: int, fragments: list[str], tmp_path: Path, busy_port: int,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name, content in FILES.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (tmp_path / "logs").mkdir()
    monkeypatch.delenv("KUBEHIPAA_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["kubehipaa", *_argv(argv, tmp_path, busy_port)])
    started = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        main()
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert exited.value.code == code, err
    assert "Traceback" not in out + err and "internal error" not in out + err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], err
    assert "aGk=" not in err and "c2VjcmV0" not in err  # never file content in a message
    assert "hello" not in err and "s3cr3t" not in err
    assert elapsed < 10, f"took {elapsed:.1f}s: bad input must fail fast"
