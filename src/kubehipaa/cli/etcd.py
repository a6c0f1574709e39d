"""`kubehipaa etcd verify`: is what etcd actually stores encrypted, and under the current key?

Parses and checks the options, reads the EncryptionConfiguration, runs the pipeline (`pipelines.etcd`, which
reads the keys under ``/registry/secrets/`` and ``/registry/configmaps/`` and any ``--resource``, classifies each
stored value by its prefix and compares it with the key the configuration currently writes with) and renders
its result (`reports.etcd`). Values are never printed or stored.
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

import typer

from kubehipaa.cli.common import EXIT_FINDINGS, EXIT_OK, load_objects, require_readable, warn, write_output
from kubehipaa.engines.controlplane import (
    ENCRYPTION_KINDS,
    EncryptionConfig,
    EncryptionConfigError,
    parse_encryption_config,
)
from kubehipaa.errors import InputError
from kubehipaa.pipelines.etcd import parse_resource, verify_etcd
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.etcd import EtcdReport
from kubehipaa.sources.etcd import EtcdOptions

app = typer.Typer(help="etcd: verify encryption at rest against what is really stored.", no_args_is_help=True)

DEFAULT_TIMEOUT = 120.0


class Format(str, Enum):
    table = "table"
    json = "json"


def _load_config(path: Path) -> EncryptionConfig:
    loaded = load_objects([str(path)], quiet=True)
    objs = [o for o in loaded.objects if o.kind in ENCRYPTION_KINDS]
    if not objs:
        require_readable(loaded)  # say why: the document could not be read at all
        raise InputError("does not contain an EncryptionConfiguration", file=str(path))
    try:
        return parse_encryption_config(objs[0].doc)
    except EncryptionConfigError as exc:
        raise InputError(f"invalid EncryptionConfiguration: {exc}", objs[0].file, objs[0].line) from None


def _check_endpoint(ep: str) -> None:
    """An endpoint must be an http(s) URL with a host and a valid port (checked before any connection)."""
    if not ep.startswith(("http://", "https://")):
        raise InputError(f"--endpoints {ep!r}: expected an http:// or https:// URL")
    try:
        parts = urlsplit(ep)
        port = parts.port  # raises ValueError when not a number in 0-65535
    except ValueError as exc:
        raise InputError(f"--endpoints {ep!r}: not a valid URL ({exc})") from None
    if not parts.hostname:
        raise InputError(f"--endpoints {ep!r}: no host, e.g. https://127.0.0.1:2379")
    if port == 0:
        raise InputError(f"--endpoints {ep!r}: port must be in 1-65535")


def _check_tls_files(eps: list[str], cacert: Path | None, cert: Path | None, key: Path | None) -> None:
    """TLS options are configuration: a missing file or a lone --cert/--key is an error (exit 2) before any
    connection, whatever the endpoint scheme; with only http:// endpoints they are unused, which is said."""
    for flag, path in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            raise InputError(f"{flag}: no such file", file=str(path))
    if (cert is None) != (key is None):
        raise InputError("--cert and --key must be given together")
    if any(p is not None for p in (cacert, cert, key)) and not any(e.startswith("https://") for e in eps):
        warn("--cacert/--cert/--key are not used: every endpoint is plain http://")


@app.command("verify")
def verify_cmd(
    endpoints: list[str] = typer.Option(
        ...,
        "--endpoints",
        help="etcd client URL(s), comma-separated or repeated, e.g. https://127.0.0.1:2379.",
    ),
    cacert: Path | None = typer.Option(
        None, "--cacert", help="CA bundle that signed etcd's serving certificate."
    ),
    cert: Path | None = typer.Option(None, "--cert", help="Client certificate (etcd --client-cert-auth)."),
    key: Path | None = typer.Option(None, "--key", help="Client private key."),
    encryption_config: Path | None = typer.Option(
        None,
        "--encryption-config",
        help="The API server's EncryptionConfiguration, to tell current from stale keys.",
    ),
    resource: list[str] = typer.Option(
        None, "--resource", "-r", help="Resource to verify (repeatable; default secrets and configmaps)."
    ),
    prefix: str = typer.Option("/registry", "--prefix", help="The API server's --etcd-prefix."),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, "--timeout",
        help="Seconds the whole verification may spend talking to etcd: connecting and every page of every "
        "resource (each request gets what is left). Past it: exit 2, saying how far it got.",
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """Classify every stored Secret and ConfigMap: plaintext, encrypted under the current key, or stale key.

    Reads only keys under /registry/secrets/ and /registry/configmaps/ (plus --resource); values are
    classified by prefix (`k8s\\x00` protobuf or JSON = plaintext, `k8s:enc:<provider>:v1:<key>:` =
    ciphertext) and never printed or stored.

    Example:

      kubehipaa etcd verify --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt \\
          --cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key \\
          --encryption-config /etc/kubernetes/encryption-config.yaml

    Exit codes: 0 every object encrypted under the current key; 1 some object is plaintext, under a
    non-current key, or unreadable; 2 connection or configuration error.
    """
    eps = [e.strip() for raw in endpoints for e in raw.split(",") if e.strip()]
    if not eps:
        raise InputError("--endpoints: no URL given, e.g. https://127.0.0.1:2379")
    if not (timeout > 0 and math.isfinite(timeout)):  # also NaN
        raise InputError(f"--timeout {timeout:g}: must be a positive, finite number of seconds")
    for ep in eps:
        _check_endpoint(ep)
        if ep.startswith("http://"):
            warn(
                f"{ep} is plain HTTP: accepted for local testing only; etcd must use TLS with client "
                "certificates (164.312(e)(1))"
            )
    _check_tls_files(eps, cacert, cert, key)
    config = _load_config(encryption_config) if encryption_config is not None else None
    if config is None:
        warn("no --encryption-config: encrypted values are not compared with the current key")
    resources = [parse_resource(r) for r in (resource or ["secrets", "configmaps"])]
    opts = EtcdOptions(
        endpoints=eps,
        cacert=str(cacert) if cacert else None,
        cert=str(cert) if cert else None,
        key=str(key) if key else None,
        timeout=timeout,
    )
    result = verify_etcd(opts, resources, config, root=prefix,
                         config_source=str(encryption_config) if encryption_config else None)
    for message in result.warnings:
        warn(message)
    write_output(EtcdReport().render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FINDINGS)
