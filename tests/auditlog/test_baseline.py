"""KH-AUDLOG-026: secrets-access spikes judged against the identity's own history (engines/auditlog/baseline.py),
and the first-seen warm-up that precedes KH-AUDLOG-023's alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kubehipaa.engines.auditlog import RULES_BY_ID, Detector, DetectorConfig
from tests.auditlog.helpers import event

SPIKE = "KH-AUDLOG-026"
BURST = "KH-AUDLOG-022"
FIRST_SEEN = "KH-AUDLOG-023"
T0 = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.UTC)
SA = "system:serviceaccount:billing:invoicer"


def ts(seconds: float) -> str:
    """MicroTime `seconds` after 10:00:00 UTC."""
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read(user: str, ns: str, name: str | None, at: float, verb: str = "get", code: int = 200) -> object:
    return event(verb, "secrets", ns=ns, name=name, user=user, time=ts(at), code=code,
                 uri=f"/api/v1/namespaces/{ns}/secrets" + (f"/{name}" if name else ""))


def routine(user: str = SA, minutes: int = 30, per_minute: int = 1, namespaces: int = 1) -> list[object]:
    """`per_minute` distinct secrets spread over `namespaces` namespaces, read once a minute for `minutes`."""
    return [read(user, f"ns{i % namespaces}", f"s{i}", m * 60 + i)
            for m in range(minutes) for i in range(per_minute)]


def sweep(user: str = SA, start: float = 31 * 60, secrets: int = 12, namespaces: int = 6) -> list[object]:
    """`secrets` distinct secrets over `namespaces` namespaces within about 20 s."""
    return [read(user, f"team{i % namespaces}", f"creds{i}", start + i * 1.5) for i in range(secrets)]


def alerts_of(rule_id: str, events: list[object], config: DetectorConfig | None = None,
              rules: tuple[str, ...] = (SPIKE, BURST)) -> list:
    det = Detector([RULES_BY_ID[r] for r in rules], config)
    return [a for a in det.process_all(events) if a.rule_id == rule_id]


def test_the_rule_is_high_and_documented() -> None:
    rule = RULES_BY_ID[SPIKE]
    assert rule.severity.label == "high"
    assert "164.312(a)(1)" in rule.hipaa and "164.308(a)(6)(ii)" in rule.hipaa
    assert rule.logic.startswith("High because") and "secret_spike_floor (10)" in rule.logic


def test_a_workload_that_reads_one_secret_and_then_a_dozen_across_namespaces_alerts() -> None:
    """The issue's case: no fixed threshold is crossed (KH-AUDLOG-022 needs 15), the identity's history is."""
    events = routine() + sweep()
    assert alerts_of(BURST, events) == []
    spikes = alerts_of(SPIKE, events)
    assert len(spikes) == 1, [a.message for a in spikes]
    a = spikes[0]
    assert a.severity.label == "high" and a.user == SA
    # raised by the read that reached the namespace floor (its own namespace + 3 others), once per spike
    assert a.evidence["distinctNamespaces"] == 4 and a.count == a.evidence["distinctSecrets"] == 4
    assert a.evidence["baselineSecrets"] == 1.0 and a.evidence["historyWindows"] == 30
    assert "its usual: 1.0 secrets in 1.0 namespaces" in a.message


def test_a_dozen_secrets_in_its_own_namespace_alerts_at_the_floor() -> None:
    spikes = alerts_of(SPIKE, routine() + [read(SA, "ns0", f"creds{i}", 31 * 60 + i) for i in range(12)])
    assert [(a.count, a.evidence["distinctNamespaces"]) for a in spikes] == [(10, 1)]


def test_a_workload_that_always_reads_twenty_does_not_alert() -> None:
    assert alerts_of(SPIKE, routine(per_minute=20, namespaces=5, minutes=60)) == []


def test_its_usual_twenty_after_one_quiet_hour_is_still_usual() -> None:
    """Idle windows are not history: a job that reads 20 secrets once an hour is not a spike each hour."""
    events = [read(SA, f"ns{i % 5}", f"s{i}", h * 3600 + i) for h in range(6) for i in range(20)]
    assert alerts_of(SPIKE, events) == []


def test_below_the_absolute_floor_is_no_spike_however_quiet_the_history() -> None:
    """8 secrets in 3 namespaces is 8x the usual 1, but under both floors (10 secrets, 4 namespaces)."""
    assert alerts_of(SPIKE, routine() + sweep(secrets=8, namespaces=3)) == []


def test_the_floor_is_configurable() -> None:
    events = routine() + sweep(secrets=8, namespaces=3)
    cfg = DetectorConfig(secret_spike_floor=6)
    assert len(alerts_of(SPIKE, events, cfg)) == 1


def test_many_namespaces_alert_even_when_the_secret_count_is_usual() -> None:
    """Five secrets a minute in one namespace is this identity's normal; the same five in five namespaces
    is not."""
    spread = [read(SA, f"other{i}", f"s{i}", 33 * 60 + i) for i in range(5)]
    spikes = alerts_of(SPIKE, routine(per_minute=5) + spread)
    assert len(spikes) == 1
    assert spikes[0].evidence["distinctNamespaces"] == 4 and spikes[0].evidence["distinctSecrets"] == 4
    assert spikes[0].evidence["baselineSecrets"] == 5.0


def test_a_burst_across_a_minute_boundary_is_counted_whole() -> None:
    """The window slides: six reads before 10:31:00 and six after are twelve within a minute."""
    events = routine() + sweep(start=31 * 60 - 9)
    assert len(alerts_of(SPIKE, events)) == 1


def test_during_the_warm_up_an_identity_without_history_is_learnt_not_judged() -> None:
    """The workloads already running when a log starts are not all spikes at its first minute."""
    assert alerts_of(SPIKE, sweep(start=0)) == []
    assert alerts_of(SPIKE, routine(per_minute=20, namespaces=5, minutes=3)) == []


def test_after_the_warm_up_a_new_identity_sweeping_secrets_alerts() -> None:
    """The issue's service account reading a dozen secrets across namespaces within a minute, never seen before:
    its baseline is nothing. (KH-AUDLOG-022 needs 15; first-seen alone is medium.)"""
    newcomer = "system:serviceaccount:portal:frontend"
    events = routine(minutes=90) + sweep(user=newcomer, start=91 * 60)
    spikes = alerts_of(SPIKE, events)
    assert [(a.user, a.evidence["historyWindows"]) for a in spikes] == [(newcomer, 0)]
    assert "no secret reads by it before" in spikes[0].message
    assert alerts_of(BURST, events) == []
    # the warm-up is `first_seen_learning_s`: without it the same sweep alerts at the start of a log
    assert len(alerts_of(SPIKE, sweep(start=0), DetectorConfig(first_seen_learning_s=0))) == 1


def test_a_spike_alerts_once_then_again_after_the_quiet_window() -> None:
    events = routine() + sweep() + sweep(start=31 * 60 + 25) + sweep(start=35 * 60, secrets=30, namespaces=10)
    spikes = alerts_of(SPIKE, events)
    assert [a.time[:19] for a in spikes] == ["2026-11-27T10:31:04", "2026-11-27T10:35:09"]


def test_control_plane_identities_are_not_judged() -> None:
    node = "system:node:worker-1"
    events = routine(user=node) + sweep(user=node)
    assert alerts_of(SPIKE, events) == []


def test_identities_are_judged_separately() -> None:
    """A busy operator's history does not make a quiet workload's sweep look normal."""
    operator = "system:serviceaccount:ops:operator"
    events = routine(user=operator, per_minute=30, namespaces=10) + routine() + sweep()
    spikes = alerts_of(SPIKE, events)
    assert [a.user for a in spikes] == [SA]


def test_snapshot_and_restore_continue_the_history() -> None:
    """The baseline is detector state like the windows: a restored detector judges like one that never
    stopped (the `--state` file and `audit serve`'s checkpoint rely on it)."""
    first = Detector([RULES_BY_ID[SPIKE]])
    first.process_all(routine())
    snap = first.snapshot()
    assert snap["windows"][SPIKE][0] == "SpikeBaseline"
    restored = Detector([RULES_BY_ID[SPIKE]])
    assert restored.restore(snap) == []
    assert len(restored.process_all(sweep())) == 1
    fresh = Detector([RULES_BY_ID[SPIKE]])
    assert fresh.process_all(sweep()) == []  # without the history: an unknown identity during the warm-up


def test_memory_is_bounded() -> None:
    det = Detector([RULES_BY_ID[SPIKE]], DetectorConfig(max_keys=50))
    det.process_all([read(f"user{i}@x.org", "ns", f"s{j}", i) for i in range(500) for j in range(3)])
    det.process_all([read(SA, f"ns{j}", f"s{j}", 900) for j in range(1000)])
    state = det._state[SPIKE].to_state()["ids"]
    assert len(state) == 50
    assert max(len(row[10]) for _, row in state) <= 128 and max(len(row[11]) for _, row in state) <= 128


# ------------------------------------------------------------------------------- first-seen warm-up


def _first_seen(config: DetectorConfig | None = None) -> list:
    early = [read(f"app{i}@hospital.org", "clinical", "a", i * 60) for i in range(3)]
    new_during = read("mallory@x.org", "clinical", "a", 30 * 60)  # a new identity while still learning
    new_after = read("eve@x.org", "clinical", "a", 90 * 60)
    return alerts_of(FIRST_SEEN, [*early, new_during, new_after], config, rules=(FIRST_SEEN,))


def test_first_seen_learns_before_it_alerts_for_the_documented_default() -> None:
    """No first-seen alert during the warm-up, alerts after it; the default (1 hour of log time) and how to
    change it are stated in docs/audit-log.md."""
    assert DetectorConfig().first_seen_learning_s == 3600
    assert [a.user for a in _first_seen()] == ["eve@x.org"]  # mallory came 30 minutes in: still learning
    assert [a.user for a in _first_seen(DetectorConfig(first_seen_learning_s=600))] == \
        ["mallory@x.org", "eve@x.org"]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text(encoding="utf-8")
    assert "--learning-period" in doc and "default 1h" in doc
