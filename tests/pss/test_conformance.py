"""Upstream pod-security-admission fixtures (../shared/conformance/pss): every pass pod allowed, every
fail pod denied at exactly its level and version, with the violated check named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kubehipaa.engines.pss import BY_ID, Level, checks_for, evaluate, parse_level, parse_version

from .conftest import PSS_TESTDATA

_LOWER_TO_ID = {cid.lower(): cid for cid in BY_ID}


def _fixtures() -> list[tuple[str, str, str, Path]]:
    out = []
    if not PSS_TESTDATA.is_dir():
        return out
    for level_dir in sorted(PSS_TESTDATA.iterdir()):
        if not level_dir.is_dir():
            continue
        for version_dir in sorted(level_dir.iterdir()):
            for outcome in ("pass", "fail"):
                for f in sorted((version_dir / outcome).glob("*.yaml")):
                    out.append((level_dir.name, version_dir.name, outcome, f))
    return out


FIXTURES = _fixtures()
pytestmark = pytest.mark.skipif(
    not FIXTURES,
    reason=f"upstream PSS fixtures not found at {PSS_TESTDATA} (../shared/conformance/pss absent)",
)


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _expected_ids(stem: str, level: Level, minor: int) -> set[str]:
    """The check the fixture targets, plus any restricted check that overrides it at this version."""
    base = re.sub(r"\d+$", "", stem)
    cid = _LOWER_TO_ID[base]
    ids = {cid}
    if level is Level.RESTRICTED:
        for check in BY_ID.values():
            rev = check.revision_for(minor)
            if rev and cid in rev.overrides:
                ids.add(check.id)
    return ids


@pytest.mark.parametrize(
    ("level", "version", "outcome", "path"),
    FIXTURES,
    ids=[f"{lv}/{v}/{o}/{p.stem}" for lv, v, o, p in FIXTURES],
)
def test_upstream_fixture(level: str, version: str, outcome: str, path: Path) -> None:
    pod = _load(path)
    lvl, ver = parse_level(level), parse_version(version)
    verdict = evaluate(pod.get("metadata") or {}, pod["spec"], lvl, ver)
    # every fixture is allowed at privileged
    assert evaluate(pod.get("metadata") or {}, pod["spec"], Level.PRIVILEGED, ver).allowed
    if outcome == "pass":
        assert verdict.allowed, verdict.forbidden_message()
        if lvl is Level.RESTRICTED:  # restricted ⊇ baseline
            assert evaluate(pod.get("metadata") or {}, pod["spec"], Level.BASELINE, ver).allowed
        return
    assert not verdict.allowed, f"{path} should be denied at {level}:{version}"
    if path.stem.startswith("base"):
        return
    expected = _expected_ids(path.stem, lvl, ver.effective_minor)
    assert expected & set(verdict.checks), (expected, verdict.forbidden_message())
    if lvl is Level.BASELINE:  # a baseline failure is also a restricted failure
        assert not evaluate(pod.get("metadata") or {}, pod["spec"], Level.RESTRICTED, ver).allowed


_SUBSTRINGS = {
    "appArmorProfile": "forbidden AppArmor profile",
    "capabilities_baseline": "capabilities",
    "capabilities_restricted": "unrestricted capabilities",
    "hostNamespaces": "host namespaces",
    "hostPathVolumes": "hostPath",
    "hostPorts": "hostPort",
    "hostProbesAndHostLifecycle": "probe or lifecycle host",
    "procMount": "procMount",
    "procMount_restricted": "procMount",
    "restrictedVolumes": "restricted volume types",
    "seLinuxOptions": "seLinuxOptions",
    "seccompProfile_baseline": "seccompProfile",
    "seccompProfile_restricted": "seccompProfile",
    "sysctls": "forbidden sysctl",
    "windowsHostProcess": "hostProcess",
}


def _check_of(path: Path) -> str:
    return _LOWER_TO_ID[re.sub(r"\d+$", "", path.stem)]


_WITH_NEEDLE = [(lv, v, p) for lv, v, o, p in FIXTURES if o == "fail" and _check_of(p) in _SUBSTRINGS]


@pytest.mark.parametrize(
    ("level", "version", "path"), _WITH_NEEDLE, ids=[f"{lv}/{v}/{p.stem}" for lv, v, p in _WITH_NEEDLE]
)
def test_forbidden_message_has_upstream_substring(level: str, version: str, path: Path) -> None:
    """The message contains the substring upstream's own fixture test expects (SOURCE.md)."""
    pod = _load(path)
    verdict = evaluate(pod.get("metadata") or {}, pod["spec"], parse_level(level), parse_version(version))
    assert _SUBSTRINGS[_check_of(path)] in verdict.forbidden_message()


def test_every_fixture_check_id_is_registered() -> None:
    stems = {re.sub(r"\d+$", "", p.stem) for *_, p in FIXTURES} - {"base", "base_linux", "base_windows"}
    assert stems <= set(_LOWER_TO_ID), stems - set(_LOWER_TO_ID)


def test_latest_is_newest_fixture_version() -> None:
    newest = max(int(p.parent.parent.name.split(".")[1]) for *_, p in FIXTURES)
    assert parse_version("latest").effective_minor == newest
    assert checks_for(Level.RESTRICTED, newest) == checks_for(
        Level.RESTRICTED, parse_version("latest").effective_minor
    )
