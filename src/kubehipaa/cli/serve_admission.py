"""`kubehipaa serve admission`: the validating admission webhook over HTTPS (uvicorn).

`serve` is a group (cli/main.py registers it) so later long-running servers have one home; `audit serve`
stays where it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kubehipaa.cli.audit_serve import _check_listen, _check_tls
from kubehipaa.errors import KubehipaaError
from kubehipaa.server import (
    DEFAULT_ADMISSION_MAX_BODY_BYTES,
    DEFAULT_ADMISSION_PORT,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_TIMEOUT,
)

app = typer.Typer(help="Run kubehipaa's long-running servers.", no_args_is_help=True)


@app.command("admission")
def admission(
    tls_cert: Path = typer.Option(..., "--tls-cert", help="PEM certificate the API server verifies (caBundle)."),
    tls_key: Path = typer.Option(..., "--tls-key", help="PEM private key of --tls-cert."),
    port: int = typer.Option(DEFAULT_ADMISSION_PORT, "--port", "-p", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("0.0.0.0", "--host", help="Address to bind (0.0.0.0 = all interfaces)."),
    config_path: str | None = typer.Option(None, "--config", "-c", help="The .kubehipaa.yaml with the policy."),
    max_body_bytes: int = typer.Option(
        DEFAULT_ADMISSION_MAX_BODY_BYTES, "--max-body-bytes", min=1024, help="Larger bodies are answered 400."
    ),
    max_connections: int = typer.Option(DEFAULT_MAX_CONNECTIONS, "--max-connections", min=1),
    body_timeout: float = typer.Option(DEFAULT_BODY_TIMEOUT, "--body-timeout", min=0.1),
    shutdown_timeout: float = typer.Option(
        DEFAULT_SHUTDOWN_TIMEOUT, "--shutdown-timeout", min=0.5,
        help="How long a shutdown waits for in-flight reviews (seconds).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Serve POST /validate and /validate/phi (AdmissionReview admission.k8s.io/v1), /healthz, /readyz and
    /metrics over TLS. /validate/phi judges the request's namespace as PHI: `generate webhook` sends it the
    namespaces whose labels match phi.selector (the request itself carries no labels).

    The policy is the `admission:` block of .kubehipaa.yaml (docs/admission.md). Logs are JSON lines on
    stderr and never contain object bodies.
    """
    import logging

    from kubehipaa.config import load_config

    level = log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise KubehipaaError(f"--log-level {log_level!r}: choose debug, info, warning or error")
    for p in (tls_cert, tls_key):
        if not p.is_file():
            raise KubehipaaError(f"{p}: no such file")
    _check_tls(tls_cert, tls_key, None)
    config = load_config(config_path, [])
    from kubehipaa.pipelines.admission import Policy

    policy = Policy(config)  # validates the admission block and the exceptions: a bad config exits 2 now
    from kubehipaa.server.admission import (
        AdmissionSettings,
        JsonLogFormatter,
        build_admission_server,
        create_app,
    )
    from kubehipaa.server.http import ConnectionLimits

    _check_listen(host, port)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    selector = ",".join(f"{k}={v}" for k, v in config.phi.selector.items())
    logging.getLogger("kubehipaa.admission").info(
        "PHI namespaces: requests on /validate/phi (the API server matched the namespace's labels "
        f"{selector or '(no phi.selector)'}), and on /validate those named in phi.namespaces "
        f"({len(config.phi.namespaces)} named); cluster-scoped objects: the {config.admission.cluster_scoped} table",
        extra={"fields": {"config": config.source or "(defaults: no config file)"}})
    limits = ConnectionLimits(max_connections=max_connections, body_timeout=body_timeout,
                              shutdown_timeout=shutdown_timeout)
    webhook = create_app(policy, AdmissionSettings(max_body_bytes=max_body_bytes, limits=limits))
    server = build_admission_server(webhook, host=host, port=port, tls_cert=str(tls_cert), tls_key=str(tls_key),
                                    log_level=log_level.lower())
    try:
        server.run()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise KubehipaaError(f"the admission webhook on {host}:{port} stopped (uvicorn exit {exc.code})") from None
        raise
