"""`kubehipaa scan`: manifests (and control-plane files) → findings → report, with CI-friendly exit codes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, load_objects, warn, write_output
from kubehipaa.config import load_config
from kubehipaa.errors import KubehipaaError
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity
from kubehipaa.pipeline import run_scan


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"


class FailOn(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"
    never = "never"


def scan(
    paths: list[str] = typer.Argument(
        None, help="Files or directories of manifests (YAML/JSON, Kustomize dirs); '-' reads stdin."
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Path to .kubehipaa.yaml (default: the one in a scanned directory)."
    ),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    fail_on: FailOn = typer.Option(
        FailOn.high, "--fail-on", help="Exit 1 when an unsuppressed finding is at or above this severity."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat skipped documents as errors (exit 2)."),
    only: list[str] = typer.Option(
        None, "--check", help="Run only these check ids (repeatable; a trailing * matches a prefix)."
    ),
    control_plane: Path | None = typer.Option(
        None, "--control-plane", help="Control-plane config dir, e.g. /etc/kubernetes (reads manifests/kube-apiserver.yaml)."
    ),
    apiserver_manifest: Path | None = typer.Option(None, "--apiserver-manifest", help="kube-apiserver static pod manifest."),
    encryption_config: Path | None = typer.Option(None, "--encryption-config", help="EncryptionConfiguration file."),
    audit_policy: Path | None = typer.Option(None, "--audit-policy", help="Audit Policy file."),
    kubelet_config: Path | None = typer.Option(None, "--kubelet-config", help="KubeletConfiguration file."),
    managed: str | None = typer.Option(
        None, "--managed", help="Managed control plane (eks, gke, aks): control-plane checks are 'not assessed'."
    ),
) -> None:
    """Scan manifests for HIPAA-relevant misconfigurations.

    Examples:

      kubehipaa scan examples/clinic-insecure

      kubehipaa scan ./k8s --format sarif -o kubehipaa.sarif --fail-on high

      kubectl get all,roles,rolebindings,networkpolicies -A -o yaml | kubehipaa scan -

      kubehipaa scan --control-plane /etc/kubernetes

    Exit codes: 0 no unsuppressed finding at or above --fail-on; 1 there is one; 2 usage or input error.
    """
    paths = list(paths or [])
    cp_requested = any(
        x is not None for x in (control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config)
    ) or managed is not None
    if not paths and not cp_requested:
        raise typer.BadParameter("give at least one path (or '-' for stdin, or --control-plane DIR)")
    cfg = load_config(config, paths)
    objects = load_objects(paths, strict=strict).objects if paths else []
    if cp_requested:
        objects.extend(
            _control_plane_objects(control_plane, apiserver_manifest, encryption_config, audit_policy,
                                   kubelet_config, managed)
        )
    inv = Inventory(objects, cfg)
    checks = None
    if only:
        import fnmatch

        from kubehipaa.checks.registry import all_checks

        checks = [c for c in all_checks() if any(fnmatch.fnmatchcase(c.meta.id, p) for p in only)]
        if not checks:
            raise KubehipaaError(f"--check {' '.join(only)} matches no registered check (see `kubehipaa checks list`)")
    result = run_scan(inv, cfg, checks=checks)
    for err in result.errors:
        warn(f"check {err.check_id} could not run on this input: {err.message}")
    for rule in result.expired_exceptions:
        warn(f"exception for {rule.check} (owner {rule.owner}) expired on {rule.expires}; it no longer suppresses")

    from kubehipaa.reports import render

    write_output(render(result, fmt.value, cfg), output)
    if result.errors:
        raise typer.Exit(EXIT_ERROR)
    if fail_on is not FailOn.never and result.at_or_above(Severity.parse(fail_on.value)):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


def _control_plane_objects(control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config,
                           managed):  # type: ignore[no-untyped-def]
    """Control-plane files as objects (kube-apiserver flags, EncryptionConfiguration, audit Policy, kubelet)."""
    from kubehipaa.sources import controlplane

    return controlplane.collect_control_plane(
        control_plane_dir=control_plane,
        apiserver_manifest=apiserver_manifest,
        encryption_config=encryption_config,
        audit_policy=audit_policy,
        kubelet_config=kubelet_config,
        managed=managed,
    )
