"""Sigma correlation rules (event_count, value_count) on the stream: windows per group, bounded, re-armed."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.auditlog import SigmaRuleSet

BASE = """
title: Forbidden secret read
id: 7f3c2a10-0000-4000-8000-000000000001
name: forbidden_secret_read
status: test
level: low
logsource: {product: kubernetes, service: audit}
detection:
  sel:
    objectRef.resource: secrets
    verb: get
    responseStatus.code: 403
  condition: sel
"""

EVENT_COUNT = """
title: Repeated forbidden secret reads
id: 7f3c2a10-0000-4000-8000-000000000002
level: high
correlation:
  type: event_count
  rules: [forbidden_secret_read]
  group-by: [user.username]
  timespan: 10m
  condition:
    gte: 3
"""

VALUE_COUNT = """
title: Many distinct secrets probed
id: 7f3c2a10-0000-4000-8000-000000000003
level: critical
correlation:
  type: value_count
  generate: true
  rules: [forbidden_secret_read]
  group-by: [user.username]
  timespan: 1h
  condition:
    gt: 2
    field: objectRef.name
"""


def ev(user: str, name: str, minute: int) -> dict[str, Any]:
    return {"kind": "Event", "verb": "get", "user": {"username": user},
            "objectRef": {"resource": "secrets", "namespace": "clinical", "name": name},
            "responseStatus": {"code": 403}, "annotations": {"authorization.k8s.io/decision": "forbid"},
            "requestReceivedTimestamp": f"2026-11-20T10:{minute:02d}:00.000000Z"}


def titles(rs: SigmaRuleSet, events: list[dict[str, Any]]) -> list[list[str]]:
    return [[m.title for m in rs.match(e)] for e in events]


def test_event_count_per_group_within_the_timespan() -> None:
    rs = SigmaRuleSet.from_yaml(BASE + "---\n" + EVENT_COUNT)
    out = titles(rs, [ev("eve", "a", 0), ev("bob", "a", 1), ev("eve", "b", 2), ev("eve", "c", 3),
                      ev("eve", "d", 4)])
    # the base rule is only a building block (generate: false): it never alerts on its own
    assert out == [[], [], [], ["Repeated forbidden secret reads"], []]  # third eve event; then re-armed
    fired = rs.match(ev("eve", "e", 5))
    assert fired == [] and rs.correlations[0].groups  # 2 since the re-arm
    # outside the 10-minute timespan old events no longer count
    rs2 = SigmaRuleSet.from_yaml(BASE + "---\n" + EVENT_COUNT)
    assert titles(rs2, [ev("eve", "a", 0), ev("eve", "b", 11), ev("eve", "c", 22)]) == [[], [], []]


def test_value_count_counts_distinct_values_and_generate_keeps_base_alerts() -> None:
    rs = SigmaRuleSet.from_yaml(BASE + "---\n" + VALUE_COUNT)
    out = titles(rs, [ev("eve", "a", 0), ev("eve", "a", 1), ev("eve", "b", 2), ev("eve", "c", 3)])
    base = "Forbidden secret read"
    assert out == [[base], [base], [base], [base, "Many distinct secrets probed"]]
    last = rs.match(ev("mallory", "x", 4))
    assert [m.title for m in last] == [base]


def test_correlation_match_carries_the_group_and_count() -> None:
    rs = SigmaRuleSet.from_yaml(BASE + "---\n" + EVENT_COUNT)
    for m in range(2):
        rs.match(ev("eve", str(m), m))
    (hit,) = rs.match(ev("eve", "z", 3))
    assert hit.rule_id == "7f3c2a10-0000-4000-8000-000000000002" and hit.level == "high"
    assert hit.detail == "3 events within 600s for eve"
    assert hit.to_dict()["detail"] == hit.detail


def test_groups_are_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import kubehipaa.engines.auditlog.sigma.correlate as sigma

    monkeypatch.setattr(sigma, "MAX_CORRELATION_GROUPS", 3)
    rs = SigmaRuleSet.from_yaml(BASE + "---\n" + EVENT_COUNT)
    for i in range(50):
        rs.match(ev(f"user-{i}", "a", i % 60))
    assert len(rs.correlations[0].groups) == 3
    assert list(rs.correlations[0].groups)[-1] == (("user-49",),)
