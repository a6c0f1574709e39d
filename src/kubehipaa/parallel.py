"""How many processes kubehipaa may use, decided in one place.

Loading manifests (`sources.files`) and running the checks (`pipelines.check_jobs`) use forked processes on
large inputs. Each asks `jobs()` here: `kubehipaa --jobs N` (`set_jobs`), else `$KUBEHIPAA_JOBS`
(a number, or `auto`), else `auto`: the CPUs this process may run on (its affinity, which is what a container's
cpuset gives it), at most `MAX_AUTO`. `1` keeps everything in one process.

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


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


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
