"""`parallel`: how many processes kubehipaa uses, from the option, the environment and the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubehipaa import parallel


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cpu_max", "quota"), [
    ("max 100000\n", None),           # no limit
    ("100000 100000\n", 1),           # limits.cpu: 1
    ("150000 100000\n", 2),           # 1.5 CPUs: two processes may run
    ("50000 100000\n", 1),            # half a CPU: still one
    ("garbage\n", None),
    ("100000 0\n", None),
])
def test_the_cgroup_quota_limits_auto(tmp_path: Path, cpu_max: str, quota: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    want = _affinity() if quota is None else min(_affinity(), quota)
    assert parallel.available_cpus(str(path)) == want


def test_a_missing_cgroup_file_means_no_quota(tmp_path: Path) -> None:
    assert parallel.available_cpus(str(tmp_path / "absent")) == _affinity()


def test_parse_jobs() -> None:
    assert parallel.parse_jobs("3") == 3
    assert parallel.parse_jobs(" AUTO ") == min(parallel.MAX_AUTO, parallel.available_cpus())
    for bad in ("0", "-1", "two", "", "1.5"):
        assert parallel.parse_jobs(bad) is None
