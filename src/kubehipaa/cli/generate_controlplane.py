"""`kubehipaa generate audit-policy | encryption-config | break-glass`: the cluster-level hardening files.

Thin layer: parse the options, call the pure generators (`kubehipaa.generate`), render (`kubehipaa.reports`),
write. Registered on `generate`'s Typer app by `register` (cli/generate.py). Bad input is one line, exit 2.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.generate import (
    DEFAULT_BREAK_GLASS_ROLE,
    DEFAULT_KMS_NAME,
    LONG_BREAK_GLASS,
    BreakGlassError,
    BreakGlassOptions,
    EncryptionOptionError,
    EncryptionOptions,
    audit_policy,
    break_glass_binding,
    encryption_config,
    new_key,
    parse_expires,
    rfc3339,
)
from kubehipaa.reports.commented_list import commented_list_manifest
from kubehipaa.reports.manifests import commented_manifests
from kubehipaa.sources.atomic import replace_file

OUTPUT_HELP = "Write the YAML to FILE instead of stdout."
NOW: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731 - replaced by tests
"""The clock of `break-glass` (module-level so tests can inject one)."""


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(EXIT_ERROR)


def _note(message: str) -> None:
    err_console.print(f"[yellow]note:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


def write_private(text: str, output: Path) -> None:
    """Write `text` to `output` with mode 0600, whole or not at all.

    A temporary file created 0600 (mkstemp) beside the target, fsynced, then renamed over it: the content is
    never readable by others, not even for a moment, and an existing file with a wider mode is replaced,
    not reused. Only regular files: a key is never written to a terminal, pipe or device."""
    try:
        st = os.stat(output)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise KubehipaaError(f"{output}: cannot write: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise KubehipaaError(f"{output}: not a regular file; an encryption configuration is written only to a file")
    try:
        replace_file(output, text.encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise KubehipaaError(f"{output}: cannot write: {exc.strerror or exc}") from None


def audit_policy_cmd(
    output: Path | None = typer.Option(None, "--output", "-o", help=OUTPUT_HELP),
) -> None:
    """The balanced healthcare audit Policy (audit.k8s.io/v1), each rule commented with why and which HIPAA
    paragraph it serves.

    Every access to Secrets, ConfigMaps and tokens is recorded at Metadata (never their bodies); exec, attach,
    port-forward, RBAC, admission webhook, NetworkPolicy and Namespace changes at RequestResponse; the
    high-volume read-only traffic of system components (leases, kube-proxy watches, health probes) is not
    recorded; everything else at Metadata; the RequestReceived stage is omitted. Rule order matters: the
    API server applies the first rule that matches. Rated by `kubehipaa audit-policy check` with no gap.

    Example: kubehipaa generate audit-policy -o /etc/kubernetes/audit-policy.yaml
    """
    comments, doc, rule_comments = audit_policy()
    text = commented_list_manifest(comments, doc, "rules", rule_comments,
                                   ["kubehipaa generate audit-policy: the balanced healthcare audit policy"])
    try:
        write_output(text, output)
    except KubehipaaError as exc:
        _fail(str(exc))
    raise typer.Exit(EXIT_OK)


def encryption_config_cmd(
    kms_endpoint: str | None = typer.Option(
        None, "--kms-endpoint", metavar="unix:///PATH",
        help="The KMS v2 plugin's socket: encrypt with KMS v2 (recommended; the key stays in the KMS/HSM)."),
    kms_name: str = typer.Option(DEFAULT_KMS_NAME, "--kms-name",
                                 help="Name of the KMS provider (with --kms-endpoint)."),
    generate_key: bool = typer.Option(
        False, "--generate-key",
        help="Without KMS: put a freshly generated random 32-byte secretbox key in the file (needs -o; the file "
             "is written with mode 0600). Without it the key is a placeholder you must replace."),
    allow_plaintext_reads: bool = typer.Option(
        False, "--allow-plaintext-reads",
        help="Add identity as the LAST provider, so values stored before encryption was enabled stay readable "
             "until they are rewritten (KH-ENC-004 reports it until you remove it)."),
    output: Path | None = typer.Option(None, "--output", "-o", help=OUTPUT_HELP + " Written with mode 0600."),
) -> None:
    """An EncryptionConfiguration (apiserver.config.k8s.io/v1) encrypting Secrets and ConfigMaps at rest.

    With --kms-endpoint: a KMS v2 provider. Without: secretbox with a PLACEHOLDER key that must be replaced
    (the API server refuses it, and `kubehipaa scan --encryption-config` reports it as KH-ENC-005), or with
    --generate-key a fresh random key, written only to a file (-o) with mode 0600, never to the terminal.
    identity (plaintext) is never first; with --allow-plaintext-reads it is last, to read older data.

    Example: kubehipaa generate encryption-config --kms-endpoint unix:///var/run/kmsplugin/socket -o enc.yaml
    """
    if generate_key and kms_endpoint is not None:
        _fail("--generate-key and --kms-endpoint exclude each other: with KMS v2 the key stays in the KMS")
    if generate_key and (output is None or str(output) == "-"):
        _fail("--generate-key needs -o FILE: a real encryption key is never printed to the terminal")
    opts = EncryptionOptions(kms_endpoint=kms_endpoint, kms_name=kms_name,
                             key=new_key() if generate_key else None,
                             allow_plaintext_reads=allow_plaintext_reads)
    try:
        comments, doc = encryption_config(opts)
    except EncryptionOptionError as exc:
        _fail(str(exc))
    text = commented_manifests([(comments, doc)],
                               ["kubehipaa generate encryption-config: encryption at rest for Secrets and ConfigMaps"])
    try:
        if output is None or str(output) == "-":
            write_output(text, None)
        else:
            write_private(text, output)
    except KubehipaaError as exc:
        _fail(str(exc))
    if kms_endpoint is None and not generate_key:
        _note("the secretbox key is a PLACEHOLDER: replace it (head -c 32 /dev/urandom | base64) or use "
              "--generate-key -o FILE; the API server will not start with it")
    elif generate_key:
        _note(f"{output}: written with mode 0600; it holds a real encryption key: keep it out of version control")
    raise typer.Exit(EXIT_OK)


def break_glass_cmd(
    group: str = typer.Option(..., "--group", help="The responders' group (from your identity provider)."),
    expires: str = typer.Option(
        ..., "--expires", help="When the access ends: a duration from now (30m, 4h, 2d, 1w) "
                               "or an RFC 3339 timestamp (2026-12-31T00:00:00Z); beyond 7 days it warns."),
    role: str = typer.Option(DEFAULT_BREAK_GLASS_ROLE, "--role", help="The ClusterRole to grant."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Grant it in this namespace only (a RoleBinding)."),
    output: Path | None = typer.Option(None, "--output", "-o", help=OUTPUT_HELP),
) -> None:
    """Time-bound emergency access: a ClusterRoleBinding (a RoleBinding with --namespace) of --role to
    --group, annotated kubehipaa.io/expires and kubehipaa.io/break-glass. `kubehipaa scan` reports it
    (KH-RBAC-009) once expired, until it is deleted. Always a group, never a user; system: groups refused.

    Example: kubehipaa generate break-glass --group incident-responders --expires 4h
    """
    now = NOW()
    try:
        when = parse_expires(expires, now)
        if when <= now:
            raise BreakGlassError(f"--expires {expires!r}: {rfc3339(when)} is already past")
        comments, doc = break_glass_binding(BreakGlassOptions(group=group, expires=when, role=role,
                                                              namespace=namespace))
    except BreakGlassError as exc:
        _fail(str(exc))
    if when - now > LONG_BREAK_GLASS:
        _note(f"access until {rfc3339(when)} ({(when - now).days} days) is long for break-glass: emergency access "
              "is hours or days; a standing grant belongs in a reviewed Role")
    try:
        write_output(commented_manifests([(comments, doc)], ["kubehipaa generate break-glass"]), output)
    except KubehipaaError as exc:
        _fail(str(exc))
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the three commands to `kubehipaa generate`."""
    app.command("audit-policy")(audit_policy_cmd)
    app.command("encryption-config")(encryption_config_cmd)
    app.command("break-glass")(break_glass_cmd)
