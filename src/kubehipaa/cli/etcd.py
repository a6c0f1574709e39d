"""`kubehipaa etcd verify`: is what etcd actually stores encrypted, and under the current key?

A configuration file can say "encrypted" while etcd still holds plaintext written before encryption was
enabled, or ciphertext under a retired key.  This command reads the keys under ``/registry/secrets/`` and
``/registry/configmaps/`` (and any ``--resource``), classifies each stored value by its prefix, and compares
it with the key the EncryptionConfiguration currently writes with.  Values are never printed or stored.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kubehipaa.cli.common import EXIT_FINDINGS, EXIT_OK, load_objects, require_readable, warn, write_output
from kubehipaa.engines.controlplane import (
    ENCRYPTION_KINDS,
    STATUS_CURRENT,
    STATUS_PLAINTEXT,
    STATUS_STALE,
    STATUS_UNREADABLE,
    EncryptionConfig,
    EncryptionConfigError,
    parse_encryption_config,
    value_status,
)
from kubehipaa.errors import InputError
from kubehipaa.sources.etcd import EtcdClient, EtcdDeadlineError, EtcdOptions

app = typer.Typer(help="etcd: verify encryption at rest against what is really stored.", no_args_is_help=True)

STATUS_ENCRYPTED = "encrypted"  # encrypted, but no configuration to compare the key with
STATUSES = (STATUS_PLAINTEXT, STATUS_STALE, STATUS_UNREADABLE, STATUS_CURRENT, STATUS_ENCRYPTED)
# Built-in API groups whose resources are stored as /registry/<resource>/ (not /registry/<group>/<resource>/).
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "extensions"}
REWRITE_HINT = "kubectl get {res} -A -o json | kubectl replace -f -"
TABLE_LIST_LIMIT = 50
DEFAULT_TIMEOUT = 120.0


class Format(str, Enum):
    table = "table"
    json = "json"


@dataclass(slots=True)
class ResourceReport:
    resource: str
    group: str
    prefix: str
    counts: Counter[str] = field(default_factory=Counter)
    namespaces: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    objects: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def display(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.display,
            "prefix": self.prefix,
            "total": sum(self.counts.values()),
            "counts": {
                s: self.counts.get(s, 0) for s in STATUSES if s != STATUS_ENCRYPTED or self.counts.get(s)
            },
            "namespaces": {ns: dict(c) for ns, c in sorted(self.namespaces.items())},
            STATUS_PLAINTEXT: self.objects.get(STATUS_PLAINTEXT, []),
            STATUS_STALE: self.objects.get(STATUS_STALE, []),
            STATUS_UNREADABLE: self.objects.get(STATUS_UNREADABLE, []),
        }


def etcd_prefix(root: str, resource: str, group: str) -> str:
    root = "/" + root.strip("/")
    if group in BUILTIN_GROUPS or group.endswith(".k8s.io"):
        return f"{root}/{resource}/"
    return f"{root}/{group}/{resource}/"


def _parse_resource(text: str) -> tuple[str, str]:
    resource, _, group = text.strip().partition(".")
    if not resource:
        raise InputError(
            f"--resource {text!r}: expected RESOURCE or RESOURCE.GROUP, e.g. secrets or widgets.example.com"
        )
    return resource, group


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


def verify(
    client: EtcdClient, resources: list[tuple[str, str]], config: EncryptionConfig | None, root: str
) -> list[ResourceReport]:
    """Classify every stored object of each resource; only key names and classifications are kept.

    A read cut short by the time limit is an error that says how far it got, never a partial report: the
    objects not read could be the plaintext ones.
    """
    reports: list[ResourceReport] = []
    for resource, group in resources:
        prefix = etcd_prefix(root, resource, group)
        rep = ResourceReport(resource, group, prefix)
        try:
            _classify(client, rep, config)
        except EtcdDeadlineError as exc:
            done = ", ".join(f"{r.display} ({sum(r.counts.values())} keys)" for r in reports)
            raise EtcdDeadlineError(
                f"{exc}" + (f"; read completely before: {done}" if done else "")
                + "; nothing is reported (raise --timeout for a store this size)"
            ) from None
        reports.append(rep)
    return reports


def _classify(client: EtcdClient, rep: ResourceReport, config: EncryptionConfig | None) -> None:
    """Count every object under the resource's prefix by status, keeping names of the ones to fix."""
    resource, group, prefix = rep.resource, rep.group, rep.prefix
    for ck in client.scan_prefix(prefix.encode()):
        rest = ck.key[len(prefix) :]
        ns, _, name = rest.partition("/") if "/" in rest else ("", "", rest)
        vc = ck.value_class
        status = value_status(vc, config, resource, group)
        if config is None and status == STATUS_CURRENT:
            status = STATUS_ENCRYPTED
        rep.counts[status] += 1
        rep.namespaces[ns or "(cluster)"][status] += 1
        if status in (STATUS_PLAINTEXT, STATUS_STALE, STATUS_UNREADABLE):
            entry = {"namespace": ns, "name": name}
            if vc.kind == "plaintext":
                entry["encoding"] = vc.encoding
            else:
                entry.update(provider=vc.provider, version=vc.version, key=vc.key)
            rep.objects[status].append(entry)


def _table(reports: list[ResourceReport], endpoint: str, revision: int | None, config_note: str) -> str:
    console = Console(record=True, width=140, highlight=False)
    with console.capture() as cap:
        console.print(f"etcd {endpoint} at revision {revision} - {config_note}")
        for rep in reports:
            shown = [s for s in STATUSES if s != STATUS_ENCRYPTED or rep.counts.get(s)]
            table = Table(title=f"{rep.display} ({rep.prefix})")
            table.add_column("namespace")
            table.add_column("total", justify="right")
            for s in shown:
                table.add_column(s, justify="right")
            for ns, c in sorted(rep.namespaces.items()):
                table.add_row(ns, str(sum(c.values())), *(str(c.get(s, 0)) for s in shown))
            table.add_row(
                "[b]all[/b]", str(sum(rep.counts.values())), *(str(rep.counts.get(s, 0)) for s in shown)
            )
            console.print(table)
            for status, what in (
                (STATUS_PLAINTEXT, "stored in PLAINTEXT"),
                (STATUS_STALE, "encrypted under a key that is not the current one"),
                (STATUS_UNREADABLE, "encrypted under a key the configuration does not list (unreadable)"),
            ):
                objs = rep.objects.get(status, [])
                if not objs:
                    continue
                console.print(f"[red]{len(objs)} {rep.display} {what}:[/red]")
                for o in objs[:TABLE_LIST_LIMIT]:
                    where = f"{o['namespace']}/{o['name']}" if o["namespace"] else o["name"]
                    detail = o.get("encoding") or f"{o['provider']} {o['version']} key {o['key']}"
                    console.print(f"  {where}  ({detail})", soft_wrap=True)
                if len(objs) > TABLE_LIST_LIMIT:
                    console.print(
                        f"  ... and {len(objs) - TABLE_LIST_LIMIT} more (use --format json for all)"
                    )
            if rep.objects.get(STATUS_PLAINTEXT) or rep.objects.get(STATUS_STALE):
                res = rep.display
                console.print(f"  re-encrypt with the current key: {REWRITE_HINT.format(res=res)}")
    return cap.get()


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
    resources = [_parse_resource(r) for r in (resource or ["secrets", "configmaps"])]
    opts = EtcdOptions(
        endpoints=eps,
        cacert=str(cacert) if cacert else None,
        cert=str(cert) if cert else None,
        key=str(key) if key else None,
        timeout=timeout,
    )
    with EtcdClient(opts) as client:
        reports = verify(client, resources, config, prefix)
        endpoint, revision = client.endpoint, client.revision
    for rep in reports:
        if not rep.counts:
            warn(f"no keys under {rep.prefix} at {endpoint}")
    if not any(rep.counts for rep in reports):
        # "all current" over nothing is no evidence: every cluster has ConfigMaps (kube-root-ca.crt).
        raise InputError(
            f"{endpoint}: no keys under {', '.join(r.prefix for r in reports)}; is --prefix the API server's "
            "--etcd-prefix, and is this the API server's etcd?"
        )
    bad = sum(
        r.counts.get(s, 0) for r in reports for s in (STATUS_PLAINTEXT, STATUS_STALE, STATUS_UNREADABLE)
    )
    note = f"compared with {encryption_config}" if encryption_config else "no encryption config given"
    if fmt is Format.json:
        doc = {
            "endpoint": endpoint,
            "revision": revision,
            "encryptionConfig": str(encryption_config) if encryption_config else None,
            "resources": [r.to_dict() for r in reports],
            "ok": bad == 0,
        }
        text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        text = _table(reports, endpoint, revision, note)
    write_output(text, output)
    raise typer.Exit(EXIT_FINDINGS if bad else EXIT_OK)
