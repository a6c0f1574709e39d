"""Bad input anywhere in the CLI: one `error:` line naming the file (and line) or the option, exit 2, never a
traceback nor "internal error" (exit 3), and never a clean exit over input that was not read.

Each case runs `kubehipaa ARGV` through `main()` in-process, as the console script does, so the error
mapping in `main()` is part of what is tested. Placeholders in ARGV: `{NAME}` is a file of FILES written to
a temporary directory, `{tmp}` that directory, `{busy}` a local port something is already listening on.
"""

from __future__ import annotations

import gzip
import os
import resource
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# ---- issue 12, req. 5: every input bounded, every failure named ------------------------------------------
#
# Inputs that hang or exhaust memory without the bounds (a FIFO nobody writes to; /dev/zero) run the CLI in a
# child process with a timeout and 1 GiB of address space, so a regression fails the test, not the machine.

SRC = Path(__file__).resolve().parents[2] / "src"
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: nginx}]\n"


def _cli_child(argv: list[str], *, cwd: Path, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.PIPE,
               timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEHIPAA_")}
    return subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", *argv], cwd=cwd, stdin=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout, preexec_fn=limit,
                          env={**env, "PYTHONPATH": str(SRC)})


def _hazards(tmp: Path) -> None:
    (tmp / "pod.yaml").write_text(POD)
    (tmp / "rbac.yaml").write_text(RBAC)
    (tmp / "good.log").write_text(AUDIT_EVENT)
    os.mkfifo(tmp / "pipe.yaml")
    os.mkfifo(tmp / "pipe.log")
    os.mkfifo(tmp / "pipe.yml")


HAZARDS: list[tuple[str, list[str], list[str]]] = [
    ("scan-dev-zero", ["scan", "/dev/zero"], ["/dev/zero", "character device"]),
    ("scan-fifo", ["scan", "pipe.yaml"], ["pipe.yaml", "FIFO"]),
    ("pss-fifo", ["pss", "evaluate", "pipe.yaml"], ["pipe.yaml", "FIFO"]),
    ("netpol-fifo", ["netpol", "connlist", "pipe.yaml"], ["pipe.yaml", "FIFO"]),
    ("rbac-fifo", ["rbac", "risks", "pipe.yaml"], ["pipe.yaml", "FIFO"]),
    ("audit-dev-zero", ["audit", "analyze", "/dev/zero"], ["/dev/zero", "character device"]),
    ("audit-fifo", ["audit", "analyze", "pipe.log"], ["pipe.log", "FIFO"]),
    ("sigma-dev-zero", ["audit", "analyze", "good.log", "--sigma", "/dev/zero"], ["/dev/zero", "character device"]),
    ("sigma-fifo", ["audit", "analyze", "good.log", "--sigma", "pipe.yml"], ["pipe.yml", "FIFO"]),
    ("config-dev-zero", ["scan", "pod.yaml", "--config", "/dev/zero"], ["/dev/zero", "not a regular file"]),
    ("rules-dev-zero", ["rbac", "risks", "rbac.yaml", "--rules", "/dev/zero"], ["/dev/zero", "character device"]),
    ("apiserver-fifo", ["scan", "--apiserver-manifest", "pipe.yaml"], ["pipe.yaml", "FIFO"]),
    ("kubelet-dev-zero", ["scan", "--kubelet-config", "/dev/zero"], ["/dev/zero", "character device"]),
]


@pytest.mark.parametrize(("argv", "fragments"), [h[1:] for h in HAZARDS], ids=[h[0] for h in HAZARDS])
def test_a_fifo_or_device_given_explicitly_is_one_error_line(argv: list[str], fragments: list[str],
                                                             tmp_path: Path) -> None:
    _hazards(tmp_path)
    try:
        proc = _cli_child(argv, cwd=tmp_path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kubehipaa {' '.join(argv)} hung")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), err


@pytest.mark.parametrize("argv", [["scan", "-"], ["scan", "/dev/stdin"]])
def test_an_endless_stdin_is_capped(argv: list[str], tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        try:
            proc = _cli_child(argv, cwd=tmp_path, stdin=zero, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"kubehipaa {' '.join(argv)} < /dev/zero did not stop")
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {'<stdin>' if argv[1] == '-' else argv[1]}: larger than 64 MiB (raise the cap with --max-file-bytes "
        "or KUBEHIPAA_MAX_FILE_BYTES)"], err


def test_a_log_line_without_end_on_stdin_is_dropped_as_it_streams(tmp_path: Path) -> None:
    """An audit log is a stream (read line by line, never whole): a line past --max-line-bytes is one malformed
    line, skipped without being held, and the events after it are read."""
    log = tmp_path / "stream.log"
    with open(log, "wb") as fh:
        fh.write(AUDIT_EVENT.encode())
        for _ in range(70):
            fh.write(b"\0" * (1 << 20))
        fh.write(b"\n" + AUDIT_EVENT.replace('"auditID":"a"', '"auditID":"b"').encode())
    with open(log, "rb") as stdin:
        proc = _cli_child(["audit", "analyze", "-", "--format", "json"], cwd=tmp_path, stdin=stdin)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert ("warning: 1 malformed audit line(s) skipped (first: -:2: line longer than 64 MiB (raise the cap with "
            "--max-line-bytes or KUBEHIPAA_MAX_LINE_BYTES); skipped)") in err
    assert '"events": 2' in proc.stdout.decode()


@pytest.mark.parametrize("argv", [["scan", "."], ["pss", "evaluate", "."], ["netpol", "connlist", "."],
                                  ["rbac", "risks", "."], ["audit", "analyze", "logs"]])
def test_a_fifo_in_a_scanned_directory_is_skipped_with_one_line(argv: list[str], tmp_path: Path) -> None:
    """All four engines and the audit reader hung on a FIFO named like an input."""
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "rbac.yaml").write_text(RBAC)
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "audit.log").write_text(AUDIT_EVENT)
    os.mkfifo(tmp_path / "logs" / "audit-2.log")
    try:
        proc = _cli_child(argv, cwd=tmp_path, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"kubehipaa {' '.join(argv)} hung on a FIFO")
    err = proc.stderr.decode()
    assert proc.returncode in (0, 1), err
    fifo = "logs/audit-2.log" if argv[0] == "audit" else "pipe.yaml"
    assert [line for line in err.splitlines() if fifo in line] == [
        f"warning: {fifo}: is a FIFO (named pipe), not a regular file; skipped"], err


@pytest.mark.parametrize("argv", [["scan", "{tmp}"], ["pss", "evaluate", "{tmp}"], ["netpol", "connlist", "{tmp}"],
                                  ["rbac", "risks", "{tmp}"]])
def test_an_unreadable_subdirectory_is_exit_2_naming_it(argv: list[str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Listing fails as it does for a user without permission (root reads everything; tests/sources runs the
    loader as `nobody` for the real thing)."""
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "rbac.yaml").write_text(RBAC)
    locked = tmp_path / "team-b"
    locked.mkdir()
    (locked / "more.yaml").write_text(POD)
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(sys, "argv", ["kubehipaa", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(locked) in errors[0] and "cannot read directory" in errors[0], err


def test_deep_nesting_is_exit_2_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pod.yaml").write_text(POD)
    deep = '{"a":' * 300 + "1" + "}" * 300
    (tmp_path / "cr.json").write_text('{"apiVersion":"x/v1","kind":"W","metadata":{"name":"w"},"spec":' + deep + "}")
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "scan", str(tmp_path), "--format", "json"])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: 1 input problem(s) (first: {tmp_path}/cr.json:1: nested more than 254 levels deep (Kubernetes "
        "reads up to 10,000 levels, kubehipaa up to 254); see the warnings); the results do not cover what could "
        "not be read"]
    assert '"findings"' in out  # the report of what was read is still written


def test_a_duplicate_key_is_a_warning_naming_file_line_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pod.yaml").write_text(POD.replace("{name: c, image: nginx}", "{name: c, image: nginx, "
                                                   "securityContext: {privileged: true, privileged: false}}"))
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "scan", str(tmp_path / "pod.yaml")])
    with pytest.raises(SystemExit):
        main()
    err = capsys.readouterr().err
    assert (f"warning: {tmp_path}/pod.yaml:5: duplicate key spec.containers[0].securityContext.privileged (also at "
            "line 5): the last value is read") in err


def test_full_disk_on_stdout_is_exit_2_one_line(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(POD)
    for argv in (["scan", "pod.yaml"], ["scan", "pod.yaml", "--format", "json"], ["checks", "list"],
                 ["audit", "rules", "list"]):
        with open("/dev/full", "wb") as full:
            proc = _cli_child(argv, cwd=tmp_path, stdout=full)
        err = proc.stderr.decode()
        assert proc.returncode == 2, (argv, err)
        assert [line for line in err.splitlines() if line.startswith(("error:", "internal error"))] == [
            "error: cannot write the output: No space left on device"], (argv, err)
        assert "Traceback" not in err and "Exception ignored" not in err


def test_full_disk_on_an_output_file_is_exit_2_and_keeps_the_previous_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from kubehipaa.cli import common

    (tmp_path / "pod.yaml").write_text(POD)
    report = tmp_path / "report.json"
    report.write_text("previous report\n")
    os.chmod(report, 0o640)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(common.os, "fsync", no_space)
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "scan", str(tmp_path / "pod.yaml"), "-f", "json", "-o", str(report)])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert f"error: {report}: cannot write: No space left on device" in err
    assert report.read_text() == "previous report\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "pod.yaml", "report.json"]  # no half-written report, no temporary file left behind
    monkeypatch.undo()
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "scan", str(tmp_path / "pod.yaml"), "-f", "json", "-o", str(report)])
    with pytest.raises(SystemExit):
        main()
    assert '"findings"' in report.read_text() and stat.S_IMODE(report.stat().st_mode) == 0o640


def test_a_closed_pipe_on_stdout_ends_quietly_with_141(tmp_path: Path) -> None:
    """`kubehipaa scan x | head -1`: the shell's code for a reader gone (128 + SIGPIPE), never 0 (it would read
    as a clean scan under `set -o pipefail`) nor 1 (our findings code) nor a traceback."""
    (tmp_path / "pod.yaml").write_text(POD)
    for argv in (["scan", "pod.yaml"], ["scan", "pod.yaml", "--format", "json"], ["checks", "list"]):
        r, w = os.pipe()
        os.close(r)
        try:
            proc = _cli_child(argv, cwd=tmp_path, stdout=w)
        finally:
            os.close(w)
        err = proc.stderr.decode()
        assert proc.returncode == 141, (argv, err)
        assert "error" not in err and "Traceback" not in err and "Exception ignored" not in err, err


CAPS: list[tuple[str, list[str], list[str]]] = [
    ("file-cap", ["scan", "{pod.yaml}", "--max-file-bytes", "64"], ["pod.yaml", "larger than 64 bytes",
                                                                     "--max-file-bytes"]),
    ("file-cap-bad-size", ["scan", "{pod.yaml}", "--max-file-bytes", "lots"], ["--max-file-bytes", "not a size"]),
    ("line-cap", ["audit", "analyze", "{good.log}", "--max-line-bytes", "100"], ["good.log:1", "line longer than 100 "
                                                                                "bytes", "--max-line-bytes"]),
    ("gzip-ratio-bad", ["audit", "analyze", "{good.log}", "--max-gzip-ratio", "0"], ["--max-gzip-ratio"]),
    ("sigma-file-cap", ["audit", "analyze", "{good.log}", "--sigma", "{rule.yml}", "--max-file-bytes", "10"],
     ["rule.yml", "larger than 10 bytes"]),
]


@pytest.mark.parametrize(("argv", "fragments"), [c[1:] for c in CAPS], ids=[c[0] for c in CAPS])
def test_caps_are_options_of_the_commands_and_name_themselves(argv: list[str], fragments: list[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "good.log").write_text(AUDIT_EVENT)
    (tmp_path / "rule.yml").write_text("title: a rule longer than ten bytes\n")
    (tmp_path / "cfg.yaml").write_text("phi: {namespaces: [a]}\n")
    monkeypatch.setattr(sys, "argv", ["kubehipaa", *[
        a.replace("{pod.yaml}", str(tmp_path / "pod.yaml")).replace("{good.log}", str(tmp_path / "good.log"))
        .replace("{rule.yml}", str(tmp_path / "rule.yml")).replace("{cfg.yaml}", str(tmp_path / "cfg.yaml"))
        for a in argv]])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), err
    from kubehipaa.sources import limits

    assert limits.current() == limits.Limits()  # an option holds for its command only


def test_every_command_that_reads_input_offers_the_caps() -> None:
    from typer.testing import CliRunner

    from kubehipaa.cli.main import app

    for path in (["scan"], ["pss", "evaluate"], ["netpol", "diff"], ["rbac", "unused"], ["audit", "analyze"],
                 ["audit", "timeline"], ["audit", "serve"], ["audit-policy", "check"], ["etcd", "verify"]):
        text = CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
        assert all(opt in text for opt in ("--max-file-bytes", "--max-line-bytes", "--max-gzip-ratio")), path
    for path in (["checks", "list"], ["audit", "rules", "list"], ["pss", "checks"]):
        assert "--max-file-bytes" not in CliRunner().invoke(app, [*path, "--help"], terminal_width=200).output
