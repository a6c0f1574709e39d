"""A Sigma rule's metadata in the common rule model, validated when the rules are loaded.

Why here and not in `bridge`: the rule set validates every rule as it compiles them (`ruleset`), and the
bridge turns matches into alerts with the same metadata; both import this small module.
"""

from __future__ import annotations

from kubehipaa.engines.auditlog.sigma.compile import SigmaMatch
from kubehipaa.errors import InputError
from kubehipaa.frameworks.rules import RuleError, RuleMeta, sigma_rule_meta


def sigma_meta(match: SigmaMatch) -> RuleMeta:
    """The rule's `RuleMeta` (`frameworks.rules.sigma_rule_meta`: severity from its level; HIPAA paragraphs
    from its `hipaa.<paragraph>` tags, else the documented default `SIGMA_HIPAA`); `InputError` naming the
    rule's file when a tag names no catalog paragraph."""
    try:
        return sigma_rule_meta(match.rule_id, match.title, match.level, match.tags)
    except RuleError as exc:
        raise InputError(f"Sigma rule {match.title!r}: {exc}", file=match.file) from None
