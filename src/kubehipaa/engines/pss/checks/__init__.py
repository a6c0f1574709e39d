"""Upstream Pod Security Standards checks, one module per group of related controls.

Each module exports `CHECKS`: `Check` records with upstream's id, level and the policy versions each
revision applies from. Check functions take `(pod metadata, pod spec, containers)` as plain dicts and
return None (allowed) or `(forbidden reason, forbidden detail)` worded exactly like upstream.
"""

from __future__ import annotations

from kubehipaa.engines.pss.checks import capabilities, containers, host, profiles, sysctls, users, volumes
from kubehipaa.engines.pss.registry import Check

ALL_CHECKS: tuple[Check, ...] = (
    *host.CHECKS,
    *containers.CHECKS,
    *capabilities.CHECKS,
    *profiles.CHECKS,
    *sysctls.CHECKS,
    *users.CHECKS,
    *volumes.CHECKS,
)
