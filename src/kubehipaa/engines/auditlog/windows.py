"""Bounded state for windowed rules, keyed by identity or source IP.

Every table is an LRU of at most `max_keys` keys and every per-key list is capped, so a month of logs uses
the same memory as an hour. Time is the events' own time (requestReceivedTimestamp), not the wall clock,
so replaying an old log gives the same alerts as watching it live (`EventClock`: a time that cannot be read
counts at the stream's latest time; a time earlier than an alert does not fall in that alert's quiet period).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from kubehipaa.engines.auditlog.timerange import NS_PER_S, TimeParseError, parse_instant

_EPOCH_CACHE: dict[str, float] = {}
"""'YYYY-MM-DDTHH:MM:SS' of MicroTime-shaped times → seconds since the epoch (validated when added)."""


def event_seconds(text: str) -> float | None:
    """RFC 3339 (Kubernetes MicroTime, Go RFC3339Nano, offsets) → whole seconds since the epoch; None when
    absent, unparsable or outside years 1-9999 UTC.

    Windows are minutes long, so the fraction is dropped, and in the common MicroTime shape
    ('YYYY-MM-DDTHH:MM:SS.ffffffZ', 27 characters ending in Z) it is not even looked at: the date and time
    before it are validated once per second and cached, because consecutive events share them. Anything
    else is parsed in full (`timerange.parse_instant`), so an offset such as `+14:00` moves the time, and
    text that only starts like a time is not taken for one.
    """
    if len(text) == 27 and text[26] == "Z":
        seconds = _EPOCH_CACHE.get(text[:19])
        if seconds is not None:
            return seconds
        if text[19] == ".":
            try:
                seconds = float(parse_instant(text[:19] + "Z") // NS_PER_S)
            except TimeParseError:
                return None
            if len(_EPOCH_CACHE) > 4096:
                _EPOCH_CACHE.clear()
            _EPOCH_CACHE[text[:19]] = seconds
            return seconds
    if not text:
        return None
    try:
        return float(parse_instant(text) // NS_PER_S)
    except TimeParseError:
        return None


def parse_time(text: str) -> float:
    """`event_seconds`, with 0.0 for a time that is absent or cannot be used (callers that keep no stream of
    times; windowed rules use `EventClock`, for which 0.0 would be a time 56 years back)."""
    seconds = event_seconds(text)
    return 0.0 if seconds is None else seconds


class EventClock:
    """The time windowed rules give an event (`at`): its own, or, when that is absent, unparsable or outside
    years 1-9999, the time of the last event before it that had a valid one.

    Why not 0.0 (the epoch) for a bad time: windows compare times, and a time decades off would open a
    learning period again, put a key in a "quiet" period that never ends, or keep a burst from ever adding
    up, so one malformed timestamp could hide real alerts. The previous event's time keeps such an event in
    the current window, where it counts like any other. `unplaced` counts them.
    """

    __slots__ = ("latest", "unplaced")

    def __init__(self) -> None:
        self.latest = 0.0
        self.unplaced = 0

    def at(self, text: str) -> float:
        if len(text) == 27 and text[26] == "Z":  # the cached case of `event_seconds`, inlined: per event
            seconds = _EPOCH_CACHE.get(text[:19])
            if seconds is not None:
                self.latest = seconds
                return seconds
        found = event_seconds(text)
        if found is None:
            self.unplaced += 1
            return self.latest
        self.latest = found
        return found


class _Lru(OrderedDict):  # type: ignore[type-arg]
    def __init__(self, max_keys: int) -> None:
        super().__init__()
        self.max_keys = max_keys

    def touch(self, key: str, default_factory: type) -> object:
        value = self.get(key)
        if value is None:
            value = default_factory()
            self[key] = value
            if len(self) > self.max_keys:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value

    def trim(self) -> None:
        """Drop the least recently used keys beyond `max_keys` (after a restore with a smaller bound)."""
        while len(self) > self.max_keys:
            self.popitem(last=False)


class CountWindow:
    """`threshold` hits for one key within `seconds` → one alert, then quiet for a window."""

    def __init__(self, seconds: float, threshold: int, max_keys: int) -> None:
        self.seconds = seconds
        self.threshold = max(1, threshold)
        self.hits: _Lru = _Lru(max_keys)
        self.quiet_until: _Lru = _Lru(max_keys)

    def add(self, key: str, t: float) -> int:
        """Record a hit; return the number of hits in the window when this hit triggers an alert, else 0."""
        quiet = self.quiet_until.get(key)
        if quiet is not None and quiet - self.seconds <= t < quiet:  # not before the alert: times can go back
            return 0
        dq = self.hits.get(key)
        if dq is None:
            dq = deque(maxlen=self.threshold)
            self.hits[key] = dq
            if len(self.hits) > self.hits.max_keys:
                self.hits.popitem(last=False)
        else:
            self.hits.move_to_end(key)
        dq.append(t)
        if len(dq) >= self.threshold and t - dq[0] <= self.seconds:
            n = len(dq)
            dq.clear()
            self.quiet_until[key] = t + self.seconds
            if len(self.quiet_until) > self.quiet_until.max_keys:
                self.quiet_until.popitem(last=False)
            return n
        return 0

    def to_state(self) -> dict[str, Any]:
        """Plain lists in LRU order (oldest first), for `Detector.snapshot`."""
        return {"hits": [[k, list(dq)] for k, dq in self.hits.items()],
                "quiet": [[k, t] for k, t in self.quiet_until.items()]}

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the tables with `to_state`'s output; this window's own bounds (threshold, max_keys) apply."""
        self.hits.clear()
        self.quiet_until.clear()
        for k, ts in state["hits"]:
            self.hits[k] = deque((float(t) for t in ts), maxlen=self.threshold)
        for k, t in state["quiet"]:
            self.quiet_until[k] = float(t)
        self.hits.trim()
        self.quiet_until.trim()


class DistinctWindow:
    """`threshold` distinct values for one key within `seconds` → one alert, then quiet for a window."""

    def __init__(self, seconds: float, threshold: int, max_keys: int) -> None:
        self.seconds = seconds
        self.threshold = max(1, threshold)
        self.values: _Lru = _Lru(max_keys)
        self.quiet_until: dict[str, float] = {}

    def add(self, key: str, value: str, t: float) -> int:
        quiet = self.quiet_until.get(key)
        if quiet is not None:
            if quiet - self.seconds <= t < quiet:  # not before the alert: merged logs can go back in time
                return 0
            del self.quiet_until[key]
        seen = self.values.get(key)
        if seen is None:
            seen = {}
            self.values[key] = seen
            if len(self.values) > self.values.max_keys:
                self.values.popitem(last=False)
        else:
            self.values.move_to_end(key)
        seen[value] = t
        if len(seen) >= self.threshold:
            horizon = t - self.seconds
            for v in [v for v, ts in seen.items() if ts < horizon]:
                del seen[v]
            if len(seen) >= self.threshold:
                n = len(seen)
                seen.clear()
                self.quiet_until[key] = t + self.seconds
                if len(self.quiet_until) > self.values.max_keys:
                    self.quiet_until.pop(next(iter(self.quiet_until)))
                return n
        return 0

    def to_state(self) -> dict[str, Any]:
        return {"values": [[k, [[v, t] for v, t in seen.items()]] for k, seen in self.values.items()],
                "quiet": [[k, t] for k, t in self.quiet_until.items()]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.values.clear()
        self.quiet_until.clear()
        for k, pairs in state["values"]:
            self.values[k] = {v: float(t) for v, t in pairs}
        for k, t in state["quiet"]:
            self.quiet_until[k] = float(t)
        self.values.trim()
        while len(self.quiet_until) > self.values.max_keys:
            self.quiet_until.pop(next(iter(self.quiet_until)))


class FirstSeen:
    """New key, or new (key, value) pair, after a learning period of `learning_s` seconds of log time."""

    def __init__(self, learning_s: float, max_keys: int) -> None:
        self.learning_s = learning_s
        self.start: float | None = None
        self.keys: _Lru = _Lru(max_keys)

    def add(self, key: str, value: str, t: float) -> str:
        """'' when nothing is new (or still learning), else 'identity' or 'source'."""
        if self.start is None or t < self.start:
            # The learning period runs from the earliest time seen: an event from before the first one (logs
            # merged out of order) must not open it again, nor keep it open.
            self.start = t
        learning = t - self.start < self.learning_s
        values = self.keys.get(key)
        if values is None:
            values = _Lru(64)
            values[value] = True
            self.keys[key] = values
            if len(self.keys) > self.keys.max_keys:
                self.keys.popitem(last=False)
            return "" if learning else "identity"
        self.keys.move_to_end(key)
        if value in values:
            values.move_to_end(value)
            return ""
        values[value] = True
        if len(values) > values.max_keys:
            values.popitem(last=False)
        return "" if learning else "source"

    def to_state(self) -> dict[str, Any]:
        return {"start": self.start, "keys": [[k, list(values)] for k, values in self.keys.items()]}

    def load_state(self, state: dict[str, Any]) -> None:
        start = state["start"]
        self.start = None if start is None else float(start)
        self.keys.clear()
        for k, values in state["keys"]:
            lru = _Lru(64)
            for v in values:
                lru[v] = True
            lru.trim()
            self.keys[k] = lru
        self.keys.trim()
