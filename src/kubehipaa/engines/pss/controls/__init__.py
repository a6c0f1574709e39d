"""The Pod Security Standards controls: upstream's per-control evaluators, one module per group of related
controls.

Upstream calls these "checks" (and `kubehipaa pss checks` lists them under that name); the package is
`controls` so that "check" in this code base means a KH scanner check (`kubehipaa.checks`) only.

Each module exports `CHECKS`: `Check` records with upstream's id, level and the policy versions each
revision applies from. Check functions take `(pod metadata, pod spec, containers)` as plain dicts and
return None (allowed) or `(forbidden reason, forbidden detail)` worded exactly like upstream.
"""

from __future__ import annotations

from kubehipaa.engines.pss.base import Check
from kubehipaa.engines.pss.controls.capabilities import CHECKS as CAPABILITIES
from kubehipaa.engines.pss.controls.containers import CHECKS as CONTAINERS
from kubehipaa.engines.pss.controls.host import CHECKS as HOST
from kubehipaa.engines.pss.controls.profiles import CHECKS as PROFILES
from kubehipaa.engines.pss.controls.sysctls import CHECKS as SYSCTLS
from kubehipaa.engines.pss.controls.users import CHECKS as USERS
from kubehipaa.engines.pss.controls.volumes import CHECKS as VOLUMES

ALL_CHECKS: tuple[Check, ...] = (
    *HOST,
    *CONTAINERS,
    *CAPABILITIES,
    *PROFILES,
    *SYSCTLS,
    *USERS,
    *VOLUMES,
)
