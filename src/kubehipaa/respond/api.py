"""Exact API requests and the client that sends them: what `--dry-run` prints is what a real run sends.

Actions are planned as `ApiRequest` values (method, path, content type, body) from the objects the server
answers now, so a plan can be printed, recorded and tested without a cluster. `ResponderClient` sends them with
the official `kubernetes` client (kubeconfig/context/in-cluster config, auth, TLS) as raw HTTP: each answer is
decoded once with orjson, and errors come back as the API's own Status (code, reason, message), never as a
client exception or traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from kubehipaa.errors import InputError
from kubehipaa.sources.cluster import TIMEOUT, ClusterTarget, _client

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One request a respond action sends; `why` is the one line a responder reads in the plan and the record."""

    method: str
    path: str
    body: Any = None
    content_type: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    why: str = ""

    def url(self) -> str:
        return self.path + ("?" + urlencode(list(self.query)) if self.query else "")

    def as_record(self) -> dict[str, Any]:
        """The request as the action log and `--dry-run` show it (the body exactly as sent)."""
        out: dict[str, Any] = {"method": self.method, "path": self.url()}
        if self.content_type:
            out["contentType"] = self.content_type
        if self.body is not None:
            out["body"] = self.body
        return out


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """What the server answered: status code, the decoded body (None when not JSON) and, for errors, the
    Status reason and message."""

    code: int | None
    body: Any = None
    reason: str = ""
    message: str = ""
    raw: bytes = b""
    """The body's bytes exactly as received (evidence keeps logs byte for byte; `body` of a text answer is
    decoded for display, invalid UTF-8 replaced)."""

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code <= 299

    def summary(self) -> dict[str, Any]:
        """What the action log keeps of an answer: code and the object's identity/version or the Status
        reason; never the whole body (a deleted Secret comes back with its data)."""
        out: dict[str, Any] = {"code": self.code}
        body = self.body
        if isinstance(body, dict) and body.get("kind") == "Status":
            for key in ("status", "reason", "message"):
                if body.get(key):
                    out[key] = body[key]
        elif isinstance(body, dict):
            raw_meta = body.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            out["object"] = {k: v for k, v in (("kind", body.get("kind")), ("name", meta.get("name")),
                                               ("namespace", meta.get("namespace")), ("uid", meta.get("uid")),
                                               ("resourceVersion", meta.get("resourceVersion"))) if v}
        elif self.reason or self.message:
            out.update({k: v for k, v in (("reason", self.reason), ("message", self.message)) if v})
        return out


def resource_path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None) -> str:
    """`/api/v1/namespaces/ns/pods/name/sub` or `/apis/group/version/...`, every segment URL-quoted."""
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    parts = [base]
    if namespace is not None:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


@dataclass(slots=True)
class Identity:
    """Who acts: the local OS user and the kubeconfig user/context the requests authenticate as."""

    local_user: str
    kube_user: str
    context: str


def _local_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _kube_user(target: ClusterTarget, context: str) -> str:
    """The kubeconfig `user` entry of `context` (a name, never a credential); "in-cluster" for a pod."""
    if context == "in-cluster":
        return "in-cluster service account"
    from kubernetes import config as kconfig

    path = target.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    try:
        contexts, _active = kconfig.list_kube_config_contexts(config_file=path)
    except Exception:  # the client already loaded this file once; a second failure only loses the name
        return "unknown"
    for ctx in contexts or []:
        if ctx.get("name") == context:
            return str((ctx.get("context") or {}).get("user") or "unknown")
    return "unknown"


@dataclass
class ResponderClient:
    """Reads and writes for the respond commands; `sent` lists every write actually sent (tests, summaries)."""

    target: ClusterTarget
    api: Any = field(init=False, repr=False)
    identity: Identity = field(init=False)
    sent: list[ApiRequest] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.api, context = _client(self.target)
        self.identity = Identity(_local_user(), _kube_user(self.target, context), context)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> ResponderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, request: ApiRequest, *, accept: str = JSON, max_bytes: int | None = None) -> ApiAnswer:
        """Send `request`; the answer (a 4xx/5xx too) as ApiAnswer. No answer at all is an InputError."""
        from urllib3.exceptions import HTTPError as Urllib3Error

        headers = {"Accept": accept}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        elif request.body is not None:
            headers["Content-Type"] = JSON
        body = orjson.loads(orjson.dumps(request.body)) if request.body is not None else None
        serialized = self.api.param_serialize(request.method, request.url(), header_params=headers, body=body,
                                              auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(*serialized, _request_timeout=TIMEOUT)
            if max_bytes is None:
                data = response.read()
            else:  # the client does not preload: read at most max_bytes, then drop the connection
                raw = response.response
                data = raw.read(max_bytes)
                raw.close()
            code = response.status
        except (Urllib3Error, OSError) as exc:
            raise InputError(f"cluster {self.identity.context}: no answer from the API server to "
                             f"{request.method} {request.path} ({type(exc).__name__})") from None
        except Exception as exc:  # the client raises ApiException for some statuses itself
            code = getattr(exc, "status", None)
            if code is None:
                raise
            data = getattr(exc, "body", b"") or b""
        if request.method != "GET":
            self.sent.append(request)
        return _answer(code, data, accept)

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any] | None:
        """The object at `path`, None when it does not exist (404); other errors raise InputError."""
        answer = self.call(ApiRequest("GET", path, query=tuple(query)))
        if answer.code == 404:
            return None
        if not answer.ok or not isinstance(answer.body, dict):
            raise InputError(f"cluster {self.identity.context}: GET {path}: "
                             f"{answer.code} {answer.reason}: {answer.message}".rstrip(": "))
        return answer.body

    def items(self, path: str, query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        """Every item of a list (all pages), each with the list's kind/apiVersion filled in; an error answer
        is an InputError naming the path."""
        items, failed = list_pages(self.call, path, query)
        if failed is not None:
            raise InputError(f"cluster {self.identity.context}: GET {path}: "
                             f"{failed.code} {failed.reason}: {failed.message}".rstrip(": "))
        return items


PAGE_SIZE = 500
MAX_RESTARTS = 3
"""How often a list restarts after 410 Gone (its continue token expired) before it counts as unreadable."""


def list_pages(call: Callable[[ApiRequest], ApiAnswer], path: str, query: Sequence[tuple[str, str]] = ()
               ) -> tuple[list[dict[str, Any]], ApiAnswer | None]:
    """Every item of the list at `path` through `call`, page by page (`limit`/`continue`), kind/apiVersion
    filled in; a 410 Gone between pages restarts the list (bounded), a repeated token ends it. Returns the
    items and None, or what was read and the failing answer."""
    out: list[dict[str, Any]] = []
    token = ""
    seen: set[str] = set()
    restarts = 0
    while True:
        page_query = (*query, ("limit", str(PAGE_SIZE)), *((("continue", token),) if token else ()))
        answer = call(ApiRequest("GET", path, query=page_query))
        if answer.code == 410 and token and restarts < MAX_RESTARTS:
            # the continue token expired between pages: a consistent list means starting over
            out, token, seen, restarts = [], "", set(), restarts + 1
            continue
        if not answer.ok or not isinstance(answer.body, dict):
            return out, answer
        page = answer.body
        kind = str(page.get("kind") or "").removesuffix("List")
        for item in page.get("items") or []:
            if isinstance(item, dict):
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", page.get("apiVersion"))
                out.append(item)
        raw_meta = page.get("metadata")
        token = str(raw_meta.get("continue") or "") if isinstance(raw_meta, dict) else ""
        if not token or token in seen:
            return out, None
        seen.add(token)


def _answer(code: int | None, data: bytes, accept: str) -> ApiAnswer:
    if accept != JSON:
        return ApiAnswer(code, data.decode("utf-8", errors="replace"), raw=data)
    try:
        body = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        body = None
    reason = message = ""
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "").splitlines()[0] if body.get("message") else ""
    return ApiAnswer(code, body, reason, message, data)
