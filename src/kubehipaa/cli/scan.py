"""`kubehipaa scan`: manifests (and control-plane files) → findings → report, with CI-friendly exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kubehipaa import collector
from kubehipaa.checks.registry import Check
from kubehipaa.cli import common, quick_exit
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
    from kubehipaa.pipelines.history import Baseline
    from kubehipaa.sources.files import LoadResult


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    oscal = "oscal"
    html = "html"
    pdf = "pdf"


SIGNABLE = (ReportFormat.json, ReportFormat.html)
"""Formats that carry an integrity block (`reports.integrity`), so `--sign-key` can sign them."""


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
    details: bool = typer.Option(False, "--details", help="Table format: show each finding's remediation."),
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
    save: bool = typer.Option(
        False, "--save", rich_help_panel="History",
        help="Record this scan in the history (findings, inputs' SHA-256, versions, the JSON report); "
             "scans older than history.retention_days (default 2190) are pruned.",
    ),
    history_url: str | None = typer.Option(
        None, "--history-url", rich_help_panel="History",
        help=common.HISTORY_URL_HELP,
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", metavar="last|ID", rich_help_panel="History",
        help="Only findings new since this saved scan count for --fail-on (all are still reported). "
             "`last`: the newest saved scan of the same inputs.",
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", metavar="FILE",
        help="JSON or HTML format: sign the report's integrity block with this Ed25519 private key (PEM or OpenSSH; "
             "encrypted: password in $KUBEHIPAA_SIGN_KEY_PASSWORD). Check with `kubehipaa verify`.",
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
    try:
        if fmt is ReportFormat.pdf:
            _require_binary_output(output)
        key: Any = None
        if sign_key is not None:
            if fmt not in SIGNABLE:
                raise typer.BadParameter(f"--sign-key needs a format with an integrity block "
                                         f"({', '.join(f.value for f in SIGNABLE)})")
            from kubehipaa.cli.verify import load_sign_key

            key = load_sign_key(sign_key)  # read before the scan: a bad key fails fast
        request = ReportRequest(fmt, output, fail_on, max_rows, details, key,
                                HistoryOptions(save, history_url, baseline, tuple(paths or ())), proposed_rule)
        if cluster:
            if paths:
                raise typer.BadParameter("give either paths or --cluster, not both")
            targets = _targets(kubeconfig, context or [], all_contexts, tuple(namespaces))
            code = _scan_cluster(targets, config, request, only or [])
        else:
            if kubeconfig is not None or context or all_contexts:
                raise typer.BadParameter("--kubeconfig, --context and --all-contexts need --cluster")
            if len(namespaces) > 1:
                raise typer.BadParameter("manifests take one --namespace (several only with --cluster)")
            code = _scan(paths or [], config, request, strict, only or [],
                         (control_plane, apiserver_manifest, encryption_config, audit_policy, kubelet_config),
                         managed, namespaces[0] if namespaces else None, trust_config)
    except KubehipaaError as exc:
        # Handled here, not only in main(), so the exit code is 2 however the app is invoked (tests, plugins).
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """`--save`, `--history-url`, `--baseline` and the paths scanned (which name the baseline's target)."""

    save: bool = False
    url: str | None = None
    baseline: str | None = None
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """How the user asked the report to be written and judged, carried whole from the options to `_report`
    (one place to add a report option, not a parameter threaded through every function)."""

    fmt: ReportFormat
    output: Path | None
    fail_on: FailOn
    max_rows: int
    details: bool = False
    sign_key: Any = None
    """An Ed25519 private key (`--sign-key`, loaded before the scan) that signs the integrity block."""
    history: HistoryOptions = field(default_factory=lambda: HistoryOptions())
    proposed_rule: bool = False
    """html/pdf: addressable specifications shown as required (the proposed rule)."""


def _scan(paths: list[str], config: str | None, request: ReportRequest, strict: bool, only: list[str],
          cp_files: tuple[Path | None, ...],
          managed: str | None, namespace: str | None = None, trust_config: bool = False) -> int:
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
    return _report(run, cfg, request)


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


def _scan_cluster(targets: list[ClusterTarget], config: str | None, request: ReportRequest,
                  only: list[str]) -> int:
    """The live cluster(s) through the same pipeline, reports and exit codes; unreadable kinds exit 2."""
    cfg = common.load_config_if_present(config, []) or Config()
    check_exceptions(cfg)
    checks = select_checks(only)
    show = common.interactive() and request.fmt in (ReportFormat.table, ReportFormat.junit)
    with common.listing_progress(show, len(targets)) as listing:
        if len(targets) == 1:
            run = scan_cluster(targets[0], cfg, checks=checks, listing=listing).run
        else:
            run = scan_fleet(targets, cfg, checks=checks, listing=listing).run
    return _report(run, cfg, request)


def _report(run: ScanRun, cfg: Config, request: ReportRequest) -> int:
    """Say what the run carries on stderr, write the report, and return the exit code."""
    result = run.result
    if result.objects >= collector.FREEZE_MIN_OBJECTS:
        quick_exit.hold(run)  # the console script then ends without freeing it object by object
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
    base = _baseline(run, cfg, request.history)  # before saving: `last` is the scan before this one
    _emit(result, cfg, request)
    _save(run, cfg, request.history)
    code = exit_code(result, request.fail_on) if base is None else baseline_exit_code(result, base, request.fail_on)
    # A document we could not parse may hide a privileged pod: the report is incomplete, so never exit 0/1.
    return common.finish(run.loaded, code)


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


# ---- history: --save, --history-url, --baseline (pipelines.history; docs/history.md) -------------------------



def _baseline(run: ScanRun, cfg: Config, opts: HistoryOptions) -> Baseline | None:
    """Compare with the baseline scan (when asked) and say on stderr which findings are new."""
    if opts.baseline is None:
        return None
    from kubehipaa.history import HistoryMissing
    from kubehipaa.pipelines.history import Baseline, apply_baseline, input_records, open_history

    try:
        with open_history(opts.url, cfg, create=False) as store:  # comparing never creates a history
            base = apply_baseline(run.result, store, opts.baseline, input_records(run), opts.paths)
    except HistoryMissing:
        if opts.baseline != "last":
            raise
        base = Baseline(None, run.result.active, 0, 0)
    if base.scan is None:
        warn(f"no saved scan of these inputs to use as baseline {opts.baseline!r}: every finding counts as new")
        return base
    note(f"baseline scan #{base.scan.id} ({base.scan.created_at}): {len(base.new)} new, {base.known} already "
         f"there, {base.fixed} fixed; only new findings count for --fail-on")
    for f in base.new[:50]:
        where = f"{f.resource.namespace}/" if f.resource.namespace else ""
        note(f"new: {f.severity.label} {f.check_id} {f.resource.kind} {where}{f.resource.name}")
    if len(base.new) > 50:
        note(f"new: … and {len(base.new) - 50} more")
    return base


def baseline_exit_code(result: ScanResult, base: Baseline, fail_on: FailOn | str) -> int:
    """As `exit_code`, counting only findings new against the baseline."""
    if result.errors:
        return EXIT_ERROR
    threshold = FailOn(fail_on)
    if threshold is not FailOn.never and base.new_at_or_above(Severity.parse(threshold.value)):
        return EXIT_FINDINGS
    return EXIT_OK


def _save(run: ScanRun, cfg: Config, opts: HistoryOptions) -> None:
    if not opts.save:
        return
    from kubehipaa.pipelines.history import save_scan

    saved = save_scan(run, cfg, ["kubehipaa", *sys.argv[1:]], opts.url, opts.paths)
    note(f"saved scan #{saved.id} in {saved.where}")
    if saved.pruned:
        oldest, newest = saved.pruned[0], saved.pruned[-1]
        note(f"pruned {len(saved.pruned)} scan(s) older than {saved.retention_days} days (history.retention_days): "
             f"#{oldest.id} ({oldest.created_at}) to #{newest.id} ({newest.created_at})")


def _emit(result: ScanResult, cfg: Config, request: ReportRequest) -> None:
    output = request.output
    to_terminal = (output is None or str(output) == "-") and console.is_terminal
    # Colours only on a terminal (rich drops them when stdout is piped); tables fit the reader's width.
    options = RenderOptions(width=console.width if to_terminal else terminal_width(),
                            color=request.fmt is ReportFormat.table and to_terminal,
                            max_rows=request.max_rows or None, sign_key=request.sign_key)
    report = ScanReport(cfg, details=request.details, argv=_command_line(), proposed_rule=request.proposed_rule)
    if request.fmt in (ReportFormat.pdf, ReportFormat.json):  # made as bytes (see ScanReport.render_bytes)
        write_output(report.render_bytes(result, request.fmt.value, options), output)
        return
    write_output(report.render(result, request.fmt.value, options), output)


def _command_line() -> tuple[str, ...]:
    """The command line as typed, program named by its file name (reports redact it before showing it)."""
    return ("kubehipaa", *sys.argv[1:])


def _require_binary_output(output: Path | None) -> None:
    """A PDF goes to a file (`-o FILE`), or to stdout only when asked for (`-o -`) and not to a terminal: checked
    before anything is scanned, so a forgotten `-o` costs nothing and never floods a terminal with bytes."""
    if output is None:
        raise typer.BadParameter("--format pdf writes a binary file: give -o FILE (or -o - for a pipe)")
    if str(output) == "-" and console.is_terminal:
        raise typer.BadParameter("--format pdf: stdout is a terminal; give -o FILE or redirect it")


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A line on stderr while the work runs, only when stderr is a terminal (never in CI logs or captured output).

    Drawn once, not animated: an animation needs rich's refresh thread, and a process running a second thread
    does not fork the workers that parse and check large inputs in parallel (`parallel.can_fork`)."""
    if not common.interactive():
        yield
        return
    from rich.live import Live
    from rich.text import Text

    with Live(Text(message), console=err_console, auto_refresh=False, transient=True):
        yield


def _run_with_progress(loaded: LoadResult | None, cfg: Config, control_plane: ControlPlaneFiles,
                       checks: list[Check], ignored_configs: list[str]) -> ScanRun:
    if not common.interactive():
        return scan_pipeline(loaded, cfg, control_plane=control_plane, checks=checks,
                             ignored_configs=ignored_configs)
    columns = (TextColumn("Checking {task.fields[check]:<12}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    # redrawn as each check ends rather than by rich's refresh thread: with a second thread running, the checks
    # would not be shared with forked workers (`parallel.can_fork`)
    with Progress(*columns, console=err_console, transient=True, auto_refresh=False) as progress:
        task = progress.add_task("checks", total=len(checks), check="")

        def advance(chk: Check) -> None:
            progress.update(task, advance=1, check=chk.meta.id, refresh=True)

        return scan_pipeline(loaded, cfg, control_plane=control_plane, checks=checks,
                             ignored_configs=ignored_configs, progress=advance)
