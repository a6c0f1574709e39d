"""Upstream Pod Security Standards checks, one module per group of related controls.

Each module exports `CHECKS`: `Check` records with upstream's id, level and the policy versions each
revision applies from. Check functions take `(pod metadata, pod spec, containers)` as plain dicts and
return None (allowed) or `(forbidden reason, forbidden detail)` worded exactly like upstream.
"""

from __future__ import annotations

from kubehipaa.engines.pss.base import Check
from kubehipaa.engines.pss.checks.capabilities import CHECKS as CAPABILITIES
from kubehipaa.engines.pss.checks.containers import CHECKS as CONTAINERS
from kubehipaa.engines.pss.checks.host import CHECKS as HOST
from kubehipaa.engines.pss.checks.profiles import CHECKS as PROFILES
from kubehipaa.engines.pss.checks.sysctls import CHECKS as SYSCTLS
from kubehipaa.engines.pss.checks.users import CHECKS as USERS
from kubehipaa.engines.pss.checks.volumes import CHECKS as VOLUMES

ALL_CHECKS: tuple[Check, ...] = (
    *HOST,
    *CONTAINERS,
    *CAPABILITIES,
    *PROFILES,
    *SYSCTLS,
    *USERS,
    *VOLUMES,
)
