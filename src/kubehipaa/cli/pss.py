"""`kubehipaa pss`: evaluate workloads against Pod Security Standards, as the API server would.

Thin layer: parse, load manifests, call the command's pipeline (`kubehipaa.pipelines.pss`, over the pure
engine `kubehipaa.engines.pss`), render its result (`kubehipaa.reports.pss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    MANIFEST_NAMESPACE_HELP,
    cluster_source,
    finish,
    input_name,
    load_manifests,
    warn,
    write_output,
)
from kubehipaa.engines import pss
from kubehipaa.errors import ConfigError, InputError
from kubehipaa.pipelines import pss as pipeline
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.pss import ChecksReport, DryRunReport, EvaluationReport, NamespacesReport
from kubehipaa.sources.files import InputProblem, LoadResult

app = typer.Typer(
    help="Pod Security Standards: which workloads a PodSecurity level would reject, and why.",
    no_args_is_help=True,
)


class Format(str, Enum):
    table = "table"
    json = "json"


class DryRunFormat(str, Enum):
    table = "table"
    json = "json"
    warnings = "warnings"


def _level(text: str) -> pss.Level:
    try:
        return pss.parse_level(text)
    except pss.PolicyError as exc:
        raise ConfigError(f"--level: {exc}") from None


def _version(text: str) -> pss.Version:
    try:
        return pss.parse_version(text)
    except pss.PolicyError as exc:
        raise ConfigError(f"--version: {exc}") from None


def _load(paths: Sequence[str], *, strict: bool = False, namespace: str | None = None) -> LoadResult:
    """Load manifests through the shared path: a file that cannot be read is named (file:line) and the rest
    is evaluated; the command then exits 2 (`finish`), since a verdict on the readable part ("every object
    allowed") could hide the workload the broken file declares."""
    return load_manifests(paths, strict=strict, namespace=namespace)


def _lost(loaded: LoadResult, problems: Sequence[InputProblem]) -> None:
    """Objects the pipeline could not evaluate: one warning each, counted as lost input (exit 2 at the end)."""
    for problem in problems:
        warn(str(problem))
    loaded.problems.extend(problems)


def _no_workloads(paths: Sequence[str]) -> InputError:
    return InputError(f"no Pod or workload with a pod template found in {input_name(paths)}")


@app.command("evaluate")
@cluster_source
def evaluate_cmd(
    paths: list[str] = typer.Argument(..., help="Manifest files or directories; '-' reads stdin."),
    level: str = typer.Option("restricted", "--level", "-l", help="privileged, baseline or restricted."),
    version: str = typer.Option("latest", "--version", "-V", help="Policy version: v1.0 … v1.37 or latest."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="Treat skipped (non-Kubernetes) documents as errors."
    ),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Evaluate Pods and workloads (Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet,
    ReplicationController, PodTemplate) against a Pod Security Standards level and version.

    Violations carry upstream's check id, forbidden reason and detail — the words `kubectl apply` prints.

    Examples:

      kubehipaa pss evaluate ./k8s --level restricted --version v1.30

      kubehipaa pss evaluate pod.yaml --level baseline --format json

    A file or object that cannot be read is named on stderr and the others are still evaluated; the exit
    code is then 2.

    Exit codes: 0 every object allowed; 1 at least one denied; 2 bad input or options.
    """
    lvl, ver = _level(level), _version(version)
    loaded = _load(paths, strict=strict, namespace=manifest_namespace)
    result = pipeline.evaluate(loaded.objects, lvl, ver)
    _lost(loaded, result.problems)
    if not result.results:
        raise _no_workloads(paths)
    write_output(EvaluationReport().render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if result.denied else EXIT_OK))


@app.command("dry-run")
@cluster_source
def dry_run_cmd(
    paths: list[str] = typer.Argument(..., help="Manifest files or directories; '-' reads stdin."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace whose label would change."),
    level: str = typer.Option("restricted", "--level", "-l", help="Proposed enforce level."),
    version: str = typer.Option("latest", "--version", "-V", help="Proposed enforce-version."),
    fmt: DryRunFormat = typer.Option(
        DryRunFormat.table,
        "--format",
        "-f",
        help="table, json, or warnings (the API server's own warning lines).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="Treat skipped (non-Kubernetes) documents as errors."
    ),
    manifest_namespace: str | None = typer.Option(None, "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP),
) -> None:
    """Which workloads of a namespace would be rejected if it were labelled
    `pod-security.kubernetes.io/enforce=<level>` (and `enforce-version=<version>`).

    Objects without metadata.namespace are in --manifest-namespace (default: "default"), as with
    `kubectl apply -n`. The namespace's current policy is
    read from its Namespace manifest when one is among the inputs (otherwise privileged:latest).
    `--format warnings` prints what `kubectl label --dry-run=server` would warn (pods are named by their
    workload, e.g. deployment/ehr-api, since manifests have no pod names yet).

    Examples:

      kubehipaa pss dry-run ./k8s --namespace clinical --level restricted --version v1.30

      kubehipaa pss dry-run ./k8s -n clinical --format warnings

    Exit codes: 0 nothing would be rejected; 1 something would; 2 bad input or options.
    """
    lvl, ver = _level(level), _version(version)
    loaded = _load(paths, strict=strict, namespace=manifest_namespace)
    result = pipeline.dry_run(loaded.objects, namespace, lvl, ver)
    _lost(loaded, result.problems)
    for message in result.warnings:
        warn(message)
    write_output(DryRunReport().render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if result.rejected else EXIT_OK))


@app.command("namespaces")
@cluster_source
def namespaces_cmd(
    paths: list[str] = typer.Argument(..., help="Manifest files or directories; '-' reads stdin."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """The effective PodSecurity policy of each namespace, and how many workloads it would reject.

    Reads the `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` labels with upstream's defaults
    (privileged:latest) and fallbacks for unparsable values, then evaluates each namespace's workloads
    against its enforce level.

    Example:

      kubehipaa pss namespaces ./k8s

    Exit codes: 0 report written; 2 bad input.
    """
    loaded = _load(paths, namespace=manifest_namespace)
    result = pipeline.namespaces(loaded.objects)
    _lost(loaded, result.problems)
    write_output(NamespacesReport().render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


@app.command("checks")
def checks_cmd(
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """List the upstream checks: id, level, and the policy versions each revision applies from.

    Example:

      kubehipaa pss checks
    """
    write_output(ChecksReport().render(pss.CHECKS, fmt.value, RenderOptions()), output)
    raise typer.Exit(EXIT_OK)
