"""Sigma rules for Kubernetes audit events, parsed by pySigma and evaluated on dict events.

Why this shape: pySigma ships parsers, modifiers and processing pipelines but no backend that runs a rule
against an in-memory event, so pySigma does all the Sigma work and we compile the rule it parsed into plain
Python closures once; matching an event is then a handful of function calls. One module per step:

- `load`: rule texts → pySigma collections (YAML, filters, correlation references). No file I/O in the
  engine: `sources.sigma_files` reads rule files within the input bounds and hands over (name, text) pairs.
- `fields`: which event value a Sigma field name means (field mapping pipeline, virtual pod fields).
- `values`: one linear-time predicate per Sigma value type (wildcards, `|re` through RE2, `|cidr`, ...).
- `compile`: pySigma's parsed condition tree → one predicate per rule.
- `correlate`: correlation rules (event_count, value_count) with bounded per-group windows.
- `ruleset`: `SigmaRuleSet`, the compiled rules of the kubernetes/audit log source, and `match(event)`.
- `meta`: a Sigma rule's metadata in the common rule model, validated at load.
- `bridge`: Sigma rules and matches as the audit core's `Rule`s and `Alert`s, run inside its `Detector`.

Reached from outside through `kubehipaa.engines.auditlog` (which imports this package, and pySigma with it,
only when a Sigma name is first used).
"""

from kubehipaa.engines.auditlog.sigma.bridge import (
    RawEventView,
    catalog_rules,
    event_dict,
    register_sigma_rules,
    sigma_alert,
    with_sigma,
)
from kubehipaa.engines.auditlog.sigma.compile import CompiledSigmaRule, SigmaMatch, compile_condition
from kubehipaa.engines.auditlog.sigma.correlate import MAX_CORRELATION_GROUPS, Correlation
from kubehipaa.engines.auditlog.sigma.fields import FIELD_MAPPING, kubernetes_audit_pipeline
from kubehipaa.engines.auditlog.sigma.meta import sigma_meta
from kubehipaa.engines.auditlog.sigma.ruleset import PRODUCT, SERVICE, SigmaRuleSet, SkippedRule
from kubehipaa.frameworks.rules import SIGMA_HIPAA, SIGMA_SEVERITY

__all__ = [
    "FIELD_MAPPING",
    "MAX_CORRELATION_GROUPS",
    "PRODUCT",
    "SERVICE",
    "SIGMA_HIPAA",
    "SIGMA_SEVERITY",
    "CompiledSigmaRule",
    "Correlation",
    "RawEventView",
    "SigmaMatch",
    "SigmaRuleSet",
    "SkippedRule",
    "catalog_rules",
    "compile_condition",
    "event_dict",
    "kubernetes_audit_pipeline",
    "register_sigma_rules",
    "sigma_alert",
    "sigma_meta",
    "with_sigma",
]
