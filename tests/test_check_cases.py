"""Every registered check has a firing and a non-firing case, side by side under tests/cases/<CHECK-ID>/.

`fire*.yaml` must produce the check; `pass*.yaml` must not; `expected.yaml` names, for each fire file, exactly
the findings of the check it must produce (resource, evidence path, severity; format in tests/cases/README.md).
Cases are scanned exactly as a user's files would be (load_paths → Inventory → run_scan) with the default
config, so a case is also a usage example.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kubehipaa.checks.registry import all_checks
from tests.case_specs import SpecError, check_entries, read_expected, scan, sort_findings
from tests.conftest import CASES, ROOT

CHECKS = all_checks()
IDS = [c.meta.id for c in CHECKS]


def _scan_ids(path: Path) -> set[str]:
    return {f.check_id for f in scan(path)}


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


@pytest.mark.parametrize("check_id", IDS)
def test_fire_cases_produce_exactly_the_expected_findings(check_id: str) -> None:
    """Each fire file yields exactly the findings of `check_id` its expected.yaml lists (as a multiset: the
    same object can be reported twice for two reasons), each on the named resource, field and severity."""
    folder = CASES / check_id
    spec = read_expected(folder)  # raises when missing or malformed
    fires = {f.name: f for f in folder.glob("fire*.yaml")}
    assert set(spec["fire"]) == set(fires), (
        f"{check_id}/expected.yaml lists {sorted(spec['fire'])}, the folder has {sorted(fires)}")
    for name, path in sorted(fires.items()):
        got = check_entries(path, check_id)
        want = sort_findings(spec["fire"][name])
        assert got == want, f"{check_id}/{name}: findings differ from expected.yaml\n got: {got}\nwant: {want}"


def test_every_case_folder_has_an_expected_yaml() -> None:
    missing = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not (p / "expected.yaml").is_file())
    assert not missing, f"case folders without expected.yaml: {missing}"


def test_no_case_folder_for_unknown_check() -> None:
    if not CASES.exists():
        pytest.skip("no cases yet")
    orphans = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name not in IDS)
    assert not orphans, f"case folders without a registered check: {orphans}"


@pytest.mark.parametrize("body,error", [
    ("check: KH-X-001\nfire:\n  fire.yaml:\n  - resource: {kind: Pod, namespace: a, name: b}\n"
     "    path: spec\n    severty: high\n", "unknown keys ['severty'], missing keys ['severity']"),
    ("check: KH-X-001\nfire:\n  fire.yaml:\n  - resource: {kind: Pod, namespace: a, name: b}\n"
     "    path: spec\n    severity: urgent\n", "severity 'urgent' is not one of"),
    ("check: KH-X-001\nfire:\n  fire.yaml: []\n", "must expect at least one finding"),
    ("check: KH-Y-001\nfire: {}\n", "is not the folder's id"),
    ("fire: {}\n", "needs `check:`"),
])
def test_a_malformed_expected_yaml_is_an_error(tmp_path: Path, body: str, error: str) -> None:
    """A typo in an expectation must fail loudly, not make the expectation weaker."""
    folder = tmp_path / "KH-X-001"
    folder.mkdir()
    (folder / "expected.yaml").write_text(body)
    with pytest.raises(SpecError, match=error.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        read_expected(folder)


def test_the_generator_reproduces_every_expected_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/gen_case_expectations.py --check: the committed files are exactly what the generator writes
    (format included, `note:` kept), so regenerating after an intended change shows only that change."""
    spec = importlib.util.spec_from_file_location("gen_case_expectations",
                                                  ROOT / "scripts" / "gen_case_expectations.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, capsys.readouterr().out
