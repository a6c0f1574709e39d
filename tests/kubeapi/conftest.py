"""Fixtures: the loopback API server (tests/kubeapi/server.py) seeded with examples/clinic-insecure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.kubeapi.server import FakeCluster, KubeAPIServer


def clinic_objects() -> list[dict]:
    docs: list[dict] = []
    for path in sorted((EXAMPLES / "clinic-insecure").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return docs


@pytest.fixture
def fake() -> FakeCluster:
    cluster = FakeCluster()
    cluster.add(*clinic_objects())
    return cluster


@pytest.fixture
def kubeapi(fake: FakeCluster) -> Iterator[KubeAPIServer]:
    with KubeAPIServer(fake) as server:
        yield server


@pytest.fixture
def kubeconfig(kubeapi: KubeAPIServer, tmp_path: Path) -> Path:
    return kubeapi.kubeconfig(tmp_path / "kubeconfig.json")
