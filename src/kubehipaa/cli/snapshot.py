"""`kubehipaa snapshot --cluster -o FILE`: a read-only export of what a cluster scan lists (no Secret values)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, warn, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.pipelines.scan_cluster import ClusterTarget, snapshot_cluster
from kubehipaa.reports.snapshot import snapshot_yaml


def snapshot(
    cluster: bool = typer.Option(False, "--cluster", help="Export the live cluster (required; read-only)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="kubeconfig file."),
    context: str | None = typer.Option(None, "--context", help="kubeconfig context."),
    namespace: list[str] = typer.Option(None, "--namespace", "-n", help="Only these namespaces (repeatable)."),
) -> None:
    """Export the objects `scan --cluster` reads as multi-document YAML; `kubehipaa scan FILE` reads it back.

    Only get/list requests are sent. Secrets keep metadata, type and key names; values are never exported.
    A kind that could not be read is named in the file's header and on stderr, and the exit code is 2.

    Example: kubehipaa snapshot --cluster --context prod -o cluster-2026-12-06.yaml
    """
    try:
        if not cluster:
            raise typer.BadParameter("snapshot needs --cluster (the only source it exports)")
        load = snapshot_cluster(ClusterTarget(kubeconfig, context, tuple(namespace or ())))
        unreadable = [f"{u.kind} ({u.reason})" for u in load.unreadable]
        text = snapshot_yaml(load.context, load.git_version, [o.doc for o in load.objects], unreadable,
                             load.managed)
        write_output(text, output)
        for line in unreadable:
            warn(f"not readable, not in the snapshot: {line}")
        code = EXIT_ERROR if unreadable else EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)
