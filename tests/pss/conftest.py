"""Shared helpers for the PSS tests: where the upstream conformance fixtures live."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PSS_TESTDATA = ROOT.parent / "shared" / "conformance" / "pss" / "testdata"
