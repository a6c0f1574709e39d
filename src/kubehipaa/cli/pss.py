"""`kubehipaa pss`: evaluate workloads against Pod Security Standards, as the API server would.

Thin layer: load manifests, hand pod templates to the pure engine (`kubehipaa.engines.pss`), render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    MANIFEST_NAMESPACE_HELP,
    finish,
    load_manifests,
    warn,
    write_output,
)
from kubehipaa.engines import pss
from kubehipaa.errors import ConfigError, InputError
from kubehipaa.model import K8sObject
from kubehipaa.sources.files import LOST, InputProblem, LoadResult

app = typer.Typer(
    help="Pod Security Standards: which workloads a PodSecurity level would reject, and why.",
    no_args_is_help=True,
)

DEFAULT_NAMESPACE = "default"


class Format(str, Enum):
    table = "table"
    json = "json"


class DryRunFormat(str, Enum):
    table = "table"
    json = "json"
    warnings = "warnings"


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One Pod or workload and its verdict."""

    obj: K8sObject
    verdict: pss.Verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.obj.file,
            "line": self.obj.line,
            "kind": self.obj.kind,
            "namespace": self.obj.namespace,
            "namespaceAssumed": self.obj.namespace_assumed,
            "name": self.obj.name,
            "level": str(self.verdict.level),
            "version": str(self.verdict.version),
            "allowed": self.verdict.allowed,
            "violations": [v.to_dict() for v in self.verdict.violations],
        }


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


def _template(obj: K8sObject) -> pss.PodTemplate | None:
    try:
        return pss.extract(obj.doc)
    except pss.PodSpecError as exc:
        raise InputError(f"{obj.display}: {exc}", obj.file, obj.line) from None


def _load(paths: Sequence[str], *, strict: bool = False, namespace: str | None = None) -> LoadResult:
    """Load manifests through the shared path: a file that cannot be read is named (file:line) and the rest
    is evaluated; the command then exits 2 (`finish`), since a verdict on the readable part ("every object
    allowed") could hide the workload the broken file declares."""
    return load_manifests(paths, strict=strict, namespace=namespace)


def evaluate_objects(objects: Sequence[K8sObject], level: pss.Level, version: pss.Version,
                     problems: list[InputProblem] | None = None) -> list[Evaluated]:
    """Verdicts for every Pod and pod-template workload among `objects`.

    A malformed pod spec is an InputError, or, given `problems`, is warned about (one line), added there as
    lost input (so the command exits 2) and skipped, so one broken object does not hide the others' verdicts.
    """
    out = []
    for obj in objects:
        try:
            tpl = _template(obj)
            if tpl is None:
                continue
            try:
                verdict = pss.evaluate(tpl.meta, tpl.spec, level, version)
            except pss.PodSpecError as exc:
                raise InputError(f"{obj.display}: {tpl.path}: {exc}", obj.file, obj.line) from None
        except InputError as exc:
            if problems is None:
                raise
            problem = InputProblem(obj.file, obj.line, f"{exc.message}; not evaluated", LOST)
            warn(str(problem))
            problems.append(problem)
            continue
        out.append(Evaluated(obj, verdict))
    return out


def _json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def _capture(*renderables: Any) -> str:
    console = Console(record=True, width=160, highlight=False)
    with console.capture() as cap:
        for r in renderables:
            console.print(r)
    return cap.get()


def _verdict_table(results: Sequence[Evaluated], title: str, extra: dict[int, str] | None = None) -> Table:
    table = Table(title=title, show_lines=True)
    table.add_column("workload", overflow="fold")
    table.add_column("file:line", overflow="fold")
    table.add_column("allowed")
    if extra is not None:
        table.add_column("enforced now")
    table.add_column("violations (check: reason (detail))", overflow="fold")
    for i, r in enumerate(results):
        lines = "\n".join(f"{v.check}: {v.message}" for v in r.verdict.violations)
        shown = r.obj.display + (" (ns assumed)" if r.obj.namespace_assumed else "")
        row = [shown, f"{r.obj.file}:{r.obj.line}", "yes" if r.verdict.allowed else "NO"]
        if extra is not None:
            row.append(extra.get(i, ""))
        table.add_row(*row, lines)
    return table


def _no_workloads(paths: Sequence[str]) -> InputError:
    return InputError(f"no Pod or workload with a pod template found in {' '.join(paths)}")


@app.command("evaluate")
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
    results = evaluate_objects(loaded.objects, lvl, ver, loaded.problems)
    if not results:
        raise _no_workloads(paths)
    denied = sum(1 for r in results if not r.verdict.allowed)
    if fmt is Format.json:
        write_output(_json([r.to_dict() for r in results]), output)
    else:
        summary = f"{len(results)} evaluated at {lvl}:{ver}, {denied} denied"
        write_output(
            _capture(_verdict_table(results, f"Pod Security Standards {lvl}:{ver}"), summary), output
        )
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if denied else EXIT_OK))


def _namespace_policy(objects: Sequence[K8sObject], namespace: str) -> pss.NamespacePolicy:
    """Policy from the namespace's labels; with several declarations the last one applied wins."""
    labels: dict[str, str] = {}
    for obj in objects:
        if obj.kind == "Namespace" and obj.name == namespace:
            labels = {str(k): str(v) for k, v in obj.labels.items()}
    return pss.policy_from_labels(labels)


@app.command("dry-run")
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
    objects = loaded.objects
    in_ns = [o for o in objects if (o.namespace or DEFAULT_NAMESPACE) == namespace]
    results = evaluate_objects(in_ns, lvl, ver, loaded.problems)
    current = _namespace_policy(objects, namespace)
    for err in current.errors:
        warn(f"namespace {namespace}: {err}")
    now = {i: pss.evaluate_lv(*_meta_spec(r.obj), current.enforce) for i, r in enumerate(results)}
    rejected = [r for r in results if not r.verdict.allowed]
    if not results:
        warn(f"no Pod or workload in namespace {namespace!r} among the inputs")
    if fmt is DryRunFormat.warnings:
        named = [(_pod_name(r.obj), r.verdict) for r in results]
        lines = [
            f"Warning: {w}" for w in pss.label_change_warnings(namespace, pss.LevelVersion(lvl, ver), named)
        ]
        write_output("\n".join(lines) + "\n" if lines else "", output)
    elif fmt is DryRunFormat.json:
        rows = []
        for i, r in enumerate(results):
            row = r.to_dict()
            row["enforcedNow"] = {
                "level": str(current.enforce.level),
                "version": str(current.enforce.version),
                "allowed": now[i].allowed,
            }
            rows.append(row)
        write_output(_json(rows), output)
    else:
        extra = {i: f"{current.enforce}: {'allowed' if v.allowed else 'denied'}" for i, v in now.items()}
        title = f"namespace {namespace}: enforce {current.enforce} → {lvl}:{ver}"
        summary = (
            f"{len(rejected)} of {len(results)} workloads in {namespace} would be rejected at {lvl}:{ver}"
            + ("" if not rejected else " (existing pods keep running; new pods from them are refused)")
        )
        write_output(_capture(_verdict_table(results, title, extra), summary), output)
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if rejected else EXIT_OK))


def _pod_name(obj: K8sObject) -> str:
    return obj.name if obj.kind == "Pod" else f"{obj.kind.lower()}/{obj.name}"


def _meta_spec(obj: K8sObject) -> tuple[dict[str, Any], dict[str, Any]]:
    tpl = _template(obj)
    assert tpl is not None  # only called for objects that evaluated
    return tpl.meta, tpl.spec


@app.command("namespaces")
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
    objects = loaded.objects
    names = {o.name for o in objects if o.kind == "Namespace"}
    names |= {(o.namespace or DEFAULT_NAMESPACE) for o in objects if o.kind in pss.POD_KINDS}
    rows = []
    for name in sorted(names):
        policy = _namespace_policy(objects, name)
        in_ns = [o for o in objects if (o.namespace or DEFAULT_NAMESPACE) == name]
        results = evaluate_objects(in_ns, policy.enforce.level, policy.enforce.version, loaded.problems)
        rows.append((name, policy, len(results), sum(1 for r in results if not r.verdict.allowed)))
    if fmt is Format.json:
        data = []
        for name, policy, total, denied in rows:
            entry: dict[str, Any] = {"namespace": name, **policy.to_dict()}
            entry["workloads"] = total
            entry["deniedByEnforce"] = denied
            data.append(entry)
        write_output(_json(data), output)
    else:
        table = Table(title="PodSecurity policy per namespace", show_lines=False)
        for col in (
            "namespace",
            "enforce",
            "audit",
            "warn",
            "workloads",
            "denied by enforce",
            "label errors",
        ):
            table.add_column(col, overflow="fold")
        for name, policy, total, denied in rows:
            table.add_row(
                name,
                str(policy.enforce),
                str(policy.audit),
                str(policy.warn),
                str(total),
                str(denied),
                "; ".join(policy.errors),
            )
        write_output(_capture(table), output)
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
    if fmt is Format.json:
        data = [
            {
                "id": c.id,
                "level": str(c.level),
                "versions": [f"v1.{v.min_minor}" for v in c.versions],
                "overrides": sorted({o for v in c.versions for o in v.overrides}),
                "summary": c.summary,
            }
            for c in pss.CHECKS
        ]
        write_output(_json(data), output)
        raise typer.Exit(EXIT_OK)
    table = Table(title=f"Pod Security Standards checks (latest = v1.{pss.MAX_MINOR})")
    for col in ("id", "level", "revisions from", "overrides", "rule"):
        table.add_column(col, overflow="fold")
    for c in pss.CHECKS:
        overrides = ", ".join(sorted({o for v in c.versions for o in v.overrides}))
        table.add_row(
            c.id, str(c.level), ", ".join(f"v1.{v.min_minor}" for v in c.versions), overrides, c.summary
        )
    write_output(_capture(table), output)
    raise typer.Exit(EXIT_OK)
