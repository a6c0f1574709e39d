"""Every registered check has a firing and a non-firing case, side by side under tests/cases/<CHECK-ID>/.

`fire*.yaml` must produce the check; `pass*.yaml` must not. Cases are scanned exactly as a user's files
would be (load_paths → Inventory → run_scan) with the default config, so a case is also a usage example.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import DUPLICATE, load_paths
from tests.conftest import CASES

CHECKS = all_checks()
IDS = [c.meta.id for c in CHECKS]


def _scan_ids(path: Path) -> set[str]:
    loaded = load_paths([str(path)])
    # a redefined object (fire_shadowed) is a duplicate by design; anything else is a broken case file
    problems = [p for p in loaded.problems if p.severity != DUPLICATE]
    assert not problems, f"case file {path} has problems: {problems}"
    inv = Inventory(loaded.objects, Config())
    result = run_scan(inv, Config())
    assert not result.errors, result.errors
    return {f.check_id for f in result.findings}


def test_catalog_is_not_empty() -> None:
    assert IDS, "no checks are registered"


@pytest.mark.parametrize("check_id", IDS)
def test_check_has_firing_and_passing_case(check_id: str) -> None:
    folder = CASES / check_id
    fires = sorted(folder.glob("fire*.yaml"))
    passes = sorted(folder.glob("pass*.yaml"))
    assert fires, f"{check_id}: no firing case (tests/cases/{check_id}/fire*.yaml)"
    assert passes, f"{check_id}: no non-firing case (tests/cases/{check_id}/pass*.yaml)"
    for case in fires:
        assert check_id in _scan_ids(case), f"{case.name} should trigger {check_id}"
    for case in passes:
        assert check_id not in _scan_ids(case), f"{case.name} must not trigger {check_id}"


def test_no_case_folder_for_unknown_check() -> None:
    if not CASES.exists():
        pytest.skip("no cases yet")
    orphans = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name not in IDS)
    assert not orphans, f"case folders without a registered check: {orphans}"
