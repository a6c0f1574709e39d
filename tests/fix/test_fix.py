"""`kubehipaa fix` (issue 17 req 5, 6): round trips fix -> scan over the examples, idempotence, untouched
documents byte-identical, comments kept, strict upstream schema validation, --dry-run, --check."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.conftest import EXAMPLES

FIXED_BY_DEFAULT = {"KH-NET-001", "KH-NS-001", "KH-NS-002", "KH-NS-003", "KH-RBAC-010", "KH-RBAC-011",
                    "KH-WL-005", "KH-WL-006", "KH-WL-008", "KH-WL-010"}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _scan_counts(path: Path) -> Counter[str]:
    code, out, err = _run("scan", str(path), "--trust-config", "-f", "json", "--fail-on", "never")
    assert code in (0, 2), err
    return Counter(f["checkId"] for f in json.loads(out)["findings"] if not f.get("suppressed"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(params=["clinic-insecure", "clinic-hardened"])
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    dest = tmp_path / request.param
    shutil.copytree(EXAMPLES / request.param, dest)
    return dest


def test_fix_then_scan_clears_the_targeted_findings(example: Path) -> None:
    before = _scan_counts(example)
    code, _out, err = _run("fix", str(example), "--trust-config", "--default-limits", "--fail-on", "never")
    assert code == 0, err
    after = _scan_counts(example)
    for cid in FIXED_BY_DEFAULT | {"KH-WL-011"}:
        assert after[cid] == 0, (cid, before[cid], after[cid], err)
    if example.name == "clinic-insecure":
        assert sum(before[c] for c in FIXED_BY_DEFAULT) >= 60
        assert "cleared" in err and "KH-WL-005" in err
    # nothing a fixer does may raise another check
    assert all(after[cid] <= before[cid] for cid in after), {c: (before[c], after[c]) for c in after}


def test_fix_twice_changes_nothing_the_second_time(example: Path) -> None:
    _run("fix", str(example), "--trust-config", "--default-limits", "--fail-on", "never")
    first = _snapshot(example)
    code, _out, err = _run("fix", str(example), "--trust-config", "--default-limits", "--fail-on", "never")
    assert code == 0, err
    assert _snapshot(example) == first
    assert "nothing to change" in err


def test_untouched_documents_and_files_are_byte_identical(tmp_path: Path) -> None:
    odd = (
        "# leading comment of the file\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:   {name: cfg,   namespace: app}   # odd spacing\n"
        "data:\n  k: 'single'\n  n: 0755\n"
        "---   # a separator with a comment\n"
        "# comment of the pod\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n    name: p\n    namespace: app\n"
        "spec:\n    containers:   # four-space indent\n      - name: c\n        image: \"nginx:1.27\"\n"
        "---\n"
        "apiVersion: v1\nkind:    Service\nmetadata: {name: s, namespace: app}\n"
        "spec: {ports: [{port: 80}]}\n"
    )
    (tmp_path / "mixed.yaml").write_text(odd)
    clean = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: app}   # keep\ndata: {a: b}\n"
    (tmp_path / "clean.yaml").write_text(clean)
    stat_before = (tmp_path / "clean.yaml").stat()
    code, _out, err = _run("fix", str(tmp_path), "--fail-on", "never")
    assert code == 0, err
    text = (tmp_path / "mixed.yaml").read_text()
    docs = text.split("\n---")
    original = odd.split("\n---")
    assert docs[0] == original[0] and docs[2] == original[2]  # ConfigMap and Service: exact bytes
    assert docs[1] != original[1] and docs[1].startswith("   # a separator with a comment\n# comment of the pod\n")
    # the edited document keeps its own style: indentation, quoting, comments
    assert "\n    containers:   # four-space indent\n      - name: c\n        image: \"nginx:1.27\"\n" in docs[1]
    pod = yaml.safe_load(docs[1].split("\n", 1)[1])
    sc = pod["spec"]["containers"][0]["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["automountServiceAccountToken"] is False
    # a file with no finding is not rewritten at all (same bytes, same inode)
    assert (tmp_path / "clean.yaml").read_text() == clean
    assert (tmp_path / "clean.yaml").stat().st_ino == stat_before.st_ino


def test_fixed_output_validates_strictly_against_upstream_schemas(example: Path) -> None:
    before = _snapshot(example)
    code, _out, err = _run("fix", str(example), "--trust-config", "--default-limits", "--fail-on", "never")
    assert code == 0, err
    assert (_snapshot(example) != before) == (example.name == "clinic-insecure")
    checked = 0
    for path in sorted(example.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in (
                "Namespace", "Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ServiceAccount",
                "NetworkPolicy",
            ):
                continue
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
            checked += 1
    assert checked >= 5


def test_comments_are_preserved(example: Path) -> None:
    def comments(root: Path) -> list[str]:
        return sorted(line.split("#", 1)[1] for p in root.glob("*.yaml") for line in p.read_text().splitlines()
                      if "#" in line and not p.name.startswith("kubehipaa-default-deny"))
    kept = comments(example)
    before = _snapshot(example)
    code, _out, err = _run("fix", str(example), "--trust-config", "--default-limits", "--fail-on", "never")
    assert code == 0, err
    assert (_snapshot(example) != before) == (example.name == "clinic-insecure")
    assert comments(example) == kept


def test_dry_run_writes_nothing_and_its_diff_applies(tmp_path: Path) -> None:
    src = tmp_path / "k8s"
    src.mkdir()
    (src / "app.yaml").write_text(
        "# the app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: app\n"
        "spec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n"
        "    spec:\n      containers:\n      - name: c   # main\n        image: reg.example/app:1.0\n"
    )
    (src / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n  labels:\n    kubehipaa.io/phi: \"true\"\n"
    )
    before = _snapshot(src)
    code, diff, err = _run("fix", str(src), "--dry-run", "--fail-on", "never")
    assert code == 0, err
    assert _snapshot(src) == before  # nothing written
    assert "--- a/" in diff and "+++ b/" in diff and "allowPrivilegeEscalation: false" in diff
    assert "+++ b/" in diff and "kubehipaa-default-deny-app.yaml" in diff
    # the diff, applied with patch -p1 from the root of its paths, gives exactly what fix writes
    applied = tmp_path / "applied"
    shutil.copytree(src, applied / src.relative_to("/"), dirs_exist_ok=True)
    patch = subprocess.run(["patch", "-p1", "-s"], input=diff, text=True, cwd=applied, capture_output=True)
    assert patch.returncode == 0, patch.stdout + patch.stderr
    code, _out, err = _run("fix", str(src), "--fail-on", "never")
    assert code == 0, err
    assert _snapshot(applied / src.relative_to("/")) == _snapshot(src)


def test_dry_run_masks_credentials_in_diff_context(tmp_path: Path) -> None:
    example = tmp_path / "clinic-insecure"
    shutil.copytree(EXAMPLES / "clinic-insecure", example)
    code, diff, _err = _run("fix", str(example), "--trust-config", "--dry-run", "--fail-on", "never")
    assert code == 0
    assert "ANALYTICS_API_KEY" in diff  # the context is there ...
    assert "ak_live_9f3b2c7d41e8" not in diff and "Clinic!2024-prod" not in diff  # ... its values are not


def test_check_filter_fixes_only_the_named_checks(example: Path) -> None:
    before = _scan_counts(example)
    code, _out, err = _run("fix", str(example), "--trust-config", "--check", "KH-WL-008", "--fail-on", "never")
    assert code == 0, err
    after = _scan_counts(example)
    assert after["KH-WL-008"] == 0
    for cid in FIXED_BY_DEFAULT - {"KH-WL-008"}:
        assert after[cid] == before[cid], cid


def test_unknown_check_id_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n")
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-WL-08")
    assert code == 2
    assert "did you mean KH-WL-008?" in err
    assert "Traceback" not in err


def test_unparseable_file_is_reported_and_left_untouched_the_rest_fixed(tmp_path: Path) -> None:
    bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad\n  namespace: x\n"
    (tmp_path / "bad.yaml").write_text(bad)
    (tmp_path / "good.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: x}\n")
    code, _out, err = _run("fix", str(tmp_path), "--fail-on", "never")
    assert code == 2
    assert "bad.yaml" in err
    assert (tmp_path / "bad.yaml").read_text() == bad
    assert "automountServiceAccountToken: false" in (tmp_path / "good.yaml").read_text()


def test_read_only_root_only_with_a_writable_tmp_emptydir(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n"
        "  - name: safe\n    image: a:1\n    volumeMounts: [{name: tmp, mountPath: /tmp}]\n"
        "  - name: unsure\n    image: b:1\n"
        "  volumes:\n  - name: tmp\n    emptyDir: {}\n"
    )
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-WL-009", "--fail-on", "never")
    assert code == 0, err
    pod = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert pod["spec"]["containers"][0]["securityContext"] == {"readOnlyRootFilesystem": True}
    assert "securityContext" not in pod["spec"]["containers"][1]
    assert "not fixed" in err and "KH-WL-009 Pod/x/p" in err and "writable emptyDir" in err


def test_file_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "sa.yaml"
    path.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: x}\n")
    path.chmod(0o600)
    _run("fix", str(tmp_path), "--fail-on", "never")
    assert path.stat().st_mode & 0o777 == 0o600
    assert "automountServiceAccountToken: false" in path.read_text()
