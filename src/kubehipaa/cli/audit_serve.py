"""`kubehipaa audit serve`: run the audit webhook receiver over HTTPS (uvicorn).

The coordinator registers `serve` as `kubehipaa audit serve` (plain function with typer options).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import IO

import typer

from kubehipaa.cli.common import EXIT_ERROR, err_console, load_sigma_rules, warn
from kubehipaa.engines.auditlog import DetectorConfig
from kubehipaa.errors import KubehipaaError
from kubehipaa.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_QUEUE_EVENTS


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
        None, "--alerts-out", "-o", help="Append alerts as JSON lines to this file (default: stdout)."
    ),
    queue_size: int = typer.Option(
        DEFAULT_QUEUE_EVENTS, "--queue-size", min=1, help="Max events waiting for detection; beyond, drop+count."
    ),
    max_body_bytes: int = typer.Option(
        DEFAULT_MAX_BODY_BYTES, "--max-body-bytes", min=1024, help="Larger batches are rejected (413)."
    ),
    sigma: list[Path] | None = typer.Option(
        None, "--sigma", help="Also run the Sigma rules (kubernetes/audit) in this file or directory."
    ),
    config_path: str | None = typer.Option(None, "--config", "-c", help=".kubehipaa.yaml (break-glass ids; "
                                           "default: the one in the current directory)."),
    no_tls: bool = typer.Option(
        False, "--no-tls", help="Serve plain HTTP (only behind a TLS-terminating proxy on the same host)."
    ),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="uvicorn/receiver log level."),
) -> None:
    """Receive the API server's audit webhook batches and raise alerts as they happen.

    Point the API server at it with `--audit-webhook-config-file` (a kubeconfig whose cluster server is
    https://<host>:<port>/audit). Metrics: GET /metrics (Prometheus); liveness: GET /healthz.

    Example: kubehipaa audit serve --port 8443 --tls-cert tls.crt --tls-key tls.key --alerts-out alerts.jsonl
    """
    # Imported here, not at module level: every `audit` command (analyze too) imports this module to register
    # `serve`, and `audit analyze` start-up must stay small (issue 7).
    import logging
    import ssl

    import uvicorn

    from kubehipaa.config import load_config

    if not no_tls and (tls_cert is None or tls_key is None):
        err_console.print("[red]error:[/red] --tls-cert and --tls-key are required (or --no-tls behind a proxy)")
        raise typer.Exit(EXIT_ERROR)
    if client_ca is not None and no_tls:
        raise KubehipaaError("--client-ca needs TLS (drop --no-tls)")
    for p in (tls_cert, tls_key, client_ca):
        if p is not None and not p.is_file():
            raise KubehipaaError(f"{p}: no such file")
    if tls_cert is not None and tls_key is not None and not no_tls:
        _check_tls(tls_cert, tls_key, client_ca)
    config = load_config(config_path, [])
    # Imported here, not at module level: FastAPI/uvicorn cost ~0.5 s, and every other command would pay it.
    from kubehipaa.server.audit_webhook import AuditReceiver, JsonLinesSink, WebhookSettings, create_app

    rules = None
    if sigma:
        rules = load_sigma_rules(sigma)
    settings = WebhookSettings(
        queue_events=queue_size,
        max_body_bytes=max_body_bytes,
        detector_config=DetectorConfig.from_config(config),
        sigma=rules,
    )
    _check_listen(host, port)
    stream: IO[bytes]
    if alerts_out is None or str(alerts_out) == "-":
        stream = sys.stdout.buffer
    else:
        try:
            alerts_out.parent.mkdir(parents=True, exist_ok=True)
            stream = open(alerts_out, "ab")  # noqa: SIM115 - lives as long as the server
        except OSError as exc:
            raise KubehipaaError(f"{alerts_out}: cannot open: {exc.strerror}") from None
    logging.basicConfig(level=log_level.value.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if no_tls:
        warn("serving plain HTTP: the API server's audit stream is sensitive, keep it on a trusted hop")
    app = create_app(AuditReceiver(settings, JsonLinesSink(stream)))
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            ssl_certfile=str(tls_cert) if tls_cert and not no_tls else None,
            ssl_keyfile=str(tls_key) if tls_key and not no_tls else None,
            ssl_ca_certs=str(client_ca) if client_ca else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
            log_level=log_level.value,
            access_log=False,
        )
    except SystemExit as exc:
        # uvicorn exits (3 on start-up failure) after logging why; keep exit 3 for this CLI's own bugs.
        if exc.code not in (None, 0):
            raise KubehipaaError(
                f"the audit webhook server on {host}:{port} stopped (uvicorn exit {exc.code}; see the log above)"
            ) from None
        raise
    finally:
        if stream is not sys.stdout.buffer:
            stream.close()
