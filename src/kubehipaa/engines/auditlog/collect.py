"""The alerts a run keeps: every alert counted, at most `keep` per rule held, grouped and ranked by rule.

Why in the engine and not in a report: it is the answer of an analysis (what fired, how often, the worst
severity that decides the exit code), which every consumer reads the same way; reports only render it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kubehipaa.engines.auditlog.catalog import RULES_BY_ID
from kubehipaa.engines.auditlog.detector import Alert
from kubehipaa.engines.auditlog.rules import Rule
from kubehipaa.model import Severity


@dataclass(slots=True)
class AlertCollector:
    """Keeps every alert count but at most `keep` alerts per rule, so a report's memory is bounded."""

    keep: int = 1000
    counts: Counter[str] = field(default_factory=Counter)
    kept: dict[str, list[Alert]] = field(default_factory=dict)

    def add(self, alert: Alert) -> None:
        self.counts[alert.rule_id] += 1
        lst = self.kept.setdefault(alert.rule_id, [])
        if len(lst) < self.keep:
            lst.append(alert)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def max_severity(self) -> Severity | None:
        sevs = [RULES_BY_ID[r].severity for r in self.counts if r in RULES_BY_ID]
        return max(sevs) if sevs else None

    def groups(self) -> list[tuple[Rule, int, list[Alert]]]:
        rules = [RULES_BY_ID[r] for r in self.counts if r in RULES_BY_ID]
        rules.sort(key=lambda r: (-int(r.severity), r.id))
        return [(r, self.counts[r.id], self.kept.get(r.id, [])) for r in rules]
