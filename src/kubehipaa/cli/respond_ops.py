"""`respond scale`, `respond cordon [--drain]`, `respond revoke`: parse, run one action, render its outcome.

The decisions live in respond/scale.py, respond/cordon.py and respond/revoke.py; this module only builds
the client, the action log and the runner (with the fence each action needs) and renders through
reports/respond_plan.
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


def scale_command(
    target: Annotated[str, typer.Argument(help="deploy/NAME, sts/NAME or rs/NAME.")],
    replicas: Annotated[int, typer.Option("--replicas", min=0, help="The replica count to set (0 contains it).")],
    namespace: Namespace,
    dry_run: DryRun = False,
    evidence: Evidence = DEFAULT_EVIDENCE,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: Format = "text",
) -> None:
    """Scale a Deployment, StatefulSet or ReplicaSet (e.g. to 0); the previous count is recorded."""
    parsed = parse_target(target, ("Deployment", "StatefulSet", "ReplicaSet"))
    check_format(fmt)

    def body() -> int:
        from kubehipaa.respond.scale import scale

        with action_runner("scale", str(parsed), namespace, dry_run=dry_run, evidence=evidence,
                           kubeconfig=kubeconfig, context=context) as runner:
            lines = scale(runner, parsed.kind, parsed.api_version, parsed.plural, parsed.name, namespace, replicas)
            render(runner.outcome(lines), fmt)
        return EXIT_OK

    run(body)


def cordon_command(
    node: Annotated[str, typer.Argument(help="Node name (or node/NAME).")],
    drain: Annotated[bool, typer.Option("--drain", help="Also evict the node's pods (PodDisruptionBudgets "
                                        "honoured; DaemonSet and mirror pods skipped, as kubectl drain does).")] = False,
    namespaces: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="With --drain: a namespace whose pods may be evicted (repeatable). Pods of "
        "other namespaces on the node are listed as not evicted.")] = None,
    all_namespaces: Annotated[bool, typer.Option(
        "--all-namespaces", "-A", help="With --drain: evict pods of every namespace (must be said explicitly).")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --drain: also evict pods no controller owns "
                                        "(they are gone for good).")] = False,
    delete_emptydir_data: Annotated[bool, typer.Option("--delete-emptydir-data", help="With --drain: also evict "
                                                       "pods with emptyDir volumes (their data is lost).")] = False,
    dry_run: DryRun = False,
    evidence: Evidence = DEFAULT_EVIDENCE,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: Format = "text",
) -> None:
    """Cordon a node (unschedulable) and, with --drain, evict its pods from the namespaces you name.

    Exit 2 when a pod drain did not evict (another namespace, a disruption budget, no controller) still runs
    there."""
    parsed = parse_target(node, ("Node",), default_kind="Node")
    check_format(fmt)
    given = tuple(namespaces or ())
    if drain and not given and not all_namespaces:
        raise typer.BadParameter("--drain needs the namespaces it may evict from: -n NS (repeatable) or "
                                 "--all-namespaces", param_hint="--drain")
    if drain and given and all_namespaces:
        raise typer.BadParameter("give -n NS or --all-namespaces, not both", param_hint="--all-namespaces")
    if not drain and (given or all_namespaces or force or delete_emptydir_data):
        raise typer.BadParameter("-n, --all-namespaces, --force and --delete-emptydir-data only apply with --drain",
                                 param_hint="--drain")

    def body() -> int:
        from kubehipaa.respond import cordon as ops

        # a Node is cluster-scoped: `nodes` is the only plural this action may address outside a namespace
        with action_runner("drain" if drain else "cordon", str(parsed), None, dry_run=dry_run, evidence=evidence,
                           kubeconfig=kubeconfig, context=context,
                           cluster_scoped=frozenset({"nodes"})) as runner:
            lines, was_cordoned = ops.cordon(runner, parsed.name, record_nothing=not drain)
            complete = True
            if drain:
                options = ops.DrainOptions(None if all_namespaces else frozenset(given), force=force,
                                           delete_emptydir_data=delete_emptydir_data, backoff=ops.EVICTION_BACKOFF)
                more, complete = ops.drain(runner, parsed.name, options, was_cordoned=was_cordoned)
                lines.extend(more)
            render(runner.outcome(lines), fmt)
        return EXIT_OK if complete else EXIT_ERROR

    run(body)


def revoke_command(
    target: Annotated[str, typer.Argument(help="sa/NAME: the ServiceAccount whose access to revoke.")],
    namespace: Namespace,
    dry_run: DryRun = False,
    evidence: Evidence = DEFAULT_EVIDENCE,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    fmt: Format = "text",
) -> None:
    """Revoke a ServiceAccount: remove it from the RoleBindings of -n and from ClusterRoleBindings, delete
    its legacy token Secrets, and report the access that remains.

    Exit 2 when access remains that this command may not remove (bindings in other namespaces, group
    grants other than the cluster's defaults)."""
    parsed = parse_target(target, ("ServiceAccount",))
    check_format(fmt)

    def body() -> int:
        from kubehipaa.respond.revoke import revoke

        # clusterrolebindings: a ClusterRoleBinding naming the account grants it cluster-wide access, and
        # removing that entry is the point of revoking; no other cluster-scoped plural is touched
        with action_runner("revoke", str(parsed), namespace, dry_run=dry_run, evidence=evidence,
                           kubeconfig=kubeconfig, context=context,
                           cluster_scoped=frozenset({"clusterrolebindings"})) as runner:
            result = revoke(runner, namespace, parsed.name)
            render(runner.outcome(result.lines), fmt)
        return EXIT_ERROR if result.access_remains else EXIT_OK

    run(body)


def register(app: typer.Typer) -> None:
    """Add scale, cordon and revoke to the respond group."""
    app.command("scale")(scale_command)
    app.command("cordon")(cordon_command)
    app.command("revoke")(revoke_command)
