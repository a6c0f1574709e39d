"""`kubehipaa audit serve`: run the audit webhook receiver over HTTPS (uvicorn).

The coordinator registers `serve` as `kubehipaa audit serve` (plain function with typer options).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import EXIT_ERROR, err_console, load_sigma_rules, warn
from kubehipaa.engines.auditlog import DetectorConfig
from kubehipaa.errors import KubehipaaError
from kubehipaa.server import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_SPOOL_MAX_BYTES,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
)


def _check_tls(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Fail early with one line instead of a TLS traceback from inside uvicorn."""
    import ssl  # see serve()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise KubehipaaError(f"{cert}: cannot use certificate/key {key}: {exc}") from None
    if client_ca is not None:
        try:
            ctx.load_verify_locations(str(client_ca))
        except (ssl.SSLError, OSError) as exc:
            raise KubehipaaError(f"{client_ca}: cannot use as client CA: {exc}") from None


def default_spool_dir() -> Path:
    """`$XDG_STATE_HOME/kubehipaa/audit-spool` (`~/.local/state/...`): state that must survive a restart."""
    import os

    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubehipaa" / "audit-spool"


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_listen(host: str, port: int) -> None:
    """Fail early with one line if `host:port` cannot be bound: uvicorn would log the error and exit 3, the
    code this CLI reserves for internal errors."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise KubehipaaError(f"--host {host!r}: not an address this machine can listen on ({reason})") from None
    family, kind, proto, _, addr = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(addr)
    except OSError as exc:
        raise KubehipaaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _archive_settings(store: Path | None, flush_s: float, keep_phi: bool, hmac_key: Path | None,
                      ed25519_key: Path | None) -> object:
    """The receiver's `LiveSettings` for --archive (None without it); a missing pyarrow is one line."""
    if store is None:
        if keep_phi or hmac_key or ed25519_key:
            raise KubehipaaError("--archive-keep-phi/--archive-hmac-key/--archive-ed25519-key need --archive DIR")
        return None
    from kubehipaa.cli.audit_archive import require_archive, signer_from

    require_archive()
    from kubehipaa.archive.live import LiveSettings

    if store.exists() and not store.is_dir():
        raise KubehipaaError(f"--archive {store}: not a directory")
    if keep_phi:
        warn("--archive-keep-phi: PHI-shaped values are archived as logged; protect the archive as PHI")
    return LiveSettings(store, flush_s=flush_s, keep_phi=keep_phi, signer=signer_from(hmac_key, ed25519_key))


class LogLevel(str, Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def serve(
    port: int = typer.Option(8443, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("0.0.0.0", "--host", help="Address to bind (0.0.0.0 = all interfaces)."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate the API server will verify."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    client_ca: Path | None = typer.Option(
        None, "--client-ca", help="Require client certificates signed by this CA (the API server's webhook client)."
    ),
    alerts_out: Path | None = typer.Option(
        None, "--alerts-out", "-o",
        help="Append alerts as JSON lines to this file, fsync'ed per batch (default: stdout).",
    ),
    spool_dir: Path | None = typer.Option(
        None, "--spool-dir",
        help="Durable spool of accepted batches and the checkpoint "
             "(default: $XDG_STATE_HOME/kubehipaa/audit-spool, i.e. ~/.local/state/kubehipaa/audit-spool).",
    ),
    spool_max_bytes: int = typer.Option(
        DEFAULT_SPOOL_MAX_BYTES, "--spool-max-bytes", min=1 << 20,
        help="Spool size cap; when full, batches are answered 429 and the API server retries them.",
    ),
    max_body_bytes: int = typer.Option(
        DEFAULT_MAX_BODY_BYTES, "--max-body-bytes", min=1024, help="Larger batches are rejected (413)."
    ),
    max_inflight_bytes: int = typer.Option(
        DEFAULT_MAX_INFLIGHT_BYTES, "--max-inflight-bytes", min=1024,
        help="Request bodies held in memory together; beyond, 503 + Retry-After.",
    ),
    max_connections: int = typer.Option(
        DEFAULT_MAX_CONNECTIONS, "--max-connections", min=1,
        help="Open connections; beyond, the longest-idle one is closed (a busy server refuses new ones).",
    ),
    header_timeout: float = typer.Option(
        DEFAULT_HEADER_TIMEOUT, "--header-timeout", min=0.1, help="Seconds to receive a request's headers."
    ),
    body_timeout: float = typer.Option(
        DEFAULT_BODY_TIMEOUT, "--body-timeout", min=0.1, help="Seconds to receive a request's body (408 after)."
    ),
    idle_timeout: float = typer.Option(
        DEFAULT_IDLE_TIMEOUT, "--idle-timeout", min=0.1, help="Seconds an idle keep-alive connection stays open."
    ),
    tls_handshake_timeout: float = typer.Option(
        DEFAULT_TLS_HANDSHAKE_TIMEOUT, "--tls-handshake-timeout", min=0.1, help="Seconds to complete the TLS handshake."
    ),
    shutdown_timeout: float = typer.Option(
        DEFAULT_SHUTDOWN_TIMEOUT, "--shutdown-timeout", min=1.0,
        help="Seconds for SIGTERM/SIGINT: finish requests, drain the spool, checkpoint; what is left stays spooled.",
    ),
    queue_size: int | None = typer.Option(None, "--queue-size", hidden=True, help="Ignored (see --spool-max-bytes)."),
    sigma: list[Path] | None = typer.Option(
        None, "--sigma", help="Also run the Sigma rules (kubernetes/audit) in this file or directory."
    ),
    config_path: str | None = typer.Option(None, "--config", "-c", help=".kubehipaa.yaml (break-glass ids; "
                                           "default: the one in the current directory)."),
    no_tls: bool = typer.Option(
        False, "--no-tls", help="Serve plain HTTP (only behind a TLS-terminating proxy on the same host)."
    ),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="uvicorn/receiver log level."),
    archive: Path | None = typer.Option(
        None, "--archive", help="Also archive every accepted event into this `audit archive` store (Parquet by "
                                "day, hash-chained; batches stay spooled until archived).",
    ),
    archive_flush_seconds: float = typer.Option(
        300.0, "--archive-flush-seconds", min=1.0, help="Seal archive segments at least this often (and every "
                                                          "200,000 events, and at shutdown).",
    ),
    archive_keep_phi: bool = typer.Option(False, "--archive-keep-phi", help="Archive PHI-shaped values as logged."),
    archive_hmac_key: Path | None = typer.Option(None, "--archive-hmac-key", help="Sign archive manifest entries "
                                                 "with HMAC-SHA256 (key file)."),
    archive_ed25519_key: Path | None = typer.Option(None, "--archive-ed25519-key", help="Sign archive manifest "
                                                    "entries with this Ed25519 private key (PEM)."),
) -> None:
    """Receive the API server's audit webhook batches and raise alerts as they happen.

    A batch is answered 200 only once it is fsync'ed to the spool; a full spool is answered 429 (the API
    server retries). After a crash or restart the spool is replayed from the last checkpoint.

    Point the API server at it with `--audit-webhook-config-file` (a kubeconfig whose cluster server is
    https://<host>:<port>/audit). Metrics: GET /metrics (Prometheus); readiness: GET /healthz; liveness:
    GET /livez.

    Example: kubehipaa audit serve --port 8443 --tls-cert tls.crt --tls-key tls.key --alerts-out alerts.jsonl

    With --archive DIR every accepted event is also stored as by `kubehipaa audit archive add` (check it with
    `kubehipaa audit archive verify DIR`).
    """
    # Imported here, not at module level: every `audit` command (analyze too) imports this module to register
    # `serve`, and `audit analyze` start-up must stay small (issue 7).
    import errno
    import logging
    import ssl

    from kubehipaa.config import load_config

    if not no_tls and (tls_cert is None or tls_key is None):
        err_console.print("[red]error:[/red] --tls-cert and --tls-key are required (or --no-tls behind a proxy)")
        raise typer.Exit(EXIT_ERROR)
    if client_ca is not None and no_tls:
        raise KubehipaaError("--client-ca needs TLS (drop --no-tls)")
    for p in (tls_cert, tls_key, client_ca):
        if p is not None and not p.is_file():
            raise KubehipaaError(f"{p}: no such file")
    if spool_max_bytes < 2 * max_body_bytes:
        raise KubehipaaError(f"--spool-max-bytes {spool_max_bytes} must be at least twice --max-body-bytes "
                             f"({2 * max_body_bytes})")
    if tls_cert is not None and tls_key is not None and not no_tls:
        _check_tls(tls_cert, tls_key, client_ca)
    config = load_config(config_path, [])
    # Imported here, not at module level: FastAPI/uvicorn cost ~0.5 s, and every other command would pay it.
    from kubehipaa.server.alerts_out import AlertOutput, StreamOutput, open_alerts
    from kubehipaa.server.audit_webhook import AuditReceiver, WebhookSettings, create_app
    from kubehipaa.server.http import ConnectionLimits, build_server
    from kubehipaa.server.spool import SpoolError

    rules = None
    if sigma:
        rules = load_sigma_rules(sigma)
    limits = ConnectionLimits(
        max_connections=max_connections, header_timeout=header_timeout, body_timeout=body_timeout,
        idle_timeout=idle_timeout, tls_handshake_timeout=tls_handshake_timeout, shutdown_timeout=shutdown_timeout,
    )
    live = _archive_settings(archive, archive_flush_seconds, archive_keep_phi, archive_hmac_key,
                             archive_ed25519_key)
    settings = WebhookSettings(
        max_body_bytes=max_body_bytes,
        detector_config=DetectorConfig.from_config(config),
        sigma=rules,
        spool_dir=spool_dir or default_spool_dir(),
        spool_max_bytes=spool_max_bytes,
        max_inflight_bytes=max_inflight_bytes,
        limits=limits,
        archive=live,
    )
    _check_listen(host, port)
    logging.basicConfig(level=log_level.value.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    output: AlertOutput
    if alerts_out is None or str(alerts_out) == "-":
        output = StreamOutput(sys.stdout.buffer)
    else:
        try:
            alerts_out.parent.mkdir(parents=True, exist_ok=True)
            output = open_alerts(alerts_out)
        except OSError as exc:
            reason = "a FIFO nobody reads" if exc.errno == errno.ENXIO else (exc.strerror or str(exc))
            raise KubehipaaError(f"{alerts_out}: cannot open: {reason}") from None
    try:
        try:
            receiver = AuditReceiver(settings, output)
        except SpoolError as exc:
            raise KubehipaaError(f"{exc} (give another --spool-dir)") from None
        if queue_size is not None:
            warn("--queue-size is ignored: accepted batches are spooled on disk (see --spool-max-bytes)")
        if no_tls:
            warn("serving plain HTTP: the API server's audit stream is sensitive, keep it on a trusted hop")
        elif client_ca is None and not _is_loopback(host):
            warn(f"no --client-ca: anyone who can reach {host}:{port} can post audit events (forged alerts, load); "
                 "require the API server's client certificate or bind to a private address")
        server = build_server(
            create_app(receiver), limits, host=host, port=port,
            ssl_certfile=str(tls_cert) if tls_cert and not no_tls else None,
            ssl_keyfile=str(tls_key) if tls_key and not no_tls else None,
            ssl_ca_certs=str(client_ca) if client_ca else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
            log_level=log_level.value,
            on_event=lambda reason: receiver.metrics.connections_closed.labels(reason).inc(),
        )
        try:
            server.run()
        except SystemExit as exc:
            # uvicorn exits (3 on start-up failure) after logging why; keep exit 3 for this CLI's own bugs.
            if exc.code not in (None, 0):
                raise KubehipaaError(
                    f"the audit webhook server on {host}:{port} stopped (uvicorn exit {exc.code}; see the log above)"
                ) from None
            raise
    finally:
        output.close()
