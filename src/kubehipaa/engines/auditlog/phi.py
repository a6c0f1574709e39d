"""PHI in audited bodies: walk requestObject/responseObject with the shared PHI detectors.

The detectors themselves live in `kubehipaa.engines.phi` (one definition of what an SSN, NPI, MRN, DOB or
FHIR Patient looks like, shared with the manifest checks); this module only decides which bodies to look at
and formats the redacted matches. If that engine is not installed yet the rule reports nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.event import AuditEvent

MAX_BODY_BYTES = 1024 * 1024
"""Bodies larger than this (huge list responses) are not scanned; the cost would dominate the stream."""


def _scanner() -> Any:
    try:
        from kubehipaa.engines import phi
    except ImportError:
        return None
    return getattr(phi, "scan_value", None)


def scan_bodies(ev: AuditEvent) -> list[str]:
    """`kind at path: redacted` for each PHI-shaped value in the event's bodies (never the raw value)."""
    scan_value = _scanner()
    if scan_value is None:
        return []
    out: list[str] = []
    for label, raw in (("requestObject", ev.requestObject), ("responseObject", ev.responseObject)):
        if not raw or len(raw) > MAX_BODY_BYTES:
            continue
        body = ev.request_object if label == "requestObject" else ev.response_object
        if body is None:
            continue
        for m in scan_value(body, label):
            out.append(f"{m.kind} at {m.path}: {m.redacted}")
    return out
