"""The validating admission webhook: `POST /validate` answers AdmissionReviews with the scanner's checks.

The decision is `pipelines.admission.review` (pure); this module reads the body (a size cap and a deadline),
decodes it, answers, counts and logs. Why its shape:

- A body over `max_body_bytes` (3 MiB by default: the API server's own limit on a request body), not JSON, or
  not an `admission.k8s.io/v1` AdmissionReview request is answered 400 and counted by reason; the server goes
  on serving. A bug in a check answers 500 (the API server then applies the webhook's `failurePolicy`).
- `POST /validate/phi` is the same for namespaces the API server selected by the config's PHI labels
  (`generate webhook` routes them there): the request carries no namespace labels, the route says it.
- Logs are one JSON object per line on stderr with only uid, kind, namespace, name, operation, verdict, rule
  ids, dry-run and duration: never the object (a Secret's data, a ConfigMap of PHI) and never the message.
- `/healthz` says the process serves; `/readyz` says it takes reviews (503 once shutdown began, so a Service
  stops routing to a draining pod). uvicorn's graceful shutdown lets in-flight reviews finish.
- Metrics live in the app's own prometheus-client registry (several apps in one process must not collide).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kubehipaa.pipelines.admission import AdmissionInputError, Decision, Policy, review
from kubehipaa.server import DEFAULT_ADMISSION_MAX_BODY_BYTES
from kubehipaa.server.http import ConnectionLimits

log = logging.getLogger("kubehipaa.admission")

VALIDATE_PATH = "/validate"
VALIDATE_PHI_PATH = "/validate/phi"
"""Reviews the API server sends from the PHI webhook (`generate webhook`: its namespaceSelector is the config's
`phi.selector`): the namespace is judged as PHI, which the request alone cannot show (it carries no labels)."""
INLINE_BODY_BYTES = 64 * 1024
"""Bodies up to this size are reviewed on the event loop (about a millisecond); larger ones in a thread."""
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(slots=True)
class AdmissionSettings:
    max_body_bytes: int = DEFAULT_ADMISSION_MAX_BODY_BYTES
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


class AdmissionMetrics:
    """The Prometheus series of one webhook."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kubehipaa_admission_requests", "Requests to /validate by HTTP outcome",
                                ["code"], registry=r)
        self.reviews = Counter("kubehipaa_admission_reviews", "AdmissionReviews answered, by verdict",
                               ["operation", "verdict", "dry_run"], registry=r)
        self.decisions = Counter("kubehipaa_admission_decisions",
                                 "Rules that denied or warned, per review (one per rule)", ["rule_id", "verdict"],
                                 registry=r)
        self.invalid = Counter("kubehipaa_admission_invalid_requests", "Requests answered 400, by reason",
                               ["reason"], registry=r)
        self.errors = Counter("kubehipaa_admission_errors", "Reviews that failed inside kubehipaa (500)",
                              registry=r)
        self.latency = Histogram("kubehipaa_admission_review_seconds", "Time from request to answer of /validate",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.connections_closed = Counter("kubehipaa_admission_connections_closed",
                                          "Connections closed by the server's limits", ["reason"], registry=r)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the record's `fields` (if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        return json.dumps(out, separators=(",", ":"), default=str)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise _TooLarge()
        body += chunk
    return bytes(body)


def _bad(status: int, message: str, *, close: bool = False) -> JSONResponse:
    headers = {"Connection": "close"} if close else {}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _log_decision(d: Decision, ms: float, phi: bool | None) -> None:
    log.info("review", extra={"fields": {
        "uid": d.uid, "kind": d.kind, "namespace": d.namespace, "name": d.name, "operation": d.operation,
        "phiPath": phi is True,
        "verdict": "deny" if not d.allowed else ("warn" if d.warned else "allow"), "denied": d.denied,
        "warned": d.warned, "dryRun": d.dry_run, "ms": round(ms, 3),
    }})


class AdmissionApp:
    """The ASGI app. `draining` (set by the server on a shutdown signal) turns /readyz to 503."""

    def __init__(self, policy: Policy, settings: AdmissionSettings | None = None) -> None:
        self.policy = policy
        self.settings = settings or AdmissionSettings()
        self.metrics = AdmissionMetrics()
        self.draining = False
        self.inflight = 0
        self._app = Starlette(routes=[
            Route(VALIDATE_PATH, self.validate, methods=["POST"]),
            Route(VALIDATE_PHI_PATH, self.validate_phi, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
        ])

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        await self._app(scope, receive, send)

    async def validate(self, request: Request) -> Response:
        """`/validate`: the namespace is PHI when the config names it (`phi.namespaces`)."""
        return await self._answer(request, None)

    async def validate_phi(self, request: Request) -> Response:
        """`/validate/phi`: the API server matched the namespace's labels to the PHI selector."""
        return await self._answer(request, True)

    async def _answer(self, request: Request, phi: bool | None) -> Response:
        started = time.perf_counter()
        self.inflight += 1
        try:
            response = await self._validate(request, phi)
        finally:
            self.inflight -= 1
        self.metrics.requests.labels(str(response.status_code)).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return response

    def _invalid(self, reason: str, message: str, *, close: bool = False) -> Response:
        self.metrics.invalid.labels(reason).inc()
        log.warning("invalid request", extra={"fields": {"reason": reason, "error": message[:200]}})
        return _bad(400, message, close=close)

    async def _validate(self, request: Request, phi: bool | None) -> Response:
        m, limit = self.metrics, self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return self._invalid("oversized", f"request body exceeds the limit of {limit} bytes", close=True)
        try:
            async with asyncio.timeout(self.settings.limits.body_timeout):
                body = await _read_body(request, limit)
        except _TooLarge:
            return self._invalid("oversized", f"request body exceeds the limit of {limit} bytes", close=True)
        except TimeoutError:
            return self._invalid("body_timeout", "request body not received in time", close=True)
        except ClientDisconnect:
            return self._invalid("client_disconnect", "client disconnected", close=True)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self._invalid("malformed", f"body is not JSON: {str(exc)[:120]}")
        started = time.perf_counter()
        try:
            if len(body) > INLINE_BODY_BYTES:
                # a large object (a 3 MiB ConfigMap scanned for PHI: ~1.5 s) must not stall the event loop,
                # and with it every other review and the health probes; small ones stay inline (no hand-off)
                decision = await asyncio.to_thread(partial(review, namespace_is_phi=phi), data, self.policy)
            else:
                decision = review(data, self.policy, namespace_is_phi=phi)
        except AdmissionInputError as exc:
            return self._invalid("not_admission_review", str(exc))
        except Exception as exc:  # a check bug: answered 500, the API server applies failurePolicy
            m.errors.inc()
            log.error("review failed", extra={"fields": {"error": type(exc).__name__}})
            return _bad(500, "internal error while reviewing; see the webhook's log")
        verdict = "deny" if not decision.allowed else ("warn" if decision.warned else "allow")
        m.reviews.labels(decision.operation or "?", verdict, "true" if decision.dry_run else "false").inc()
        for rid in decision.denied:
            m.decisions.labels(rid, "deny").inc()
        for rid in decision.warned:
            m.decisions.labels(rid, "warn").inc()
        _log_decision(decision, (time.perf_counter() - started) * 1000, phi)
        return Response(orjson.dumps(decision.response), media_type="application/json")

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        if self.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(policy: Policy, settings: AdmissionSettings | None = None) -> AdmissionApp:
    """The webhook's ASGI app for `policy` (build it with `pipelines.admission.Policy(config)`)."""
    return AdmissionApp(policy, settings)


def build_admission_server(app: AdmissionApp, *, host: str, port: int, tls_cert: str, tls_key: str,
                           log_level: str = "warning") -> Any:
    """uvicorn over TLS (never plain HTTP: the API server only calls https webhooks) with the receiver's
    connection limits; a shutdown signal first turns /readyz to 503, then in-flight reviews drain."""
    from kubehipaa.server.http import build_server

    _settle_heap(app)
    server = build_server(app, app.settings.limits, host=host, port=port, ssl_certfile=tls_cert,
                          ssl_keyfile=tls_key, log_level=log_level,
                          on_event=lambda reason: app.metrics.connections_closed.labels(reason).inc())
    original = server.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        app.draining = True
        original(sig, frame)

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    return server


def _settle_heap(app: AdmissionApp) -> None:
    """Load what every review needs, then take the start-up heap out of the garbage collector's sight.

    Why: the modules, checks and catalogs loaded at start live as long as the server. Left in the collector's
    oldest generation, every full collection walks them all, a pause of several milliseconds in the middle of
    some review: the p99 latency. One warm-up review loads the lazily imported checks; `gc.freeze()` then
    moves everything alive to the permanent generation, so collections only walk what reviews allocate."""
    import gc

    from kubehipaa.pipelines.admission import review

    warm = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "warm-up", "operation": "CREATE", "namespace": "default",
                        "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "warm-up"},
                                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    review(warm, app.policy)
    gc.collect()
    gc.freeze()


__all__ = ["VALIDATE_PATH", "VALIDATE_PHI_PATH", "AdmissionApp", "AdmissionMetrics", "AdmissionSettings", "JsonLogFormatter",
           "build_admission_server", "create_app"]
