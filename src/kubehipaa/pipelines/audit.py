"""The audit-log pipelines: `audit analyze` (detections over log files) and `audit timeline`.

Why here and not in the CLI: the same work runs from the command line, from tests, from benchmarks and later
from the evidence report; each reads the logs through `sources.auditlog`, runs the audit engine (the
built-in detector, and Sigma rules when given) and returns a result object. Nothing here parses options,
prints or renders: the CLI turns options into arguments, calls one function, and hands the result to
`reports.audit_alerts` / `reports.timeline`. Input errors (unreadable files, bad Sigma rules) are raised as
`InputError`; deciding what an empty read means (exit 2) stays with the caller, which sees `inputs`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubehipaa.engines.auditlog import (
    RULES,
    AlertCollector,
    Detector,
    DetectorConfig,
    DetectorStats,
    Rule,
    Timeline,
    TimelineFilter,
    TimeRange,
)
from kubehipaa.model import Severity
from kubehipaa.sources.auditlog import ReadStats, iter_event_batches, iter_event_batches_with_raw, iter_events

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog import RawEventView, SigmaRuleSet


class UnknownRules(ValueError):
    """Rule ids asked for that are not in the catalog (`ids`, sorted)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = ids


def select_rules(min_severity: Severity = Severity.LOW, only: Iterable[str] | None = None) -> list[Rule]:
    """The built-in rules at or above `min_severity`, restricted to the ids in `only` when given.

    Raises `UnknownRules` for ids in `only` that no built-in rule has: running without a rule that was asked
    for would look like "that rule found nothing"."""
    wanted = set(only or ())
    unknown = sorted(wanted - {r.id for r in RULES})
    if unknown:
        raise UnknownRules(unknown)
    return [r for r in RULES if r.severity >= min_severity and (not wanted or r.id in wanted)]


def read_sigma_rules(paths: Sequence[str | Path]) -> SigmaRuleSet:
    """The Sigma rules in `paths` (files or directories, recursively), compiled for the kubernetes/audit log
    source. Files are found and read by `sources.sigma_files` (within the input bounds); the engine compiles
    their texts. Rules that are not evaluated are listed in `.skipped`; an invalid rule raises InputError."""
    from kubehipaa.engines.auditlog import SigmaRuleSet  # pySigma: imported only when rules are given
    from kubehipaa.sources import sigma_files

    texts, unread = sigma_files.read_rules(paths)
    return SigmaRuleSet.from_texts(texts, unread)


@dataclass(slots=True)
class AuditAnalysis:
    """What `audit analyze` found and over what: the alerts kept (grouped by rule, every one counted), the
    `--since`/`--until` window with its counts, what was read (files, events, malformed lines) and the
    detector's counters; `warnings`: messages the report must carry (an ignored `.kubehipaa.yaml`)."""

    alerts: AlertCollector
    window: TimeRange
    inputs: ReadStats
    detector: DetectorStats
    warnings: list[str] = field(default_factory=list)

    def max_severity(self) -> Severity | None:
        return self.alerts.max_severity()


def analyze(paths: Sequence[str], *, rules: Sequence[Rule] | None = None, config: DetectorConfig | None = None,
            sigma: SigmaRuleSet | None = None, keep: int | None = None, window: TimeRange | None = None,
            warnings: Sequence[str] = (), jobs: int = 1) -> AuditAnalysis:
    """Run the detector (all built-in rules unless `rules`; plus `sigma`) over the audit logs in `paths`.

    With Sigma rules, the log is read with each event's own JSON so that the rules see every field as logged
    (`RawEventView`), as `audit serve --sigma` does; without them no line is kept.

    Every alert is held unless `keep` caps each rule to its `keep` riskiest (engines/auditlog/collect.py);
    the reports then say how many were left out per rule.

    `jobs` > 1: the work is split across that many processes (`pipelines.audit_jobs`), with the same result;
    with Sigma rules, or when the input is a stream or too small to split, it runs in this process."""
    if jobs > 1 and sigma is None:
        from kubehipaa.pipelines.audit_jobs import run_parallel

        collector = AlertCollector(keep=keep)
        stats = ReadStats()
        done = run_parallel(paths, jobs, rules=rules, config=config, collector=collector, stats=stats,
                            window=window or TimeRange())
        if done is not None:
            rng, merged = done
            return AuditAnalysis(collector, rng, stats, merged.stats, list(warnings))
    detector = Detector(rules, config)
    raw_view = None
    if sigma is not None:
        from kubehipaa.engines.auditlog import RawEventView, with_sigma

        raw_view = RawEventView()
        with_sigma(detector, sigma, to_dict=raw_view)
    collector = AlertCollector(keep=keep)
    stats = ReadStats()
    bounds = window or TimeRange()
    rng = run_analysis(list(paths), detector, collector, stats, bounds.since, raw_view, bounds.until)
    return AuditAnalysis(collector, rng, stats, detector.stats, list(warnings))


def run_analysis(paths: list[str], detector: Detector, collector: AlertCollector, stats: ReadStats,
                 since: str | None = None, raw_view: RawEventView | None = None,
                 until: str | None = None) -> TimeRange:
    """The hot loop: stream every event in the window through the detector; only alerts are kept.

    Returns the window with its counts (events read, events in the window).

    The cyclic garbage collector is paused for the loop: events, alerts and window tables form no reference
    cycles, so it would only spend time re-walking the growing set of live containers (reference counting
    still frees every event as soon as it is processed).

    With `raw_view` (the `to_dict` given to `with_sigma`), the log is read with each event's line and the
    view is told each batch's lines before the detector sees the batch, so Sigma rules see every field as
    logged, as in `audit serve`. Without it, the plain reader (no per-line bytes kept) is used.
    """
    rng = TimeRange(since, until)
    process_batch = detector.process_batch
    add = collector.add
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if raw_view is None:
            select = rng.select
            for batch in iter_event_batches(paths, stats):
                alerts = process_batch(select(batch))
                if alerts:
                    for a in alerts:
                        add(a)
        else:
            for batch, raws in iter_event_batches_with_raw(paths, stats):
                batch, raws = rng.select_pairs(batch, raws)
                raw_view.set_batch(batch, raws)
                try:
                    alerts = process_batch(batch)
                finally:
                    raw_view.clear()
                if alerts:
                    for a in alerts:
                        add(a)
        for a in detector.flush():  # held-back events: Sigma sees their decoded fields (as in `audit serve`)
            add(a)
    finally:
        if was_enabled:
            gc.enable()
    return rng


def default_jobs() -> int:
    """`audit analyze --jobs` when not given: the cores this process may run on."""
    from kubehipaa.pipelines.audit_jobs import default_jobs as cores

    return cores()


@dataclass(slots=True)
class AuditTimeline:
    """What `audit timeline` built: the filtered, chronological requests (with the detections each raised,
    and the window's counts in `timeline.window`) and what was read."""

    timeline: Timeline
    inputs: ReadStats


def build_timeline(paths: Sequence[str], flt: TimelineFilter, *, limit: int = 10_000,
                   config: DetectorConfig | None = None) -> AuditTimeline:
    """Who did what, when, from where: the requests of `paths` that pass `flt` (at most `limit` kept), each
    with the alerts of the built-in detections. Events outside the window are not evaluated, as in
    `analyze`."""
    tl = Timeline(flt, limit=limit)
    detector = Detector(config=config)
    stats = ReadStats()
    for ev in iter_events(list(paths), stats):
        if not tl.add(ev):
            continue
        for a in detector.process(ev):
            tl.note_alert(a)
    for a in detector.flush():
        tl.note_alert(a)
    return AuditTimeline(tl, stats)
