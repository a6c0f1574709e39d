"""`kubehipaa scan`: manifests (and control-plane files) → findings → report, with CI-friendly exit codes."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kubehipaa.checks.registry import Check, all_checks
from kubehipaa.cli import common
from kubehipaa.cli.common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_OK,
    console,
    err_console,
    load_objects,
    warn,
    write_output,
)
from kubehipaa.config import Config
from kubehipaa.config_location import IGNORED_CODE
from kubehipaa.errors import KubehipaaError
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity
from kubehipaa.pipeline import ScanResult, ScanWarning, check_exceptions, run_scan


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
        None, "--config", "-c", help="Path to .kubehipaa.yaml (default: the one in the current directory)."
    ),
    trust_config: bool = typer.Option(False, "--trust-config", help=common.TRUST_CONFIG_HELP),
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    fail_on: FailOn = typer.Option(
        FailOn.high, "--fail-on", help="Exit 1 when an unsuppressed finding is at or above this severity."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat skipped documents as errors (exit 2)."),
    only: list[str] = typer.Option(
        None, "--check", help="Run only these check ids (repeatable; a trailing * matches a prefix)."
    ),
    max_rows: int = typer.Option(
        100, "--max-rows", min=0, help="Table format: at most this many rows per HIPAA safeguard (0 = all)."
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
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=common.MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Scan manifests for HIPAA-relevant misconfigurations.

    Examples:

      kubehipaa scan examples/clinic-insecure

      kubehipaa scan ./k8s --format sarif -o kubehipaa.sarif --fail-on high

      kubectl get all,roles,rolebindings,networkpolicies -A -o yaml | kubehipaa scan -

      kubehipaa scan --control-plane /etc/kubernetes

      kubehipaa scan upstream/install.yaml --namespace argocd   # what `kubectl apply -n argocd` would create

    The .kubehipaa.yaml used is --config FILE, else the one in the current directory. One in a scanned
    directory (or beside a scanned file) is used only with --trust-config, otherwise named in a warning.

    A file that cannot be read is reported (file:line) and the rest is still scanned; the exit code is then 2.

    Exit codes: 0 no unsuppressed finding at or above --fail-on; 1 there is one; 2 usage or input error.
    """
    try:
        code = _scan(paths or [], config, fmt, output, fail_on, strict, only or [], max_rows,
                     (control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config), managed,
                     namespace, trust_config)
    except KubehipaaError as exc:
        # Handled here, not only in main(), so the exit code is 2 however the app is invoked (tests, plugins).
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def _scan(paths: list[str], config: str | None, fmt: ReportFormat, output: Path | None, fail_on: FailOn,
          strict: bool, only: list[str], max_rows: int, cp_files: tuple[Path | None, ...],
          managed: str | None, namespace: str | None = None, trust_config: bool = False) -> int:
    control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config = cp_files
    cp_requested = any(
        x is not None for x in (control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config)
    ) or managed is not None
    if not paths and not cp_requested:
        raise typer.BadParameter("give at least one path (or '-' for stdin, or --control-plane DIR)")
    ignored_configs: list[str] = []
    cfg = common.load_config_if_present(config, paths, trust=trust_config, ignored=ignored_configs) or Config()
    check_exceptions(cfg)  # a bad exception fails before a large input is read (run_scan checks it too)
    checks = _select_checks(only) if only else None
    with _status("Loading manifests…"):
        loaded = load_objects(paths, strict=strict, namespace=namespace) if paths else None
    objects: list[K8sObject] = loaded.objects if loaded is not None else []
    if loaded is not None and not objects and not cp_requested:
        # "0 findings" over nothing would pass CI: an empty directory or a wrong path is an input error
        # (a file that could not be read has been named already, one line each).
        common.require_objects(objects, paths, loaded, "nothing was scanned")
    if cp_requested:
        objects.extend(
            _control_plane_objects(control_plane, apiserver_manifest, encryption_config, audit_policy,
                                   kubelet_config, managed)
        )
    inv = Inventory(objects, cfg)
    if not cp_requested and not _has_control_plane_evidence(inv):
        # Honest about what was checked: silence on encryption/audit/kubelet must not read as a pass.
        note("control plane not assessed: the input has no kube-apiserver manifest, EncryptionConfiguration, "
             "audit Policy or KubeletConfiguration (add --control-plane DIR, or --managed eks|gke|aks)")
    result = _run_with_progress(inv, cfg, checks)
    # Objects an engine left out (an invalid NetworkPolicy, a malformed Role): named, and lost input (exit 2).
    if loaded is None:
        from kubehipaa.sources.files import LoadResult

        loaded = LoadResult()
    common.report_skipped(loaded, result.skipped)
    result.skipped = list(loaded.problems)
    for err in result.errors:
        warn(f"check {err.check_id} could not run on this input: {err.message}")
    for rule in result.expired_exceptions:
        warn(f"exception for {rule.check} (owner {rule.owner}) expired on {rule.expires}; it no longer suppresses")
    for warning in result.warnings:
        warn(warning.message)
    # Already said on stderr when the config was looked for; the reports carry it too.
    result.warnings.extend(ScanWarning(IGNORED_CODE, message) for message in ignored_configs)

    _emit(result, fmt, cfg, output, max_rows or None)
    # A document we could not parse may hide a privileged pod: the report is incomplete, so never exit 0/1.
    return common.finish(loaded, exit_code(result, fail_on))


def _has_control_plane_evidence(inv: Inventory) -> bool:
    return inv.control_plane.has_evidence()


def note(message: str) -> None:
    err_console.print(f"[cyan]note:[/cyan] {escape(message)}", soft_wrap=True, highlight=False)


def exit_code(result: ScanResult, fail_on: FailOn | str) -> int:
    """2 if a check could not run, 1 if an unsuppressed finding is at or above `fail_on`, else 0."""
    if result.errors:
        return EXIT_ERROR
    threshold = FailOn(fail_on)
    if threshold is not FailOn.never and result.at_or_above(Severity.parse(threshold.value)):
        return EXIT_FINDINGS
    return EXIT_OK


def _select_checks(only: list[str]) -> list[Check]:
    checks = [c for c in all_checks() if any(fnmatch.fnmatchcase(c.meta.id, p) for p in only)]
    if not checks:
        raise KubehipaaError(f"--check {' '.join(only)} matches no registered check (see `kubehipaa checks list`)")
    return checks


def _emit(result: ScanResult, fmt: ReportFormat, cfg: Any, output: Path | None, max_rows: int | None) -> None:
    if fmt is ReportFormat.table and (output is None or str(output) == "-") and console.is_terminal:
        # Straight to the console so a terminal gets colours; rich drops them when stdout is piped.
        from kubehipaa.reports.table import table_renderables

        console.print(Group(*table_renderables(result, cfg, max_rows=max_rows)))
        return
    from kubehipaa.reports import render

    # Files and pipes get plain text at a width that keeps file:line on one line.
    write_output(render(result, fmt.value, cfg, max_rows=max_rows), output)


def _interactive() -> bool:
    return err_console.is_terminal and sys.stderr.isatty()


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr, only when stderr is a terminal (never in CI logs or captured output)."""
    if not _interactive():
        yield
        return
    with err_console.status(message):
        yield


def _run_with_progress(inv: Inventory, cfg: Any, checks: list[Check] | None) -> ScanResult:
    if not _interactive():
        return run_scan(inv, cfg, checks=checks)
    selected = checks if checks is not None else all_checks()
    columns = (TextColumn("Checking {task.fields[check]:<12}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("checks", total=len(selected), check="")

        def advance(chk: Check) -> None:
            progress.update(task, advance=1, check=chk.meta.id)

        return run_scan(inv, cfg, checks=selected, progress=advance)


def _control_plane_objects(control_plane: Path | None, apiserver_manifest: Path | None,
                           encryption_config: Path | None, audit_policy: Path | None,
                           kubelet_config: Path | None, managed: str | None) -> list[K8sObject]:
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
