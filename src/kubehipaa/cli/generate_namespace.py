"""`kubehipaa generate namespace NAME ...`: parse, build the baseline (generate/namespace.py), render."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, load_config_if_present, write_output
from kubehipaa.config import DEFAULT_PHI_LABEL
from kubehipaa.engines.pss import MAX_MINOR
from kubehipaa.errors import KubehipaaError
from kubehipaa.generate.namespace import (
    MIN_MINOR,
    NamespaceOptions,
    header,
    namespace_baseline,
    parse_k8s_version,
)
from kubehipaa.reports.manifests import commented_manifests


def namespace_cmd(
    name: str = typer.Argument(..., metavar="NAME", help="The namespace to create (a DNS label, e.g. clinical)."),
    phi: bool = typer.Option(
        True, "--phi/--no-phi",
        help="Label the namespace as holding PHI (kubehipaa.io/phi: \"true\"), so scans apply PHI severities. "
             "Default: --phi.",
    ),
    team: list[str] = typer.Option(
        None, "--team", metavar="GROUP",
        help="Application-support group: read-only on workloads, pods, logs and events (repeatable).",
    ),
    ops_group: list[str] = typer.Option(
        None, "--ops-group", metavar="GROUP",
        help="Operations group: read, scale, restart pods, delete Jobs; no create, no exec, no Secrets (repeatable).",
    ),
    security_group: list[str] = typer.Option(
        None, "--security-group", metavar="GROUP",
        help="Security group: read-only review of workloads, events, RBAC and policies; no Secrets (repeatable).",
    ),
    egress_cidr: list[str] = typer.Option(
        None, "--egress-cidr", metavar="CIDR",
        help="A network pods may connect to, e.g. 10.20.0.0/16 (repeatable; one NetworkPolicy each). "
             "DNS to kube-dns is always allowed; everything else is denied.",
    ),
    allow_secret: list[str] = typer.Option(
        None, "--allow-secret", metavar="NAME",
        help="A Secret the --team group may get by name (repeatable); no Secret otherwise.",
    ),
    k8s_version: str = typer.Option(
        f"1.{MAX_MINOR}", "--k8s-version", metavar="1.N",
        help=f"Pin the Pod Security labels to this version (1.{MIN_MINOR}..1.{MAX_MINOR}): your cluster's, "
             "or the one you tested your workloads against.",
    ),
    config: str | None = typer.Option(
        None, "--config", "-c",
        help="The .kubehipaa.yaml whose phi.selector labels mark PHI namespaces (default: the current "
             "directory's; without one, kubehipaa.io/phi: \"true\").",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """A HIPAA-ready baseline for namespace NAME, every object commented with the HIPAA paragraph it serves.

    \b
    - Namespace: Pod Security 'restricted' enforced, audited and warned, pinned (--k8s-version); PHI label.
    - NetworkPolicies: default deny in and out; DNS to kube-dns; one allow-list policy per --egress-cidr;
      the quarantine policy `kubehipaa respond quarantine` uses.
    - Roles by duty (operations, security review, application support), bound to GROUPS, never users;
      nobody may create workloads, exec into pods or read Secrets (except --allow-secret, by name).
    - ServiceAccounts 'workload' and 'default' without an automounted API token.
    - LimitRange and ResourceQuota (edit the sizes to your capacity plan).

    The output alone passes `kubehipaa scan` with no finding and validates against the Kubernetes OpenAPI
    schemas (1.25 to 1.37). List each --egress-cidr in .kubehipaa.yaml (egress.allowed_cidrs), or the scan
    reports PHI pods that can reach it (KH-NET-003). Your workloads then set serviceAccountName: workload and
    a 'restricted' securityContext.

    Example: kubehipaa generate namespace clinical --phi --team clinical-app-support --ops-group platform-ops
    --security-group security --egress-cidr 10.20.0.0/16 -o clinical-baseline.yaml
    """
    from kubehipaa.respond.quarantine import policy_body  # the very policy `respond quarantine` looks for

    try:
        cfg = load_config_if_present(config)
        phi_label = dict(cfg.phi.selector) if cfg is not None and cfg.phi.selector else dict(DEFAULT_PHI_LABEL)
        opts = NamespaceOptions(
            name=name, phi=phi, team=tuple(team or ()), ops_groups=tuple(ops_group or ()),
            security_groups=tuple(security_group or ()), egress_cidrs=tuple(egress_cidr or ()),
            allow_secrets=tuple(allow_secret or ()), k8s_minor=parse_k8s_version(k8s_version), phi_label=phi_label,
        )
        write_output(commented_manifests(namespace_baseline(opts, policy_body), header(opts)), output)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)
