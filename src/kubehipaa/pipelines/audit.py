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
from typing import TYPE_CHECKING, Any

from kubehipaa.engines.auditlog import (
    DEFAULT_INCIDENT_GAP,
    RULES,
    RULES_BY_ID,
    Alert,
    AlertCollector,
    Detector,
    DetectorConfig,
    DetectorStats,
    IncidentSet,
    Rule,
    Timeline,
    TimelineFilter,
    TimeRange,
    build_incidents,
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
    state: StateUse | None = None
    """With `--state`: what was read from and written to the state file."""
    incidents: IncidentSet | None = None
    """The alerts held, grouped into incidents ranked by risk (`with_incidents`; None until then)."""

    def max_severity(self) -> Severity | None:
        return self.alerts.max_severity()


def with_incidents(result: AuditAnalysis, *, phi_namespaces: Iterable[str] = (),
                   gap: float = DEFAULT_INCIDENT_GAP) -> AuditAnalysis:
    """`result` with its incidents: the alerts it holds (all of them unless a `--keep` cap left some out; rarity
    still counts every alert of the run) grouped by `engines.auditlog.incidents`. A separate step over the
    final alert list, so it applies whatever produced the alerts (one detector or several jobs)."""
    col = result.alerts
    result.incidents = build_incidents(col.alerts(), phi_namespaces=frozenset(phi_namespaces), gap=gap,
                                       rule_counts=col.counts)
    return result


def analyze(paths: Sequence[str], *, rules: Sequence[Rule] | None = None, config: DetectorConfig | None = None,
            sigma: SigmaRuleSet | None = None, keep: int | None = None, window: TimeRange | None = None,
            warnings: Sequence[str] = (), state: Path | None = None, phi_namespaces: Iterable[str] = (),
            incident_gap: float = DEFAULT_INCIDENT_GAP, jobs: int = 1) -> AuditAnalysis:
    """Run the detector (all built-in rules unless `rules`; plus `sigma`) over the audit logs in `paths`.

    With Sigma rules, the log is read with each event's own JSON so that the rules see every field as logged
    (`RawEventView`), as `audit serve --sigma` does; without them no line is kept.

    Every alert is held unless `keep` caps each rule to its `keep` riskiest (engines/auditlog/collect.py);
    the reports then say how many were left out per rule. The alerts held are grouped into incidents
    (`with_incidents`: `phi_namespaces` weigh in their risk, `incident_gap` seconds of quiet split them).

    With `state` (a path), what the rules learnt is read from it before the run (absent: start learning) and
    written back after it, when events were evaluated (`load_state`/`save_state`).

    `jobs` > 1: the work is split across that many processes (`pipelines.audit_jobs`), with the same result
    (the learnt state goes to and comes from the process that keeps the windows); with Sigma rules, or when
    the input is a stream or too small to split, it runs in this process."""
    if jobs > 1 and sigma is None:
        from kubehipaa.pipelines.audit_jobs import run_parallel

        collector = AlertCollector(keep=keep)
        stats = ReadStats()
        uses: list[StateUse] = []

        def prepare(merger: Detector) -> None:
            if state is not None:
                uses.append(load_state(merger, state))

        done = run_parallel(paths, jobs, rules=rules, config=config, collector=collector, stats=stats,
                            window=window or TimeRange(), prepare=prepare)
        if done is not None:
            rng, merged = done
            if uses:
                save_state(merged, uses[0])
            return with_incidents(AuditAnalysis(collector, rng, stats, merged.stats, list(warnings),
                                                uses[0] if uses else None),
                                  phi_namespaces=phi_namespaces, gap=incident_gap)
    detector = Detector(rules, config)
    use = load_state(detector, state) if state is not None else None
    raw_view = None
    if sigma is not None:
        from kubehipaa.engines.auditlog import RawEventView, with_sigma

        raw_view = RawEventView()
        with_sigma(detector, sigma, to_dict=raw_view)
    collector = AlertCollector(keep=keep)
    stats = ReadStats()
    bounds = window or TimeRange()
    rng = run_analysis(list(paths), detector, collector, stats, bounds.since, raw_view, bounds.until)
    if use is not None:
        save_state(detector, use)
    return with_incidents(AuditAnalysis(collector, rng, stats, detector.stats, list(warnings), use),
                          phi_namespaces=phi_namespaces, gap=incident_gap)


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
                   config: DetectorConfig | None = None, phi_namespaces: Iterable[str] = (),
                   incident_gap: float = DEFAULT_INCIDENT_GAP) -> AuditTimeline:
    """Who did what, when, from where: the requests of `paths` that pass `flt` (at most `limit` kept), each
    with the alerts of the built-in detections and the incidents they are in. Events outside the window are
    not evaluated, as in `analyze`; every alert of the window (not only those of the requests shown) is
    grouped, as `audit analyze` groups them, so an entry names the incident id `analyze` reports."""
    tl = Timeline(flt, limit=limit)
    detector = Detector(config=config)
    stats = ReadStats()
    alerts: list[Alert] = []
    for ev in iter_events(list(paths), stats):
        if not tl.add(ev):
            continue
        for a in detector.process(ev):
            alerts.append(a)
            tl.note_alert(a)
    for a in detector.flush():
        alerts.append(a)
        tl.note_alert(a)
    tl.link_incidents(build_incidents(alerts, phi_namespaces=frozenset(phi_namespaces), gap=incident_gap))
    return AuditTimeline(tl, stats)


# -- `audit analyze --state FILE` ------------------------------------------------------------------------


@dataclass(slots=True)
class StateUse:
    """What `--state` did: whether a file was found, which windowed rules had no learnt state in it (they
    learn from this run), how many bytes were written at the end (0: nothing evaluated, file untouched)."""

    path: Path
    found: bool
    fresh_rules: list[str] = field(default_factory=list)
    written: int = 0
    kept: dict[str, Any] = field(default_factory=dict)
    """Saved windows of built-in rules not run this time (`--rule`, `--min-severity`): written back as they
    were, so a narrower run does not erase what the other rules learnt."""


def load_state(detector: Detector, path: Path) -> StateUse:
    """Restore `detector`'s windows from the state file at `path` (see `sources.audit_state`).

    Only what rules learnt is kept between runs (first-seen tables, baselines, burst windows and their quiet
    periods): `Detector.restore` through the same snapshot layout `audit serve` checkpoints, with empty
    per-request tables and zero counters, so this run's report counts this run. Request de-duplication does
    not carry over (its signatures are per process): a log given to two runs is evaluated twice.

    Raises `StateFileError` (one line, exit 2) for a file that cannot be used or written."""
    from kubehipaa.sources import audit_state

    audit_state.check_writable(path)
    saved = audit_state.read_state(path)
    if saved is None:
        return StateUse(path, found=False)
    snap = {"version": saved.get("version"), "windows": saved["windows"], "done": [{}, {}], "pending": [[], []],
            "counters": {"received": 0, "duplicates": 0, "evaluated": 0, "reused": 0, "alerts": {}}}
    try:
        fresh = detector.restore(snap)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError):
        raise audit_state.StateFileError(f"{path}: state file is corrupt or from another version of kubehipaa "
                                         "(its detector state does not have the layout this one writes); delete "
                                         "it to start learning afresh") from None
    running = {r.id for r in detector.rules if r.window is not None}
    kept = {rid: entry for rid, entry in saved["windows"].items() if rid not in running and rid in RULES_BY_ID}
    return StateUse(path, found=True, fresh_rules=fresh, kept=kept)


def save_state(detector: Detector, use: StateUse) -> None:
    """Write what `detector` learnt (and the kept windows of rules not run) to `use.path`, atomically; not when
    nothing was evaluated (an empty read, an empty --since/--until window), which leaves the file as it was."""
    from kubehipaa.sources import audit_state

    if not detector.stats.evaluated:
        return
    snap = detector.snapshot()
    windows = {**use.kept, **snap["windows"]}
    use.written = audit_state.write_state(use.path, {"version": snap["version"], "windows": windows})
