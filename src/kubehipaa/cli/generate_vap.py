"""`kubehipaa generate admission-policies`: parse, build the policies (generate/admission_policies.py), render."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.generate.admission_policies import (
    ACTIONS,
    PARAMS_NAMESPACE,
    admission_policies,
    header_lines,
    options_from_config,
)
from kubehipaa.reports.manifests import manifests_yaml

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def admission_policies_cmd(
    phi_only: bool = typer.Option(
        False, "--phi-only",
        help="Bind the policies to PHI namespaces only (named in phi.namespaces or carrying the config's "
             "phi.selector labels, default kubehipaa.io/phi: \"true\"). Cluster-scoped RBAC objects "
             "(ClusterRole, ClusterRoleBinding) are judged all the same, with the admission.clusterScoped table.",
    ),
    action: str | None = typer.Option(
        None, "--action",
        help="Override: every policy gets this action everywhere, deny (Deny + Audit) or warn. Without it, "
             "each rule's action per namespace comes from the admission: block of the config, as the webhook's.",
    ),
    params_namespace: str = typer.Option(
        PARAMS_NAMESPACE, "--params-namespace",
        help="Namespace of the params ConfigMap (configured lists such as admission.requiredLabels).",
    ),
    config: str | None = typer.Option(None, "--config", "-c",
                                      help="The .kubehipaa.yaml (phi, admission); default: the current "
                                           "directory's, else the defaults."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """A ValidatingAdmissionPolicy + bindings (admissionregistration.k8s.io/v1, Kubernetes >= 1.30) for every
    check CEL can express, Deny or Warn per rule and namespace as `kubehipaa serve admission` decides; the
    header lists the checks it cannot, and why.

    Test them offline first: kubehipaa admission test vap.yaml ./k8s
    """
    if action is not None and action not in ACTIONS:
        raise typer.BadParameter(f"--action must be one of: {', '.join(ACTIONS)}")
    if not _DNS_LABEL.fullmatch(params_namespace):
        raise typer.BadParameter(f"--params-namespace {params_namespace!r} is not a namespace name (RFC 1123 label)")
    from kubehipaa.checks.registry import all_checks
    from kubehipaa.config import load_config
    from kubehipaa.pipelines.admission import ADMISSION_RULES, admission_actions, validate_admission

    try:
        cfg = load_config(config, [])  # as `serve admission` reads it: the same policy for both
        validate_admission(cfg)  # a typo in a rule pattern must not silently drop a deny
        opts = options_from_config(cfg, partial(admission_actions, cfg), action=action, phi_only=phi_only,
                                   params_namespace=params_namespace)
        meta = {c.meta.id: (c.meta.title, c.meta.remediation) for c in all_checks()}
        meta.update(ADMISSION_RULES)
        cross_object = {c.meta.id: c.meta.needs.why for c in all_checks() if c.meta.needs is not None}
        write_output(manifests_yaml(admission_policies(opts, meta), header_lines(opts, cross_object)), output)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)
