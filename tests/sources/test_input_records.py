"""Every file read is recorded with its SHA-256 (evidence reports and saved scans list the exact inputs)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.pipelines.scan import scan
from kubehipaa.sources.files import load_paths


def test_each_file_read_is_recorded_with_its_digest(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    b = tmp_path / "sub" / "b.yaml"
    b.parent.mkdir()
    b.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: a}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe not utf-8")
    loaded = load_paths([str(tmp_path)])
    records = {r.name: r for r in loaded.inputs}
    assert set(records) == {str(a), str(b), str(bad)}
    assert records[str(b)].sha256 == hashlib.sha256(b.read_bytes()).hexdigest()
    assert records[str(bad)].bytes == bad.stat().st_size  # unreadable as YAML, still what was given
    assert scan(loaded, Config()).result.inputs == loaded.inputs
