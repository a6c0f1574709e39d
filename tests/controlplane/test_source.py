"""collect_control_plane: locating files, following apiserver flags, file modes, flags files, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import InputError
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.controlplane import collect_control_plane
from tests.conftest import EXAMPLES

HARDENED = EXAMPLES / "clinic-hardened" / "control-plane"
KUBECONFIG = """\
apiVersion: v1
kind: Config
users:
- name: admin
  user: {client-key-data: SECRET-KEY-DATA}
"""


@pytest.fixture
def etc_k8s(tmp_path: Path) -> Path:
    """A copy of a node's /etc/kubernetes in kubeadm layout."""
    root = tmp_path / "etc-kubernetes"
    (root / "manifests").mkdir(parents=True)
    shutil.copy(HARDENED / "kube-apiserver.yaml", root / "manifests" / "kube-apiserver.yaml")
    shutil.copy(HARDENED / "etcd.yaml", root / "manifests" / "etcd.yaml")
    for name in ("encryption-config.yaml", "audit-policy.yaml"):
        shutil.copy(HARDENED / name, root / name)
    (root / "kubelet").mkdir()
    shutil.copy(HARDENED / "kubelet-config.yaml", root / "kubelet" / "config.yaml")
    (root / "admin.conf").write_text(KUBECONFIG)
    (root / "encryption-config.yaml").chmod(0o600)
    return root


def _scan(objs: list) -> dict[str, list[str]]:
    res = run_scan(Inventory(objs))
    assert not res.errors
    out: dict[str, list[str]] = {}
    for f in res.findings:
        out.setdefault(f.check_id, []).append(f.message)
    return out


def test_kubeadm_layout_is_found_and_clean(etc_k8s: Path) -> None:
    objs = collect_control_plane(control_plane_dir=etc_k8s)
    kinds = [o.kind for o in objs]
    assert kinds[0] == "ControlPlaneScan"
    assert sorted(kinds[1:]) == ["EncryptionConfiguration", "KubeletConfiguration", "Pod", "Pod", "Policy"]
    assert "Config" not in kinds  # kubeconfigs (with key data) are never pulled in
    enc = next(o for o in objs if o.kind == "EncryptionConfiguration")
    assert enc.extra["file_mode"] == 0o600
    found = _scan(objs)
    assert not [k for k in found if k.startswith(("KH-API", "KH-ENC", "KH-AUD", "KH-KUB"))], found


def test_file_mode_is_reported(etc_k8s: Path) -> None:
    (etc_k8s / "encryption-config.yaml").chmod(0o644)
    found = _scan(collect_control_plane(control_plane_dir=etc_k8s))
    assert found["KH-ENC-006"] == ["file mode 0644 allows group/other access (want 0600)"]


def test_missing_followed_file_is_not_assessed_not_passed(etc_k8s: Path) -> None:
    (etc_k8s / "encryption-config.yaml").unlink()
    objs = collect_control_plane(control_plane_dir=etc_k8s)
    assert objs[0].doc["spec"]["missing"] == [
        {"flag": "--encryption-provider-config", "path": "/etc/kubernetes/encryption-config.yaml"}
    ]
    found = _scan(objs)
    assert (
        "not found: --encryption-provider-config=/etc/kubernetes/encryption-config.yaml"
        in found["KH-ENC-008"][0]
    )


def test_flags_files(tmp_path: Path) -> None:
    api = tmp_path / "kube-apiserver.flags"
    api.write_text("--anonymous-auth=true\n--authorization-mode=Node,RBAC\n--audit-policy-file=audit.yaml\n")
    shutil.copy(HARDENED / "audit-policy.yaml", tmp_path / "audit.yaml")
    kubelet = tmp_path / "kubeadm-flags.env"
    kubelet.write_text('KUBELET_KUBEADM_ARGS="--read-only-port=10255 --anonymous-auth=false"\n')
    objs = collect_control_plane(apiserver_manifest=api, kubelet_config=kubelet)
    assert [o.kind for o in objs] == ["ControlPlaneScan", "KubeAPIServerFlags", "Policy", "KubeletFlags"]
    found = _scan(objs)
    assert "--anonymous-auth=true allows anonymous requests" in found["KH-API-001"]
    assert any("10255" in m for m in found["KH-KUB-003"])
    assert "KH-KUB-001" not in found


def test_explicit_files(tmp_path: Path) -> None:
    objs = collect_control_plane(
        apiserver_manifest=HARDENED / "kube-apiserver.yaml",
        encryption_config=HARDENED / "encryption-config.yaml",
        audit_policy=HARDENED / "audit-policy.yaml",
    )
    kinds = [o.kind for o in objs]
    # the manifest's flags point at /etc/kubernetes/...; resolved beside the manifest, and not loaded twice
    assert kinds.count("EncryptionConfiguration") == 1 and kinds.count("Policy") == 1
    found = _scan(objs)
    assert "KH-KUB-009" in found and "KH-API-020" not in found


def test_managed_control_plane_is_not_assessed() -> None:
    found = _scan(collect_control_plane(managed="gke"))
    for cid in ("KH-API-020", "KH-ENC-008", "KH-AUD-009", "KH-KUB-009"):
        assert "managed control plane, GKE" in found[cid][0], cid
    assert "databaseEncryption" in found["KH-ENC-008"][0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"control_plane_dir": "/nonexistent/k8s"}, "not a directory"),
        (
            {"encryption_config": str(HARDENED / "audit-policy.yaml")},
            "does not contain an EncryptionConfiguration",
        ),
        ({"audit_policy": "/nonexistent.yaml"}, "no such file"),
        ({"managed": "openshift"}, "--managed must be one of"),
        ({"apiserver_manifest": str(HARDENED / "kubelet-config.yaml")}, "no kube-apiserver container"),
    ],
)
def test_input_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        collect_control_plane(**kwargs)


def test_scan_cli_control_plane_json(etc_k8s: Path) -> None:
    (etc_k8s / "encryption-config.yaml").chmod(0o640)
    r = CliRunner().invoke(
        app, ["scan", "--control-plane", str(etc_k8s), "-f", "json", "--fail-on", "medium"]
    )
    assert r.exit_code == 1, r.output
    data = orjson.loads(r.stdout)
    findings = data["findings"] if isinstance(data, dict) else data
    ids = {f["checkId"] for f in findings}
    assert "KH-ENC-006" in ids
    assert "SECRET-KEY-DATA" not in r.output
    enc = next(f for f in findings if f["checkId"] == "KH-ENC-006")
    assert "164.312(a)(2)(iv)" in enc["hipaa"]


def test_not_assessed_hint_names_only_the_areas_own_missing_file(etc_k8s: Path) -> None:
    # Before: every "not assessed" finding listed every missing file (the kubelet one named the encryption config).
    (etc_k8s / "encryption-config.yaml").unlink()
    (etc_k8s / "audit-policy.yaml").unlink()
    found = _scan(collect_control_plane(control_plane_dir=etc_k8s))
    assert "--audit-policy-file" not in found["KH-ENC-008"][0]
    assert "not found: --audit-policy-file=" in found["KH-AUD-009"][0]
    assert "--encryption-provider-config" not in found["KH-AUD-009"][0]


BROKEN = "apiVersion: v1\nkind: X\nmetadata: {name: a\n  bad: [\n"


@pytest.mark.parametrize("kwarg", ["apiserver_manifest", "encryption_config", "audit_policy", "kubelet_config"])
def test_malformed_yaml_names_the_line_not_a_wrong_kind(tmp_path: Path, kwarg: str) -> None:
    # Before: "does not contain an EncryptionConfiguration" (or "no kube-apiserver container"), no line.
    p = tmp_path / "broken.yaml"
    p.write_text(BROKEN)
    with pytest.raises(InputError, match=r"broken\.yaml:4: malformed YAML"):
        collect_control_plane(**{kwarg: p})


def test_malformed_followed_file_is_an_input_error(etc_k8s: Path) -> None:
    # Before: the broken encryption config was silently dropped and reported as "not assessed (no evidence)".
    (etc_k8s / "encryption-config.yaml").write_text(BROKEN)
    with pytest.raises(InputError, match=r"encryption-config\.yaml:4: malformed YAML"):
        collect_control_plane(control_plane_dir=etc_k8s)
