"""Audit-log engine: normalized events, the built-in detection catalog, the streaming detector, Sigma rules.

The front of the package: code outside `kubehipaa.engines.auditlog` imports only from here (the import-rule
test enforces it). Public API (stable for the webhook receiver, the file pipeline, Sigma and RBAC-from-usage
work built on top):

- `AuditEvent` (event.py): decoded Event with derived views (`username`, `groups`, `source_ip`, `resource`,
  `subresource`, `namespace`, `name`, `code`, `decision`, `allowed`, `outcome`, `time`, `exec_command`,
  `request_object`, `response_object`, `to_dict()`); `event_from_dict(dict)`; `EVENT_DECODER`;
  `keyed_request_signature(key)` (a request identity that survives a restart).
- `Rule`, `Window`, `DetectorConfig` (rules.py); `RULES`, `RULES_BY_ID` (catalog.py).
- `Detector(rules=None, config=None).process(event) -> list[Alert]`, `.flush()`, `.stats`, `.explain(event)`,
  `.add_hook(fn)` (extra per-request evaluators such as Sigma); `Alert.to_dict()` (detector.py).
- `AlertCollector` (collect.py): the alerts a run keeps, grouped by rule, bounded.
- `Timeline`, `TimelineFilter` (timeline.py): who did what, when, from where.
- `build_incidents(alerts, phi_namespaces=, gap=)` -> `IncidentSet` of `Incident`s ranked by risk
  (incidents.py); `DEFAULT_INCIDENT_GAP`.
- `TimeRange`, `resolve_bound` (timerange.py): the `--since`/`--until` window; `parse_time` (windows.py).
- Sigma (the `sigma` subpackage): `SigmaRuleSet`, `SigmaMatch`, `SkippedRule`, `with_sigma`, `RawEventView`,
  `event_dict`, `sigma_alert`, `catalog_rules`, `register_sigma_rules`. Imported on first use (module
  `__getattr__`): pySigma costs ~0.6 s of start-up, which `audit analyze` without `--sigma` must not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubehipaa.engines.auditlog.catalog import RULES, RULES_BY_ID
from kubehipaa.engines.auditlog.collect import AlertCollector
from kubehipaa.engines.auditlog.detector import Alert, Detector, DetectorStats
from kubehipaa.engines.auditlog.event import (
    EVENT_DECODER,
    AuditEvent,
    event_from_dict,
    keyed_request_signature,
)
from kubehipaa.engines.auditlog.incidents import DEFAULT_GAP as DEFAULT_INCIDENT_GAP
from kubehipaa.engines.auditlog.incidents import Incident, IncidentSet, build_incidents
from kubehipaa.engines.auditlog.rules import DetectorConfig, Rule, Window
from kubehipaa.engines.auditlog.split import SplitMerger, SplitPart, SplitWorker, is_stateful, splittable
from kubehipaa.engines.auditlog.timeline import Timeline, TimelineFilter
from kubehipaa.engines.auditlog.timerange import TimeRange, resolve_bound
from kubehipaa.engines.auditlog.windows import parse_time

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.sigma import (
        RawEventView,
        SigmaMatch,
        SigmaRuleSet,
        SkippedRule,
        catalog_rules,
        event_dict,
        register_sigma_rules,
        sigma_alert,
        with_sigma,
    )

_SIGMA_NAMES = frozenset({
    "RawEventView", "SigmaMatch", "SigmaRuleSet", "SkippedRule", "catalog_rules", "event_dict",
    "register_sigma_rules", "sigma_alert", "with_sigma",
})


def __getattr__(name: str) -> Any:
    """The Sigma names, resolved when first asked for (see the module docstring: start-up cost)."""
    if name in _SIGMA_NAMES:
        from kubehipaa.engines.auditlog import sigma

        return getattr(sigma, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_INCIDENT_GAP",
    "EVENT_DECODER",
    "RULES",
    "RULES_BY_ID",
    "Alert",
    "AlertCollector",
    "AuditEvent",
    "Detector",
    "DetectorConfig",
    "DetectorStats",
    "Incident",
    "IncidentSet",
    "RawEventView",
    "Rule",
    "SigmaMatch",
    "SigmaRuleSet",
    "SkippedRule",
    "SplitMerger",
    "SplitPart",
    "SplitWorker",
    "TimeRange",
    "Timeline",
    "TimelineFilter",
    "Window",
    "build_incidents",
    "catalog_rules",
    "event_dict",
    "event_from_dict",
    "is_stateful",
    "keyed_request_signature",
    "parse_time",
    "register_sigma_rules",
    "resolve_bound",
    "sigma_alert",
    "splittable",
    "with_sigma",
]
