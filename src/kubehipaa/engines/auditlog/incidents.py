"""Group a run's alerts into incidents and rank them by risk: what a security team triages instead of a flood.

Pure: a list of alerts in, incidents out (no I/O, no clock). It works on the final alert list of a run, whatever
produced it (one detector, parallel jobs, a replay), so `audit analyze`, `audit timeline` and any other consumer
that groups the same alerts gets the same incidents with the same ids.

Two kinds of incident (docs/audit-log.md, "Incidents"):

- identity: every alert raised by one acting identity (the authenticated user; when it acted through
  impersonation, the incident also names whom it impersonated). Every alert is in exactly one identity incident.
- target: alerts on one named object (a secret, webhook, binding, pod...) within the gap, when two or more
  identities acted on it and one of them changed or deleted it (an object modified after others read it, a
  webhook or binding touched by several hands), or when five or more did whatever they did. Such an
  alert is in its identity incident too (a target incident is a second view of the same alerts, so that an
  attacker's one read of a busy secret is neither hidden in the secret's incident nor missing from theirs).
  Only per-event alerts qualify: a windowed alert (a burst, a count) names the object of the event that
  completed the window, which says nothing about a target; first-seen alerts are per event and do.

An incident is a session: alerts of the same key whose times are at most `gap` seconds apart (default one hour)
belong together; a longer quiet period starts a new incident. Alerts are sorted by (key, time) once: O(n log n)
time and O(n) memory in the number of alerts.

Risk (`rule_scores`, `breadth`): for each rule r in the incident, with k alerts in the incident and n alerts
in the whole run,

    score_r = WEIGHT[severity_r] * (1 + log10(k)) * (1 + 1/sqrt(n))
    risk    = sum_r score_r * (1 + 0.1 * min(namespaces - 1, 10)) * (1 + 0.5 * min(PHI namespaces, 2))

Why: severity dominates (each level weighs four times the one below, so one critical outweighs a thousand
alerts of a medium rule: 64 vs 4 * 4); volume counts with diminishing returns (ten thousand lease failures are
one noisy story, not ten thousand); a rule that fires once in the run doubles its weight and one firing thousands
of times adds almost nothing (rarity); an incident that spans namespaces, and above all PHI namespaces, is
worse (breadth). Several rules in one incident add up: an attack chain (read secrets, exec, bind cluster-admin)
ranks above any one of its steps.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.auditlog.catalog import RULES_BY_ID
from kubehipaa.engines.auditlog.detector import Alert
from kubehipaa.engines.auditlog.windows import EventClock
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_text

DEFAULT_GAP = 3600.0
"""Seconds of quiet after which the next alert of the same identity (or target) starts a new incident."""
MIN_TARGET_IDENTITIES = 2
"""Distinct identities whose alerts must name one object (within the gap), one of them changing or deleting
it, to make it a target incident."""
MANY_IDENTITIES = 5
"""Distinct identities whose alerts name one object (within the gap) that make a target incident whatever they
did (reads included): four people reading a secret is routine work, five or more is a pattern worth a look."""

WEIGHT = {Severity.LOW: 1.0, Severity.MEDIUM: 4.0, Severity.HIGH: 16.0, Severity.CRITICAL: 64.0}
"""Weight of one alert per severity: four times the level below."""
NAMESPACE_STEP, NAMESPACE_CAP = 0.1, 10
"""Breadth: each namespace beyond the first adds 10%, up to +100%."""
PHI_STEP, PHI_CAP = 0.5, 2
"""Breadth: each PHI namespace touched adds 50%, up to +100%."""

IDENTITY, TARGET = "identity", "target"
MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(slots=True)
class RuleScore:
    """One rule's share of an incident's risk (the JSON `riskFactors.rules`)."""

    rule_id: str
    severity: Severity
    alerts: int
    """Alerts of the rule in the incident."""
    in_run: int
    """Alerts of the rule in the whole run (rarity)."""
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"ruleId": self.rule_id, "severity": self.severity.label, "alerts": self.alerts,
                "alertsInRun": self.in_run, "weight": WEIGHT[self.severity],
                "volume": round(_volume(self.alerts), 3), "rarity": round(_rarity(self.in_run), 3),
                "score": round(self.score, 2)}


@dataclass(slots=True)
class Incident:
    """A group of alerts with one story: one identity's activity, or many identities on one object."""

    id: str
    kind: str
    """`identity` or `target`."""
    key: str
    """The acting identity (user name), or the target object (`secrets clinical/db`)."""
    alerts: list[Alert]
    """In the order of the run's alert list (log order)."""
    first: str
    """Time of the earliest alert, as logged."""
    last: str
    """Time of the latest alert, as logged."""
    seconds: float
    """From the earliest to the latest alert (whole seconds)."""
    start: float
    """The earliest alert's time, seconds since the epoch (ranking ties: the earlier incident first)."""
    risk: float
    rules: list[RuleScore]
    """Per rule, riskiest first (the first is the incident's top rule)."""
    identities: list[str]
    """Acting identities (one for an identity incident), most alerts first."""
    impersonated: list[str]
    """Whom the identities impersonated in these alerts (empty when no alert was made through impersonation)."""
    namespaces: list[str]
    phi_namespaces: list[str]
    targets: list[str] = field(default_factory=list)
    """Named objects of the alerts (a target incident: its one object), most alerts first, at most 10."""
    breadth: float = 1.0

    @property
    def max_severity(self) -> Severity:
        return max(r.severity for r in self.rules)

    @property
    def top_rule(self) -> RuleScore:
        return self.rules[0]

    def to_dict(self, alert_id: Callable[[Alert], str] | None = None) -> dict[str, Any]:
        """The incident as report data; `alert_id` gives each alert's id as the report lists it (`alertIds`;
        None: no list, for a renderer that shows only the incident). Every string taken from the log is
        redacted here, as in `Alert.to_dict`."""
        r = redact_text
        top = self.top_rule
        d = {
            "id": self.id, "kind": self.kind, "key": r(self.key), "risk": round(self.risk, 1),
            "maxSeverity": self.max_severity.label, "topRule": top.rule_id,
            "firstTime": r(self.first), "lastTime": r(self.last), "durationSeconds": int(self.seconds),
            "alertCount": len(self.alerts),
            "identities": [r(u) for u in self.identities], "impersonated": [r(u) for u in self.impersonated],
            "namespaces": [r(n) for n in self.namespaces], "phiNamespaces": [r(n) for n in self.phi_namespaces],
            "targets": [r(t) for t in self.targets],
            "rules": [s.rule_id for s in self.rules],
            "riskFactors": {"rules": [s.to_dict() for s in self.rules], "namespaces": len(self.namespaces),
                            "phiNamespaces": len(self.phi_namespaces), "breadth": round(self.breadth, 3)},
        }
        if alert_id is not None:
            d["alertIds"] = [alert_id(a) for a in self.alerts]
        return d


@dataclass(slots=True)
class IncidentSet:
    """A run's incidents, riskiest first, and how to find the incidents of an alert."""

    incidents: list[Incident]
    gap: float
    phi_namespaces: frozenset[str]
    _of: dict[int, list[Incident]] | None = field(default=None, repr=False)

    def of(self, alert: Alert) -> list[Incident]:
        """The incidents `alert` is in (its identity incident first; a target incident after it, if any).
        The index is built on first use (the JSON report never needs it)."""
        if self._of is None:
            of: dict[int, list[Incident]] = {}
            for inc in sorted(self.incidents, key=lambda inc: inc.kind != IDENTITY):
                for a in inc.alerts:
                    of.setdefault(id(a), []).append(inc)
            self._of = of
        return self._of.get(id(alert), [])

    def __len__(self) -> int:
        return len(self.incidents)

    def __iter__(self) -> Iterator[Incident]:
        return iter(self.incidents)


def _volume(k: int) -> float:
    return 1.0 + math.log10(k)


def _rarity(n: int) -> float:
    return 1.0 + 1.0 / math.sqrt(max(n, 1))


def breadth(namespaces: int, phi: int) -> float:
    """The breadth multiplier of an incident touching `namespaces` namespaces, `phi` of them PHI."""
    return ((1.0 + NAMESPACE_STEP * min(max(namespaces - 1, 0), NAMESPACE_CAP))
            * (1.0 + PHI_STEP * min(phi, PHI_CAP)))


def rule_scores(rules: Mapping[str, tuple[int, Severity]], rule_counts: Mapping[str, int]) -> list[RuleScore]:
    """Each rule's share of the risk (module doc), riskiest first: `rules` maps a rule id to (alerts of it in
    the incident, its severity); `rule_counts` to its alerts in the whole run."""
    scores = []
    for rid, (k, sev) in rules.items():
        n = max(rule_counts.get(rid, k), k)
        scores.append(RuleScore(rid, sev, k, n, WEIGHT[sev] * _volume(k) * _rarity(n)))
    if len(scores) > 1:
        scores.sort(key=lambda s: (-int(s.severity), -s.score, s.rule_id))
    return scores


def target_of(alert: Alert) -> str | None:
    """The named object an alert is about, subresource dropped (`pods/exec clinical/ehr-0` and
    `pods clinical/ehr-0` are one pod), or None: a collection (`secrets clinical`), a non-resource URL, or a
    windowed alert (whose object is only the last of a burst)."""
    return _object_key(alert.object, alert.namespace) if _per_event(alert.rule_id, alert.count) else None


def _per_event(rule_id: str, count: int) -> bool:
    """Whether an alert of `rule_id` is about its own event (not a window's count over many)."""
    rule = RULES_BY_ID.get(rule_id)
    if rule is None:
        return count <= 1  # a Sigma rule: a correlation counts many events
    return rule.window is None or rule.window.mode == "first_seen"


def _object_key(obj: str, namespace: str) -> str | None:
    resource, _, where = obj.partition(" ")
    if not where or resource.startswith("/"):
        return None
    if namespace:
        ns, slash, name = where.partition("/")
        if not slash or not name or ns != namespace:
            return None  # `secrets clinical`: a list in a namespace, no one object
    return resource.partition("/")[0] + " " + where


def identity_of(alert: Alert) -> str:
    """The acting identity: the authenticated user (the impersonator, when impersonating), or where a
    request without any user came from."""
    return alert.user or f"(no user) {alert.source_ip or '?'}"


def is_target_story(alerts: Sequence[Alert], identities: Collection[str]) -> bool:
    """Whether alerts naming one object within the gap make a target incident: two or more identities and
    one of them changed or deleted it (an object modified after others read it, a webhook or binding touched
    by several hands), or `MANY_IDENTITIES` identities whatever they did."""
    if len(identities) >= MANY_IDENTITIES:
        return True
    return len(identities) >= MIN_TARGET_IDENTITIES and any(a.verb in MUTATING_VERBS for a in alerts)


def build_incidents(alerts: Sequence[Alert], *, phi_namespaces: Collection[str] = (), gap: float = DEFAULT_GAP,
                    rule_counts: Mapping[str, int] | None = None) -> IncidentSet:
    """Group `alerts` (the run's final list, in log order) into incidents, riskiest first.

    `rule_counts`: alerts per rule in the whole run, for rarity (default: counted from `alerts`; pass the
    collector's counts when a `--keep` cap left alerts out of the list). An alert whose time cannot be parsed
    is placed at the time of the alert before it, as the detector's windows place such events.
    """
    if not gap >= 0:
        raise ValueError(f"incident gap must be a number of seconds, at least 0, not {gap}")
    phi = frozenset(phi_namespaces)
    counts: Mapping[str, int] = rule_counts if rule_counts is not None else Counter(a.rule_id for a in alerts)
    clock = EventClock()
    times = [clock.at(a.time) for a in alerts]
    who: list[str] = []
    what: list[str | None] = []
    by_identity: dict[str, list[int]] = {}
    by_target: dict[str, list[int]] = {}
    per_event: dict[tuple[str, bool], bool] = {}
    objects: dict[tuple[str, str], str | None] = {}
    for i, a in enumerate(alerts):
        u = a.user or identity_of(a)
        who.append(u)
        lst = by_identity.get(u)
        if lst is None:
            by_identity[u] = [i]
        else:
            lst.append(i)
        pk = (a.rule_id, a.count <= 1)
        pe = per_event.get(pk)
        if pe is None:
            pe = per_event[pk] = _per_event(a.rule_id, a.count)
        t: str | None = None
        if pe:
            ok = (a.object, a.namespace)
            if ok in objects:
                t = objects[ok]
            else:
                t = objects[ok] = _object_key(*ok)
            if t is not None:
                lst = by_target.get(t)
                if lst is None:
                    by_target[t] = [i]
                else:
                    lst.append(i)
        what.append(t)
    ctx = _Context(alerts, times, who, what, counts, phi)
    incidents: list[Incident] = []
    for key, idx in by_identity.items():
        for session in _sessions(idx, times, gap):
            incidents.append(ctx.incident(IDENTITY, key, session))
    for key, idx in by_target.items():
        if len(idx) < MIN_TARGET_IDENTITIES:
            continue
        for session in _sessions(idx, times, gap):
            users = {who[i] for i in session}
            if is_target_story([alerts[i] for i in session], users):
                incidents.append(ctx.incident(TARGET, key, session))
    incidents.sort(key=lambda inc: (-inc.risk, -int(inc.max_severity), inc.start, inc.kind, inc.id))
    _unique_ids(incidents)
    return IncidentSet(incidents, gap, phi)


def _sessions(idx: list[int], times: list[float], gap: float) -> list[list[int]]:
    """`idx` (alert positions, ascending) split where consecutive times (sorted) are more than `gap` apart;
    each session listed in log order."""
    order = sorted(idx, key=times.__getitem__)  # stable: log order within one second
    sessions: list[list[int]] = []
    cur = [order[0]]
    prev = times[order[0]]
    for i in order[1:]:
        t = times[i]
        if t - prev > gap:
            sessions.append(cur)
            cur = []
        cur.append(i)
        prev = t
    sessions.append(cur)
    if len(sessions) == 1:
        return [idx]  # one session: `idx` is already in log order
    for s in sessions:
        s.sort()
    return sessions


@dataclass(slots=True)
class _Context:
    """What every incident of one run is built from: the alerts and, per position, time, identity, target."""

    alerts: Sequence[Alert]
    times: list[float]
    who: list[str]
    what: list[str | None]
    counts: Mapping[str, int]
    phi: frozenset[str]
    redacted: dict[str, str] = field(default_factory=dict)
    """Keys as they are hashed into incident ids (redacted once per key)."""

    def incident(self, kind: str, key: str, session: list[int]) -> Incident:
        """The incident of the alerts at positions `session` (ascending): one pass over them."""
        alerts, times, who, what = self.alerts, self.times, self.who, self.what
        rules: dict[str, tuple[int, Severity]] = {}
        namespaces: set[str] = set()
        users: dict[str, int] = {}
        impersonated: set[str] = set()
        targets: dict[str, int] = {}
        first_i = last_i = session[0]
        t_first = t_last = times[first_i]
        for i in session:
            a = alerts[i]
            rid = a.rule_id
            r = rules.get(rid)
            rules[rid] = (1, a.severity) if r is None else (r[0] + 1, max(r[1], a.severity))
            if a.namespace:
                namespaces.add(a.namespace)
            u = who[i]
            users[u] = users.get(u, 0) + 1
            if a.impersonated:
                impersonated.add(a.impersonated)
            t = what[i]
            if t is not None:
                targets[t] = targets.get(t, 0) + 1
            ti = times[i]
            if ti < t_first:  # ties: the earliest in log order is first, the latest is last
                first_i, t_first = i, ti
            if ti >= t_last:
                last_i, t_last = i, ti
        scores = rule_scores(rules, self.counts)
        ns = sorted(namespaces)
        phi_ns = [n for n in ns if n in self.phi]
        b = breadth(len(ns), len(phi_ns))
        first = alerts[first_i]
        redacted = self.redacted.get(key)
        if redacted is None:
            redacted = self.redacted[key] = redact_text(key)
        digest = hashlib.sha256(f"{kind}\x00{redacted}\x00{first.id}".encode()).hexdigest()
        return Incident(
            id=f"INC-{digest[:10]}", kind=kind, key=key, alerts=[alerts[i] for i in session], first=first.time,
            last=alerts[last_i].time, seconds=max(0.0, t_last - t_first), start=t_first,
            risk=sum(sc.score for sc in scores) * b, rules=scores, identities=_by_count(users),
            impersonated=sorted(impersonated), namespaces=ns, phi_namespaces=phi_ns,
            targets=_by_count(targets)[:10], breadth=b,
        )


def _by_count(counter: Mapping[str, int]) -> list[str]:
    """Keys, most frequent first, then by name (deterministic)."""
    if len(counter) == 1:
        return list(counter)
    return [k for k, _n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _unique_ids(incidents: list[Incident]) -> None:
    """Suffix `-2`, `-3`... to an id already taken (only exact duplicate alerts can make two incidents hash
    alike); `incidents` is in its final order, so the suffixes are deterministic too."""
    seen: Counter[str] = Counter()
    for inc in incidents:
        seen[inc.id] += 1
        if seen[inc.id] > 1:
            inc.id = f"{inc.id}-{seen[inc.id]}"
