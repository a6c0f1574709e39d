"""Shared test fixtures: project paths, the upstream conformance data, and a scan helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
EXAMPLES = ROOT / "examples"
CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture
def shared_dir() -> Callable[[str], Path]:
    """`shared_dir("conformance/pss")` → the path, or skip the test when the upstream data is absent."""

    def get(sub: str) -> Path:
        path = SHARED / sub
        if not path.exists():
            pytest.skip(f"upstream conformance data not found at {path} (it lives beside the project in ../shared)")
        return path

    return get


def require_shared(sub: str) -> Path:
    """Module-level variant of `shared_dir` for parametrized tests collected from the data."""
    return SHARED / sub
