"""GKE audit logs as exported from Cloud Logging (`protoPayload` entries) → audit.k8s.io Event shape.

GKE does not expose the API server's audit log; it writes Cloud Audit Logs entries whose `protoPayload`
carries the same facts under other names. Converting them lets every detection run on GKE exports too.

Mapping:
- methodName `io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>` gives the verb of a resource
  request; `io.k8s.<verb>` (e.g. `io.k8s.get` with resourceName `readyz`) is a non-resource request, whose
  resourceName is the URL path: it becomes `requestURI` `/readyz` and no objectRef, as the API server logs it.
  (`io.k8s.readyz`, seen in hand-written samples, is read the same way: path `/readyz`, verb `get`.)
- resourceName `<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]` the objectRef (group
  `core` is the legacy group ""); without a resourceName, resource and subresource come from the methodName.
- authenticationInfo.principalEmail (or authoritySelector) the user; requestMetadata.callerIp the source IP.
- the entry's `labels["authorization.k8s.io/decision"]` (GKE copies the audit annotations there) the
  decision, else authorizationInfo[].granted (all granted → allow, any refused → forbid).
- status.code (gRPC) the HTTP code (0→200/201, 7→403, 16→401, 5→404, 6→409, else 500), else the decision.
- insertId the auditID (one entry per request), timestamp the request time, request/response the bodies.

Only entries of the Kubernetes API (`serviceName` `k8s.io`, methodName `io.k8s.…`) are audit events: other
services' entries in the same export (compute, IAM) are not converted (`is_k8s_entry`).
"""

from __future__ import annotations

import re
from typing import Any

_GRPC_TO_HTTP = {0: 200, 3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 10: 409, 16: 401}
DECISION_KEY = "authorization.k8s.io/decision"
_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d+)?$")
NON_RESOURCE_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options"})
"""The verbs of non-resource requests (lower-cased HTTP methods), as the API server's request info sets them."""


def is_gke_entry(doc: Any) -> bool:
    """A Cloud Logging LogEntry with an audit `protoPayload` (of any Google service)."""
    return isinstance(doc, dict) and isinstance(doc.get("protoPayload"), dict)


def is_k8s_entry(doc: dict[str, Any]) -> bool:
    """A Cloud Audit Logs entry written by GKE's Kubernetes API server (not another Google service)."""
    p = _d(doc.get("protoPayload"))
    return p.get("serviceName") == "k8s.io" or str(p.get("methodName") or "").startswith("io.k8s.")


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def gke_to_event(doc: dict[str, Any]) -> dict[str, Any]:
    """One Cloud Audit Logs entry → a dict shaped like an audit.k8s.io/v1 Event."""
    p = _d(doc.get("protoPayload"))
    method = str(p.get("methodName") or "")
    parts = method.split(".")
    resource_name = str(p.get("resourceName") or "")
    non_resource = len(parts) == 3 and parts[0] == "io" and parts[1] == "k8s"
    if non_resource:
        verb = parts[2] if parts[2] in NON_RESOURCE_VERBS else "get"
        path = resource_name or (parts[2] if parts[2] not in NON_RESOURCE_VERBS else "")
    else:
        verb = parts[-1] if len(parts) >= 3 else "get"
    auth = _d(p.get("authenticationInfo"))
    user = auth.get("principalEmail") or auth.get("authoritySelector") or ""
    meta = _d(p.get("requestMetadata"))
    ip = meta.get("callerIp") or meta.get("callerIP")
    ev: dict[str, Any] = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete",
                          "verb": verb, "user": {"username": str(user)}}
    if doc.get("insertId"):
        ev["auditID"] = str(doc["insertId"])
    if ip:
        ev["sourceIPs"] = [str(ip)]
    if meta.get("callerSuppliedUserAgent"):
        ev["userAgent"] = str(meta["callerSuppliedUserAgent"])
    if doc.get("timestamp"):
        ev["requestReceivedTimestamp"] = str(doc["timestamp"])
    if p.get("requestURI"):
        ev["requestURI"] = str(p["requestURI"])
    if non_resource:
        ev.setdefault("requestURI", "/" + path.lstrip("/"))
    else:
        ref = _object_ref(resource_name) if resource_name.count("/") >= 2 else _object_ref_from_method(parts)
        if ref:
            ev["objectRef"] = ref
        elif resource_name:
            ev.setdefault("requestURI", "/" + resource_name.lstrip("/"))
    decision = _decision(doc, p)
    if decision is not None:
        ev["annotations"] = {DECISION_KEY: decision}
    code = _code(p.get("status"), verb)
    if code is None and decision is not None:
        code = (201 if verb == "create" else 200) if decision == "allow" else 403
    if code is not None:
        ev["responseStatus"] = {"code": code}
    if isinstance(p.get("request"), dict):
        ev["requestObject"] = p["request"]
    if isinstance(p.get("response"), dict):
        ev["responseObject"] = p["response"]
    return ev


def _decision(doc: dict[str, Any], p: dict[str, Any]) -> str | None:
    labelled = _d(doc.get("labels")).get(DECISION_KEY)
    if isinstance(labelled, str) and labelled:
        return labelled
    authz = [a for a in p.get("authorizationInfo") or [] if isinstance(a, dict)]
    if authz:
        return "allow" if all(a.get("granted") is True for a in authz) else "forbid"
    return None


def _code(status: Any, verb: str) -> int | None:
    if not isinstance(status, dict) or "code" not in status:
        return None
    try:
        grpc = int(status["code"])
    except (TypeError, ValueError):
        grpc = 2
    code = _GRPC_TO_HTTP.get(grpc, 500)
    return 201 if code == 200 and verb == "create" else code


def _object_ref(resource_name: str) -> dict[str, Any]:
    parts = [s for s in resource_name.split("/") if s]
    group = parts[0] if parts else ""
    ref: dict[str, Any] = {"apiGroup": "" if group == "core" else group}
    if len(parts) > 1:
        ref["apiVersion"] = parts[1]
    rest = parts[2:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        ref["namespace"] = rest[1]
        rest = rest[2:]
    if rest:
        ref["resource"] = rest[0]
    if len(rest) >= 2:
        ref["name"] = rest[1]
        if rest[0] == "namespaces":
            ref["namespace"] = rest[1]
    if len(rest) >= 3:
        ref["subresource"] = rest[2]
    return ref


def _object_ref_from_method(parts: list[str]) -> dict[str, Any]:
    """`io.k8s.core.v1.pods.exec.create` → resource pods, subresource exec (the group is not recoverable from
    the method name alone, except the core group)."""
    for i in range(2, len(parts) - 1):
        if _VERSION.match(parts[i]):
            tail = parts[i + 1:-1]
            if not tail:
                return {}
            ref: dict[str, Any] = {"resource": tail[0], "apiVersion": parts[i]}
            if parts[2:i] == ["core"]:
                ref["apiGroup"] = ""
            if len(tail) >= 2:
                ref["subresource"] = tail[1]
            return ref
    return {}
