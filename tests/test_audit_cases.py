"""Every built-in audit-log rule has a case folder under tests/audit_cases/<RULE-ID>/.

`events.jsonl` must raise exactly the alerts of the rule its `expected.yaml` lists (auditID, user, verb,
object, severity, window count; in stream order); each `pass*.jsonl` must raise none. Files are read by the
reader of `kubehipaa audit analyze` and run through a Detector with the whole built-in catalog (no Sigma
rules) and the default config, as a user's log would be. Format: tests/cases/README.md.
"""

from __future__ import annotations

import pytest

from kubehipaa.engines.auditlog import RULES
from tests.case_specs import AUDIT_CASES, AUDIT_FIRE, AUDIT_PASS_GLOB, alert_entries, alerts, read_expected

RULE_IDS = [r.id for r in RULES]


def test_every_builtin_rule_has_a_case_folder_and_no_folder_is_orphaned() -> None:
    folders = {p.name for p in AUDIT_CASES.iterdir() if p.is_dir()}
    assert not set(RULE_IDS) - folders, f"rules without tests/audit_cases/<ID>/: {sorted(set(RULE_IDS) - folders)}"
    assert not folders - set(RULE_IDS), f"case folders without a built-in rule: {sorted(folders - set(RULE_IDS))}"


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_events_raise_exactly_the_expected_alerts(rule_id: str) -> None:
    folder = AUDIT_CASES / rule_id
    spec = read_expected(folder)
    got = alert_entries(folder / AUDIT_FIRE, rule_id)
    assert got == spec["alerts"], f"{rule_id}: alerts differ from expected.yaml\n got: {got}\nwant: {spec['alerts']}"


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_pass_events_raise_no_alert_of_the_rule(rule_id: str) -> None:
    passes = sorted((AUDIT_CASES / rule_id).glob(AUDIT_PASS_GLOB))
    assert passes, f"{rule_id}: no non-firing case (tests/audit_cases/{rule_id}/pass.jsonl)"
    for path in passes:
        fired = [a.to_dict() for a in alerts(path) if a.rule_id == rule_id]
        assert not fired, f"{path.name} must not raise {rule_id}: {fired}"
