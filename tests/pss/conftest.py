"""Shared helpers for the PSS tests: where the upstream conformance fixtures and our own data live."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CONFORMANCE

PSS_TESTDATA = CONFORMANCE / "pss" / "testdata"
DATA = Path(__file__).resolve().parent / "data"
