"""The streaming detector: de-duplicate the stages of each request, dispatch to rules, keep windows.

Usage (pure: events in, alerts out; no I/O):

    det = Detector()                       # all built-in rules, default DetectorConfig
    for ev in iter_events(paths):
        for alert in det.process(ev):
            ...
    for alert in det.flush():              # events still waiting for a later stage at end of stream
        ...

Stages: the API server may log one request up to four times (RequestReceived, ResponseStarted,
ResponseComplete, Panic) under one auditID. A request is evaluated once, on the first event that carries a
response (ResponseStarted for long-running exec/watch, else ResponseComplete/Panic). A RequestReceived
event is held back until that later stage arrives; if none does (policy `omitStages`, a crash) it is
evaluated when it ages out of the bounded pending table or at `flush()`. Events without auditID are
evaluated as they come.

A request is its auditID AND its `request_signature` (verb, requestURI, user, request time): clients can set
the `Audit-ID` header, so one auditID may be carried by several different requests. Each of them is
evaluated on its own, and every request that reuses an id already seen with a different request raises the
`auditid`-gated rules (KH-AUDLOG-074) before its own. Only stages of the same request are de-duplicated.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kubehipaa.engines.auditlog.baseline import SpikeBaseline
from kubehipaa.engines.auditlog.catalog import RULES
from kubehipaa.engines.auditlog.event import EVENT_DECODER, AuditEvent, request_signature
from kubehipaa.engines.auditlog.rules import (
    ANONYMOUS_USER,
    GATES,
    UNAUTHENTICATED_GROUP,
    DetectorConfig,
    Rule,
)
from kubehipaa.engines.auditlog.windows import CountWindow, DistinctWindow, EventClock, FirstSeen
from kubehipaa.model import Severity
from kubehipaa.redaction import redact_text, redact_tree

MAX_DONE_IDS = 200_000
"""auditIDs remembered for de-duplication (two generations of half this size), each with the signature of
the request(s) evaluated under it."""
MAX_PENDING = 20_000
"""auditIDs whose RequestReceived event is held waiting for its response stage (two generations)."""
MAX_REQUESTS_PER_ID = 64
"""Requests remembered (and RequestReceived events held) per auditID when clients reuse one id for many
requests, so a hostile client cannot grow one entry without bound. Beyond it the oldest are forgotten (a
held event is evaluated at once): a later stage of a forgotten request is then evaluated again, an extra
alert rather than a lost one."""

_Held = tuple[int, AuditEvent]
"""A held RequestReceived event with its request signature."""

SNAPSHOT_VERSION = 1
"""Version of `Detector.snapshot()`'s layout; `restore` refuses any other (the caller starts fresh)."""


def alert_id(rule_id: str, audit_id: str, time: str, message: str) -> str:
    """An alert's id: the first 16 hex digits of the SHA-256 of its rule, auditID, time and message, the
    same text as its SARIF fingerprint (`kubehipaaAlert/v2`).

    Why these: they tell apart every alert of a run (a rule fires once per request; requests that share an
    auditID differ in time or message) and are the same in every run over the same log, so an id found in
    yesterday's report, a ticket or a SIEM finds the alert again. Hashed from the REDACTED text (callers pass
    it): a hash of a low-entropy secret in a command line could be reversed by trying candidates. Two alerts
    that differ only inside a redacted value share an id; a report numbers the repeats (`-2`, `-3`)."""
    return hashlib.sha256(f"{rule_id}|{audit_id}|{time}|{message}".encode()).hexdigest()[:16]


@dataclass(slots=True)
class Alert:
    """One detection on one event (or on the event that completed a window)."""

    rule_id: str
    title: str
    severity: Severity
    hipaa: tuple[str, ...]
    message: str
    time: str
    audit_id: str
    user: str
    source_ip: str
    user_agent: str
    verb: str
    object: str
    namespace: str
    count: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)
    request: int | None = None
    """`request_signature` of the event the alert is about: with `audit_id`, which request it belongs to when
    several share an auditID (the timeline joins alerts to requests by it). Not part of `to_dict`: it is a
    per-process hash."""
    impersonated: str = ""
    """The user the request impersonated (empty when none): incidents say whom an identity acted as. Not part
    of `to_dict` (the message of an impersonation rule says it)."""

    @property
    def id(self) -> str:
        """The alert's stable id (`alert_id`): the same alert gets the same id in every run and every format."""
        r = redact_text
        return alert_id(self.rule_id, r(self.audit_id), r(self.time), r(self.message))

    def to_dict(self) -> dict[str, Any]:
        """The alert as output data (reports, `audit serve`'s alerts.jsonl): the only way an alert leaves the
        process, so every string taken from the event is redacted here (kubehipaa.redaction)."""
        r = redact_text
        message, time, audit_id = r(self.message), r(self.time), r(self.audit_id)
        return {
            "id": alert_id(self.rule_id, audit_id, time, message),
            "ruleId": self.rule_id,
            "title": self.title,
            "severity": self.severity.label,
            "hipaa": list(self.hipaa),
            "message": message,
            "time": time,
            "auditID": audit_id,
            "user": r(self.user),
            "sourceIP": r(self.source_ip),
            "userAgent": r(self.user_agent),
            "verb": r(self.verb),
            "object": r(self.object),
            "namespace": r(self.namespace),
            "count": self.count,
            "evidence": redact_tree(self.evidence),
        }


class EventFacts:
    """What the stateful half of a windowed rule (`Detector._windowed`) reads from an event, detached from it.

    Why: with `--jobs` the per-event predicates run in worker processes and the windows in the parent, in
    log order; a worker sends these few strings for an event that reached a windowed rule instead of the
    event (pickling an `AuditEvent` costs more than decoding it). The names are the event's, so `_windowed`
    reads an `AuditEvent` and an `EventFacts` alike."""

    __slots__ = ("auditID", "code", "impersonated_username", "namespace", "object_display", "request",
                 "source_ip", "time", "user_agent", "username", "verb")

    def __init__(self, ev: AuditEvent, request: int) -> None:
        self.time = ev.time
        self.auditID = ev.auditID
        self.username = ev.username
        self.source_ip = ev.source_ip
        self.user_agent = ev.user_agent
        self.verb = ev.verb
        self.object_display = ev.object_display
        self.namespace = ev.namespace
        self.code = ev.code
        self.request = request
        self.impersonated_username = ev.impersonated_username

    def __reduce__(self) -> tuple[Any, ...]:
        return (_facts, (self.time, self.auditID, self.username, self.source_ip, self.user_agent, self.verb,
                         self.object_display, self.namespace, self.code, self.request, self.impersonated_username))


def _facts(*values: Any) -> EventFacts:
    f = EventFacts.__new__(EventFacts)
    (f.time, f.auditID, f.username, f.source_ip, f.user_agent, f.verb, f.object_display, f.namespace, f.code,
     f.request, f.impersonated_username) = values
    return f


@dataclass(slots=True)
class DetectorStats:
    received: int = 0
    duplicates: int = 0
    evaluated: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    reused_ids: int = 0
    """Requests whose auditID had already been used by a different request."""

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "duplicates": self.duplicates, "evaluated": self.evaluated,
                "reusedAuditIDs": self.reused_ids, "alertsByRule": dict(sorted(self.alerts.items()))}


class Detector:
    """Runs a rule set over a stream of `AuditEvent`s with bounded memory."""

    def __init__(self, rules: Sequence[Rule] | None = None, config: DetectorConfig | None = None, *,
                 dedupe: bool = True, signature: Callable[[AuditEvent], int] | None = None) -> None:
        """`signature`: how requests under one auditID are told apart (default `request_signature`, a
        per-process hash). A detector whose state outlives the process (`snapshot`/`restore`) needs one that
        gives the same value in the next process, e.g. `event.keyed_request_signature(key)` with a stored
        key; otherwise a later stage of a request evaluated before a restart would look like another request
        reusing its auditID."""
        self.rules = list(RULES if rules is None else rules)
        self.config = config or DetectorConfig()
        self.dedupe = dedupe
        self._signature = signature or request_signature
        self._hooks: list[Callable[[AuditEvent], Iterable[Alert]]] = []
        self._received = 0
        self._t_event: AuditEvent | EventFacts | None = None
        self._t = 0.0
        self._clock = EventClock()  # windowed rules' time: a malformed timestamp counts at the stream's latest
        self._duplicates = 0
        self._reused_ids = 0
        self._evaluated = 0
        self._alerts: Counter[str] = Counter()
        self._index: dict[tuple[str, str], list[Rule]] = {}
        self._gated: dict[str, list[Rule]] = {g: [] for g in GATES if g != "resource"}
        for r in self.rules:
            if r.gate == "resource":
                for res in r.resources:
                    for verb in r.verbs:
                        self._index.setdefault((res, verb), []).append(r)
            else:
                self._gated[r.gate].append(r)
        self._index2: dict[str, dict[str, list[Rule]]] = {}
        for (key, verb), rules in self._index.items():
            self._index2.setdefault(key, {})[verb] = rules
        self._resources = frozenset(key.split("/", 1)[0] for key in self._index2)
        # resource -> subresource (None and "" both mean none) -> verb -> rules: no string building per event
        self._index3: dict[str | None, dict[str | None, dict[str | None, list[Rule]]]] = {}
        for key, by_verb in self._index2.items():
            res, _, sub = key.partition("/")
            subs = self._index3.setdefault(res, {})
            for s in ((sub,) if sub else (None, "")):
                subs.setdefault(s, {}).update(by_verb)
        self._state: dict[str, Any] = {}
        cfg = self.config
        for r in self.rules:
            w = r.window
            if w is None:
                continue
            seconds = float(getattr(cfg, w.seconds_attr))
            threshold = int(getattr(cfg, w.threshold_attr))
            if w.mode == "first_seen":
                self._state[r.id] = FirstSeen(seconds, cfg.max_keys)
            elif w.mode == "baseline":
                self._state[r.id] = SpikeBaseline(
                    seconds, threshold, cfg.secret_spike_namespace_floor, cfg.secret_spike_factor,
                    cfg.first_seen_learning_s, cfg.secret_spike_memory_s, cfg.max_keys)
            elif w.mode == "distinct":
                self._state[r.id] = DistinctWindow(seconds, threshold, cfg.max_keys)
            else:
                self._state[r.id] = CountWindow(seconds, threshold, cfg.max_keys)
        self._bg_groups = cfg.break_glass_groups
        self._bg_users = cfg.break_glass_users
        self._bg_any = bool(self._gated["breakglass"]) and bool(self._bg_groups or self._bg_users)
        self._failure = self._gated["failure"]
        self._anonymous = self._gated["anonymous"]
        self._breakglass = self._gated["breakglass"]
        self._impersonation = self._gated["impersonation"]
        self._body = self._gated["body"]
        self._reuse_rules = self._gated["auditid"]
        # auditID -> signature of the request evaluated under it (a tuple of signatures when several were)
        self._done_new: dict[str, int | tuple[int, ...]] = {}
        self._done_old: dict[str, int | tuple[int, ...]] = {}
        # auditID -> held RequestReceived event (a list when several requests under one id are held)
        self._pending_new: dict[str, _Held | list[_Held]] = {}
        self._pending_old: dict[str, _Held | list[_Held]] = {}

    # -- stream ---------------------------------------------------------------------------------------
    def process(self, ev: AuditEvent) -> list[Alert]:
        """Alerts raised by this event (possibly also by older events that aged out waiting for a stage)."""
        self._received += 1
        aid = ev.auditID
        if aid is not None and self.dedupe:
            out: list[Alert] = []
            if not self._admit(ev, aid, self._signature(ev), out):
                return out
            if out:
                out.extend(self._evaluate(ev))
                return out
        return self._evaluate(ev)

    def process_batch(self, events: Iterable[AuditEvent]) -> list[Alert]:
        """The alerts of `events`, exactly as calling `process` on each in turn and concatenating the results.

        Why a second entry point: the log reader decodes whole blocks of lines at once, and most events (lease
        renewals, node status, controller list/watch) need only the de-duplication lookups and the dispatch
        test. Here both are inlined into one loop over the block with the tables held in locals, so such an
        event costs no Python call at all; `process` stays the reference (one event, same semantics), and
        tests check that the two agree event for event. The dispatch below is a copy of `_evaluate`'s, kept
        because it pays: calling `_evaluate` instead cost 5-10% more detector time (2026-11-27, 300k bench
        lines, min of nine interleaved runs), a plain loop over `process` up to 20% more.

        De-duplication: only the common cases are inlined (a request's first evaluated stage, its held
        RequestReceived stage, a repeated stage of the one request under an id); anything else — an auditID
        reused by a different request, several requests held under one id — goes through `_admit`, the
        reference that `process` uses, so the rare cases have one implementation.
        """
        if not self.dedupe:
            out: list[Alert] = []
            for ev in events:
                self._received += 1
                out.extend(self._evaluate(ev))
            return out
        if self._signature is not request_signature:  # the inlined de-duplication below hashes like it
            out = []
            for ev in events:
                out.extend(self.process(ev))
            return out
        out = []
        received = duplicates = 0
        done_new, done_old = self._done_new, self._done_old
        pending_new, pending_old = self._pending_new, self._pending_old
        half_done, half_pending = MAX_DONE_IDS // 2, MAX_PENDING // 2
        index3 = self._index3
        failure, anonymous, impersonation = self._failure, self._anonymous, self._impersonation
        breakglass, body = self._breakglass, self._body
        bg_any, bg_users, bg_groups = self._bg_any, self._bg_users, self._bg_groups
        hooks = self._hooks
        run = self._run
        admit = self._admit
        evaluated = 0
        try:
            for ev in events:
                received += 1
                aid = ev.auditID
                u = ev.user
                verb = ev.verb
                if aid is not None:
                    # `request_signature(ev)`, inlined
                    sig = hash((verb, ev.requestURI, u.username if u is not None else None,
                                ev.requestReceivedTimestamp or ev.timestamp))
                    if aid in done_new or aid in done_old:
                        if (done_new[aid] if aid in done_new else done_old[aid]) == sig:
                            duplicates += 1  # a later stage of a request already evaluated
                            continue
                        # the id was used by another request (or by several): the reference decides
                        self._evaluated += evaluated
                        evaluated = 0
                        admitted = admit(ev, aid, sig, out)
                        done_new, done_old = self._done_new, self._done_old
                        pending_new, pending_old = self._pending_new, self._pending_old
                        if not admitted:
                            continue
                    elif aid in pending_new or aid in pending_old:
                        table = pending_new if aid in pending_new else pending_old
                        # (a list of several held requests never equals a signature)
                        if table[aid][0] == sig and ev.stage != "RequestReceived":
                            del table[aid]  # its held RequestReceived stage is superseded by this one
                            duplicates += 1
                            done_new[aid] = sig
                            if len(done_new) >= half_done:
                                self._done_old = done_old = done_new
                                self._done_new = done_new = {}
                        else:
                            self._evaluated += evaluated
                            evaluated = 0
                            admitted = admit(ev, aid, sig, out)
                            done_new, done_old = self._done_new, self._done_old
                            pending_new, pending_old = self._pending_new, self._pending_old
                            if not admitted:
                                continue
                    elif ev.stage == "RequestReceived":
                        pending_new[aid] = (sig, ev)
                        if len(pending_new) >= half_pending:
                            self._evaluated += evaluated
                            evaluated = 0
                            out.extend(self._age_pending())
                            done_new, done_old = self._done_new, self._done_old
                            pending_new, pending_old = self._pending_new, self._pending_old
                        continue
                    else:  # the common case: the first (and often only) stage of a request
                        done_new[aid] = sig
                        if len(done_new) >= half_done:
                            self._done_old = done_old = done_new
                            self._done_new = done_new = {}
                # -- `_evaluate`, inlined: the same selection, in the same order --------------------------
                evaluated += 1
                hits: list[Rule] | None = None
                o = ev.objectRef
                if o is not None:
                    by_sub = index3.get(o.resource)
                    if by_sub is not None:
                        by_verb = by_sub.get(o.subresource)
                        if by_verb is not None:
                            hits = by_verb.get(verb)
                rs = ev.responseStatus
                code = rs.code if rs is not None else None
                if code is not None and code >= 400:
                    hits = hits + failure if hits else failure
                else:
                    ann = ev.annotations
                    if ann is not None and ann.decision == "forbid":
                        hits = hits + failure if hits else failure
                if u is not None:
                    name = u.username
                    if name == ANONYMOUS_USER or (not name and u.groups and UNAUTHENTICATED_GROUP in u.groups):
                        hits = hits + anonymous if hits else anonymous
                    if bg_any and ((name in bg_users) or (u.groups and not bg_groups.isdisjoint(u.groups))):
                        hits = hits + breakglass if hits else breakglass
                if ev.impersonatedUser is not None:
                    hits = hits + impersonation if hits else impersonation
                if body and (ev.requestObject or ev.responseObject):
                    hits = hits + body if hits else body
                if hits:
                    for r in hits:
                        run(r, ev, out)
                    if hooks:
                        self._run_hooks(ev, out)
                elif hooks:
                    self._run_hooks(ev, out)
        finally:
            self._received += received
            self._duplicates += duplicates
            self._evaluated += evaluated
        return out

    # -- de-duplication ---------------------------------------------------------------------------------
    def _admit(self, ev: AuditEvent, aid: str, sig: int, out: list[Alert]) -> bool:
        """Whether `ev` (auditID `aid`, request signature `sig`) is evaluated now: the reference de-duplication.

        - a stage of a request already evaluated under `aid`: a duplicate, dropped;
        - the same RequestReceived stage again: a duplicate; a later stage of a held RequestReceived event:
          the held one is dropped (counted as duplicate) and this one is evaluated;
        - any other request: evaluated (a RequestReceived stage is held back). When `aid` was already used
          by a different request, the `auditid`-gated rules run on this one first (their alerts go to `out`).

        Held events that have to be evaluated now (ageing, per-id cap) add their alerts to `out` too.
        """
        known = self._known(aid)
        if sig in known:
            self._duplicates += 1
            return False
        first_stage = ev.stage == "RequestReceived"
        held_count = 0
        for table in (self._pending_new, self._pending_old):
            entry = table.get(aid)
            if entry is None:
                continue
            held = entry if isinstance(entry, list) else [entry]
            for i, (s, _) in enumerate(held):
                if s != sig:
                    continue
                self._duplicates += 1
                if first_stage:
                    return False  # the same RequestReceived stage logged twice
                if isinstance(entry, list):
                    del entry[i]
                    if len(entry) == 1:
                        table[aid] = entry[0]
                    elif not entry:
                        del table[aid]
                else:
                    del table[aid]
                self._mark_done(aid, sig)
                return True
            held_count += len(held)
        others = len(known) + held_count
        if others:
            self._reused(ev, others, out)
        if first_stage:
            self._hold(aid, sig, ev, out)
            return False
        self._mark_done(aid, sig)
        return True

    def _known(self, aid: str) -> tuple[int, ...]:
        """Signatures of the requests already evaluated under `aid` (both generations)."""
        out: tuple[int, ...] = ()
        for table in (self._done_new, self._done_old):
            v = table.get(aid)
            if v is not None:
                out += (v,) if isinstance(v, int) else v
        return out

    def _mark_done(self, aid: str, sig: int) -> None:
        done = self._done_new
        cur = done.get(aid)
        if cur is None:
            done[aid] = sig
        elif isinstance(cur, int):
            if cur != sig:
                done[aid] = (cur, sig)
        elif sig not in cur:
            done[aid] = (*cur[-(MAX_REQUESTS_PER_ID - 1):], sig)
        if len(done) >= MAX_DONE_IDS // 2:
            self._done_old = done
            self._done_new = {}

    def _hold(self, aid: str, sig: int, ev: AuditEvent, out: list[Alert]) -> None:
        table = self._pending_new
        cur = table.get(aid)
        if cur is None:
            table[aid] = (sig, ev)
        elif isinstance(cur, list):
            cur.append((sig, ev))
            if len(cur) > MAX_REQUESTS_PER_ID:
                s, oldest = cur.pop(0)
                self._mark_done(aid, s)
                out.extend(self._evaluate(oldest))
        else:
            table[aid] = [cur, (sig, ev)]
        if len(table) >= MAX_PENDING // 2:
            out.extend(self._age_pending())

    def _reused(self, ev: AuditEvent, others: int, out: list[Alert]) -> None:
        """Run the `auditid` rules on a request whose auditID `others` other requests carried before it."""
        self._reused_ids += 1
        before = len(out)
        for r in self._reuse_rules:
            self._run(r, ev, out)
        for a in out[before:]:
            a.evidence["otherRequestsWithThisAuditID"] = others

    @property
    def stats(self) -> DetectorStats:
        """Counters so far: events received, duplicate stages dropped, requests evaluated, alerts by rule,
        requests that reused another request's auditID."""
        return DetectorStats(self._received, self._duplicates, self._evaluated, Counter(self._alerts),
                             self._reused_ids)

    # -- persistence ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything a restarted process needs to continue this stream as if it had not stopped.

        Why: a long-running receiver (`audit serve`) restarts; without its windows a burst that straddles
        the restart is never counted, first-seen tables re-learn, and the later stage of a request evaluated
        before the restart is evaluated again. The result holds only str/int/float/bytes/None in lists, tuples
        and dicts (msgpack-able; no pickle, so loading a snapshot never runs code). Held
        RequestReceived events are kept as their JSON. Versioned by `SNAPSHOT_VERSION`. The de-duplication
        tables (up to 200,000 auditIDs) are shallow copies, so encoding them costs no Python loop.
        """
        def pending(table: dict[str, _Held | list[_Held]]) -> list[list[Any]]:
            return [[aid, [[sig, msgspec.json.encode(ev)] for sig, ev in (e if isinstance(e, list) else (e,))]]
                    for aid, e in table.items()]

        return {
            "version": SNAPSHOT_VERSION,
            "windows": {rid: [type(w).__name__, w.to_state()] for rid, w in self._state.items()},
            "done": [dict(self._done_old), dict(self._done_new)],
            "pending": [pending(self._pending_old), pending(self._pending_new)],
            "counters": {"received": self._received, "duplicates": self._duplicates,
                         "evaluated": self._evaluated, "reused": self._reused_ids,
                         "alerts": dict(self._alerts)},
        }

    def restore(self, snap: Mapping[str, Any]) -> list[str]:
        """Continue from `snapshot()`'s output (taken by a detector with the same `signature`).

        A window is restored only into a rule that still has a window of the same kind; its current bounds
        (seconds, threshold, max_keys from this detector's config) apply. Returns the ids of windowed rules
        whose state could not be restored (new rules, changed kinds), which start empty. Raises ValueError
        for another snapshot version.
        """
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"detector snapshot version {snap.get('version')!r}, expected {SNAPSHOT_VERSION}")
        saved = snap["windows"]
        fresh: list[str] = []
        for rid, window in self._state.items():
            entry = saved.get(rid)
            if entry is None or entry[0] != type(window).__name__:
                fresh.append(rid)
                continue
            window.load_state(entry[1])

        def done(table: dict[str, Any]) -> dict[str, int | tuple[int, ...]]:
            return {aid: v if isinstance(v, int) else tuple(v) for aid, v in table.items()}

        def pending(rows: list[list[Any]]) -> dict[str, _Held | list[_Held]]:
            out: dict[str, _Held | list[_Held]] = {}
            for aid, held in rows:
                items = [(int(sig), EVENT_DECODER.decode(raw)) for sig, raw in held]
                out[aid] = items[0] if len(items) == 1 else items
            return out

        self._done_old, self._done_new = (done(table) for table in snap["done"])
        self._pending_old, self._pending_new = (pending(rows) for rows in snap["pending"])
        c = snap["counters"]
        self._received, self._duplicates = int(c["received"]), int(c["duplicates"])
        self._evaluated, self._reused_ids = int(c["evaluated"]), int(c["reused"])
        self._alerts = Counter({str(k): int(v) for k, v in c["alerts"].items()})
        self._t_event = None
        return fresh

    @property
    def pending_count(self) -> int:
        """RequestReceived events held waiting for a later stage (evaluated by `flush`)."""
        return sum(len(e) if isinstance(e, list) else 1
                   for table in (self._pending_old, self._pending_new) for e in table.values())

    def process_all(self, events: Iterable[AuditEvent]) -> list[Alert]:
        """Convenience for tests and small inputs: every alert of `events`, including the final flush."""
        out: list[Alert] = []
        for ev in events:
            out.extend(self.process(ev))
        out.extend(self.flush())
        return out

    def flush(self) -> list[Alert]:
        """Evaluate RequestReceived events whose later stage never came (end of a file or of a batch)."""
        out: list[Alert] = []
        for table in (self._pending_old, self._pending_new):
            for aid, entry in table.items():
                for sig, ev in entry if isinstance(entry, list) else (entry,):
                    self._mark_done(aid, sig)
                    out.extend(self._evaluate(ev))
            table.clear()
        return out

    def _age_pending(self) -> list[Alert]:
        out: list[Alert] = []
        for aid, entry in self._pending_old.items():
            for sig, ev in entry if isinstance(entry, list) else (entry,):
                self._mark_done(aid, sig)
                out.extend(self._evaluate(ev))
        self._pending_old = self._pending_new
        self._pending_new = {}
        return out

    # -- evaluation -----------------------------------------------------------------------------------
    def candidates(self, ev: AuditEvent) -> list[Rule]:
        """The rules whose dispatch key or gate selects this event (before any predicate runs)."""
        out: list[Rule] = []
        o = ev.objectRef
        if o is not None:
            res = o.resource
            if res is not None:
                sub = o.subresource
                rules = self._index.get((res + "/" + sub if sub else res, ev.verb or ""))
                if rules:
                    out.extend(rules)
        gated = self._gated
        rs = ev.responseStatus
        code = rs.code if rs is not None else None
        ann = ev.annotations
        if (code is not None and code >= 400) or (ann is not None and ann.decision == "forbid"):
            out.extend(gated["failure"])
        u = ev.user
        if u is not None:
            groups = u.groups
            if u.username == ANONYMOUS_USER or (not u.username and groups and UNAUTHENTICATED_GROUP in groups):
                out.extend(gated["anonymous"])
            if (u.username in self._bg_users) or (groups and not self._bg_groups.isdisjoint(groups)):
                out.extend(gated["breakglass"])
        if ev.impersonatedUser is not None:
            out.extend(gated["impersonation"])
        if gated["body"] and (ev.requestObject or ev.responseObject):
            out.extend(gated["body"])
        return out

    def explain(self, ev: AuditEvent) -> list[tuple[Rule, str]]:
        """(rule, message) for every rule whose per-event predicate matches, windows and state ignored.

        This is the single-event semantics (what Panther's rule tests check); `process` is the streaming one.
        """
        out: list[tuple[Rule, str]] = []
        for r in self.candidates(ev):
            msg = r.match(ev, self.config)
            if msg is not None:
                out.append((r, msg))
        return out

    def _evaluate(self, ev: AuditEvent) -> list[Alert]:
        # The hot path: the same selection as `candidates`, inlined. Most events (lease renewals, node
        # status, controller list/watch) stop after a few dict lookups and attribute reads, and allocate
        # nothing.
        self._evaluated += 1
        hits: list[Rule] | None = None
        o = ev.objectRef
        if o is not None:
            by_sub = self._index3.get(o.resource)
            if by_sub is not None:
                by_verb = by_sub.get(o.subresource)
                if by_verb is not None:
                    hits = by_verb.get(ev.verb)  # never mutated below: further sources build new lists
        rs = ev.responseStatus
        code = rs.code if rs is not None else None
        if code is not None and code >= 400:
            hits = hits + self._failure if hits else self._failure
        else:
            ann = ev.annotations
            if ann is not None and ann.decision == "forbid":
                hits = hits + self._failure if hits else self._failure
        u = ev.user
        if u is not None:
            name = u.username
            if name == ANONYMOUS_USER or (not name and u.groups and UNAUTHENTICATED_GROUP in u.groups):
                hits = hits + self._anonymous if hits else self._anonymous
            if self._bg_any and ((name in self._bg_users) or
                                 (u.groups and not self._bg_groups.isdisjoint(u.groups))):
                hits = hits + self._breakglass if hits else self._breakglass
        if ev.impersonatedUser is not None:
            hits = hits + self._impersonation if hits else self._impersonation
        if self._body and (ev.requestObject or ev.responseObject):
            hits = hits + self._body if hits else self._body
        if not hits:
            if self._hooks:
                return self._run_hooks(ev, [])
            return []
        out: list[Alert] = []
        run = self._run
        for r in hits:
            run(r, ev, out)
        if self._hooks:
            return self._run_hooks(ev, out)
        return out

    def add_hook(self, hook: Callable[[AuditEvent], Iterable[Alert]]) -> None:
        """Also run `hook` on every evaluated request (after de-duplication across stages, after the
        built-in rules); its alerts are returned with theirs. For rule engines layered on the core (Sigma)."""
        self._hooks.append(hook)

    def _run_hooks(self, ev: AuditEvent, out: list[Alert]) -> list[Alert]:
        for hook in self._hooks:
            for a in hook(ev):
                self._alerts[a.rule_id] += 1
                out.append(a)
        return out

    def _run(self, rule: Rule, ev: AuditEvent, out: list[Alert]) -> None:
        message = rule.match(ev, self.config)
        if message is None:
            return
        w = rule.window
        if w is not None:
            self._windowed(rule, message, ev, w.key(ev), w.distinct(ev) if w.distinct is not None else "", out)
            return
        self._alerts[rule.id] += 1
        out.append(Alert(
            rule_id=rule.id, title=rule.title, severity=rule.severity, hipaa=rule.hipaa, message=message,
            time=ev.time, audit_id=ev.auditID or "", user=ev.username, source_ip=ev.source_ip,
            user_agent=ev.user_agent, verb=ev.verb or "", object=ev.object_display, namespace=ev.namespace,
            count=1, request=self._signature(ev), impersonated=ev.impersonated_username,
        ))

    def _windowed(self, rule: Rule, message: str, ev: AuditEvent | EventFacts, key: str, value: str, out: list[Alert],
                  request: int | None = None) -> None:
        """The stateful half of a windowed rule whose per-event predicate matched (`message`): count the
        match in the rule's window under `key` (and `value` for distinct, first-seen and baseline windows) and
        alert when that fires.

        Why apart from `_run`: this is the only part of a built-in rule that depends on the events before it.
        `ev` is the event, or its `EventFacts` when the predicate ran in another process (`--jobs`), which
        also gives the `request` signature; the same object for every rule of one event, so the event
        clock reads its time once."""
        w = rule.window
        assert w is not None
        state = self._state[rule.id]
        if self._t_event is ev:
            t = self._t
        else:
            t = self._t = self._clock.at(ev.time)
            self._t_event = ev
        count = 1
        evidence: dict[str, Any] | None = None
        if w.mode == "first_seen":
            novelty = state.add(key, value, t)
            if not novelty:
                return
            if novelty == "identity":
                message = f"{key or '?'} read secrets for the first time ({ev.verb} {ev.object_display})"
            else:
                message = (f"{key or '?'} read secrets from a new source {ev.source_ip or '?'} / "
                           f"{ev.user_agent or '?'} ({ev.verb} {ev.object_display})")
        elif w.mode == "baseline":
            spike = state.add(key, value, ev.namespace or "*", t)
            if spike is None:
                return
            count = spike.secrets
            evidence = spike.evidence()
            usual = (f"its usual: {spike.mean_secrets:.1f} secrets in {spike.mean_namespaces:.1f} namespaces "
                     f"(busiest recent {spike.peak_secrets:.0f} in {spike.peak_namespaces:.0f}) over "
                     f"{spike.windows} active windows" if spike.windows else
                     "no secret reads by it before (after the warm-up)")
            message = (f"{key or '?'} read {spike.secrets} distinct secrets in {spike.namespaces} namespaces "
                       f"within {int(state.seconds)}s; {usual}; last: {ev.verb} {ev.object_display} "
                       f"({ev.code})")
        elif w.mode == "distinct":
            count = state.add(key, value, t)
            if not count:
                return
            message = (f"{count} distinct within {int(state.seconds)}s for {w.key_label} {key or '?'}; "
                       f"last: {message}: {ev.username or '?'} {ev.verb} {ev.object_display} ({ev.code})")
        else:
            count = state.add(key, t)
            if not count:
                return
            message = (f"{count} within {int(state.seconds)}s for {w.key_label} {key or '?'}; "
                       f"last: {message}: {ev.username or '?'} {ev.verb} {ev.object_display} ({ev.code})")
        self._alerts[rule.id] += 1
        out.append(Alert(
            rule_id=rule.id, title=rule.title, severity=rule.severity, hipaa=rule.hipaa, message=message,
            time=ev.time, audit_id=ev.auditID or "", user=ev.username, source_ip=ev.source_ip,
            user_agent=ev.user_agent, verb=ev.verb or "", object=ev.object_display, namespace=ev.namespace,
            count=count, request=self._signature(ev) if request is None else request,  # type: ignore[arg-type]
            impersonated=ev.impersonated_username,
        ))
        if evidence is not None:
            out[-1].evidence.update(evidence)
