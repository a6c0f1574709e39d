"""Small builders for audit events used across the audit-log tests."""

from __future__ import annotations

import itertools
from typing import Any

from kubehipaa.engines.auditlog import AuditEvent, event_from_dict

_ids = itertools.count(1)


def raw_event(
    verb: str = "get",
    resource: str | None = "pods",
    *,
    ns: str | None = "clinical",
    name: str | None = None,
    sub: str | None = None,
    user: str = "jane@hospital.org",
    groups: list[str] | None = None,
    code: int = 200,
    decision: str | None = "allow",
    ip: str = "10.1.2.3",
    ua: str = "kubectl/v1.30.0",
    uri: str | None = None,
    body: Any = None,
    response: Any = None,
    stage: str = "ResponseComplete",
    time: str = "2026-11-27T10:00:00.000000Z",
    audit_id: str | None = None,
    impersonate: str | None = None,
    group: str = "",
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
        "auditID": audit_id or f"id-{next(_ids)}", "stage": stage, "verb": verb,
        "user": {"username": user, "groups": groups if groups is not None else ["system:authenticated"]},
        "sourceIPs": ["192.0.2.1", ip] if ip else [], "userAgent": ua,
        "requestReceivedTimestamp": time, "stageTimestamp": time,
        "requestURI": uri or f"/api/v1/namespaces/{ns}/{resource}",
    }
    if resource is not None:
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        if group:
            ref["apiGroup"] = group
        if ns:
            ref["namespace"] = ns
        if name:
            ref["name"] = name
        if sub:
            ref["subresource"] = sub
        ev["objectRef"] = ref
    if stage != "RequestReceived":
        ev["responseStatus"] = {"code": code}
    if decision:
        ev["annotations"] = {"authorization.k8s.io/decision": decision}
    if body is not None:
        ev["requestObject"] = body
    if response is not None:
        ev["responseObject"] = response
    if impersonate:
        ev["impersonatedUser"] = {"username": impersonate}
    return ev


def event(*args: Any, **kwargs: Any) -> AuditEvent:
    return event_from_dict(raw_event(*args, **kwargs))


def at(minute: int, second: int = 0) -> str:
    return f"2026-11-27T10:{minute:02d}:{second:02d}.000000Z"
