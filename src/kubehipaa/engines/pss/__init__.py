"""Pod Security Standards engine: a versioned re-implementation of upstream pod-security-admission.

Pure: plain dicts in, verdicts out; no I/O. Public API:

    from kubehipaa.engines.pss import evaluate, parse_level, parse_version
    verdict = evaluate(pod["metadata"], pod["spec"], parse_level("restricted"), parse_version("v1.30"))
    verdict.allowed, [(v.check, v.reason, v.detail) for v in verdict.violations]

Check ids, levels, the versions each check applies from, and the forbidden reason/detail wording are
upstream's (see docs/pss.md for the sources and the few documented divergences).
"""

from kubehipaa.engines.pss.api import (
    LATEST,
    LEVEL_CHOICES,
    MAX_MINOR,
    Level,
    LevelVersion,
    PolicyError,
    Verdict,
    Version,
    Violation,
    parse_level,
    parse_version,
)
from kubehipaa.engines.pss.evaluate import PodSpecError, evaluate, evaluate_lv, is_allowed, violations
from kubehipaa.engines.pss.namespaces import (
    LABEL_PREFIX,
    MODES,
    NamespacePolicy,
    label_change_warnings,
    policy_from_labels,
)
from kubehipaa.engines.pss.registry import BY_ID, CHECKS, Check, checks_for
from kubehipaa.engines.pss.workloads import POD_KINDS, PodTemplate, extract

__all__ = [
    "BY_ID",
    "CHECKS",
    "LABEL_PREFIX",
    "LATEST",
    "LEVEL_CHOICES",
    "MAX_MINOR",
    "MODES",
    "POD_KINDS",
    "Check",
    "Level",
    "LevelVersion",
    "NamespacePolicy",
    "PodSpecError",
    "PodTemplate",
    "PolicyError",
    "Verdict",
    "Version",
    "Violation",
    "checks_for",
    "evaluate",
    "evaluate_lv",
    "extract",
    "is_allowed",
    "label_change_warnings",
    "parse_level",
    "parse_version",
    "policy_from_labels",
    "violations",
]
