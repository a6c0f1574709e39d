"""`--since` / `--until`: which events of a log a command looks at, and how many of those it read that was.

Why count: a review over a window that holds no event ("0 alerts") looks exactly like a clean one. Every
command that takes a time range reports "M of N events in the window", and treats M == 0 of N > 0 as
"nothing was evaluated" (exit 2), as it treats an empty input.

Times are compared as instants, not as text. Kubernetes writes audit times as `metav1.MicroTime`: RFC 3339
in UTC with six fractional digits and `Z` (27 characters). Other writers (cloud exports, v1beta1 `timestamp`,
hand-made logs) use offsets (`+14:00`), no fraction or nanoseconds, or a lower-case `t`/`z`; as text those
compare wrongly, and text such as `2026-13-45T99:99:99Z` or `not-a-time` used to fall inside any window.

* Fast path: a string of exactly the MicroTime shape whose date and time (the first 19 characters) have been
  validated once (consecutive events share their second; the validated prefixes are cached) is compared as
  text with bounds written in the same shape, which for that fixed shape is the same as comparing instants.
* Otherwise the time is parsed (`parse_instant`: RFC 3339 as Go's `time.RFC3339Nano` reads it, any number of
  fractional digits, kept to the nanosecond) and compared in nanoseconds since the epoch.
* With a time filter, an event whose time cannot be parsed, or is outside years 1-9999 UTC, is not placed in
  the window (it is not evaluated) and is counted as malformed, with the reason, so it is neither silently
  in every window nor silently dropped. An event without any time is kept (it cannot be placed outside the
  window). Without a filter no time is looked at.

`since` is inclusive, `until` exclusive.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubehipaa.engines.auditlog.event import AuditEvent

T = TypeVar("T")

NS_PER_S = 1_000_000_000
MAX_TIME_CHARS = 64
"""Longer text is not a time; it is not run through the parser (and never quoted in a message)."""
MAX_SAMPLES = 10
"""Reasons kept for events whose time could not be placed (all are counted)."""

_RFC3339 = r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
_NAIVE = r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
"""A bound written without an offset ('YYYY-MM-DDTHH:MM:SS', as `render_bound` writes them): UTC."""


_MICROTIME = (
    r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)
_ALL_MICROTIME = f"(?:{_MICROTIME}\n)*{_MICROTIME}"
"""A block's times joined by newlines, when all are valid MicroTimes (February 29 aside, which takes the
per-event path; year 0000 is caught by the block's minimum): one pass of the regex engine instead of a few
Python operations per event."""
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MIN_NS = -62135596800 * NS_PER_S  # 0001-01-01T00:00:00Z
_MAX_NS = 253402300800 * NS_PER_S - 1  # 9999-12-31T23:59:59.999999999Z


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """Patterns are compiled on first use: importing the audit engine (every `audit` command) stays cheap."""
    return re.compile(source, re.ASCII)


_VALID_SECONDS: dict[str, bool] = {}
"""'YYYY-MM-DDTHH:MM:SS' prefixes of MicroTime-shaped times already validated (bounded, see `_remember`)."""


class TimeParseError(ValueError):
    """Text that is not an RFC 3339 time; the message says why, without quoting the text."""


def parse_instant(text: str) -> int:
    """RFC 3339 → nanoseconds since the Unix epoch (UTC).

    As Go's `time.Parse(time.RFC3339Nano, ...)` (what `metav1.Time`/`MicroTime` use) accepts it: `T` or `t`,
    `Z`, `z` or a `±HH:MM` offset, a fraction of any length (digits beyond the nanosecond are dropped);
    fields must be in range (month 1-12, the day valid in its month, hour 0-23, minute and second 0-59,
    offset below 24 h) and the instant within years 1-9999 UTC.
    """
    if len(text) > MAX_TIME_CHARS:
        raise TimeParseError(f"not an RFC 3339 time ({len(text)} characters)")
    m = _pattern(_RFC3339).fullmatch(text)
    if m is None:
        raise TimeParseError("not an RFC 3339 time")
    ns = _fields_ns(m)
    if m.group(9):  # offset: local time = UTC + offset
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise TimeParseError(f"offset {m.group(9)}{m.group(10)}:{m.group(11)} out of range")
        offset = (oh * 3600 + om * 60) * NS_PER_S
        ns = ns - offset if m.group(9) == "+" else ns + offset
    if not _MIN_NS <= ns <= _MAX_NS:
        raise TimeParseError("outside years 1-9999 UTC")
    return ns


def _fields_ns(m: re.Match[str]) -> int:
    """Nanoseconds since the epoch of the date, time and fraction groups (1-7) of a match, as UTC."""
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hour, minute, second = int(m.group(4)), int(m.group(5)), int(m.group(6))
    if not 1 <= month <= 12:
        raise TimeParseError(f"month {month} out of range")
    if not 1 <= day <= _days_in_month(year, month):
        raise TimeParseError(f"day {day} out of range for {year:04d}-{month:02d}")
    if hour > 23:
        raise TimeParseError(f"hour {hour} out of range")
    if minute > 59:
        raise TimeParseError(f"minute {minute} out of range")
    if second > 59:
        raise TimeParseError(f"second {second} out of range")
    frac = m.group(7) or ""
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds * NS_PER_S + nanos


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's algorithm; any year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def format_instant(ns: int, *, micro: bool = True) -> str:
    """ns since the epoch → 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (MicroTime's shape; `micro=False`: the 9-digit
    nanosecond fraction). Years 1-9999 only."""
    seconds, nanos = divmod(ns, NS_PER_S)
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    frac = f"{nanos // 1000:06d}" if micro else f"{nanos:09d}"
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{frac}Z")  # not strftime: %Y does not pad years before 1000


def sort_key(text: str) -> tuple[int, str]:
    """Orders event times as instants: (0, MicroTime text in UTC) for a valid time, (1, text) after them for
    one that cannot be parsed. A MicroTime sorts as itself, without parsing."""
    if len(text) == 27 and text[26] == "Z" and text[19] == "." and text[:19] in _VALID_SECONDS:
        return 0, text
    try:
        return 0, format_instant(parse_instant(text))
    except TimeParseError:
        return 1, text


def parse_bound(text: str) -> int:
    """A bound as `TimeRange` is given it: RFC 3339, or 'YYYY-MM-DDTHH:MM:SS[.fraction]' without an offset
    (UTC, the form `render_bound` writes) → ns since the epoch."""
    m = _pattern(_NAIVE).fullmatch(text)
    if m is not None:
        ns = _fields_ns(m)
        if not _MIN_NS <= ns <= _MAX_NS:
            raise TimeParseError("outside years 1-9999 UTC")
        return ns
    return parse_instant(text)


def render_bound(ns: int) -> str:
    """'YYYY-MM-DDTHH:MM:SS' (UTC), with the fraction only when there is one (trailing zeros dropped)."""
    text = format_instant(ns, micro=False)[:-1]
    head, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{head}.{frac}" if frac else head


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def resolve_bound(text: str, now: dt.datetime, option: str = "--since") -> str:
    """`24h`, `30m`, `7d` (before `now`), an RFC 3339 time (offsets and nanoseconds kept) or another ISO 8601
    date/time (`2026-11-01`; UTC when it has no offset) → the bound as `render_bound` writes it.

    Raises ValueError with a one-line message naming `option`.
    """
    stripped = text.strip()
    m = _DURATION.match(stripped)
    if m:
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
        now_ns = _datetime_ns(now)
        ns = now_ns - seconds * NS_PER_S
        if ns < _MIN_NS:
            raise ValueError(f"{option} {text!r}: too far back (before year 1)")
        return render_bound(ns)
    try:
        return render_bound(parse_instant(stripped))
    except TimeParseError as exc:
        rfc_error: TimeParseError | None = exc if _pattern(_RFC3339).fullmatch(stripped) else None
    if rfc_error is not None:  # RFC 3339 in shape, but a field is out of range: say which
        raise ValueError(f"{option} {text!r}: {rfc_error}") from None
    try:
        moment = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected a duration like 24h, 30m, 7d or an RFC 3339 time") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    ns = _datetime_ns(moment)
    if not _MIN_NS <= ns <= _MAX_NS:
        raise ValueError(f"{option} {text!r}: outside years 1-9999 UTC")
    return render_bound(ns)


def _datetime_ns(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def _remember(head: str) -> None:
    if len(_VALID_SECONDS) >= 4096:
        _VALID_SECONDS.clear()
    _VALID_SECONDS[head] = True


def _ceil_micro_key(ns: int) -> str:
    """The MicroTime-shaped text of the first microsecond at or after `ns`: a MicroTime is at or after `ns`
    exactly when its text is at or after this one."""
    return format_instant(-(-ns // 1000) * 1000)


@dataclass(slots=True)
class TimeRange:
    since: str | None = None
    """Lower bound (inclusive): RFC 3339, or 'YYYY-MM-DDTHH:MM:SS[.fraction]' meaning UTC."""
    until: str | None = None
    """Upper bound (exclusive), likewise."""
    read: int = 0
    """Events offered to `select`/`contains`."""
    kept: int = 0
    """Of those, events inside the window."""
    first: str = ""
    last: str = ""
    """Earliest and latest event time seen (whether kept or not), as written in the log: tells the user
    where the log actually is."""
    malformed: int = 0
    """Events whose time could not be placed (unparsable, or outside years 1-9999): neither kept nor evaluated."""
    malformed_samples: list[str] = field(default_factory=list)
    """Why, for the first MAX_SAMPLES of them (auditID and field, never the text)."""
    _since_ns: int | None = field(default=None, repr=False)
    _until_ns: int | None = field(default=None, repr=False)
    _since_key: str = field(default="", repr=False)
    _until_key: str = field(default="", repr=False)
    _first_key: str = field(default="", repr=False)
    _last_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.since is not None:
            self._since_ns = parse_bound(self.since)
            self._since_key = _ceil_micro_key(self._since_ns)
        if self.until is not None:
            self._until_ns = parse_bound(self.until)
            self._until_key = _ceil_micro_key(self._until_ns)

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def spans_no_time(self) -> bool:
        """Both bounds given and `until` not after `since`: no event can be in the window."""
        return self._since_ns is not None and self._until_ns is not None and self._until_ns <= self._since_ns

    def contains(self, ev: AuditEvent) -> bool:
        """Whether `ev` is in the window; counts it (an unplaceable time counts as malformed: not in it).
        Without bounds every event is in it and no time is looked at."""
        self.read += 1
        if self._since_ns is None and self._until_ns is None:
            self.kept += 1
            return True
        t = ev.requestReceivedTimestamp or ev.timestamp
        if t:
            if (len(t) == 27 and t[26] == "Z" and t[19] == "." and t.isascii() and t[20:26].isdigit()
                    and t[:19] in _VALID_SECONDS):
                key = t
                if not self._first_key or key < self._first_key:
                    self._first_key, self.first = key, t
                if key > self._last_key:
                    self._last_key, self.last = key, t
                if (self._since_key and key < self._since_key) or (self._until_key and key >= self._until_key):
                    return False
            elif not self._slow(ev, t):
                return False
        self.kept += 1
        return True

    def _slow(self, ev: AuditEvent, t: str) -> bool:
        """`contains` for a time not of the validated MicroTime shape: parsed, compared in nanoseconds."""
        try:
            ns = parse_instant(t)
        except TimeParseError as exc:
            self.malformed += 1
            if len(self.malformed_samples) < MAX_SAMPLES:
                where = "requestReceivedTimestamp" if ev.requestReceivedTimestamp else "timestamp"
                self.malformed_samples.append(f"auditID {ev.auditID or '(none)'}: {where}: {exc}")
            return False
        if len(t) == 27 and t[10] == "T" and t[26] == "Z":  # MicroTime shape: its second is valid from now on
            key = t
            _remember(t[:19])
        else:
            key = format_instant(ns)
        if not self._first_key or key < self._first_key:
            self._first_key, self.first = key, t
        if key > self._last_key:
            self._last_key, self.last = key, t
        return not ((self._since_ns is not None and ns < self._since_ns)
                    or (self._until_ns is not None and ns >= self._until_ns))

    def select(self, batch: list[AuditEvent]) -> list[AuditEvent]:
        """The events of `batch` in the window (the batch itself when the range is unbounded)."""
        if not self.bounded:
            self.read += len(batch)
            self.kept += len(batch)
            return batch
        times = self._block_times(batch)
        if times is None:
            contains = self.contains
            return [ev for ev in batch if contains(ev)]
        since, until = self._since_key, self._until_key or "~"
        kept = [ev for ev, t in zip(batch, times, strict=True) if since <= t < until]
        self.kept += len(kept)
        return kept

    def select_pairs(self, batch: list[AuditEvent], extra: list[T]) -> tuple[list[AuditEvent], list[T]]:
        """`select`, keeping a list aligned with the batch (each event's raw line) aligned."""
        if not self.bounded:
            return self.select(batch), extra
        times = self._block_times(batch)
        if times is None:
            pairs = [(ev, x) for ev, x in zip(batch, extra, strict=True) if self.contains(ev)]
        else:
            since, until = self._since_key, self._until_key or "~"
            pairs = [(ev, x) for ev, x, t in zip(batch, extra, times, strict=True) if since <= t < until]
            self.kept += len(pairs)
        return [ev for ev, _ in pairs], [x for _, x in pairs]

    def _block_times(self, batch: list[AuditEvent]) -> list[str] | None:
        """The block's times when every one is a valid MicroTime (then `read`, `first` and `last` are updated
        and the caller compares them as text); None sends the block through `contains`, event by event."""
        if not batch:
            return None
        times = [ev.requestReceivedTimestamp or ev.timestamp or "" for ev in batch]
        if _pattern(_ALL_MICROTIME).fullmatch("\n".join(times)) is None:
            return None
        lo, hi = min(times), max(times)
        if lo.startswith("0000"):  # before year 1: the per-event path counts it as malformed
            return None
        self.read += len(times)
        if not self._first_key or lo < self._first_key:
            self._first_key = self.first = lo
        if hi > self._last_key:
            self._last_key = self.last = hi
        return times

    def merge(self, later: TimeRange) -> None:
        """Add the counts of `later`, a range with the same bounds that saw the events after this one's
        (`audit analyze --jobs`: one range per piece of the log): as if this range had seen them too."""
        self.read += later.read
        self.kept += later.kept
        self.malformed += later.malformed
        room = MAX_SAMPLES - len(self.malformed_samples)
        if room > 0:
            self.malformed_samples.extend(later.malformed_samples[:room])
        if later._first_key and (not self._first_key or later._first_key < self._first_key):
            self._first_key, self.first = later._first_key, later.first
        if later._last_key > self._last_key:
            self._last_key, self.last = later._last_key, later.last

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
        bad = f"; {self.malformed} with a malformed time, not placed" if self.malformed else ""
        return f"{self.kept} of {self.read} events in the window ({self.describe()}){bad}"

    def malformed_warning(self) -> str | None:
        """One line about the events whose time could not be placed, or None."""
        if not self.malformed:
            return None
        return (f"{self.malformed} event(s) with a malformed time were not placed in the --since/--until window "
                f"and not evaluated (first: {self.malformed_samples[0]})")

    def empty_reason(self) -> str | None:
        """Why nothing was evaluated, when events were read but none is in the window; else None."""
        if not self.bounded or self.kept or not self.read:
            return None
        where = f"; the log's events are from {self.first} to {self.last}" if self.first else ""
        return f"{self.summary()}: nothing was evaluated{where}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"since": self.since, "until": self.until, "eventsRead": self.read,
                               "eventsInWindow": self.kept}
        if self.malformed:  # only then: the shape of reports over well-formed logs is unchanged
            out["malformedTimes"] = self.malformed
            out["malformedTimeSamples"] = list(self.malformed_samples)
        return out
