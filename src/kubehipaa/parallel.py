"""How many processes kubehipaa may use, decided in one place.

Loading manifests (`sources.files`) and running the checks (`pipelines.check_jobs`) use forked processes on
large inputs. Each asks `jobs()` here: `kubehipaa --jobs N` (`set_jobs`), else `$KUBEHIPAA_JOBS`
(a number, or `auto`), else `auto`: the CPUs this process may run on (its affinity, and the CPU quota of its
cgroup: a pod with `limits.cpu: 1` on a 32-core node gets one), at most `MAX_AUTO`. `1` keeps everything in
one process.

Forking is used only where it is safe (`can_fork`): on a platform with `fork`, and in a process with a single
thread. A forked child inherits only the thread that forked, so a lock another thread held (a server's
logging, an HTTP client) would stay locked in the child forever.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

ENV = "KUBEHIPAA_JOBS"
MAX_AUTO = 8
"""`auto` never uses more processes than this: past a few, the work left per process no longer repays a fork."""

_chosen: int | None = None


def set_jobs(value: int | None) -> None:
    """Choose the number of processes for this process's work (`--jobs`), or go back to the environment (None)."""
    global _chosen
    _chosen = value


CPU_MAX = "/sys/fs/cgroup/cpu.max"
"""cgroup v2: `<quota> <period>` in microseconds, or `max <period>` when unlimited (a container's CPU limit)."""


def available_cpus(cpu_max: str = CPU_MAX) -> int:
    """The CPUs this process may use: those it may run on, fewer when its cgroup's quota allows less time."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, cpus)


def _cgroup_quota(path: str) -> int | None:
    """The cgroup's CPU quota in whole CPUs (rounded up), None when unlimited or unknown."""
    try:
        with open(path, encoding="ascii") as fh:
            fields = fh.read().split()
    except (OSError, UnicodeDecodeError):
        return None
    if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit() or int(fields[1]) == 0:
        return None  # `max <period>`, or a shape we do not know
    quota, period = int(fields[0]), int(fields[1])
    return max(1, -(-quota // period))


def parse_jobs(raw: str) -> int | None:
    """`raw` as a number of processes: a positive integer, or `auto`; None when it is neither."""
    text = raw.strip().lower()
    if text == "auto":
        return min(MAX_AUTO, available_cpus())
    if text.isdigit() and int(text) > 0:
        return int(text)
    return None


def jobs(override_env: str | None = None) -> int:
    """The processes to use: `--jobs`, else `$override_env` (a stage's own variable, kept for compatibility),
    else `$KUBEHIPAA_JOBS`, else `auto`. A value that is not a number or `auto` counts as unset."""
    if _chosen is not None:
        return _chosen
    for name in (override_env, ENV):
        if name:
            parsed = parse_jobs(os.environ.get(name, ""))
            if parsed is not None:
                return parsed
    return min(MAX_AUTO, available_cpus())


def can_fork() -> bool:
    """Whether a worker may be forked here: `fork` exists and this process runs one thread."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
