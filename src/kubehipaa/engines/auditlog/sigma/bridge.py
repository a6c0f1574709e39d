"""Sigma rules as audit-core rules and alerts: run a `SigmaRuleSet` inside the audit `Detector`.

A Sigma match becomes an ordinary `Alert` and a Sigma rule an ordinary catalog `Rule`, so reports, the
webhook's JSON lines and its metrics treat them like built-in detections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import orjson

from kubehipaa.engines.auditlog.catalog import RULES_BY_ID
from kubehipaa.engines.auditlog.detector import Alert, Detector
from kubehipaa.engines.auditlog.event import AuditEvent
from kubehipaa.engines.auditlog.rules import Rule
from kubehipaa.engines.auditlog.sigma.compile import SigmaMatch
from kubehipaa.engines.auditlog.sigma.meta import sigma_meta
from kubehipaa.engines.auditlog.sigma.ruleset import SigmaRuleSet


def sigma_alert(match: SigmaMatch, ev: AuditEvent) -> Alert:
    """A Sigma match on an `AuditEvent` as the audit core's `Alert`, so reports and sinks treat both alike."""
    meta = sigma_meta(match)
    return Alert(
        rule_id=meta.id, title=match.title, severity=meta.severity, hipaa=meta.hipaa,
        message=(f"Sigma correlation {match.title!r}: {match.detail} (last: {ev.verb or '?'} {ev.object_display})"
                 if match.detail else f"Sigma rule {match.title!r} matched ({ev.verb or '?'} {ev.object_display})"),
        time=ev.time, audit_id=ev.auditID or "", user=ev.username, source_ip=ev.source_ip,
        user_agent=ev.user_agent, verb=ev.verb or "", object=ev.object_display, namespace=ev.namespace,
        impersonated=ev.impersonated_username,
        evidence={"sigmaFile": match.file, "level": match.level, "tags": list(match.tags)},
    )


_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER = msgspec.json.Decoder()


def event_dict(ev: AuditEvent) -> dict[str, Any]:
    """An audit-core `AuditEvent` back as the plain dict Sigma reads (upstream field names, bodies decoded).

    One msgspec encode + decode in C (the undecoded bodies are embedded verbatim): about twice as fast as
    `AuditEvent.to_dict()`, with the same result; falls back to it if the round trip fails."""
    try:
        doc = _JSON_DECODER.decode(_JSON_ENCODER.encode(ev))
    except (msgspec.DecodeError, msgspec.EncodeError, TypeError):
        return dict(ev.to_dict())
    return doc if isinstance(doc, dict) else dict(ev.to_dict())


class RawEventView:
    """A `to_dict` for `with_sigma` that shows Sigma each event as logged, not only the decoded fields.

    The reader hands over each batch's events with the bytes they were decoded from (`set_batch`, e.g. from
    `iter_event_batches_with_raw`); while the detector processes that batch, an event of it is given to
    Sigma as `orjson.loads` of its bytes (every field: `level`, `user.extra`, all annotations, ...). An event
    held back from an earlier batch (a RequestReceived stage evaluated later), one without bytes, or one
    whose bytes are not a JSON object falls back to `event_dict`. The same mechanism as `audit serve`'s.
    Events are looked up by `id()`: valid because the batch's events are alive while it is processed, and
    the table is replaced (`set_batch`) or emptied (`clear`) before the next batch.
    """

    __slots__ = ("_raw",)

    def __init__(self) -> None:
        self._raw: dict[int, bytes | None] = {}

    def set_batch(self, events: Sequence[Any], raws: Sequence[bytes | None]) -> None:
        if len(events) != len(raws):
            raise ValueError("events and raws are not aligned")
        self._raw = dict(zip(map(id, events), raws, strict=True))

    def clear(self) -> None:
        self._raw = {}

    def __call__(self, ev: AuditEvent) -> dict[str, Any]:
        raw = self._raw.get(id(ev))
        if raw is not None:
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                return doc
        return event_dict(ev)


def catalog_rules(ruleset: SigmaRuleSet) -> list[Rule]:
    """The Sigma rules as audit-core `Rule` records (id `sigma:<uuid>`), for reports that group alerts by rule.

    Their `match` never fires: Sigma rules are evaluated by `SigmaRuleSet.match`, not by the Detector."""
    out = []
    entries = [(r.match_info, "rule", tuple(str(x) for x in (r.rule.references or ()))) for r in ruleset.rules
               if r.output]
    entries += [(c.match_info, "correlation", ()) for c in ruleset.correlations]
    for info, what, refs in entries:
        meta = sigma_meta(info)
        out.append(Rule(
            id=meta.id, title=meta.title, severity=meta.severity, hipaa=meta.hipaa,
            logic=f"Sigma {what} {Path(info.file).name} (level {info.level}), evaluated through pySigma",
            match=lambda ev, cfg: None, gate="sigma", refs=refs, family="sigma",
        ))
    return out


def register_sigma_rules(ruleset: SigmaRuleSet) -> None:
    """Add the Sigma rules to the audit core's `RULES_BY_ID`, so alert reports (which group and rank alerts
    by that catalog) show Sigma alerts like built-in ones. Idempotent; built-in ids are never replaced."""
    for rule in catalog_rules(ruleset):
        RULES_BY_ID.setdefault(rule.id, rule)


def with_sigma(detector: Detector, ruleset: SigmaRuleSet, *, register: bool = True,
               to_dict: Callable[[AuditEvent], dict[str, Any]] | None = None) -> Detector:
    """Make `detector` (an audit-core `Detector`) also run `ruleset` on every event it evaluates.

    Uses the detector's `add_hook` extension point, so Sigma sees each request once (after the auditID
    de-duplication across stages), its alerts flow wherever the built-in ones go and `detector.stats` counts
    them. Each evaluated event is turned into a dict for Sigma, which costs time only when Sigma rules are
    given. `to_dict` does that conversion; the default, `event_dict`, only has the fields the audit core
    decodes, so a caller that still has the original JSON (the webhook) passes its own.
    With `register`, the rules are also added to the audit core's rule catalog (see `register_sigma_rules`).
    """
    if register:
        register_sigma_rules(ruleset)
    view = to_dict or event_dict

    def sigma_hook(ev: AuditEvent) -> list[Alert]:
        return [sigma_alert(m, ev) for m in ruleset.match(view(ev))]

    detector.add_hook(sigma_hook)
    return detector
