"""A compiled set of Sigma rules for the kubernetes/audit log source, and matching events against it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from kubehipaa.engines.auditlog.sigma.compile import (
    CompiledSigmaRule,
    SigmaMatch,
    _compile_rule,
    _set_candidate,
)
from kubehipaa.engines.auditlog.sigma.correlate import Correlation, _compile_correlation, _event_time
from kubehipaa.engines.auditlog.sigma.fields import FieldCache, Getter, _getter
from kubehipaa.engines.auditlog.sigma.load import _one_line, _rule_file, parse_texts
from kubehipaa.engines.auditlog.sigma.meta import sigma_meta
from kubehipaa.engines.auditlog.sigma.values import _as_text
from kubehipaa.engines.auditlog.windows import parse_time
from kubehipaa.errors import InputError

PRODUCT = "kubernetes"
SERVICE = "audit"


@dataclass(frozen=True, slots=True)
class SkippedRule:
    """A rule that is not evaluated, and why (another log source, a correlation type not evaluated, a file
    that was not read): the CLI warns about each, so a rule asked for never silently does nothing."""

    file: str
    title: str
    reason: str


@dataclass(slots=True)
class SigmaRuleSet:
    """Compiled Sigma rules for the kubernetes/audit log source; `match(event)` runs all of them."""

    rules: list[CompiledSigmaRule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    skipped: list[SkippedRule] = field(default_factory=list)
    _index: _RuleIndex | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_texts(cls, texts: Iterable[tuple[str, str]], unread: Sequence[tuple[str, str]] = ()) -> SigmaRuleSet:
        """Compile rule files given as (file name, YAML text) pairs, in the order given.

        The engine reads no file: `sources.sigma_files` finds and reads them (within the input bounds) and
        passes their texts here, with `unread`, the (file name, reason) of entries it did not read (a FIFO
        in a rules directory), which are listed in `.skipped` like rules for other log sources and
        correlations that are not evaluated. A text that is not valid YAML, or a rule pySigma rejects,
        raises `InputError` naming its file.
        """
        out = cls.from_collection(parse_texts(texts))
        out.skipped.extend(SkippedRule(name, Path(name).name, why) for name, why in unread)
        return out

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> SigmaRuleSet:
        """Compile rules from YAML text (one or more documents); mainly for tests and embedding."""
        return cls.from_texts([(source, text)])

    @classmethod
    def from_collection(cls, collection: SigmaCollection) -> SigmaRuleSet:
        out = cls()
        by_rule: dict[int, int] = {}  # id(pySigma rule) -> index in out.rules
        pending: list[SigmaCorrelationRule] = []
        for rule in collection.rules:
            file = _rule_file(rule)
            if isinstance(rule, SigmaCorrelationRule):
                pending.append(rule)
                continue
            if not isinstance(rule, SigmaRule):  # pragma: no cover - collections hold rules only
                continue
            if rule.errors:
                named = f" {rule.title!r}" if rule.title else ""
                raise InputError(f"invalid Sigma rule{named}: {_one_line(rule.errors[0], file)}", file=file)
            ls = rule.logsource
            if (ls.product or "").lower() != PRODUCT or (ls.service or "").lower() != SERVICE:
                out.skipped.append(SkippedRule(
                    file, rule.title, f"log source product={ls.product} service={ls.service} is not kubernetes/audit"
                ))
                continue
            by_rule[id(rule)] = len(out.rules)
            out.rules.append(_compile_rule(rule, file))
        for corr in pending:
            file = _rule_file(corr)
            if corr.errors:
                raise InputError(f"invalid Sigma correlation {corr.title!r}: {_one_line(corr.errors[0])}", file=file)
            compiled, reason = _compile_correlation(corr, file, by_rule)
            if compiled is None:
                out.skipped.append(SkippedRule(file, corr.title, reason))
            else:
                out.correlations.append(compiled)
        for info in [r.match_info for r in out.rules] + [c.match_info for c in out.correlations]:
            sigma_meta(info)  # validated at load: a hipaa.<paragraph> tag must name a catalog paragraph
        return out

    def match(self, event: dict[str, Any]) -> list[SigmaMatch]:
        """Every rule that matches this audit event (a dict as read from the log), in rule order, then the
        correlation rules whose threshold this event crossed (stateful: windows per group, bounded)."""
        if not isinstance(event, dict):
            return []
        index = self._index
        if index is None or index.size != len(self.rules):
            index = self._index = _RuleIndex.build(self.rules)
        cache: FieldCache = {}
        hits = [i for i in index.candidates(event, cache) if self.rules[i].matches(event, cache)]
        out = [self.rules[i].match_info for i in hits if self.rules[i].output]
        if self.correlations and hits:
            t = parse_time(_event_time(event))
            for corr in self.correlations:
                fired = corr.observe(event, cache, hits, t)
                if fired is not None:
                    out.append(fired)
        return out

    def __len__(self) -> int:
        return len(self.rules) + len(self.correlations)


# Fields a rule is most often pinned to; a rule that requires one of a few values there is only tried on
# events carrying one of them.
INDEX_FIELDS = ("objectRef.resource", "verb")


def required_values(node: Any, field_name: str) -> frozenset[str] | None:
    """Lower-cased values `field_name` must equal for `node` to be true, or None when unconstrained."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        cand = _set_candidate(node)
        return frozenset((cand[1],)) if cand is not None and cand[0] == field_name else None
    if isinstance(node, ConditionAND):
        found = [r for a in node.args if (r := required_values(a, field_name)) is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(node, ConditionOR):
        parts = [required_values(a, field_name) for a in node.args]
        if parts and all(p is not None for p in parts):
            return frozenset().union(*(p for p in parts if p is not None))
        return None
    return None


@dataclass(slots=True)
class _RuleIndex:
    """Rules bucketed by a value they require on an index field, so most rules are never tried."""

    size: int
    always: list[int]
    buckets: list[tuple[Getter, dict[str, list[int]]]]

    @classmethod
    def build(cls, rules: list[CompiledSigmaRule]) -> _RuleIndex:
        always: list[int] = []
        by_field: dict[str, dict[str, list[int]]] = {f: {} for f in INDEX_FIELDS}
        for i, rule in enumerate(rules):
            for f in INDEX_FIELDS:
                needs = [required_values(c.parsed, f) for c in rule.rule.detection.parsed_condition]
                if needs and all(n is not None for n in needs):
                    for key in frozenset().union(*(n for n in needs if n is not None)):
                        by_field[f].setdefault(key, []).append(i)
                    break
            else:
                always.append(i)
        return cls(len(rules), always, [(_getter(f), b) for f, b in by_field.items() if b])

    def candidates(self, event: dict[str, Any], cache: FieldCache) -> list[int]:
        out = list(self.always)
        for get, bucket in self.buckets:
            for v in get(event, cache):
                t = _as_text(v)
                if t is not None:
                    out.extend(bucket.get(t.lower(), ()))
        if len(self.buckets) > 0:
            out = sorted(set(out))
        return out
