"""`--since` / `--until`: which events of a log a command looks at, and how many of those it read that was.

Why count: a review over a window that holds no event ("0 alerts") looks exactly like a clean one. Every
command that takes a time range reports "M of N events in the window", and treats M == 0 of N > 0 as
"nothing was evaluated" (exit 2), as it treats an empty input.

Bounds are UTC 'YYYY-MM-DDTHH:MM:SS' strings compared with the events' RFC 3339 UTC times as strings (no
per-event parsing): `since` is inclusive, `until` exclusive. An event without a time is kept (it cannot be
placed outside the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from kubehipaa.engines.auditlog.event import AuditEvent

T = TypeVar("T")


@dataclass(slots=True)
class TimeRange:
    since: str | None = None
    until: str | None = None
    read: int = 0
    """Events offered to `select`/`contains`."""
    kept: int = 0
    """Of those, events inside the window."""
    first: str = ""
    last: str = ""
    """Earliest and latest event time seen (whether kept or not): tells the user where the log actually is."""

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, ev: AuditEvent) -> bool:
        """Whether `ev` is in the window; counts it."""
        self.read += 1
        t = ev.requestReceivedTimestamp or ev.timestamp
        if t:
            if not self.first or t < self.first:
                self.first = t
            if t > self.last:
                self.last = t
            if (self.since is not None and t < self.since) or (self.until is not None and t >= self.until):
                return False
        self.kept += 1
        return True

    def select(self, batch: list[AuditEvent]) -> list[AuditEvent]:
        """The events of `batch` in the window (the batch itself when the range is unbounded)."""
        if not self.bounded:
            self.read += len(batch)
            self.kept += len(batch)
            return batch
        return [ev for ev in batch if self.contains(ev)]

    def select_pairs(self, batch: list[AuditEvent], extra: list[T]) -> tuple[list[AuditEvent], list[T]]:
        """`select`, keeping a list aligned with the batch (each event's raw line) aligned."""
        if not self.bounded:
            return self.select(batch), extra
        kept = [(ev, x) for ev, x in zip(batch, extra, strict=True) if self.contains(ev)]
        return [ev for ev, _ in kept], [x for _, x in kept]

    def describe(self) -> str:
        """'since X', 'before Y' or 'from X to before Y' (UTC)."""
        if self.since is not None and self.until is not None:
            return f"from {self.since}Z to before {self.until}Z"
        if self.since is not None:
            return f"since {self.since}Z"
        if self.until is not None:
            return f"before {self.until}Z"
        return "whole log"

    def summary(self) -> str:
        """'M of N events in the window (since X)', the line every report carries."""
        return f"{self.kept} of {self.read} events in the window ({self.describe()})"

    def empty_reason(self) -> str | None:
        """Why nothing was evaluated, when events were read but none is in the window; else None."""
        if not self.bounded or self.kept or not self.read:
            return None
        where = f"; the log's events are from {self.first} to {self.last}" if self.first else ""
        return f"{self.summary()}: nothing was evaluated{where}"

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "eventsRead": self.read, "eventsInWindow": self.kept}
