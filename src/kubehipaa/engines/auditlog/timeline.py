"""Who did what, when, from where: a filtered, chronological view of audit events.

Pure: events in, entries out. One entry per request: a later stage of the same request replaces the earlier
one, so the entry shows the final outcome. A request is its auditID and its `request_signature` (verb,
requestURI, user, request time), as in the detector: clients can set the Audit-ID header, so different
requests that share an auditID each get their own entry and their own alerts. The number of entries kept is
bounded by `limit` (oldest kept; `truncated` says when more matched).

An entry never carries a secret or PHI out: its command and request URI are redacted when the entry is made
(`redact_argv`, `redact_uri`: the query string and the application path behind `/proxy/` are masked), and every
other event-derived string when the entry is serialized (`TimelineEntry.to_dict`, which every renderer uses).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubehipaa.engines.auditlog.event import AuditEvent, request_signature
from kubehipaa.engines.auditlog.timerange import TimeRange, sort_key
from kubehipaa.redaction import redact_argv, redact_text, redact_uri

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.detector import Alert
    from kubehipaa.engines.auditlog.incidents import IncidentSet


@dataclass(slots=True)
class TimelineFilter:
    """Empty fields match everything; `user` may be a glob and also matches the impersonated user."""

    user: str | None = None
    namespace: str | None = None
    resource: str | None = None
    verb: str | None = None
    since: str | None = None
    """Lower bound on the event time ('YYYY-MM-DDTHH:MM:SS' UTC, inclusive); applied by `Timeline` through
    its `TimeRange`, which also counts the events in the window."""
    until: str | None = None
    """Upper bound (exclusive), likewise."""

    def matches(self, ev: AuditEvent) -> bool:
        """The non-time filters (user, namespace, resource, verb)."""
        if self.user is not None:
            names = (ev.username, ev.impersonated_username)
            if "*" in self.user or "?" in self.user:
                if not any(n and fnmatch.fnmatchcase(n, self.user) for n in names):
                    return False
            elif self.user not in names:
                return False
        if self.namespace is not None and ev.namespace != self.namespace:
            return False
        if self.resource is not None:
            res = ev.resource
            full = f"{res}/{ev.subresource}" if ev.subresource else res
            if self.resource not in (res, full):
                return False
        return not (self.verb is not None and ev.verb != self.verb)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("user", "namespace", "resource", "verb", "since", "until")
                if getattr(self, k) is not None}


@dataclass(slots=True)
class TimelineEntry:
    time: str
    user: str
    impersonated: str
    verb: str
    resource: str
    namespace: str
    name: str
    outcome: str
    code: int
    source_ip: str
    user_agent: str
    audit_id: str
    request_uri: str
    command: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    """Ids of the incidents (`audit analyze`'s, same log and window) the request's alerts are in."""

    @property
    def object(self) -> str:
        target = "/".join(p for p in (self.namespace, self.name) if p)
        return f"{self.resource} {target}".strip() if self.resource else self.request_uri

    def to_dict(self) -> dict[str, Any]:
        """The entry as report data: the only way an entry leaves the process, so every string taken from the
        event (user agent, names, auditID...) is redacted here."""
        r = redact_text
        return {
            "time": r(self.time), "user": r(self.user), "impersonatedUser": r(self.impersonated) or None,
            "verb": r(self.verb), "resource": r(self.resource), "namespace": r(self.namespace),
            "name": r(self.name), "object": r(self.object), "outcome": self.outcome, "code": self.code,
            "sourceIP": r(self.source_ip), "userAgent": r(self.user_agent), "auditID": r(self.audit_id),
            "requestURI": r(self.request_uri), "command": [r(c) for c in self.command] or None,
            "alerts": self.alerts, "incidents": self.incidents,
        }


class Timeline:
    def __init__(self, flt: TimelineFilter, limit: int = 10_000) -> None:
        self.filter = flt
        self.limit = limit
        self.truncated = False
        self.matched = 0
        self.window = TimeRange(flt.since, flt.until)
        """Events offered to `add` and how many of them fall in the --since/--until window."""
        self._by_request: dict[tuple[str, int], TimelineEntry] = {}
        self._anon: list[TimelineEntry] = []
        self._noted: list[tuple[TimelineEntry, Alert]] = []
        """(entry, alert) for every alert shown on an entry: `link_incidents` names the alert's incident."""
        self._latest: dict[str, tuple[str, int]] = {}
        """auditID -> the request (key of `_by_request`) last added under it: where an alert that does not
        say which request it is about (a hook's) is noted."""

    def add(self, ev: AuditEvent) -> bool:
        """Take one event; False when it lies outside the --since/--until window (the caller then does not
        run detections on it either, so the timeline's alerts are those `audit analyze` gives the window)."""
        if not self.window.contains(ev):
            return False
        if not self.filter.matches(ev):
            return True
        aid = ev.auditID
        key = (aid, request_signature(ev)) if aid else None
        if key is not None:
            prior = self._by_request.get(key)
            if prior is not None:
                if ev.stage != "RequestReceived":
                    later = self._by_request[key] = _entry(ev, prior.alerts)
                    later.incidents = prior.incidents  # shared, as `alerts`: `link_incidents` fills it later
                return True
        self.matched += 1
        if len(self._by_request) + len(self._anon) >= self.limit:
            self.truncated = True
            return True
        entry = _entry(ev, [])
        if key is not None:
            self._by_request[key] = entry
            self._latest[key[0]] = key
        else:
            self._anon.append(entry)
        return True

    def note_alert(self, alert: Alert) -> None:
        """Show `alert` on the row of the request it is about (its auditID and request signature)."""
        aid = alert.audit_id
        if not aid:
            return
        key = (aid, alert.request) if alert.request is not None else self._latest.get(aid)
        entry = self._by_request.get(key) if key is not None else None
        if entry is not None:
            if alert.rule_id not in entry.alerts:
                entry.alerts.append(alert.rule_id)
            self._noted.append((entry, alert))

    def link_incidents(self, incidents: IncidentSet) -> None:
        """Name, on each entry, the incidents its alerts are in (`incidents` built over the alerts given to
        `note_alert`, and any others of the run)."""
        for entry, alert in self._noted:
            for inc in incidents.of(alert):
                if inc.id not in entry.incidents:
                    entry.incidents.append(inc.id)

    def entries(self) -> list[TimelineEntry]:
        out = list(self._by_request.values()) + self._anon
        out.sort(key=lambda e: sort_key(e.time))  # as instants: `+14:00` and `Z` times interleave correctly
        return out


def _entry(ev: AuditEvent, alerts: list[str]) -> TimelineEntry:
    res = ev.resource
    if ev.subresource:
        res = f"{res}/{ev.subresource}"
    cmd = redact_argv(ev.exec_command) if ev.subresource in ("exec", "attach") else []
    uri = redact_uri(ev.requestURI or "")
    return TimelineEntry(
        time=ev.time, user=ev.username, impersonated=ev.impersonated_username, verb=ev.verb or "",
        resource=res, namespace=ev.namespace, name=ev.name, outcome=ev.outcome, code=ev.code,
        source_ip=ev.source_ip, user_agent=ev.user_agent, audit_id=ev.auditID or "", request_uri=uri,
        command=cmd, alerts=alerts,
    )
