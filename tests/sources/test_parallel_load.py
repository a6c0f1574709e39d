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


def _typed(a: object, b: object) -> bool:
    """Equal with the same types all the way down (True is not 1, 1.0 is not 1) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_typed(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(_typed(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def test_the_workers_answer_keeps_every_value_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents come back from a worker marshalled: numbers past 64 bits, -0.0, integers and floats, booleans,
    nulls and non-ASCII text arrive with the exact types and values the serial load gives (NaN and infinities
    never reach an object: Kubernetes refuses them, and so does the loader)."""
    odd = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd-%d, namespace: a}\n"
           "data: {k: v}\nx: {big: 123456789012345678901234567890, huge: 18446744073709551615, neg0: -0.0,\n"
           "   yes: true, one: 1, onef: 1.5, none: ~, text: \"\\u00e9\\u2028x\", list: [1, true, null]}\n")
    for i in range(12):
        (tmp_path / f"f{i:02d}.yaml").write_text(odd % i)
    monkeypatch.setattr(files, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(files, "_BATCH", 2)
    serial = load_paths([str(tmp_path)], jobs=1)
    parallel = load_paths([str(tmp_path)], jobs=2)
    assert len(serial.objects) == 12
    assert [(o.file, o.line) for o in parallel.objects] == [(o.file, o.line) for o in serial.objects]
    assert all(_typed(p.doc, s.doc) for p, s in zip(parallel.objects, serial.objects, strict=True))
    x = serial.objects[0].doc["x"]
    assert x["huge"] == 2**64 - 1 and x["true"] is True and x["one"] == 1 and type(x["one"]) is int


def test_pack_falls_back_to_pickle_when_marshal_cannot(tmp_path: Path) -> None:
    """An object carrying more than its document (a source's `extra`), or a value marshal does not write, is
    sent as the LoadResult itself; either way the parent gets the same objects."""
    from kubehipaa.model import K8sObject

    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}}
    plain = files.LoadResult(objects=[K8sObject(dict(doc), "f.yaml", 3)], files=1)
    packed = files._pack(plain)
    assert not isinstance(packed, files.LoadResult)  # the marshalled form
    assert [(o.doc, o.file, o.line) for o in files._unpack(packed).objects] == [(doc, "f.yaml", 3)]
    with_extra = files.LoadResult(objects=[K8sObject(dict(doc), "f.yaml", 3, extra={"mode": 0o600})])
    assert files._pack(with_extra) is with_extra
    odd = files.LoadResult(objects=[K8sObject({**doc, "x": object()}, "f.yaml", 3)])
    assert files._pack(odd) is odd
