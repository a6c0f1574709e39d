"""`kubehipaa catalog`'s one pipeline: the packaged catalog with every built-in rule's metadata (checks,
audit-log detections, RBAC risk rules: the registries the catalog's listing is generated from) as a view."""

from __future__ import annotations

from kubehipaa.frameworks.catalog_view import CatalogView, catalog_view
from kubehipaa.frameworks.hipaa import load_hipaa
from kubehipaa.frameworks.rules import RuleMeta
from kubehipaa.pipelines.check_inputs import GAP_CHECKS


def builtin_rules() -> dict[str, RuleMeta]:
    """Every built-in rule's metadata by id."""
    from kubehipaa.checks.registry import all_checks
    from kubehipaa.engines.auditlog import RULES
    from kubehipaa.engines.rbac import builtin_risk_rules

    metas = [*(c.meta for c in all_checks()), *(r.meta for r in RULES), *(r.meta for r in builtin_risk_rules())]
    return {m.id: m for m in metas}


def hipaa_catalog_view(*, proposed_rule: bool = False) -> CatalogView:
    """The catalog as `kubehipaa catalog` shows it (gap checks marked informational, as a scan's coverage
    reads them)."""
    return catalog_view(load_hipaa(), builtin_rules(), proposed_rule=proposed_rule, informational=GAP_CHECKS)
