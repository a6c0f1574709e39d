"""Which inputs a saved scan names, with SHA-256 (pipelines.history.input_records)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.model import K8sObject
from kubehipaa.pipelines.history import input_records, target_of
from kubehipaa.pipelines.scan import ControlPlaneFiles, scan
from kubehipaa.sources.files import InputRecord as LoadedInput
from kubehipaa.sources.files import LoadResult
from tests.conftest import EXAMPLES
from tests.history.helpers import deployment, run, write


def test_files_are_named_with_the_hash_of_the_bytes_read(tmp_path: Path) -> None:
    src = write(tmp_path / "k8s", {"a.yaml": deployment("a"), "b.yaml": deployment("b") + "---\n" + deployment("c")})
    records = {r.name: r for r in input_records(run([src]))}
    b = records[str(src / "b.yaml")]
    assert (b.kind, b.objects, b.bytes) == ("file", 2, (src / "b.yaml").stat().st_size)
    assert b.sha256 == hashlib.sha256((src / "b.yaml").read_bytes()).hexdigest()


def test_control_plane_files_are_not_left_out() -> None:
    """`--control-plane DIR` files are not in the loader's inputs; the files the findings name still are."""
    cp = EXAMPLES / "clinic-insecure" / "control-plane"
    scan_run = scan(None, Config(), control_plane=ControlPlaneFiles(cp))
    records = {r.name: r for r in input_records(scan_run)}
    apiserver = str(cp / "kube-apiserver.yaml")
    assert apiserver in records
    assert records[apiserver].sha256 == hashlib.sha256(Path(apiserver).read_bytes()).hexdigest()


def test_a_cluster_listing_is_one_input_per_context() -> None:
    objs = [K8sObject({"kind": "Pod", "metadata": {"name": f"p{i}"}}, f"cluster:prod/Pod/ns/p{i}", 0, "Pod", "v1",
                      f"p{i}", "ns") for i in range(3)]
    loaded = LoadResult(objects=objs, inputs=[LoadedInput("cluster:prod", "ab" * 32, 123)])
    scan_run = scan(loaded, Config())
    [record] = input_records(scan_run)
    assert (record.kind, record.name, record.sha256, record.objects) == ("cluster", "cluster:prod", "ab" * 32, 3)
    assert target_of([record]) == "cluster:prod"
