"""`kubehipaa fix` on the YAML shapes real repositories hold: `kind: List`, a BOM, `...` end markers,
symlinked files, a write that fails, a namespace name that is not a DNS label."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: x}}\n"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_items_are_edited_in_place(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ServiceAccount\n"
        "  metadata: {name: one, namespace: x}\n- apiVersion: v1   # second, already right\n"
        "  kind: ServiceAccount\n  metadata: {name: two, namespace: x}\n  automountServiceAccountToken: false\n"
    )
    (tmp_path / "list.yaml").write_text(text)
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-RBAC-010")
    assert code == 0, err
    assert (tmp_path / "list.yaml").read_text() == text.replace(
        "  metadata: {name: one, namespace: x}\n",
        "  metadata: {name: one, namespace: x}\n  automountServiceAccountToken: false\n")


def test_bom_and_document_end_markers_are_kept(tmp_path: Path) -> None:
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + SA.format(name="bom").encode())
    dots = SA.format(name="dots") + "...\n# after the end\n---\n" + SA.format(name="keep") \
        + "automountServiceAccountToken: false\n"
    (tmp_path / "dots.yaml").write_text(dots)
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-RBAC-010")
    assert code == 0, err
    assert (tmp_path / "bom.yaml").read_bytes().startswith(b"\xef\xbb\xbfapiVersion: v1\n")
    assert (tmp_path / "dots.yaml").read_text() == dots.replace(
        "...\n", "automountServiceAccountToken: false\n...\n", 1)


def test_symlink_target_is_edited_and_the_link_kept(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "sa.yaml").write_text(SA.format(name="linked"))
    (tmp_path / "link.yaml").symlink_to("real/sa.yaml")
    code, _out, err = _run("fix", str(tmp_path / "link.yaml"), "--check", "KH-RBAC-010")
    assert code == 0, err
    assert (tmp_path / "link.yaml").is_symlink()
    assert "automountServiceAccountToken: false" in (tmp_path / "real" / "sa.yaml").read_text()


def test_a_failed_write_is_named_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sa.yaml").write_text(SA.format(name="sa"))

    def refuse(*_args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-RBAC-010")
    assert code == 2
    assert "not written: Permission denied" in err
    assert (tmp_path / "sa.yaml").read_text() == SA.format(name="sa")
    assert [p.name for p in tmp_path.iterdir()] == ["sa.yaml"]  # no temporary file left behind


def test_default_deny_file_name_never_leaves_the_directory(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / ".kubehipaa.yaml").write_text("phi:\n  namespaces: [\"x/../../evil\"]\n")
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: \"x/../../evil\"}\n")
    _code, _out, err = _run("fix", str(tmp_path / "ns.yaml"), "-c", str(tmp_path / "cfg" / ".kubehipaa.yaml"))
    assert "KH-NET-001" in err and "no valid namespace" in err
    assert not list(tmp_path.parent.glob("kubehipaa-default-deny*"))
    assert not list(tmp_path.glob("kubehipaa-default-deny*"))


def test_comment_about_the_next_document_stays_below_the_edited_one(tmp_path: Path) -> None:
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n  - name: a\n"
           "    image: x:1\n")
    tail = "\n# Next: the settings\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n"
    (tmp_path / "a.yaml").write_text(pod + tail)
    code, _out, err = _run("fix", str(tmp_path), "--check", "KH-WL-008")
    assert code == 0, err
    assert (tmp_path / "a.yaml").read_text() == (
        pod + "    securityContext:\n      allowPrivilegeEscalation: false\n" + tail)
