"""GKE audit logs as exported from Cloud Logging (`protoPayload` entries) → audit.k8s.io Event shape.

GKE does not expose the API server's audit log; it writes Cloud Audit Logs entries whose `protoPayload`
carries the same facts under other names. Converting them lets every detection run on GKE exports too.

Mapping: methodName `io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>` gives the verb;
resourceName `<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]` the objectRef;
authenticationInfo.principalEmail (or authoritySelector) the user; requestMetadata.callerIp the source IP;
status.code (gRPC) the HTTP code (0→200/201, 7→403, 16→401, 5→404, 6→409, else 500), else
authorizationInfo[].granted (all granted → 200, any refused → 403); request/response the bodies.
"""

from __future__ import annotations

from typing import Any

_GRPC_TO_HTTP = {0: 200, 3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 10: 409, 16: 401}


def is_gke_entry(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("protoPayload"), dict)


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def gke_to_event(doc: dict[str, Any]) -> dict[str, Any]:
    """One Cloud Audit Logs entry → a dict shaped like an audit.k8s.io/v1 Event."""
    p = _d(doc.get("protoPayload"))
    method = str(p.get("methodName") or "")
    verb = method.rsplit(".", 1)[-1] if method.count(".") >= 2 else "get"
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
    resource_name = str(p.get("resourceName") or "")
    if p.get("requestURI"):
        ev["requestURI"] = str(p["requestURI"])
    if resource_name.startswith("/") or not resource_name:
        ev.setdefault("requestURI", resource_name or "/" + method.rsplit(".", 1)[-1])
    else:
        ev["objectRef"] = _object_ref(resource_name, verb)
    status = p.get("status")
    code: int | None = None
    if isinstance(status, dict) and "code" in status:
        try:
            grpc = int(status["code"])
        except (TypeError, ValueError):
            grpc = 2
        code = _GRPC_TO_HTTP.get(grpc, 500)
        if code == 200 and verb == "create":
            code = 201
    authz = [a for a in p.get("authorizationInfo") or [] if isinstance(a, dict)]
    if authz:
        granted = all(a.get("granted") is True for a in authz)
        ev["annotations"] = {"authorization.k8s.io/decision": "allow" if granted else "forbid"}
        if code is None:
            code = (201 if verb == "create" else 200) if granted else 403
    if code is not None:
        ev["responseStatus"] = {"code": code}
    if isinstance(p.get("request"), dict):
        ev["requestObject"] = p["request"]
    if isinstance(p.get("response"), dict):
        ev["responseObject"] = p["response"]
    return ev


def _object_ref(resource_name: str, verb: str) -> dict[str, Any]:
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
