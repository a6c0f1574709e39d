"""The normalized view of one API-server audit Event (audit.k8s.io/v1 and v1beta1).

Why msgspec Structs and not dicts: an audit log is millions of ~1 KB lines, and a generic JSON parse builds
every nested dict (user.extra, annotations, request bodies) that almost no rule reads. Decoding straight into
these Structs keeps only the fields the detections use, skips everything else inside the C decoder, and keeps
request/response bodies as undecoded `msgspec.Raw` bytes until a rule actually asks for them.

All fields are optional: upstream producers omit empty fields (Go `omitempty`), v1beta1 events add
`timestamp`, and third-party exports (EKS, AKS) drop `kind`/`apiVersion`. Fields no detection, timeline or
RBAC-usage consumer reads (`apiVersion`, `level`, `stageTimestamp`, `user.uid`/`extra`, the RBAC reason,
`responseStatus.message`) are deliberately not declared: the decoder skips them without allocating, which
is about a fifth of the decoding time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import orjson

DECISION_KEY = "authorization.k8s.io/decision"
REASON_KEY = "authorization.k8s.io/reason"


class UserInfo(msgspec.Struct, gc=False, omit_defaults=True):
    """`user` / `impersonatedUser` (authentication.k8s.io UserInfo)."""

    username: str | None = None
    groups: list[str] | None = None


class ObjectRef(msgspec.Struct, gc=False, omit_defaults=True):
    """`objectRef`: what the request was about."""

    resource: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    name: str | None = None
    apiGroup: str | None = None


class ResponseStatus(msgspec.Struct, gc=False, omit_defaults=True):
    """`responseStatus` (a metav1.Status): only the HTTP code; the message may quote request data."""

    code: int | None = None


class Annotations(msgspec.Struct, gc=False, omit_defaults=True):
    """The authorizer's decision annotation; other annotations (and the long RBAC reason) are skipped."""

    decision: str | None = msgspec.field(default=None, name=DECISION_KEY)


_NO_BODY = msgspec.Raw(b"")
"""An empty Raw: the event carries no body (Metadata level, or the field was omitted)."""


class AuditEvent(msgspec.Struct, gc=False, omit_defaults=True):
    """One audit Event. Field names are the upstream JSON names; properties give the derived views.

    Derived views (all cheap, none cached): `username`, `groups`, `source_ip` (the LAST entry of `sourceIPs`,
    i.e. the address closest to the API server, as the issue asks), `resource`, `subresource`, `namespace`,
    `name`, `code`, `decision`, `allowed`, `failed`, `time`, `exec_command`, `request_object`,
    `response_object`.
    """

    kind: str | None = None
    auditID: str | None = None
    stage: str | None = None
    requestURI: str | None = None
    verb: str | None = None
    user: UserInfo | None = None
    impersonatedUser: UserInfo | None = None
    sourceIPs: list[str] | None = None
    userAgent: str | None = None
    objectRef: ObjectRef | None = None
    responseStatus: ResponseStatus | None = None
    requestObject: msgspec.Raw = _NO_BODY
    responseObject: msgspec.Raw = _NO_BODY
    requestReceivedTimestamp: str | None = None
    timestamp: str | None = None
    annotations: Annotations | None = None

    # -- identity -------------------------------------------------------------------------------------
    @property
    def username(self) -> str:
        u = self.user
        return (u.username or "") if u is not None else ""

    @property
    def groups(self) -> list[str]:
        u = self.user
        return (u.groups or []) if u is not None else []

    @property
    def impersonated_username(self) -> str:
        u = self.impersonatedUser
        return (u.username or "") if u is not None else ""

    @property
    def source_ip(self) -> str:
        ips = self.sourceIPs
        return ips[-1] if ips else ""

    @property
    def user_agent(self) -> str:
        return self.userAgent or ""

    # -- target ---------------------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        o = self.objectRef
        return (o.resource or "") if o is not None else ""

    @property
    def subresource(self) -> str:
        o = self.objectRef
        return (o.subresource or "") if o is not None else ""

    @property
    def namespace(self) -> str:
        o = self.objectRef
        return (o.namespace or "") if o is not None else ""

    @property
    def name(self) -> str:
        o = self.objectRef
        return (o.name or "") if o is not None else ""

    @property
    def api_group(self) -> str:
        o = self.objectRef
        return (o.apiGroup or "") if o is not None else ""

    @property
    def object_display(self) -> str:
        """`pods/exec clinical/ehr-0` style: resource[/sub] [ns/]name, or the URI for non-resource requests."""
        o = self.objectRef
        if o is None:
            return self.requestURI or ""
        res = o.resource or ""
        if o.subresource:
            res = res + "/" + o.subresource
        ns, name = o.namespace, o.name
        target = ns + "/" + name if ns and name else ns or name or ""
        return (res + " " + target).strip()

    # -- outcome --------------------------------------------------------------------------------------
    @property
    def code(self) -> int:
        r = self.responseStatus
        return (r.code or 0) if r is not None else 0

    @property
    def decision(self) -> str:
        a = self.annotations
        return (a.decision or "") if a is not None else ""

    @property
    def allowed(self) -> bool:
        """Authorized and not failed: the decision annotation when present, else a 1xx-3xx response code."""
        dec = self.decision
        if dec and dec != "allow":
            return False
        code = self.code
        return code == 0 or code < 400 if dec else 100 <= code < 400

    @property
    def outcome(self) -> str:
        """`allowed`, `forbidden` (403 / decision forbid), `unauthorized` (401), `failed` (other >= 400)."""
        code = self.code
        if code == 401:
            return "unauthorized"
        if code == 403 or self.decision == "forbid":
            return "forbidden"
        if code >= 400:
            return "failed"
        return "allowed"

    @property
    def time(self) -> str:
        """When the request was received (RFC 3339); v1beta1's `timestamp` when that is absent."""
        return self.requestReceivedTimestamp or self.timestamp or ""

    # -- bodies ---------------------------------------------------------------------------------------
    @property
    def request_object(self) -> Any:
        """The decoded `requestObject` (None when the policy level did not record it or it is not JSON).

        Several rules read the same body; the last decoded body is remembered (one slot, keyed by the event's
        identity, swapped as one tuple so concurrent readers never see another event's body).
        """
        if not self.requestObject:
            return None
        last = _LAST_REQUEST
        if last[0] is self:
            return last[1]
        body = _decode_raw(self.requestObject)
        _remember(self, body)
        return body

    @property
    def response_object(self) -> Any:
        return _decode_raw(self.responseObject)

    @property
    def exec_command(self) -> list[str]:
        """The command of a pods/exec request: `command=` query parameters, else a PodExecOptions body.

        Remembered for the last event asked (several exec rules read it), like `request_object`.
        """
        last = _LAST_COMMAND
        if last[0] is self:
            return list(last[1])
        cmd = self._parse_command()
        _remember_command(self, cmd)
        return list(cmd)

    def _parse_command(self) -> list[str]:
        uri = self.requestURI or ""
        if "command=" in uri:
            found = _uri_command(uri) if len(uri) <= 4096 else _parse_uri_command(uri)
            if found:
                return list(found)
        body = self.request_object
        if isinstance(body, dict):
            cmd = body.get("command")
            if isinstance(cmd, list):
                return [str(c) for c in cmd]
            if isinstance(cmd, str):
                return [cmd]
        return []

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-able data (bodies decoded)."""
        out: dict[str, Any] = {}
        for fname in self.__struct_fields__:
            if fname in ("requestObject", "responseObject"):
                continue
            value = getattr(self, fname)
            if value is not None:
                out[fname] = msgspec.to_builtins(value)
        if self.requestObject:
            out["requestObject"] = self.request_object
        if self.responseObject:
            out["responseObject"] = self.response_object
        return out


def _parse_uri_command(uri: str) -> tuple[str, ...]:
    """The `command=` query parameters of an exec/attach requestURI, decoded, in order."""
    return tuple(parse_qs(urlsplit(uri).query, keep_blank_values=True).get("command") or ())


_uri_command = lru_cache(maxsize=4096)(_parse_uri_command)
"""`_parse_uri_command` remembered for short URIs: the same exec (probes, scripts) recurs, ~15 µs a parse."""


_LAST_REQUEST: tuple[object, Any] = (None, None)


def _remember(ev: AuditEvent, body: Any) -> None:
    global _LAST_REQUEST
    _LAST_REQUEST = (ev, body)


_LAST_COMMAND: tuple[object, list[str]] = (None, [])


def _remember_command(ev: AuditEvent, cmd: list[str]) -> None:
    global _LAST_COMMAND
    _LAST_COMMAND = (ev, cmd)


MAX_DECODED_BODY_BYTES = 3 * 1024 * 1024
"""Bodies larger than this are never decoded (rules see no body). The API server refuses request bodies
above 3 MiB by default (`MaxRequestBodyBytes`, twice etcd's 1.5 MiB object limit), so no object it stored
is larger; a bigger requestObject in an event is hostile input, and decoding it could cost gigabytes
(15 MB of tiny JSON values become ~40x that in Python objects) and minutes."""


def _decode_raw(raw: msgspec.Raw) -> Any:
    if not raw or len(raw) > MAX_DECODED_BODY_BYTES:
        return None
    try:
        return orjson.loads(bytes(raw))
    except orjson.JSONDecodeError:
        return None


EVENT_DECODER = msgspec.json.Decoder(AuditEvent)
"""Decodes one Event JSON document (bytes) into an `AuditEvent`; raises msgspec errors on bad input."""


def event_from_dict(doc: dict[str, Any]) -> AuditEvent:
    """Build an `AuditEvent` from an already-parsed dict (EventList items, webhook bodies, tests)."""
    return EVENT_DECODER.decode(orjson.dumps(doc))


def request_signature(ev: AuditEvent) -> int:
    """What tells the stages of one request from another request that carries the same auditID.

    Why not the auditID alone: a client may set the `Audit-ID` header itself, and the API server then logs
    that value, so several different requests can share one auditID (a replay, a client hiding an exec
    behind an id already used by a harmless get, or logs of two API servers merged). The API server logs
    every stage of one request from one event record, so its verb, requestURI, user and
    requestReceivedTimestamp (v1beta1: `timestamp`) are the same in every stage; two requests that differ in
    any of them are different requests.

    A hash (Python's per-process randomised SipHash over the four strings) instead of the tuple: the
    de-duplication tables keep one per request id, and a small int costs a fraction of four strings. A
    collision between two requests that also share an auditID is a 2^-64 event that a client cannot aim
    for without knowing the process's hash seed. `Detector.process_batch` inlines this expression (tests
    keep the two equal).
    """
    u = ev.user
    return hash((ev.verb, ev.requestURI, u.username if u is not None else None,
                 ev.requestReceivedTimestamp or ev.timestamp))


def keyed_request_signature(key: bytes) -> Callable[[AuditEvent], int]:
    """`request_signature`, but the same in every process that uses the same secret `key`.

    For detector state that outlives the process (the webhook receiver's snapshot): Python's `hash` is
    seeded per process, so a signature stored by one process never equals the next one's. A keyed BLAKE2b
    keeps the property that matters, a client cannot aim for a collision without the key, at ~2.5 µs per
    event instead of ~0.5 µs, which is why `audit analyze` keeps `request_signature`.
    """
    base = hashlib.blake2b(key=key, digest_size=8)
    encode = msgspec.msgpack.Encoder().encode
    from_bytes = int.from_bytes

    def signature(ev: AuditEvent) -> int:
        u = ev.user
        h = base.copy()
        h.update(encode((ev.verb, ev.requestURI, u.username if u is not None else None,
                         ev.requestReceivedTimestamp or ev.timestamp)))
        return from_bytes(h.digest(), "little", signed=True)

    return signature
