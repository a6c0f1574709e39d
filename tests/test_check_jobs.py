"""$KUBEHIPAA_CHECK_JOBS=2: the network checks run in a forked process and the scan result is the serial one.

Findings (order included), check errors and the skipped input (in the order the serial run records it) must be
identical; a child that fails is not trusted and its checks run again in the parent.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines import check_jobs
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths

ROOT = Path(__file__).resolve().parent.parent
BAD_POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "broken", "namespace": "clinical"}, "spec": {"podSelector": "everything"}}
BAD_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "broken", "namespace": "clinical"}, "rules": "get secrets"}
BAD_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd", "namespace": "clinical"},
           "spec": {"containers": "app"}}


def _objects() -> list[K8sObject]:
    loaded = load_paths([str(ROOT / "examples" / "clinic-insecure")])
    extra = [K8sObject(copy.deepcopy(d), "bad.yaml", i + 1) for i, d in enumerate((BAD_ROLE, BAD_POLICY, BAD_POD))]
    return list(loaded.objects) + extra


def _failing(area: str) -> Check:
    """A check of `area` that raises: its error must be reported in its place, whichever process ran it."""
    base = next(c for c in all_checks() if c.meta.area == area)

    def boom(inv: Inventory) -> Any:
        raise RuntimeError(f"boom in {area}")

    return Check(base.meta, boom)


def _scan(jobs: int, checks: list[Check]) -> tuple[list[Any], list[Any], list[Any], list[str]]:
    seen: list[str] = []
    result = run_scan(Inventory(_objects(), Config()), checks=checks, jobs=jobs,
                      progress=lambda chk: seen.append(chk.meta.id))
    return ([f.to_dict() for f in result.findings], [(e.check_id, e.message) for e in result.errors],
            [(p.file, p.line, p.message) for p in result.skipped], seen)


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_jobs, "MIN_OBJECTS", 1)


def _checks() -> list[Check]:
    checks = all_checks()
    # a failing check in each process, placed where the registry's order puts them
    return sorted([*checks, _failing("network"), _failing("workloads")], key=lambda c: c.meta.id)


@pytest.mark.usefixtures("small_threshold")
def test_two_jobs_give_the_serial_result_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    start = check_jobs._start_child

    def counted(inv: Inventory, checks: list[Check]) -> Any:
        forks.append(len(checks))
        return start(inv, checks)

    monkeypatch.setattr(check_jobs, "_start_child", counted)
    checks = _checks()
    serial = _scan(1, checks)
    assert not forks
    split = _scan(2, checks)
    assert forks and forks[0] > 1  # the network checks did run in a child
    assert split[:3] == serial[:3]
    # progress: once per check; the child's checks are reported when their results arrive
    assert sorted(split[3]) == sorted(serial[3]) == sorted(c.meta.id for c in checks)
    findings, errors, skipped, _seen = serial
    assert findings and len(errors) == 2 and any("bad.yaml" in s[0] for s in skipped)
    assert any(f["checkId"].startswith("KH-NET") for f in findings)


@pytest.mark.usefixtures("small_threshold")
def test_a_failed_child_is_not_trusted_its_checks_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = _checks()
    serial = _scan(1, checks)

    def broken_dumps(*_a: Any, **_k: Any) -> bytes:  # the forked child inherits this and exits 1
        raise RuntimeError("cannot send")

    monkeypatch.setattr(check_jobs.pickle, "dumps", broken_dumps)
    assert _scan(2, checks)[:3] == serial[:3]


def test_small_inputs_and_one_job_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(*_a: Any) -> Any:
        raise AssertionError("forked")

    monkeypatch.setattr(check_jobs, "_start_child", no_fork)
    checks = all_checks()
    assert _scan(2, checks) == _scan(1, checks)  # below MIN_OBJECTS
    monkeypatch.setattr(check_jobs, "MIN_OBJECTS", 1)
    monkeypatch.setenv(check_jobs.JOBS_ENV, "1")
    run_scan(Inventory(_objects(), Config()), checks=checks)  # the environment's 1 job: no fork
