"""A scan's coverage per HIPAA paragraph: each catalog rule's outcome from the ScanResult, then
frameworks.coverage. Rules the scan does not evaluate (audit-log detections, RBAC risk rules) are
"not assessed" with the command that does evaluate them, never passed."""

from __future__ import annotations

from collections import Counter

from kubehipaa.frameworks.coverage import Coverage, RuleOutcome, coverage
from kubehipaa.frameworks.hipaa import load_hipaa
from kubehipaa.pipelines.check_inputs import GAP_CHECKS
from kubehipaa.pipelines.scan import ScanResult

OTHER_COMMAND = {
    "KH-AUDLOG-": "evaluated over audit logs by `kubehipaa audit analyze`, not by a scan",
    "RR-": "evaluated by `kubehipaa rbac risks` / `rbac review`, not by a scan",
}


def rule_outcomes(result: ScanResult) -> dict[str, RuleOutcome]:
    """The outcome of every rule the catalog names, as this scan evidences it."""
    catalog = load_hipaa()
    selected = {c.meta.id for c in result.checks}
    open_counts: dict[str, Counter[str]] = {}
    suppressed: Counter[str] = Counter()
    for f in result.findings:
        if f.suppressed:
            suppressed[f.check_id] += 1
        else:
            open_counts.setdefault(f.check_id, Counter())[f.severity.label] += 1
    out: dict[str, RuleOutcome] = {}
    for para in catalog.paragraphs.values():
        for rule_id in (*para.satisfied_by, *para.supported_by):
            if rule_id in out:
                continue
            other = next((why for prefix, why in OTHER_COMMAND.items() if rule_id.startswith(prefix)), None)
            counts = dict(open_counts.get(rule_id, {}))
            reasons = tuple(result.not_assessed.get(rule_id, ()))
            if other is not None:
                out[rule_id] = RuleOutcome("not-assessed", (other,))
            elif rule_id not in selected:
                out[rule_id] = RuleOutcome("not-assessed", ("not selected in this scan (--check)",))
            elif counts:
                out[rule_id] = RuleOutcome("failed", reasons, counts, suppressed[rule_id])
            elif rule_id in result.assessed and not reasons:
                out[rule_id] = RuleOutcome("passed", (), {}, suppressed[rule_id])
            else:  # no input, or part of its input unreadable: no finding is not a pass
                out[rule_id] = RuleOutcome("not-assessed", reasons or ("no input to judge",), {}, suppressed[rule_id])
    return out


def scan_coverage(result: ScanResult, *, proposed_rule: bool = False) -> Coverage:
    """Coverage of 164.308, 164.310, 164.312 and 164.316 by this scan."""
    return coverage(load_hipaa(), rule_outcomes(result), proposed_rule=proposed_rule, informational=GAP_CHECKS)
