"""`kubehipaa generate webhook ...`: parse, read the CA file and the config, build the manifests
(generate/webhook.py), render."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, write_output
from kubehipaa.config import DEFAULT_PHI_LABEL
from kubehipaa.engines.pss import MAX_MINOR
from kubehipaa.errors import InputError, KubehipaaError
from kubehipaa.generate.namespace import parse_k8s_version
from kubehipaa.generate.webhook import (
    DEFAULT_FAILURE_POLICY,
    DEFAULT_TIMEOUT,
    WebhookOptions,
    header,
    webhook_manifests,
)
from kubehipaa.reports.manifests import commented_manifests

MAX_CA_BYTES = 1 << 20
"""A CA bundle is a few KiB; anything past 1 MiB is not one, and is not read into memory whole."""


def read_ca_file(path: Path) -> bytes:
    """The --ca-bundle file's bytes; one InputError line when it is missing, unreadable, empty or too large."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CA_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--ca-bundle {path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CA_BYTES:
        raise InputError(f"--ca-bundle {path}: larger than 1 MiB, not a CA certificate")
    if not data.strip():
        raise InputError(f"--ca-bundle {path}: empty; give the PEM CA certificate")
    return data


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """What the generated manifests take from the `.kubehipaa.yaml`: its text (for the ConfigMap), where it came
    from, and the two settings that shape the webhook configuration."""

    text: str | None = None
    source: str = ""
    phi_selector: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PHI_LABEL))
    cluster_scoped: str = "phi"


def read_webhook_config(option: str | None) -> WebhookConfig:
    """The config the server will run with: `--config`, else the current directory's `.kubehipaa.yaml`, else
    none (defaults). Validated as `serve admission` validates it at start (schema, admission rules,
    exceptions), so a config the webhook pods would refuse (exit 2, CrashLoopBackOff, every matched write
    refused under failurePolicy Fail) is refused here instead, with the file and line."""
    from kubehipaa.config import MAX_CONFIG_BYTES, read_config
    from kubehipaa.config_location import OPTION, locate_config
    from kubehipaa.pipelines.admission import Policy

    location = locate_config(option, ())
    if location.path is None:
        return WebhookConfig()
    path = location.path
    config = read_config(path)  # the one config reader: a regular file of UTF-8 YAML, each error with file:line
    Policy(config)  # the admission block and the exceptions, as the server checks them at start
    try:
        with path.open("rb") as fh:
            text = fh.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read config: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    source = f"--config {path}" if location.origin == OPTION else f"{path} (found in the current directory)"
    return WebhookConfig(text, source, dict(config.phi.selector), config.admission.cluster_scoped)


def _timeout(text: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise InputError(f"--timeout-seconds {text!r}: give a whole number of seconds (1 to 30)") from None


def webhook_cmd(
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace the webhook runs in (e.g. kubehipaa)."),
    ca_bundle: Path = typer.Option(
        ..., "--ca-bundle", metavar="CA.CRT",
        help="PEM certificate of the CA that signed the webhook's serving certificate (written base64 into "
             "caBundle; a file holding a private key is refused).",
    ),
    image: str | None = typer.Option(
        None, "--image",
        help="The kubehipaa image pinned by digest (registry/kubehipaa:0.1.0@sha256:...). Without it a "
             "placeholder that can never be pulled is written, and the output is a template to edit.",
    ),
    failure_policy: str = typer.Option(
        DEFAULT_FAILURE_POLICY, "--failure-policy", metavar="Fail|Ignore",
        help="What the API server does when the webhook cannot answer: Fail refuses the request (default: no "
             "unjudged object enters a PHI namespace), Ignore admits it (the cluster stays writable).",
    ),
    timeout_seconds: str = typer.Option(
        str(DEFAULT_TIMEOUT), "--timeout-seconds", metavar="N",
        help=f"How long the API server waits for a verdict, 1 to 30 seconds (default {DEFAULT_TIMEOUT}).",
    ),
    apiserver_cidr: list[str] = typer.Option(
        None, "--apiserver-cidr", metavar="CIDR",
        help="Network the API server calls the webhook from (repeatable): the webhook's ingress is limited to it. "
             "Default: any source, since the API server is not a pod and its address differs per cluster.",
    ),
    k8s_version: str = typer.Option(
        f"1.{MAX_MINOR}", "--k8s-version", metavar="1.N",
        help="Your cluster's Kubernetes version: pins the namespace's Pod Security version; before 1.28 the "
             "webhook gets no matchConditions (they are not applied there).",
    ),
    config: str | None = typer.Option(
        None, "--config", "-c",
        help="The .kubehipaa.yaml the webhook enforces (default: the current directory's; none: the defaults). "
             "Written into a ConfigMap the server reads; its phi.selector picks the namespaces sent to /validate/phi.",
    ),
    no_namespace: bool = typer.Option(
        False, "--no-namespace",
        help="Do not emit the Namespace and its default-deny policy (the namespace exists and is managed elsewhere).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """The admission webhook: ValidatingWebhookConfiguration, Deployment, Service, PodDisruptionBudget,
    NetworkPolicies, ServiceAccount (and its Namespace), every object commented.

    \b
    - The API server sends CREATE/UPDATE of the kinds kubehipaa checks (pods and every workload kind,
      Services, Ingresses, NetworkPolicies, RBAC, Namespaces) to `kubehipaa serve admission`; never the
      webhook's own namespace or kube-system; controllers' template copies and mirror pods are skipped by
      matchConditions (Kubernetes 1.28+; GA in 1.30).
    - failurePolicy Fail by default (fail closed for PHI); --failure-policy Ignore to favour availability.
    - The server runs as 2 replicas on different nodes under Pod Security 'restricted', with no API token
      and no egress; it serves TLS from the Secret kubehipaa-admission-tls, which you create.
    - It enforces your .kubehipaa.yaml (--config, else the current directory's), shipped in a ConfigMap;
      namespaces matching its phi.selector (default kubehipaa.io/phi=true) are sent to /validate/phi and
      judged as PHI.

    The output passes `kubehipaa scan` with no finding and validates against the Kubernetes OpenAPI schemas
    of the --k8s-version given (1.25 to the newest).

    Example: kubehipaa generate webhook --namespace kubehipaa --ca-bundle ca.crt
    --image registry.example/kubehipaa:0.1.0@sha256:... -o webhook.yaml
    """
    try:
        cfg = read_webhook_config(config)
        opts = WebhookOptions(namespace=namespace, ca_bundle=read_ca_file(ca_bundle), image=image,
                              failure_policy=failure_policy, timeout_seconds=_timeout(timeout_seconds),
                              create_namespace=not no_namespace, k8s_minor=parse_k8s_version(k8s_version),
                              apiserver_cidrs=tuple(apiserver_cidr or ()), phi_selector=cfg.phi_selector,
                              cluster_scoped=cfg.cluster_scoped, config_text=cfg.text, config_source=cfg.source)
        write_output(commented_manifests(webhook_manifests(opts), header(opts)), output)
        if image is None:
            err_console.print("warning: no --image: the Deployment uses a placeholder image that can never be "
                              "pulled; replace it (REGISTRY/kubehipaa:TAG@sha256:DIGEST) before applying",
                              soft_wrap=True, highlight=False, markup=False)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `generate webhook` to the `generate` command group."""
    app.command("webhook")(webhook_cmd)
