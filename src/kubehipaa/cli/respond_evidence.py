"""`respond evidence` (collect a sealed evidence bundle of a pod) and `respond report` (the incident record).

The CLI parses, calls `respond.evidence.collect` / `respond.incident.build_record`, and renders. Nothing of
the raw evidence is printed: `evidence` prints where the bundle is, how many files it sealed and what could
not be read; the evidence itself stays in the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, write_output
from kubehipaa.cli.respond import CONTEXT_HELP, KUBECONFIG_HELP, NAMESPACE_HELP, parse_target, run


def evidence(
    target: Annotated[str, typer.Argument(help="The pod: pod/NAME (or NAME).")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help=NAMESPACE_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Incident evidence folder; the bundle goes to "
                                         "DIR/pods/<ns>/<pod>/<UTC time>/ and the collection is recorded in "
                                         "DIR/actions.jsonl. Existing evidence is never overwritten.")],
    redact_logs: Annotated[bool, typer.Option("--redact-logs", help="Mask secrets and PHI in the stored logs "
                                              "too (default: logs are kept exactly as served, as evidence).")] = False,
    max_log_bytes: Annotated[str, typer.Option("--max-log-bytes", metavar="SIZE",
                                               help="Cap per log (current and previous, each): bytes or "
                                                    "512Ki, 10Mi, 5MB. Truncation is recorded.")] = "10Mi",
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help=KUBECONFIG_HELP)] = None,
    context: Annotated[str | None, typer.Option("--context", help=CONTEXT_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, or json (bundle path, files, manifest hash, "
                                     "what was not readable) for scripts.")] = "text",
) -> None:
    """Preserve a pod's evidence, read-only: spec/status, owners, events, logs, images, RBAC, network, node.

    Files are written read-only and sealed by MANIFEST.sha256 (check with `sha256sum -c`). A kind the
    cluster refuses to show (403) is stated in the bundle and makes the exit code 2; the rest is kept."""
    pod = parse_target(target, ("Pod",), default_kind="Pod")
    if fmt not in ("text", "json"):
        raise typer.BadParameter(f"{fmt!r}: choose text or json", param_hint="--format")

    def body() -> int:
        from kubehipaa.respond.api import ResponderClient
        from kubehipaa.respond.evidence import EvidenceOptions, collect, parse_size
        from kubehipaa.sources.cluster import ClusterTarget

        options = EvidenceOptions(parse_size(max_log_bytes), redact_logs)
        with ResponderClient(ClusterTarget(kubeconfig, context)) as client:
            result = collect(client, output, namespace, pod.name, options)
        if fmt == "json":
            from kubehipaa.reports.base import json_text

            typer.echo(json_text({"bundle": result.relpath, "folder": str(result.folder), "files": result.files,
                                  "manifestSha256": result.manifest_sha256,
                                  "unreadable": [u.to_dict() for u in result.unreadable], "notes": result.notes}),
                       nl=False)
        else:
            typer.echo(f"evidence of pod {namespace}/{pod.name}: {len(result.files)} files sealed in "
                       f"{result.folder} (MANIFEST.sha256 sha256 {result.manifest_sha256})")
        for item in result.unreadable:
            err_console.print(f"[yellow]not readable:[/yellow] {escape(item.what)} ({item.code} "
                              f"{escape(item.reason)}), stated in the bundle", soft_wrap=True, highlight=False)
        for note in result.notes:
            err_console.print(f"[yellow]partial:[/yellow] {escape(note)}", soft_wrap=True, highlight=False)
        return EXIT_ERROR if result.unreadable else EXIT_OK

    run(body)


def report(
    folder: Annotated[Path, typer.Argument(help="The incident's evidence folder.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or html (self-contained, for auditors).")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default stdout).")] = None,
) -> None:
    """The incident record: actions (who, when, what the API answered), integrity of the action log and of
    every evidence bundle, a timeline, and the HIPAA breach-assessment checklist (164.402) with the
    notification deadlines to fill in. Exit 2 when the record or a bundle fails verification."""
    if fmt not in ("md", "html"):
        raise typer.BadParameter(f"{fmt!r}: choose md or html", param_hint="--format")

    def body() -> int:
        from kubehipaa.reports.base import RenderOptions
        from kubehipaa.reports.common import generated_at
        from kubehipaa.reports.incident import INCIDENT
        from kubehipaa.respond.incident import build_record

        record = build_record(folder)
        write_output(INCIDENT.render(record, fmt, RenderOptions(width=100, generated_at=generated_at())), output)
        if record.chain_break is not None:
            err_console.print(f"[red]action log broken[/red] at {escape(str(folder / 'actions.jsonl'))} line "
                              f"{record.chain_break[0]}: {escape(record.chain_break[1])}", soft_wrap=True,
                              highlight=False)
        for b in record.bundles:
            for what, names in (("changed", b.changed), ("missing", b.missing), ("added", b.added),
                                ("", b.problems)):
                for name in names:
                    err_console.print(f"[red]bundle {escape(b.path)}:[/red] {what + ': ' if what else ''}"
                                      f"{escape(name)}", soft_wrap=True, highlight=False)
        for problem in record.problems:
            err_console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True, highlight=False)
        return EXIT_OK if record.ok else EXIT_ERROR

    run(body)


def register(app: typer.Typer) -> None:
    """Add `evidence` and `report` to the respond group."""
    app.command("evidence")(evidence)
    app.command("report")(report)
