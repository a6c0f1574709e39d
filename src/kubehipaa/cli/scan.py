"""`kubehipaa scan`: manifests (and control-plane files) → findings → report, with CI-friendly exit codes."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kubehipaa.checks.registry import Check
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
from kubehipaa.model import Severity
from kubehipaa.pipelines.scan import (
    ControlPlaneFiles,
    ScanResult,
    ScanRun,
    check_exceptions,
    select_checks,
)
from kubehipaa.pipelines.scan import scan as scan_pipeline
from kubehipaa.pipelines.scan_cluster import ClusterTarget, scan_cluster, scan_fleet
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.scan import ScanReport
from kubehipaa.reports.terminal import terminal_width
from kubehipaa.sources.cluster import kubeconfig_contexts

if TYPE_CHECKING:
    from kubehipaa.sources.files import LoadResult


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    html = "html"
    pdf = "pdf"


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
    fmt: ReportFormat = typer.Option(
        ReportFormat.table, "--format", "-f",
        help="Report format. html: the self-contained HIPAA evidence report; pdf: the same printed "
        "(needs kubehipaa[pdf] and a Chromium, and -o FILE).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    fail_on: FailOn = typer.Option(
        FailOn.high, "--fail-on", help="Exit 1 when an unsuppressed finding is at or above this severity."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat skipped documents as errors (exit 2)."),
    only: list[str] = typer.Option(
        None, "--check", help="Run only these check ids (repeatable; a trailing * matches a prefix)."
    ),
    max_rows: int = typer.Option(
        100, "--max-rows", min=0,
        help="Table: at most this many rows per HIPAA safeguard; html/pdf: findings per paragraph (0 = all).",
    ),
    proposed_rule: bool = typer.Option(
        False, "--proposed-rule",
        help="html/pdf: show addressable specifications as required (HHS Security Rule NPRM, 90 FR 898).",
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
    namespace: list[str] = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace",
        help=common.MANIFEST_NAMESPACE_HELP + " With --cluster: list only these namespaces (repeatable).",
    ),
    cluster: bool = typer.Option(
        False, "--cluster", help="Scan the live cluster (read-only: get/list) instead of files."
    ),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="With --cluster: kubeconfig file."),
    context: list[str] = typer.Option(
        None, "--context",
        help="With --cluster: kubeconfig context (repeatable: several clusters, one report).",
    ),
    all_contexts: bool = typer.Option(
        False, "--all-contexts", help="With --cluster: every context in the kubeconfig, one report."
    ),
) -> None:
    """Scan manifests for HIPAA-relevant misconfigurations.

    Examples:

      kubehipaa scan examples/clinic-insecure

      kubehipaa scan ./k8s --format sarif -o kubehipaa.sarif --fail-on high

      kubehipaa scan ./k8s --format html -o report.html   # the HIPAA evidence report (pdf: same, printed)

      kubehipaa scan --cluster --context prod -n clinical -n billing

      kubehipaa scan --cluster --context prod-east --context prod-west -f sarif -o fleet.sarif

      kubehipaa scan --control-plane /etc/kubernetes

      kubehipaa scan upstream/install.yaml --namespace argocd   # what `kubectl apply -n argocd` would create

    The .kubehipaa.yaml used is --config FILE, else the one in the current directory. One in a scanned
    directory (or beside a scanned file) is used only with --trust-config, otherwise named in a warning.

    A file that cannot be read is reported (file:line) and the rest is still scanned; the exit code is then 2.

    --cluster lists the live cluster read-only (get/list; Secret values masked on arrival). A kind the
    identity may not list is a `not-readable` warning naming the checks it leaves unassessed, and exit 2.
    Several --context (or --all-contexts): each cluster is listed (4 at a time) and checked on its own, the
    findings merged into one report located by context; a cluster that cannot be scanned is named in a
    warning, the others are still reported, and the exit code is 2.

    Exit codes: 0 no unsuppressed finding at or above --fail-on; 1 there is one; 2 usage or input error.
    """
    namespaces = namespace or []
    # The evidence report's options; its config is set once the scan has loaded it (`_emit`).
    report = ScanReport(Config(), argv=("kubehipaa", *sys.argv[1:]), proposed_rule=proposed_rule)
    try:
        if fmt is ReportFormat.pdf:
            _require_binary_output(output)
        if cluster:
            if paths:
                raise typer.BadParameter("give either paths or --cluster, not both")
            targets = _targets(kubeconfig, context or [], all_contexts, tuple(namespaces))
            code = _scan_cluster(targets, config, fmt, output, fail_on, only or [], max_rows, report)
        else:
            if kubeconfig is not None or context or all_contexts:
                raise typer.BadParameter("--kubeconfig, --context and --all-contexts need --cluster")
            if len(namespaces) > 1:
                raise typer.BadParameter("manifests take one --namespace (several only with --cluster)")
            code = _scan(paths or [], config, fmt, output, fail_on, strict, only or [], max_rows,
                         (control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config),
                         managed, namespaces[0] if namespaces else None, trust_config, report)
    except KubehipaaError as exc:
        # Handled here, not only in main(), so the exit code is 2 however the app is invoked (tests, plugins).
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def _scan(paths: list[str], config: str | None, fmt: ReportFormat, output: Path | None, fail_on: FailOn,
          strict: bool, only: list[str], max_rows: int, cp_files: tuple[Path | None, ...],
          managed: str | None, namespace: str | None = None, trust_config: bool = False,
          report: ScanReport | None = None) -> int:
    directory, apiserver_manifest, encryption_config, audit_policy, kubelet_config = cp_files
    control_plane = ControlPlaneFiles(directory, apiserver_manifest, encryption_config, audit_policy, kubelet_config,
                                      managed)
    if not paths and not control_plane.requested:
        raise typer.BadParameter("give at least one path (or '-' for stdin, or --control-plane DIR)")
    ignored_configs: list[str] = []
    cfg = common.load_config_if_present(config, paths, trust=trust_config, ignored=ignored_configs) or Config()
    check_exceptions(cfg)  # a bad exception fails before a large input is read (run_scan checks it too)
    checks = select_checks(only)
    with _status("Loading manifests…"):
        loaded = load_objects(paths, strict=strict, namespace=namespace) if paths else None
    if loaded is not None and not loaded.objects and not control_plane.requested:
        # "0 findings" over nothing would pass CI: an empty directory or a wrong path is an input error
        # (a file that could not be read has been named already, one line each).
        common.require_objects(loaded.objects, paths, loaded, "nothing was scanned")
    run = _run_with_progress(loaded, cfg, control_plane, checks, ignored_configs)
    return _report(run, cfg, fmt, output, fail_on, max_rows, report)


def _targets(kubeconfig: str | None, contexts: list[str], all_contexts: bool,
             namespaces: tuple[str, ...]) -> list[ClusterTarget]:
    """The clusters to scan: the given contexts (duplicates once, in order), every context of the kubeconfig
    with --all-contexts, else the current one. Several contexts are checked against the kubeconfig first, so
    a misspelt one is a usage error before any cluster is listed."""
    if all_contexts and contexts:
        raise typer.BadParameter("give --context or --all-contexts, not both")
    names = kubeconfig_contexts(kubeconfig) if all_contexts else list(dict.fromkeys(contexts))
    if len(names) > 1 and not all_contexts:
        known = kubeconfig_contexts(kubeconfig)
        missing = [n for n in names if n not in known]
        if missing:
            raise typer.BadParameter(f"context {', '.join(map(repr, missing))} not in kubeconfig "
                                     f"(has: {', '.join(known)})")
    if not names:
        return [ClusterTarget(kubeconfig, None, namespaces)]
    return [ClusterTarget(kubeconfig, name, namespaces) for name in names]


def _scan_cluster(targets: list[ClusterTarget], config: str | None, fmt: ReportFormat, output: Path | None,
                  fail_on: FailOn, only: list[str], max_rows: int, report: ScanReport | None = None) -> int:
    """The live cluster(s) through the same pipeline, reports and exit codes; unreadable kinds exit 2."""
    cfg = common.load_config_if_present(config, []) or Config()
    check_exceptions(cfg)
    checks = select_checks(only)
    show = common.interactive() and fmt in (ReportFormat.table, ReportFormat.junit)
    with common.listing_progress(show, len(targets)) as listing:
        if len(targets) == 1:
            run = scan_cluster(targets[0], cfg, checks=checks, listing=listing).run
        else:
            run = scan_fleet(targets, cfg, checks=checks, listing=listing).run
    return _report(run, cfg, fmt, output, fail_on, max_rows, report)


def _report(run: ScanRun, cfg: Config, fmt: ReportFormat, output: Path | None, fail_on: FailOn,
            max_rows: int, report: ScanReport | None = None) -> int:
    """Say what the run carries on stderr, write the report, and return the exit code."""
    result = run.result
    for message in run.notes:
        note(message)
    for problem in run.left_out:
        warn(str(problem))
    for err in result.errors:
        warn(f"check {err.check_id} could not run on this input: {err.message}")
    for rule in result.expired_exceptions:
        warn(f"exception for {rule.check} (owner {rule.owner}) expired on {rule.expires}; it no longer suppresses")
    for warning in result.warnings:
        if warning.code != IGNORED_CODE:  # said on stderr when the config was looked for
            warn(warning.message)
    _emit(result, fmt, cfg, output, max_rows or None, report)
    # A document we could not parse may hide a privileged pod: the report is incomplete, so never exit 0/1.
    return common.finish(run.loaded, exit_code(result, fail_on))


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


def _emit(result: ScanResult, fmt: ReportFormat, cfg: Config, output: Path | None, max_rows: int | None,
          report: ScanReport | None = None) -> None:
    to_terminal = (output is None or str(output) == "-") and console.is_terminal
    # Colours only on a terminal (rich drops them when stdout is piped); tables fit the reader's width.
    options = RenderOptions(width=console.width if to_terminal else terminal_width(),
                            color=fmt is ReportFormat.table and to_terminal, max_rows=max_rows)
    # The config is known only now; the command line and --proposed-rule were given with the options.
    report = ScanReport(cfg) if report is None else dataclasses.replace(report, config=cfg)
    if fmt is ReportFormat.pdf:
        write_output(report.render_pdf(result, options), output)
        return
    write_output(report.render(result, fmt.value, options), output)


def _require_binary_output(output: Path | None) -> None:
    """A PDF goes to a file (`-o FILE`), or to stdout only when asked for (`-o -`) and not to a terminal: checked
    before anything is scanned, so a forgotten `-o` costs nothing and never floods a terminal with bytes."""
    if output is None:
        raise typer.BadParameter("--format pdf writes a binary file: give -o FILE (or -o - for a pipe)")
    if str(output) == "-" and console.is_terminal:
        raise typer.BadParameter("--format pdf: stdout is a terminal; give -o FILE or redirect it")


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr, only when stderr is a terminal (never in CI logs or captured output)."""
    if not common.interactive():
        yield
        return
    with err_console.status(message):
        yield


def _run_with_progress(loaded: LoadResult | None, cfg: Config, control_plane: ControlPlaneFiles,
                       checks: list[Check], ignored_configs: list[str]) -> ScanRun:
    if not common.interactive():
        return scan_pipeline(loaded, cfg, control_plane=control_plane, checks=checks,
                             ignored_configs=ignored_configs)
    columns = (TextColumn("Checking {task.fields[check]:<12}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("checks", total=len(checks), check="")

        def advance(chk: Check) -> None:
            progress.update(task, advance=1, check=chk.meta.id)

        return scan_pipeline(loaded, cfg, control_plane=control_plane, checks=checks,
                             ignored_configs=ignored_configs, progress=advance)
