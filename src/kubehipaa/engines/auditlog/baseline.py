"""Secrets-access spikes judged against the identity's own history (KH-AUDLOG-026).

Why a baseline and not one more fixed threshold: KH-AUDLOG-022 alerts at 15 distinct secrets in 30 minutes,
which is too high for a workload that reads one secret (a stolen service-account token sweeping a dozen
namespaces in a minute stays under it) and too low for an operator that reads forty by design (it alerts
every half hour, and gets ignored). Here each identity is compared with itself.

What is measured, per identity (username; service accounts included, control-plane components excluded by
the rule's predicate): the number of distinct secrets (`namespace/name`, a list counting as `namespace/*`) and
of distinct namespaces it read or tried to read in the last `window_s` seconds of log time (default 60 s:
the "within a minute" of a sweep; slower sweeps are KH-AUDLOG-022's). The window slides, so a burst that
straddles a minute boundary is counted whole.

The history: log time is cut into `window_s` buckets; at the end of each bucket in which the identity read
anything, the highest count seen during it is folded into
- an exponentially weighted mean over the identity's active buckets (`ALPHA`: the last ~10-20 count), and
- a decayed peak: the highest bucket seen, halving every `memory_s` of log time (default 7 days), so a job
  that reads 20 secrets once an hour is normal after its first run.
Idle buckets are not folded in: the baseline is "how much does it read when it reads", otherwise a workload
that reads once an hour would have a mean near zero and every read would look like a spike.

An alert: for secrets or for namespaces, the current count is at or above the absolute floor (`floor`,
`namespace_floor`), above `factor` x the mean, and above the decayed peak (rounded: a peak of 20 that
decayed to 19.99 is still 20). An identity with no history yet has a baseline of nothing, so any count at a
floor is a spike, except during the warm-up (`learning_s` of log time from the earliest read seen, the same
period as first-seen's): then identities are learnt, not judged, so the workloads already running when a log
starts (the one that always reads 20) are not all reported as spikes at its first minute. With
`audit analyze --state` the warm-up happens once, not every run. Then the identity is quiet for one window (one alert per
spike); the spike's bucket joins the history like any other, so a new normal is learnt after an alert or two.

Memory: at most `max_keys` identities (least recently active forgotten) and `MAX_VALUES` secrets and
namespaces per identity in the sliding window (counts saturate there, far above any floor). Pure: events'
times in, verdicts out; `to_state`/`load_state` give plain lists for `Detector.snapshot`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.auditlog.windows import _Lru

ALPHA = 0.1
"""Weight of the newest active bucket in the mean (the older ones decay by 0.9 per active bucket)."""
MAX_VALUES = 128
"""Secrets (and namespaces) remembered per identity within the sliding window."""


@dataclass(frozen=True, slots=True)
class Spike:
    """Why an identity alerted: its counts in the sliding window and the history they were compared with."""

    secrets: int
    namespaces: int
    mean_secrets: float
    mean_namespaces: float
    peak_secrets: float
    peak_namespaces: float
    windows: int
    """Active buckets in the history."""
    by: str
    """'secrets', 'namespaces' or 'secrets and namespaces': which count crossed."""

    def evidence(self) -> dict[str, Any]:
        return {"distinctSecrets": self.secrets, "distinctNamespaces": self.namespaces,
                "baselineSecrets": round(self.mean_secrets, 2),
                "baselineNamespaces": round(self.mean_namespaces, 2),
                "peakSecrets": round(self.peak_secrets, 2), "peakNamespaces": round(self.peak_namespaces, 2),
                "historyWindows": self.windows}


class _Identity:
    """One identity's sliding window, current bucket and history."""

    __slots__ = ("bucket", "cur_n", "cur_s", "mean_n", "mean_s", "namespaces", "peak_n", "peak_s", "peak_t",
                 "quiet", "secrets", "windows")

    def __init__(self) -> None:
        self.secrets: dict[str, float] = {}  # value -> last time read, oldest first
        self.namespaces: dict[str, float] = {}
        self.bucket: int | None = None
        self.cur_s = 0  # highest counts seen during the current bucket
        self.cur_n = 0
        self.mean_s = 0.0
        self.mean_n = 0.0
        self.peak_s = 0.0  # decayed peaks, as of `peak_t`
        self.peak_n = 0.0
        self.peak_t = 0.0
        self.windows = 0
        self.quiet: float | None = None

    def to_list(self) -> list[Any]:
        return [self.bucket, self.cur_s, self.cur_n, self.mean_s, self.mean_n, self.peak_s, self.peak_n,
                self.peak_t, self.windows, self.quiet, [[v, t] for v, t in self.secrets.items()],
                [[v, t] for v, t in self.namespaces.items()]]

    @classmethod
    def from_list(cls, row: list[Any]) -> _Identity:
        st = cls()
        (bucket, cur_s, cur_n, mean_s, mean_n, peak_s, peak_n, peak_t, windows, quiet, secrets,
         namespaces) = row
        st.bucket = None if bucket is None else int(bucket)
        st.cur_s, st.cur_n = int(cur_s), int(cur_n)
        st.mean_s, st.mean_n = float(mean_s), float(mean_n)
        st.peak_s, st.peak_n, st.peak_t = float(peak_s), float(peak_n), float(peak_t)
        st.windows = int(windows)
        st.quiet = None if quiet is None else float(quiet)
        st.secrets = {str(v): float(t) for v, t in secrets[-MAX_VALUES:]}
        st.namespaces = {str(v): float(t) for v, t in namespaces[-MAX_VALUES:]}
        return st


def _prune(seen: dict[str, float], horizon: float) -> None:
    """Drop what fell out of the window (and the oldest beyond `MAX_VALUES`) from an oldest-first dict.

    Re-inserting a value moves it to the end, so the front is always the least recently read: pruning stops
    at the first value still inside the window (amortised O(1); with merged logs going slightly back in time
    an old value may linger one event longer, never count twice)."""
    while seen:
        first = next(iter(seen))
        if seen[first] >= horizon and len(seen) <= MAX_VALUES:
            break
        del seen[first]


class SpikeBaseline:
    """Distinct secrets and namespaces per identity per sliding window, compared with the identity's history."""

    def __init__(self, window_s: float, floor: int, namespace_floor: int, factor: float, learning_s: float,
                 memory_s: float, max_keys: int) -> None:
        self.seconds = max(1.0, float(window_s))
        self.floor = max(1, floor)
        self.namespace_floor = max(1, namespace_floor)
        self.factor = max(1.0, float(factor))
        self.learning_s = max(0.0, float(learning_s))
        self.memory_s = max(1.0, float(memory_s))
        self.start: float | None = None
        """The earliest time seen: the warm-up runs from it (an earlier event moves it back, never forward)."""
        self.ids: _Lru = _Lru(max_keys)

    def add(self, key: str, secret: str, namespace: str, t: float) -> Spike | None:
        """Record that `key` read `secret` (in `namespace`) at `t`; a `Spike` when this read makes one."""
        if self.start is None or t < self.start:
            self.start = t
        ids = self.ids
        st = ids.get(key)
        if st is None:
            st = ids[key] = _Identity()
            if len(ids) > ids.max_keys:
                ids.popitem(last=False)
        else:
            ids.move_to_end(key)
        seconds = self.seconds
        bucket = int(t // seconds)
        if st.bucket is None:
            st.bucket = bucket
        elif bucket > st.bucket:  # an earlier time (merged logs) stays in the current bucket
            self._fold(st, t)
            st.bucket = bucket
        horizon = t - seconds
        # `_slide`, inlined for both tables: this runs on every secret read of every non-platform identity
        seen = st.secrets
        seen.pop(secret, None)
        seen[secret] = t
        if seen[next(iter(seen))] < horizon or len(seen) > MAX_VALUES:
            _prune(seen, horizon)
        n_s = len(seen)
        seen = st.namespaces
        seen.pop(namespace, None)
        seen[namespace] = t
        if seen[next(iter(seen))] < horizon or len(seen) > MAX_VALUES:
            _prune(seen, horizon)
        n_n = len(seen)
        if n_s > st.cur_s:
            st.cur_s = n_s
        if n_n > st.cur_n:
            st.cur_n = n_n
        if n_s < self.floor and n_n < self.namespace_floor:
            return None  # the common case
        if not st.windows and t - self.start < self.learning_s:
            return None  # no history, and still warming up: learn it
        quiet = st.quiet
        if quiet is not None and quiet - self.seconds <= t < quiet:  # not before the alert: times can go back
            return None
        decay = 0.5 ** (max(0.0, t - st.peak_t) / self.memory_s)
        peak_s, peak_n = st.peak_s * decay, st.peak_n * decay
        # "above the peak" by at least a half: a peak of 20 decayed to 19.99 a few minutes later is still 20
        by_s = n_s >= self.floor and n_s > self.factor * st.mean_s and n_s > peak_s + 0.5
        by_n = n_n >= self.namespace_floor and n_n > self.factor * st.mean_n and n_n > peak_n + 0.5
        if not (by_s or by_n):
            return None
        st.quiet = t + self.seconds
        by = "secrets and namespaces" if by_s and by_n else "secrets" if by_s else "namespaces"
        return Spike(n_s, n_n, st.mean_s, st.mean_n, peak_s, peak_n, st.windows, by)

    def _fold(self, st: _Identity, t: float) -> None:
        """Add the bucket that just ended to the history (only buckets with reads exist)."""
        cur_s, cur_n = st.cur_s, st.cur_n
        if st.windows:
            st.mean_s += ALPHA * (cur_s - st.mean_s)
            st.mean_n += ALPHA * (cur_n - st.mean_n)
        else:
            st.mean_s, st.mean_n = float(cur_s), float(cur_n)
        if st.peak_s > cur_s or st.peak_n > cur_n:  # (else the new bucket is the peak: no decay to compute)
            decay = 0.5 ** (max(0.0, t - st.peak_t) / self.memory_s)
            st.peak_s = max(float(cur_s), st.peak_s * decay)
            st.peak_n = max(float(cur_n), st.peak_n * decay)
        else:
            st.peak_s, st.peak_n = float(cur_s), float(cur_n)
        st.peak_t = t
        st.windows += 1
        st.cur_s = st.cur_n = 0

    def history(self, key: str) -> tuple[float, float, int] | None:
        """(mean secrets, mean namespaces, active buckets) of `key`'s history; None when it is not known."""
        st = self.ids.get(key)
        return None if st is None else (st.mean_s, st.mean_n, st.windows)

    def to_state(self) -> dict[str, Any]:
        """Plain lists in LRU order (oldest first), for `Detector.snapshot`."""
        return {"start": self.start, "ids": [[k, st.to_list()] for k, st in self.ids.items()]}

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the table with `to_state`'s output; this baseline's own bounds (max_keys) apply."""
        start = state["start"]
        self.start = None if start is None else float(start)
        self.ids.clear()
        for k, row in state["ids"]:
            st = _Identity.from_list(row)
            if not all(math.isfinite(x) for x in (st.mean_s, st.mean_n, st.peak_s, st.peak_n, st.peak_t)):
                raise ValueError(f"baseline of {k!r}: not a finite number")
            self.ids[str(k)] = st
        self.ids.trim()
