"""Checks shared with forked workers (`pipelines.check_jobs`): the scan result is the serial one exactly.

Findings (order included), check errors and the skipped input (in the order the serial run records it) must be
identical; a child that fails is not trusted and its checks run again in the parent.
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from kubehipaa import parallel
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
    monkeypatch.setattr(check_jobs.parallel, "can_fork", lambda: True)  # whatever threads pytest runs


def _checks() -> list[Check]:
    checks = all_checks()
    # a failing check in each process, placed where the registry's order puts them
    return sorted([*checks, _failing("network"), _failing("workloads")], key=lambda c: c.meta.id)


@pytest.mark.usefixtures("small_threshold")
def test_two_jobs_give_the_serial_result_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    start = check_jobs._start_worker

    def counted(*args: Any) -> Any:
        forks.append(1)
        return start(*args)

    monkeypatch.setattr(check_jobs, "_start_worker", counted)
    checks = _checks()
    serial = _scan(1, checks)
    assert not forks
    split = _scan(2, checks)
    assert forks  # a worker was forked
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

    monkeypatch.setattr(check_jobs, "_start_worker", no_fork)
    checks = all_checks()
    assert _scan(2, checks) == _scan(1, checks)  # below MIN_OBJECTS
    monkeypatch.setattr(check_jobs, "MIN_OBJECTS", 1)
    monkeypatch.setenv(check_jobs.JOBS_ENV, "1")
    run_scan(Inventory(_objects(), Config()), checks=checks)  # the environment's 1 job: no fork


@pytest.mark.usefixtures("small_threshold")
def test_three_jobs_give_the_serial_result_exactly() -> None:
    checks = _checks()
    assert _scan(3, checks)[:3] == _scan(1, checks)[:3]


@pytest.mark.usefixtures("small_threshold")
def test_a_worker_that_dies_midway_is_not_trusted() -> None:
    """A worker killed while it holds units (here: by the check it runs) loses nothing: the parent runs every
    unit it did not run itself."""
    parent = os.getpid()
    base = next(c for c in all_checks() if c.meta.area == "workloads")

    def die_in_worker(inv: Inventory) -> Any:
        if os.getpid() != parent:
            os._exit(9)
        return base.fn(inv)

    checks = sorted([c for c in all_checks() if c.meta.id != base.meta.id] + [Check(base.meta, die_in_worker)],
                    key=lambda c: c.meta.id)
    assert _scan(2, checks)[:3] == _scan(1, checks)[:3]


def test_the_number_of_processes_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(check_jobs.JOBS_ENV, raising=False)
    monkeypatch.setenv(parallel.ENV, "3")
    assert check_jobs.check_jobs() == 3
    monkeypatch.setenv(check_jobs.JOBS_ENV, "2")  # the stage's own variable first
    assert check_jobs.check_jobs() == 2
    parallel.set_jobs(1)  # --jobs 1 wins over both
    try:
        assert check_jobs.check_jobs() == 1
    finally:
        parallel.set_jobs(None)
    monkeypatch.setenv(check_jobs.JOBS_ENV, "many")  # not a number: unset
    monkeypatch.setenv(parallel.ENV, "auto")
    assert check_jobs.check_jobs() == min(parallel.MAX_AUTO, parallel.available_cpus())


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not parallel.can_fork()  # a lock that thread holds would stay locked in a child
    finally:
        stop.set()
        thread.join()


def test_the_workers_frames_give_back_equal_findings() -> None:
    """`pack`/`unpack` (a worker's answer): equal findings, the same types (a `Redacted` message stays one, so
    the reports' exit pass still skips it), and one ResourceRef object per resource, as in this process."""
    from kubehipaa.model import Severity
    from kubehipaa.redaction import Redacted

    inv = Inventory(_objects(), Config())
    outcomes = {i: check_jobs.run_one(chk, inv) for i, chk in enumerate(_checks())}
    back = check_jobs.unpack(check_jobs.pack(outcomes))
    assert list(back) == list(outcomes)
    for i, (findings, error, reported) in outcomes.items():
        got, got_error, got_reported = back[i]
        assert [f.to_dict() for f in got] == [f.to_dict() for f in findings]
        assert (got_error, got_reported) == (error, reported)
        for old, new in zip(findings, got, strict=True):
            assert type(new.message) is type(old.message) and isinstance(new.severity, Severity)
    messages = [f.message for o in back.values() for f in o[0]]
    assert messages and any(type(m) is Redacted for m in messages)
    refs = [f.resource for o in back.values() for f in o[0]]
    assert len({id(r) for r in refs}) == len(set(refs))  # one object per distinct resource


@pytest.mark.usefixtures("small_threshold")
def test_an_interrupted_scan_leaves_no_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A progress callback that raises (as Ctrl-C would) ends the scan; the workers are killed and reaped."""
    pids: list[int] = []
    start = check_jobs._start_worker

    def recorded(*args: Any) -> Any:
        worker = start(*args)
        if worker is not None:
            pids.append(worker.pid)
        return worker

    def stop(_chk: Check) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(check_jobs, "_start_worker", recorded)
    with pytest.raises(KeyboardInterrupt):
        run_scan(Inventory(_objects(), Config()), checks=_checks(), jobs=2, progress=stop)
    assert pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: not running, not even a zombie
