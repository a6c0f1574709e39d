"""The annotations that mark a binding as emergency (break-glass) access and bound it in time.

Shared by the check that flags expired or unbounded break-glass bindings (KH-RBAC-009) and the generator
that writes them (`kubehipaa generate break-glass`), so the two cannot drift apart.
"""

from __future__ import annotations

EXPIRES_ANNOTATION = "kubehipaa.io/expires"
"""RFC 3339 timestamp (or a date: the end of that day, UTC) after which the binding must be gone."""
BREAK_GLASS_MARK = "kubehipaa.io/break-glass"
"""`"true"` on a binding (annotation or label): emergency access, so an expiry is mandatory."""
