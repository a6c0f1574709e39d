"""The alerts a run keeps: every alert counted, every alert held unless a cap is asked for, grouped by rule.

Why in the engine and not in a report: it is the answer of an analysis (what fired, how often, the worst
severity that decides the exit code), which every consumer reads the same way; reports only render it.

Why no cap by default: a JSON or SARIF report is what a SIEM or an investigator reads; an alert missing from it
is an alert that never happened for them. A cap (`keep`) exists for the table and for a user who asks for one;
then each rule's alerts live in a min-heap of `keep` entries ordered by risk (`risk` below), so memory stays
bounded and what survives is the riskiest, not the earliest: an attack late in a noisy log is still kept. Every
report says how many alerts per rule were left out (`omitted`).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from kubehipaa.engines.auditlog.catalog import RULES_BY_ID
from kubehipaa.engines.auditlog.detector import Alert
from kubehipaa.engines.auditlog.rules import SYSTEM_NAMESPACES, Rule
from kubehipaa.model import Severity

MAX_IDENTITIES = 10_000
"""Bound on the identities remembered per rule for the rarity term (after it, a new identity counts as new)."""

Risk = tuple[int, int, int, int, int]
"""(severity, application namespace, first alert of its identity in the rule, count, -sequence): larger is
riskier. The last term breaks ties deterministically in favour of the earlier alert."""


def _risk(alert: Alert, novel: bool, seq: int) -> Risk:
    """Severity first; then an application (non-system) namespace, where PHI workloads live; then rarity (the
    first alert of this identity for the rule outranks the thousandth of a noisy one); then breadth (a window
    alert's `count`)."""
    app_ns = 1 if alert.namespace and alert.namespace not in SYSTEM_NAMESPACES else 0
    return (int(alert.severity), app_ns, 1 if novel else 0, alert.count, -seq)


@dataclass(slots=True)
class AlertCollector:
    """Counts every alert; holds every alert (`keep` None) or the `keep` riskiest per rule."""

    keep: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    held: dict[str, list[tuple[Risk, Alert]]] = field(default_factory=dict)
    """Per rule: a plain list in arrival order (no cap) or a min-heap on risk (cap): the root is evicted first."""
    identities: dict[str, set[str]] = field(default_factory=dict)
    seq: int = 0

    def __post_init__(self) -> None:
        if self.keep is not None and self.keep < 1:
            raise ValueError(f"keep must be at least 1, not {self.keep}")

    def add(self, alert: Alert) -> None:
        rid = alert.rule_id
        self.counts[rid] += 1
        self.seq += 1
        seen = self.identities.get(rid)
        if seen is None:
            seen = self.identities[rid] = set()
        novel = alert.user not in seen
        if novel and len(seen) < MAX_IDENTITIES:
            seen.add(alert.user)
        entry = (_risk(alert, novel, self.seq), alert)
        lst = self.held.get(rid)
        if lst is None:
            lst = self.held[rid] = []
        if self.keep is None:
            lst.append(entry)
        elif len(lst) < self.keep:
            heapq.heappush(lst, entry)
        elif entry[0] > lst[0][0]:
            heapq.heapreplace(lst, entry)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def omitted(self, rule_id: str) -> int:
        """Alerts of `rule_id` counted but not held (left out by the cap)."""
        return self.counts[rule_id] - len(self.held.get(rule_id, ()))

    @property
    def total_omitted(self) -> int:
        return sum(self.omitted(r) for r in self.counts)

    def kept(self, rule_id: str) -> list[Alert]:
        """The alerts held for `rule_id`, in log (arrival) order."""
        entries = self.held.get(rule_id, [])
        if self.keep is not None:
            entries = sorted(entries, key=lambda e: -e[0][4])
        return [a for _r, a in entries]

    def alerts(self) -> list[Alert]:
        """Every alert held, of every rule, in arrival (log) order: the list incidents are built from."""
        entries = [e for lst in self.held.values() for e in lst]
        entries.sort(key=lambda e: -e[0][4])
        return [a for _r, a in entries]

    def riskiest(self, rule_id: str, n: int) -> list[Alert]:
        """The `n` riskiest alerts held for `rule_id`, in log order (what a table with `n` rows shows)."""
        entries = heapq.nlargest(n, self.held.get(rule_id, []), key=lambda e: e[0])
        entries.sort(key=lambda e: -e[0][4])
        return [a for _r, a in entries]

    def max_severity(self) -> Severity | None:
        sevs = [RULES_BY_ID[r].severity for r in self.counts if r in RULES_BY_ID]
        return max(sevs) if sevs else None

    def groups(self) -> list[tuple[Rule, int, list[Alert]]]:
        """(rule, alerts counted, alerts held in log order) per rule that fired, worst severity first."""
        rules = [RULES_BY_ID[r] for r in self.counts if r in RULES_BY_ID]
        rules.sort(key=lambda r: (-int(r.severity), r.id))
        return [(r, self.counts[r.id], self.kept(r.id)) for r in rules]
