"""`kubehipaa respond quarantine|release pod/NAME -n NS`: parse, call respond.quarantine, render the plan.

Exit codes: 0 done (or nothing to do) and, for quarantine, verified contained by the NetworkPolicy engine;
2 refused, API error, bad input, or quarantine done but NOT verified (e.g. a hostNetwork pod, or a user's
policy that still allows traffic): the responder must act further, so a script must not read it as success.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, write_output
from kubehipaa.cli.respond import (
    CONTEXT_HELP,
    DEFAULT_EVIDENCE,
    DRY_RUN_HELP,
    EVIDENCE_HELP,
    KUBECONFIG_HELP,
    NAMESPACE_HELP,
    parse_target,
    run,
)
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.respond_plan import REPORT

if TYPE_CHECKING:
    from kubehipaa.respond.runner import ActionRunner

TARGET_HELP = "The pod, as pod/NAME (or just NAME)."
FORMAT_HELP = "Output format: text (the exact requests, answers and the verification) or json."


def _runner(action: str, name: str, namespace: str, dry_run: bool, evidence: Path, kubeconfig: str | None,
            context: str | None) -> ActionRunner:
    from kubehipaa.respond.actions import ActionLog
    from kubehipaa.respond.api import ResponderClient
    from kubehipaa.respond.runner import ActionRunner
    from kubehipaa.sources.cluster import ClusterTarget

    client = ResponderClient(ClusterTarget(kubeconfig, context))
    # cluster_scoped stays empty: quarantine and release touch only the pod and a NetworkPolicy of its namespace
    return ActionRunner(client, ActionLog(evidence), action, f"pod/{name}", namespace, dry_run)


def _check_format(fmt: str) -> None:
    """A wrong --format is a usage error before anything is sent, not after."""
    if fmt not in REPORT.formats:
        raise typer.BadParameter(f"{fmt!r}: choose one of {', '.join(REPORT.formats)}", param_hint="--format")


def _render(outcome: Any, fmt: str) -> None:
    write_output(REPORT.render(outcome, fmt, RenderOptions()), None)


def register(app: typer.Typer) -> None:
    """Add `quarantine` and `release` to the respond group."""

    @app.command("quarantine")
    def quarantine(
        target: str = typer.Argument(..., help=TARGET_HELP, show_default=False),
        namespace: str = typer.Option(..., "-n", "--namespace", help=NAMESPACE_HELP),
        detach: bool = typer.Option(False, "--detach", help=(
            "Also change the labels the pod's controller selects on, so the controller lets the pod go (kept "
            "for forensics) and starts a replacement.")),
        dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
        evidence: Path = typer.Option(DEFAULT_EVIDENCE, "--evidence", help=EVIDENCE_HELP),
        kubeconfig: str | None = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
        context: str | None = typer.Option(None, "--context", help=CONTEXT_HELP),
        fmt: str = typer.Option("text", "--format", help=FORMAT_HELP),
    ) -> None:
        """Label the pod quarantine=true and ensure the namespace's deny-all NetworkPolicy; verify no connection
        to the pod remains allowed (exit 2 when that cannot be verified)."""
        pod = parse_target(target, ("Pod",), default_kind="Pod")
        _check_format(fmt)

        def body() -> int:
            from kubehipaa.respond.quarantine import run_quarantine

            runner = _runner("quarantine", pod.name, namespace, dry_run, evidence, kubeconfig, context)
            with runner.client:
                result = run_quarantine(runner, namespace, pod.name, detach=detach)
                _render(runner.outcome(result.summary), fmt)
            return EXIT_OK if result.verified else EXIT_ERROR

        run(body)

    @app.command("release")
    def release(
        target: str = typer.Argument(..., help=TARGET_HELP, show_default=False),
        namespace: str = typer.Option(..., "-n", "--namespace", help=NAMESPACE_HELP),
        dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
        evidence: Path = typer.Option(DEFAULT_EVIDENCE, "--evidence", help=EVIDENCE_HELP),
        kubeconfig: str | None = typer.Option(None, "--kubeconfig", help=KUBECONFIG_HELP),
        context: str | None = typer.Option(None, "--context", help=CONTEXT_HELP),
        fmt: str = typer.Option("text", "--format", help=FORMAT_HELP),
    ) -> None:
        """Undo exactly what quarantine did to the pod, as recorded in EVIDENCE/actions.jsonl: restore its labels
        and delete the deny-all policy if quarantine created it and no other pod is quarantined."""
        pod = parse_target(target, ("Pod",), default_kind="Pod")
        _check_format(fmt)

        def body() -> int:
            from kubehipaa.respond.quarantine import run_release

            runner = _runner("release", pod.name, namespace, dry_run, evidence, kubeconfig, context)
            with runner.client:
                plan = run_release(runner, namespace, pod.name)
                _render(runner.outcome(plan.notes), fmt)
            return EXIT_OK

        run(body)
