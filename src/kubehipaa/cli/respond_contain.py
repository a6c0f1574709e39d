"""`kubehipaa respond quarantine|release pod/NAME -n NS`: parse, call respond.quarantine, render the plan.

Exit codes: 0 done (or nothing to do) and, for quarantine, verified contained by the NetworkPolicy engine;
2 refused, API error, bad input, or quarantine done but NOT verified (e.g. a hostNetwork pod, or a user's
policy that still allows traffic): the responder must act further, so a script must not read it as success.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK
from kubehipaa.cli.respond import (
    DEFAULT_EVIDENCE,
    Context,
    DryRun,
    Evidence,
    Format,
    Kubeconfig,
    Namespace,
    action_runner,
    check_format,
    parse_target,
    render,
    run,
)

TARGET_HELP = "The pod, as pod/NAME (or just NAME)."


def register(app: typer.Typer) -> None:
    """Add `quarantine` and `release` to the respond group."""

    @app.command("quarantine")
    def quarantine(
        target: Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False)],
        namespace: Namespace,
        detach: bool = typer.Option(False, "--detach", help=(
            "Also change the labels the pod's controller selects on, so the controller lets the pod go (kept "
            "for forensics) and starts a replacement.")),
        dry_run: DryRun = False,
        evidence: Evidence = DEFAULT_EVIDENCE,
        kubeconfig: Kubeconfig = None,
        context: Context = None,
        fmt: Format = "text",
    ) -> None:
        """Label the pod quarantine=true and ensure the namespace's deny-all NetworkPolicy; verify no connection
        to the pod remains allowed (exit 2 when that cannot be verified)."""
        pod = parse_target(target, ("Pod",), default_kind="Pod")
        check_format(fmt)

        def body() -> int:
            from kubehipaa.respond.quarantine import run_quarantine

            # cluster_scoped stays empty: only the pod and a NetworkPolicy of its namespace are touched
            with action_runner("quarantine", f"pod/{pod.name}", namespace, dry_run=dry_run, evidence=evidence,
                               kubeconfig=kubeconfig, context=context) as runner:
                result = run_quarantine(runner, namespace, pod.name, detach=detach)
                render(runner.outcome(result.summary), fmt)
            return EXIT_OK if result.verified else EXIT_ERROR

        run(body)

    @app.command("release")
    def release(
        target: Annotated[str, typer.Argument(help=TARGET_HELP, show_default=False)],
        namespace: Namespace,
        dry_run: DryRun = False,
        evidence: Evidence = DEFAULT_EVIDENCE,
        kubeconfig: Kubeconfig = None,
        context: Context = None,
        fmt: Format = "text",
    ) -> None:
        """Undo exactly what quarantine did to the pod, as recorded in EVIDENCE/actions.jsonl: restore its labels
        and delete the deny-all policy if quarantine created it and no other pod is quarantined."""
        pod = parse_target(target, ("Pod",), default_kind="Pod")
        check_format(fmt)

        def body() -> int:
            from kubehipaa.respond.quarantine import run_release

            # cluster_scoped stays empty: only the pod and a NetworkPolicy of its namespace are touched
            with action_runner("release", f"pod/{pod.name}", namespace, dry_run=dry_run, evidence=evidence,
                               kubeconfig=kubeconfig, context=context) as runner:
                plan = run_release(runner, namespace, pod.name)
                render(runner.outcome(plan.notes), fmt)
            return EXIT_OK

        run(body)
