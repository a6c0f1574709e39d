"""Sigma correlation rules (Sigma 2.0): event_count and value_count over a sliding window per group.

A correlation counts the events (or distinct values) of its base rules per group-by key within a timespan
and fires when the count crosses its threshold. State is bounded: at most `MAX_CORRELATION_GROUPS` groups
per rule (least recently seen evicted), and a window only holds the events of its timespan.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule

from kubehipaa.engines.auditlog.sigma.compile import SigmaMatch
from kubehipaa.engines.auditlog.sigma.fields import FIELD_MAPPING, FieldCache, Getter, _getter

MAX_CORRELATION_GROUPS = 50_000
"""Bound on the groups one correlation rule tracks; the least recently seen group is evicted."""

_CORRELATION_OPS: dict[str, Callable[[float, float], bool]] = {
    "GT": lambda n, c: n > c,
    "GTE": lambda n, c: n >= c,
}


def _event_time(event: dict[str, Any]) -> str:
    for key in ("requestReceivedTimestamp", "stageTimestamp", "timestamp"):
        v = event.get(key)
        if isinstance(v, str) and v:
            return v
    return ""


@dataclass(slots=True)
class Correlation:
    """One compiled correlation rule and its bounded per-group windows."""

    match_info: SigmaMatch
    kind: str
    seconds: float
    threshold: float
    op: Callable[[float, float], bool]
    group_getters: dict[int, list[Getter]]
    """Compiled base-rule index -> getters of the group-by fields (aliases resolved for that rule)."""
    value_getters: dict[int, Getter]
    """value_count only: compiled base-rule index -> getter of the counted field."""
    groups: OrderedDict[tuple[Any, ...], deque[tuple[float, str]]] = field(default_factory=OrderedDict)

    @property
    def rule_id(self) -> str:
        return self.match_info.rule_id

    @property
    def title(self) -> str:
        return self.match_info.title

    def observe(self, event: dict[str, Any], cache: FieldCache, hits: list[int], t: float) -> SigmaMatch | None:
        member = next((i for i in hits if i in self.group_getters), None)
        if member is None:
            return None
        key = tuple(tuple(sorted({str(v) for v in g(event, cache) if v is not None}))
                    for g in self.group_getters[member])
        value = ""
        if self.kind == "value_count":
            vals = [v for v in self.value_getters[member](event, cache) if v is not None]
            if not vals:
                return None
            value = str(vals[0])
        window = self.groups.get(key)
        if window is None:
            window = self.groups[key] = deque()
            if len(self.groups) > MAX_CORRELATION_GROUPS:
                self.groups.popitem(last=False)
        else:
            self.groups.move_to_end(key)
        window.append((t, value))
        horizon = t - self.seconds
        while window and window[0][0] < horizon:
            window.popleft()
        n = len(window) if self.kind == "event_count" else len({v for _, v in window})
        if not self.op(n, self.threshold):
            return None
        window.clear()  # re-arm: the next alert for this group needs a fresh window
        group = ", ".join("/".join(k) or "-" for k in key) or "all events"
        what = "events" if self.kind == "event_count" else "distinct values"
        detail = f"{n} {what} within {int(self.seconds)}s for {group}"
        info = self.match_info
        return SigmaMatch(info.rule_id, info.title, info.level, info.file, info.tags, detail)


def _compile_correlation(corr: SigmaCorrelationRule, file: str,
                         by_rule: dict[int, int]) -> tuple[Correlation | None, str]:
    """A correlation rule over compiled base rules, or (None, why it is not evaluated)."""
    kind = str(corr.type.name).lower()
    if kind not in ("event_count", "value_count"):
        return None, f"correlation type {kind} is not evaluated (only event_count and value_count)"
    cond = corr.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        return None, "extended correlation conditions are not evaluated"
    op = _CORRELATION_OPS.get(cond.op.name)
    if op is None:
        return None, f"condition {cond.op.name.lower()} needs end-of-window timers (only gt/gte are evaluated)"
    members: dict[int, list[Getter]] = {}
    values: dict[int, Getter] = {}
    fieldref = cond.fieldref
    if kind == "value_count" and not isinstance(fieldref, str):
        return None, "value_count needs exactly one condition field"
    for ref in corr.rules or []:
        base = getattr(ref, "rule", None)
        idx = by_rule.get(id(base)) if base is not None else None
        if idx is None:
            return None, f"referenced rule {ref.reference!r} is not a kubernetes/audit rule (or is a correlation)"

        def field_for(name: str, ref: Any = ref) -> str:
            alias = corr.aliases.aliases.get(name)
            if alias is not None:
                for r, mapped in alias.mapping.items():
                    if getattr(r, "rule", None) is getattr(ref, "rule", None):
                        name = mapped
                        break
            mapped_field = FIELD_MAPPING.get(name, name)
            return mapped_field if isinstance(mapped_field, str) else name

        members[idx] = [_getter(field_for(g)) for g in (corr.group_by or [])]
        if kind == "value_count" and isinstance(fieldref, str):
            values[idx] = _getter(field_for(fieldref))
    if not members:
        return None, "no referenced rules"
    level = corr.level.name.lower() if corr.level is not None else "medium"
    info = SigmaMatch(
        rule_id=str(corr.id) if corr.id is not None else (corr.name or corr.title), title=corr.title,
        level=level, file=file, tags=tuple(str(t) for t in corr.tags),
    )
    return Correlation(info, kind, float(corr.timespan.seconds), float(cond.count), op, members, values), ""
