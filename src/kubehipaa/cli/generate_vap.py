"""`kubehipaa generate admission-policies`: parse, build the policies (generate/admission_policies.py), render."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, load_config_if_present, write_output
from kubehipaa.config import DEFAULT_PHI_LABEL
from kubehipaa.errors import KubehipaaError
from kubehipaa.generate.admission_policies import ACTIONS, PolicyOptions, admission_policies, header_lines
from kubehipaa.reports.manifests import manifests_yaml


def admission_policies_cmd(
    phi_only: bool = typer.Option(
        False, "--phi-only",
        help="Bind the policies to PHI namespaces only (the config's phi.selector, default kubehipaa.io/phi: "
             "\"true\"). Cluster-scoped RBAC objects (ClusterRole, ClusterRoleBinding) are judged everywhere.",
    ),
    action: str = typer.Option("deny", "--action", help="What a violation does: deny (Deny + Audit) or warn."),
    config: str | None = typer.Option(None, "--config", "-c", help="The .kubehipaa.yaml (for phi.selector)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """A ValidatingAdmissionPolicy + binding (admissionregistration.k8s.io/v1, Kubernetes >= 1.30) for every
    check CEL can express; the header lists the checks it cannot, and why.

    Test them offline first: kubehipaa admission test vap.yaml ./k8s
    """
    if action not in ACTIONS:
        raise typer.BadParameter(f"--action must be one of: {', '.join(ACTIONS)}")
    from kubehipaa.checks.registry import all_checks

    try:
        cfg = load_config_if_present(config)
        selector = dict(cfg.phi.selector) if cfg is not None and cfg.phi.selector else dict(DEFAULT_PHI_LABEL)
        opts = PolicyOptions(action=action, phi_only=phi_only, phi_selector=selector)
        meta = {c.meta.id: (c.meta.title, c.meta.remediation) for c in all_checks()}
        cross_object = {c.meta.id: c.meta.needs.why for c in all_checks() if c.meta.needs is not None}
        write_output(manifests_yaml(admission_policies(opts, meta), header_lines(opts, cross_object)), output)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)
