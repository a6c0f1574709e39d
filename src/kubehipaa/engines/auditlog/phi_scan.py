"""Scan audited request/response bodies for PHI (KH-AUDLOG-080) with the shared PHI detectors.

The detectors themselves live in `kubehipaa.engines.phi` (one definition of what an SSN, NPI, MRN, DOB or
FHIR Patient looks like, shared with the manifest checks); this module only decides which bodies to look at
and formats the redacted matches. One `PhiScan` per event bounds what is kept (three examples per field
and kind) while every match is still counted, so a body with 40,000 SSNs costs linear time and a few
strings, and each body is walked once however many aliases share its subtrees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubehipaa.engines.phi import STRONG_KINDS, PhiScan
from kubehipaa.redaction import mask

if TYPE_CHECKING:
    from kubehipaa.engines.auditlog.event import AuditEvent

MAX_BODY_BYTES = 1024 * 1024
"""Bodies larger than this (huge list responses) are not scanned; the cost would dominate the stream."""


WRITE_VERBS = frozenset({"create", "update", "patch"})
READ_VERBS = frozenset({"get", "list", "watch"})


def _trim(body: Any) -> Any:
    """Drop server-maintained subtrees (managedFields, status) that never carry user-written PHI."""
    if not isinstance(body, dict):
        return body
    out = {k: v for k, v in body.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def scan_bodies(ev: AuditEvent) -> list[str]:
    """`kind at path: <redacted:kind>` for the PHI-shaped values in the event's bodies: every kind found in every
    field, once. The mask is fixed (`kubehipaa.redaction`): the engine's shape (`###-##-####`) would tell the
    value's length and punctuation.

    What is written is in the requestObject of create/update/patch; what is read is in the responseObject
    of get/list/watch (a write's response echoes its request, so it is not scanned twice). Only the kinds
    that identify a patient on their own are reported (SSN, NPI, MRN, DOB, HL7, FHIR), not phone numbers
    or e-mail addresses, which are common in ordinary configuration.
    """
    verb = ev.verb or ""
    scan = PhiScan()
    if verb in WRITE_VERBS and ev.requestObject and len(ev.requestObject) <= MAX_BODY_BYTES:
        body = ev.request_object
        if body is not None:
            scan.add_value(_trim(body), "requestObject")
    if verb in READ_VERBS and ev.responseObject and len(ev.responseObject) <= MAX_BODY_BYTES:
        body = ev.response_object
        if body is not None:
            scan.add_value(_trim(body), "responseObject")
    return list(dict.fromkeys(f"{m.kind} at {m.path}: {mask(m.kind)}" for m in scan.matches
                              if m.kind in STRONG_KINDS))
