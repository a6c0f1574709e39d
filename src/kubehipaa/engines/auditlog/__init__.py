"""Audit-log engine: normalized events, the built-in detection catalog, and the streaming detector.

Public API (stable for the webhook receiver, Sigma and RBAC-from-usage work built on top):

- `AuditEvent` (event.py): decoded Event with derived views (`username`, `groups`, `source_ip`, `resource`,
  `subresource`, `namespace`, `name`, `code`, `decision`, `allowed`, `outcome`, `time`, `exec_command`,
  `request_object`, `response_object`, `to_dict()`); `event_from_dict(dict)`; `EVENT_DECODER`.
- `Rule`, `Window`, `DetectorConfig` (rules.py); `RULES`, `RULES_BY_ID` (catalog.py).
- `Detector(rules=None, config=None).process(event) -> list[Alert]`, `.flush()`, `.stats`, `.explain(event)`,
  `.add_hook(fn)` (extra per-request evaluators such as Sigma); `Alert.to_dict()` (detector.py).
- `Timeline`, `TimelineFilter` (timeline.py): who did what, when, from where.
- `parse_time(text) -> float` (windows.py): an event timestamp in epoch seconds, 0.0 when unusable.
"""

from kubehipaa.engines.auditlog.catalog import RULES, RULES_BY_ID
from kubehipaa.engines.auditlog.detector import Alert, Detector, DetectorStats
from kubehipaa.engines.auditlog.event import AuditEvent, event_from_dict
from kubehipaa.engines.auditlog.rules import DetectorConfig, Rule, Window
from kubehipaa.engines.auditlog.windows import parse_time

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Alert",
    "AuditEvent",
    "Detector",
    "DetectorConfig",
    "DetectorStats",
    "Rule",
    "Window",
    "event_from_dict",
    "parse_time",
]
