"""One detector across several processes (`audit analyze --jobs N`): per-event work in workers, state in order.

Why this split: almost every built-in rule is a function of one event; only the windowed rules (count,
distinct and first-seen windows: `Rule.window`), the `auditid` rules and the de-duplication of a request's
stages carry state from one event to the next, and that state spans any point where the log is cut. So:

- a worker (`SplitWorker`) decodes its piece of the log and, for each event, runs the dispatch of
  `Detector._evaluate` and every rule's per-event predicate. A stateless rule's match is sent as a `Match`
  (rule id, message, the event's `EventFacts`; the merger builds the `Alert`), a windowed rule's as a
  `WindowStep` (the same plus the window key and value), in rule order. For every event it also sends its
  auditID, request signature and whether it is a RequestReceived stage (what the de-duplication needs), and
  which events share their auditID with another event of the piece. Nothing else crosses the pipe.
- the parent (`SplitMerger`) replays the pieces in log order through the real de-duplication tables (the
  common cases inlined as in `Detector.process_batch`, events that can only be recorded as done in bulk, the
  rare cases through `Detector._admit`, the reference), and for each request it evaluates (at the point in
  the stream where `Detector` would, held RequestReceived stages included) emits the worker's alerts and
  applies its window steps to the windows (`Detector._windowed`, the same code as in one process). The
  result is the one detector's, alert for alert and counter for counter.

Which rules are stateful is read from the rule data (`is_stateful`), not listed here. A request that reuses
an auditID needs the `auditid` rules run on the event itself; that is rare (a client choosing its Audit-ID,
merged or altered logs), so the merger asks the caller for the event again (`fetch`) instead of every worker
sending every event.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.auditlog import detector as _detector
from kubehipaa.engines.auditlog.detector import Alert, Detector, EventFacts
from kubehipaa.engines.auditlog.event import AuditEvent, request_signature
from kubehipaa.engines.auditlog.rules import ANONYMOUS_USER, UNAUTHENTICATED_GROUP, DetectorConfig, Rule

Match = tuple[str, str, EventFacts]
"""(rule id, the predicate's message, the event's facts): a stateless rule's alert as a worker found it; the
merger builds the `Alert` (rule metadata is not sent)."""
WindowStep = tuple[str, str, EventFacts, str, str]
"""(rule id, the predicate's message, the event's facts, window key, window value): a windowed rule's match
as a worker saw it, applied to the window by the merger."""

Item = Match | WindowStep


def is_stateful(rule: Rule) -> bool:
    """Whether `rule`'s result depends on other events: it has a window (count, distinct, first-seen, or any
    mode a rule declares), or it is run by the de-duplication (`auditid` gate). Such rules are evaluated in
    log order by the merger; every other rule may run anywhere. A rule that keeps state some other way must
    be added here (and to `splittable`)."""
    return rule.window is not None or rule.gate == "auditid"


REPLAYED_MODES = frozenset({"count", "distinct", "first_seen", "baseline"})
"""Window modes whose state the merger replays from a worker's (key, value) step through
`Detector._windowed` (a baseline also reads the event's namespace, time, verb and object, which `EventFacts`
carries). A new mode whose state needs more of the event than that must be taught to the
worker first; until then `splittable` says no and the caller runs in one process."""


def splittable(rules: Sequence[Rule]) -> bool:
    """Whether a worker/merger split reproduces one detector exactly for `rules`: every stateful rule is one
    the merger knows how to replay."""
    for r in rules:
        if not is_stateful(r) or r.gate == "auditid":  # `auditid` rules run on the event itself, read again
            continue
        if r.window is None or r.window.mode not in REPLAYED_MODES:
            return False
    return True


@dataclass(slots=True)
class SplitPart:
    """What a worker sends for its piece: per event (in the piece's order, after the --since/--until
    selection) its auditID and request signature, the positions of RequestReceived stages, and per event
    that raised anything its alerts and window steps in rule order."""

    aids: list[str | None] = field(default_factory=list)
    sigs: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    results: dict[int, list[Item]] = field(default_factory=dict)
    repeated: list[int] = field(default_factory=list)
    """Set by `finish`: the events whose auditID is missing or shared with another event of the piece."""

    def finish(self) -> None:
        """Mark the events whose auditID is not the piece's only one (once, when the piece is complete)."""
        counts = Counter(self.aids)
        if len(counts) == len(self.aids) and None not in counts:
            self.repeated = []
            return
        shared = {a for a, k in counts.items() if k > 1}
        shared.add(None)
        self.repeated = [i for i, a in enumerate(self.aids) if a in shared]

    def __getstate__(self) -> tuple[Any, ...]:
        """Compact for the pipe: the auditIDs as one newline-joined string (split again in C; a list when an
        id is None or holds a newline), the signatures as a 64-bit array. Pickling a list of a million short
        strings costs more than the worker's de-duplication work saved."""
        aids: Any = self.aids
        missing = [i for i, a in enumerate(aids) if a is None] if None in aids else []
        if missing:
            aids = [a if a is not None else "" for a in aids]
        blob = "\n".join(aids)
        if len(aids) > 0 and blob.count("\n") == len(aids) - 1:
            aids = blob
        try:
            sigs: Any = array("q", self.sigs)
        except OverflowError:  # a custom signature wider than 64 bits
            sigs = self.sigs
        return aids, missing, sigs, array("q", self.received), self.results, array("q", self.repeated)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        aids, missing, sigs, received, self.results, repeated = state
        self.repeated = list(repeated)
        if isinstance(aids, str):
            aids = aids.split("\n")
        for i in missing:
            aids[i] = None
        self.aids, self.sigs, self.received = aids, list(sigs), list(received)


class SplitWorker(Detector):
    """The per-event half: runs every stateless rule; a stateful rule's predicate becomes a `WindowStep`."""

    def __init__(self, rules: Sequence[Rule] | None = None, config: DetectorConfig | None = None, *,
                 signature: Callable[[AuditEvent], int] | None = None) -> None:
        super().__init__(rules, config, signature=signature)
        self._facts_ev: AuditEvent | None = None
        self._facts: EventFacts | None = None
        self._same: dict[str, str] = {}

    def split(self, events: list[AuditEvent], part: SplitPart) -> None:
        """Add `events` (the next events of the piece) to `part`.

        One loop per block, as `Detector.process_batch`: the request signature and the dispatch of
        `Detector._evaluate` are inlined (the same selection, in the same order; `tests/auditlog/test_jobs.py`
        compares whole reports with one process), since this runs for every event of the log."""
        if self._signature is not request_signature or self._hooks:
            self._split_reference(events, part)
            return
        aids, sigs, received, results = part.aids, part.sigs, part.received, part.results
        index3 = self._index3
        failure, anonymous, impersonation = self._failure, self._anonymous, self._impersonation
        breakglass, body = self._breakglass, self._body
        bg_any, bg_users, bg_groups = self._bg_any, self._bg_users, self._bg_groups
        run = self._run
        i = len(aids) - 1
        for ev in events:
            i += 1
            u = ev.user
            verb = ev.verb
            aids.append(ev.auditID)
            sigs.append(hash((verb, ev.requestURI, u.username if u is not None else None,
                              ev.requestReceivedTimestamp or ev.timestamp)))
            if ev.stage == "RequestReceived":
                received.append(i)
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
                out: list[Alert] = []
                for r in hits:
                    run(r, ev, out)
                if out:
                    results[i] = out  # type: ignore[assignment]  # matches and window steps

    def _split_reference(self, events: list[AuditEvent], part: SplitPart) -> None:
        """`split` through `Detector._evaluate` and the detector's own signature (any `signature`)."""
        base = len(part.aids)
        part.aids.extend([ev.auditID for ev in events])
        part.sigs.extend(map(self._signature, events))
        part.received.extend([base + i for i, ev in enumerate(events) if ev.stage == "RequestReceived"])
        results = part.results
        for i, found in enumerate(map(self._evaluate, events), base):
            if found:
                results[i] = found  # type: ignore[assignment]  # matches and window steps

    def _run(self, rule: Rule, ev: AuditEvent, out: list[Alert]) -> None:
        message = rule.match(ev, self.config)
        if message is None:
            return
        if self._facts_ev is not ev or self._facts is None:
            self._facts = f = EventFacts(ev, self._signature(ev))
            self._facts_ev = ev
            # one object per distinct string, so that pickle sends a repeated user, address, agent, verb or
            # namespace as a back-reference (a third of the bytes, and of the time, of a piece's results)
            same = self._same
            if len(same) > 100_000:
                same.clear()
            f.username = same.setdefault(f.username, f.username)
            f.source_ip = same.setdefault(f.source_ip, f.source_ip)
            f.user_agent = same.setdefault(f.user_agent, f.user_agent)
            f.namespace = same.setdefault(f.namespace, f.namespace)
            if f.verb is not None:
                f.verb = same.setdefault(f.verb, f.verb)
        w = rule.window
        item: Item
        if w is None:
            item = (rule.id, message, self._facts)
        else:
            item = (rule.id, message, self._facts, w.key(ev), w.distinct(ev) if w.distinct is not None else "")
        out.append(item)  # type: ignore[arg-type]


class _Ref:
    """An event of a piece, as the merger's de-duplication tables hold it (in place of the event)."""

    __slots__ = ("index", "piece", "results", "stage")

    def __init__(self, piece: int, index: int, stage: str | None, results: list[Item] | None) -> None:
        self.piece = piece
        self.index = index
        self.stage = stage
        self.results = results


Fetch = Callable[[int, int], AuditEvent]
"""(piece number, event index in the piece) → the event, read again (only for a reused auditID)."""


class SplitMerger(Detector):
    """The stateful half: de-duplication, windows and `auditid` rules, in log order, over `SplitPart`s."""

    def __init__(self, rules: Sequence[Rule] | None = None, config: DetectorConfig | None = None, *,
                 fetch: Fetch, signature: Callable[[AuditEvent], int] | None = None) -> None:
        """`signature` must be the workers' (their request signatures are compared with the tables')."""
        super().__init__(rules, config, signature=signature)
        self._fetch = fetch
        self._by_id = {r.id: r for r in self.rules}

    def replay(self, part: SplitPart, piece: int) -> list[Alert]:
        """The alerts of the piece's events, exactly as `Detector.process_batch` over them would give."""
        out: list[Alert] = []
        aids, sigs, results = part.aids, part.sigs, part.results
        held = set(part.received)
        emit = self._emit
        received = duplicates = evaluated = 0
        if not self.dedupe:
            for i in range(len(aids)):
                received += 1
                evaluated += 1
                found = results.get(i)
                if found:
                    emit(found, out)
            self._received += received
            self._evaluated += evaluated
            return out
        done_new, done_old = self._done_new, self._done_old
        pending_new, pending_old = self._pending_new, self._pending_old
        half_done, half_pending = _detector.MAX_DONE_IDS // 2, _detector.MAX_PENDING // 2  # (tests lower them)
        start = 0
        admit = self._admit
        n = len(aids)
        try:
            for i in self._special(part, held):
                if i > start:  # events start..i-1 are plain: only recorded in the table, in bulk
                    received += i - start
                    evaluated += i - start
                    while start < i:
                        k = min(i - start, half_done - len(done_new))
                        done_new.update(zip(aids[start:start + k], sigs[start:start + k], strict=True))  # type: ignore[arg-type]
                        start += k
                        if len(done_new) >= half_done:
                            self._done_old = done_old = done_new
                            self._done_new = done_new = {}
                if i == n:
                    break
                start = i + 1
                aid = aids[i]
                received += 1
                if aid is not None:
                    sig = sigs[i]
                    if aid in done_new or aid in done_old:
                        if (done_new[aid] if aid in done_new else done_old[aid]) == sig:
                            duplicates += 1
                            continue
                        admitted = admit(self._ref(part, piece, i, held), aid, sig, out)  # type: ignore[arg-type]
                        done_new, done_old = self._done_new, self._done_old
                        pending_new, pending_old = self._pending_new, self._pending_old
                        if not admitted:
                            continue
                    elif aid in pending_new or aid in pending_old:
                        table = pending_new if aid in pending_new else pending_old
                        if table[aid][0] == sig and i not in held:
                            del table[aid]
                            duplicates += 1
                            done_new[aid] = sig
                            if len(done_new) >= half_done:
                                self._done_old = done_old = done_new
                                self._done_new = done_new = {}
                        else:
                            admitted = admit(self._ref(part, piece, i, held), aid, sig, out)  # type: ignore[arg-type]
                            done_new, done_old = self._done_new, self._done_old
                            pending_new, pending_old = self._pending_new, self._pending_old
                            if not admitted:
                                continue
                    elif i in held:
                        pending_new[aid] = (sig, self._ref(part, piece, i, held))  # type: ignore[assignment]
                        if len(pending_new) >= half_pending:
                            out.extend(self._age_pending())
                            done_new, done_old = self._done_new, self._done_old
                            pending_new, pending_old = self._pending_new, self._pending_old
                        continue
                    else:
                        done_new[aid] = sig
                        if len(done_new) >= half_done:
                            self._done_old = done_old = done_new
                            self._done_new = done_new = {}
                evaluated += 1
                found = results.get(i)
                if found:
                    emit(found, out)
        finally:
            self._received += received
            self._duplicates += duplicates
            self._evaluated += evaluated
        return out

    def _special(self, part: SplitPart, held: set[int]) -> list[int]:
        """The events of `part` that need the per-event path, in order, and then `len(part.aids)`.

        Every other event is plain: it has an auditID that no other event of the piece has and that none of
        the de-duplication tables holds when the piece starts, it is not a RequestReceived stage and it
        raised nothing. Such an event is only recorded as done, and nothing during the piece can change that
        (its id can enter a table only through itself), so `replay` records runs of them in bulk (in order,
        rotating the generations at the same points), which is most of a log's events."""
        special = set(held)
        special.update(part.results)
        special.update(part.repeated)
        keys = set(part.aids)
        for table in (self._done_new, self._done_old, self._pending_new, self._pending_old):
            if table.keys().isdisjoint(keys):
                continue
            shared = table.keys() & keys
            if len(shared) <= 64:
                special.update(part.aids.index(a) for a in shared)
            else:
                where = {a: i for i, a in enumerate(part.aids)}
                special.update(where[a] for a in shared)
        order = sorted(special)
        order.append(len(part.aids))
        return order

    @staticmethod
    def _ref(part: SplitPart, piece: int, i: int, held: set[int]) -> _Ref:
        return _Ref(piece, i, "RequestReceived" if i in held else None, part.results.get(i))

    def _emit(self, items: list[Item], out: list[Alert]) -> None:
        """One evaluated request's alerts and window steps, in the order its rules ran in the worker: a
        stateless match becomes the `Alert` `Detector._run` builds, a window step goes through the window."""
        by_id = self._by_id
        for item in items:
            rule = by_id[item[0]]
            facts = item[2]
            if len(item) == 3:
                self._alerts[rule.id] += 1
                out.append(Alert(
                    rule_id=rule.id, title=rule.title, severity=rule.severity, hipaa=rule.hipaa, message=item[1],
                    time=facts.time, audit_id=facts.auditID or "", user=facts.username, source_ip=facts.source_ip,
                    user_agent=facts.user_agent, verb=facts.verb or "", object=facts.object_display,
                    namespace=facts.namespace, count=1, request=facts.request,
                    impersonated=facts.impersonated_username,
                ))
            else:
                self._windowed(rule, item[1], facts, item[3], item[4], out, facts.request)  # type: ignore[misc]

    # The reference de-duplication (`Detector._admit`, `_hold`, `_age_pending`, `flush`) holds and evaluates
    # `_Ref`s here: evaluating one emits what its worker found; a reused auditID runs the `auditid` rules on
    # the event itself, read again.
    def _evaluate(self, ev: Any) -> list[Alert]:
        self._evaluated += 1
        out: list[Alert] = []
        if ev.results:
            self._emit(ev.results, out)
        return out

    def _reused(self, ev: Any, others: int, out: list[Alert]) -> None:
        super()._reused(self._fetch(ev.piece, ev.index), others, out)
