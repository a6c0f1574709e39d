"""`kubehipaa fix` on Kustomize trees (issue 17 req 7) and on YAML shapes an edit must not break (anchors)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders Kustomize trees")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _tree(root: Path) -> Path:
    (root / "base").mkdir(parents=True)
    (root / "overlay").mkdir()
    (root / "base" / "kustomization.yaml").write_text("resources:\n- namespace.yaml\n- deployment.yaml\n")
    (root / "base" / "namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: clinical\n  labels:\n    kubehipaa.io/phi: \"true\"\n")
    (root / "base" / "deployment.yaml").write_text(
        "# the API\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: clinical\n"
        "spec:\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n"
        "    spec:\n      containers:\n        - name: api   # main container\n          image: reg.example/api:1.0\n")
    (root / "overlay" / "kustomization.yaml").write_text(
        "resources:\n- ../base\nnamePrefix: prod-\npatches:\n- patch: |-\n    apiVersion: apps/v1\n"
        "    kind: Deployment\n    metadata:\n      name: api\n      namespace: clinical\n    spec:\n"
        "      template:\n        spec:\n          containers:\n          - name: sidecar\n"
        "            image: reg.example/proxy:2.0\n")
    return root / "overlay"


def _counts(path: Path) -> Counter[str]:
    code, out, err = _run("scan", str(path), "-f", "json", "--fail-on", "never")
    assert code in (0, 2), err
    return Counter(f["checkId"] for f in json.loads(out)["findings"] if not f.get("suppressed"))


def test_kustomize_overlay_edits_the_base_files_it_maps_to(tmp_path: Path) -> None:
    overlay = _tree(tmp_path)
    before = _counts(overlay)
    overlay_text = (overlay / "kustomization.yaml").read_text()
    code, _out, err = _run("fix", str(overlay), "--fail-on", "never")
    assert code == 0, err
    after = _counts(overlay)
    # the base Deployment's own container and the pod-level fields are fixed in base/deployment.yaml ...
    dep = yaml.safe_load((tmp_path / "base" / "deployment.yaml").read_text())
    spec = dep["spec"]["template"]["spec"]
    assert spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "# main container" in (tmp_path / "base" / "deployment.yaml").read_text()
    # ... the overlay's sidecar is not in the base: left, and said so
    assert "container sidecar is not in this file" in err
    assert after["KH-WL-008"] == 1 and before["KH-WL-008"] == 2
    assert after["KH-WL-010"] == 0 and after["KH-RBAC-011"] == 0
    # the default deny is listed in the base's kustomization, so the overlay builds it
    assert after["KH-NET-001"] == 0 and before["KH-NET-001"] == 1
    assert "kubehipaa-default-deny-clinical.yaml" in (tmp_path / "base" / "kustomization.yaml").read_text()
    assert (overlay / "kustomization.yaml").read_text() == overlay_text


def test_shared_anchor_is_not_edited(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n"
        "  - name: a\n    image: a:1\n    securityContext: &sc\n      runAsNonRoot: true\n"
        "  - name: b\n    image: b:1\n    securityContext: *sc\n"
    )
    (tmp_path / "p.yaml").write_text(text)
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-WL-008", "--fail-on", "never")
    assert code == 0, err
    assert (tmp_path / "p.yaml").read_text() == text
    assert "YAML anchor" in err


def test_as_patch_writes_a_strategic_merge_patch_into_the_overlay(tmp_path: Path) -> None:
    overlay = _tree(tmp_path)
    base = {p.name: p.read_bytes() for p in (tmp_path / "base").iterdir()}
    before = _counts(overlay)
    code, _out, err = _run("fix", str(overlay), "--as-patch", "--fail-on", "never")
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "base").iterdir()} == base  # bases untouched
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert {"path": "kubehipaa-fix-patch.yaml"} in kustomization["patches"]
    assert "kubehipaa-default-deny-clinical.yaml" in kustomization["resources"]
    patch = list(yaml.safe_load_all((overlay / "kubehipaa-fix-patch.yaml").read_text()))
    dep = next(d for d in patch if d["kind"] == "Deployment")
    assert dep["metadata"]["name"] == "api"  # the base name: Kustomize matches patches by it
    after = _counts(overlay)
    # through the patch even the overlay's own sidecar is fixed
    for cid in ("KH-WL-005", "KH-WL-006", "KH-WL-008", "KH-WL-010", "KH-RBAC-011", "KH-NS-001", "KH-NET-001"):
        assert before[cid] >= 1 and after[cid] == 0, cid
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, _out, err = _run("fix", str(overlay), "--as-patch", "--fail-on", "never")
    assert code == 0 and "nothing to change" in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_as_patch_needs_one_kustomize_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: x}\n")
    code, _out, err = _run("fix", str(tmp_path), "--as-patch")
    assert code == 2 and "Kustomize overlay" in err
