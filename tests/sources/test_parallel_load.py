"""Parallel loading gives exactly what a serial load gives: objects, lines, problems, order and errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubehipaa.errors import InputError
from kubehipaa.sources import files
from kubehipaa.sources.files import load_paths


def _tree(root: Path, n: int) -> None:
    for i in range(n):
        folder = root / f"ns-{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        body = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: ns-{i % 3}}}\ndata: {{k: '{i}'}}\n"
        if i % 7 == 0:
            body += "---\nmetadata: {name: nokind}\n"  # a problem, reported with its line
        if i % 11 == 0:
            body = f"apiVersion: v1\nkind: PodList\nitems:\n- metadata: {{name: p{i}}}\n"
        (folder / f"f{i:03d}.yaml").write_text(body)


def _key(result: files.LoadResult) -> tuple:
    return ([(o.doc, o.file, o.line) for o in result.objects], result.problems, result.files)


def test_parallel_equals_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path, 90)
    monkeypatch.setattr(files, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(files, "_BATCH", 4)
    serial = load_paths([str(tmp_path), str(tmp_path / "ns-1" / "f001.yaml")], jobs=1)
    parallel = load_paths([str(tmp_path), str(tmp_path / "ns-1" / "f001.yaml")], jobs=2)
    assert _key(parallel) == _key(serial)
    # f001.yaml is read twice: its ConfigMap is analysed once, the earlier copy reported as a duplicate
    assert len(serial.objects) == 90 and serial.duplicates == 1 and serial.problems


def test_parallel_raises_the_first_error_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path, 40)
    monkeypatch.setattr(files, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(files, "_BATCH", 4)
    with pytest.raises(InputError, match="no such file"):
        load_paths([str(tmp_path), str(tmp_path / "missing.yaml"), str(tmp_path)], jobs=2)
    monkeypatch.setenv("KUBEHIPAA_LOAD_JOBS", "3")
    assert files._load_jobs() == 3
    monkeypatch.setenv("KUBEHIPAA_LOAD_JOBS", "auto")
    assert files._load_jobs() >= 1
    monkeypatch.delenv("KUBEHIPAA_LOAD_JOBS")
    monkeypatch.setenv("KUBEHIPAA_JOBS", "1")  # the general switch, when the loader's own is unset
    assert files._load_jobs() == 1
    monkeypatch.delenv("KUBEHIPAA_JOBS")
    assert files._load_jobs() == min(8, len(os.sched_getaffinity(0)))  # the default: auto
