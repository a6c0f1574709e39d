"""Connection hygiene for the receiver's uvicorn server: a deadline for every stage and a cap on connections.

What uvicorn gives and what it does not (uvicorn 0.3x-0.5x, h11 protocol):

- `timeout_keep_alive` closes a connection idle *after* a response; nothing closes a connection that never
  sends a request or trickles its headers one byte at a time (each byte re-arms nothing): a header deadline
  is added here (`header_timeout`, from the connection or from the previous response).
- `h11_max_incomplete_event_size` caps the header block in bytes (`max_header_bytes`).
- `limit_concurrency` answers 503 to every request beyond N connections, so idle connections make a
  legitimate POST fail; instead, when `max_connections` is exceeded the least recently active connection
  with no request in progress is closed, and only when every connection is busy is the new one refused.
- The TLS handshake happens in asyncio's SSL protocol before uvicorn sees the connection; its timeout
  (60 s by default) is a `loop.create_server` argument uvicorn does not pass, so `GuardedServer` passes it
  (`tls_handshake_timeout`), and a short TLS shutdown timeout.
- `timeout_graceful_shutdown` bounds how long shutdown waits for connections (default: forever).
- A deadline for reading the body needs the application (it is the one waiting): see `audit_webhook`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from kubehipaa.server import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
)

log = logging.getLogger("kubehipaa.audit_webhook")

ConnectionEvent = Callable[[str], None]
"""Told why the server closed a connection: `header_timeout`, `evicted_idle`, `over_capacity`."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per-connection deadlines (seconds) and caps; every field has a safe default."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """From the TCP/TLS connection (or the end of the previous response plus `idle_timeout`) to the end
    of the request headers."""
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """From the end of the headers to the end of the body (enforced by the application)."""
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    """Keep-alive: an idle connection is closed this long after its last response."""
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    """The whole graceful shutdown: in-flight requests first, then draining the spool (the receiver)."""
    max_header_bytes: int = 16 * 1024
    """Request line + headers (h11's own default; the API server sends a few hundred bytes)."""

    @property
    def connection_drain_s(self) -> float:
        """The part of `shutdown_timeout` given to in-flight requests (the rest drains the spool)."""
        return max(0.5, min(5.0, self.shutdown_timeout / 4))


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and the connection cap (see the module docstring)."""

    limits: ClassVar[ConnectionLimits]
    notify: ClassVar[tuple[ConnectionEvent]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._last_active = time.monotonic()

    # connection lifecycle
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_active = time.monotonic()
        self._arm_header_timer(self.limits.header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_active = time.monotonic()
        super().data_received(data)
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # the request line and headers are complete

    def on_response_complete(self) -> None:
        self._last_active = time.monotonic()
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer(self.limits.idle_timeout + self.limits.header_timeout)

    # deadlines
    def _arm_header_timer(self, delay: float) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(delay, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._idle():
            return
        self.notify[0]("header_timeout")
        self.transport.abort()  # a client that cannot send its headers in time gets no TLS goodbye either

    # the cap
    def _idle(self) -> bool:
        """No request in progress: connected but not (fully) sent a request, or waiting between requests."""
        return (self.cycle is None or self.cycle.response_complete) and self.conn.their_state is h11.IDLE

    def _make_room(self) -> None:
        idle = [c for c in self.connections if c is not self and isinstance(c, _GuardedH11) and c._idle()
                and not c.transport.is_closing()]
        if idle:
            victim = min(idle, key=lambda c: c._last_active)
            self.notify[0]("evicted_idle")
            victim._close()
        else:
            self.notify[0]("over_capacity")
            self.transport.abort()  # every connection is busy; the API server retries (any error)

    def _close(self) -> None:
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def protocol_class(limits: ConnectionLimits, on_event: ConnectionEvent | None = None) -> type[H11Protocol]:
    """An h11 protocol class bound to `limits` (uvicorn instantiates it per connection)."""
    return type("KubehipaaH11Protocol", (_GuardedH11,), {
        "limits": limits,
        "notify": (on_event or (lambda _reason: None),),
    })


class GuardedServer(uvicorn.Server):
    """`uvicorn.Server` that passes a TLS handshake (and TLS shutdown) timeout to `loop.create_server`."""

    def __init__(self, config: uvicorn.Config, limits: ConnectionLimits) -> None:
        super().__init__(config)
        self.limits = limits

    async def startup(self, sockets: Any = None) -> None:
        loop = asyncio.get_running_loop()
        original = loop.create_server
        limits = self.limits

        async def create_server(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", limits.tls_handshake_timeout)
                kwargs.setdefault("ssl_shutdown_timeout", min(5.0, limits.tls_handshake_timeout))
            return await original(*args, **kwargs)

        loop.create_server = create_server  # type: ignore[method-assign]  # this loop, during startup only
        try:
            await super().startup(sockets=sockets)
        finally:
            del loop.create_server


def build_server(app: Any, limits: ConnectionLimits, *, host: str = "127.0.0.1", port: int = 8443,
                 ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
                 ssl_ca_certs: str | None = None, ssl_cert_reqs: int = 0, log_level: str = "warning",
                 on_event: ConnectionEvent | None = None) -> GuardedServer:
    """The receiver's server: h11 with the deadlines above, keep-alive `idle_timeout`, shutdown bounded."""
    config = uvicorn.Config(
        app, host=host, port=port, http=protocol_class(limits, on_event), lifespan="on",
        ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs, ssl_cert_reqs=ssl_cert_reqs,
        log_level=log_level, access_log=False,
        timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]  # (annotated int, used as a delay)
        timeout_graceful_shutdown=limits.connection_drain_s,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=limits.max_header_bytes, server_header=False,
    )
    return GuardedServer(config, limits)
