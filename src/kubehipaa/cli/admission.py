"""`kubehipaa admission ...`: offline tests of admission policies (`admission test`)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, err_console, write_output
from kubehipaa.errors import KubehipaaError

app = typer.Typer(help="Admission enforcement: test generated ValidatingAdmissionPolicies offline.",
                  no_args_is_help=True)


@app.command("test")
def test_cmd(
    policy_file: str = typer.Argument(..., metavar="VAP.yaml", help="Output of `generate admission-policies`."),
    paths: list[str] = typer.Argument(..., metavar="PATHS...", help="Manifests (files, directories, -)."),
    output_format: str = typer.Option("table", "--format", "-f", help="table or json."),
    show_all: bool = typer.Option(False, "--all", help="Also list objects every policy allows."),
) -> None:
    """Evaluate the policies' CEL (cel-python + the Kubernetes functions they use) on every object under PATHS,
    as the API server would on CREATE. Exit 1 when an object is denied (or a policy errors, failurePolicy
    Fail), 0 when every object is admitted, 2 on unusable input.

    Offline differences: namespace labels come from Namespace objects in PATHS (else only
    kubernetes.io/metadata.name); params (paramKind) come from the object the binding's paramRef names in
    VAP.yaml (the generated ConfigMap); the requesting user is not system:apiserver; no authorizer.
    """
    if output_format not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    from kubehipaa.pipelines.admission_test import run_admission_test

    try:
        result = run_admission_test(policy_file, paths)
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    if output_format == "json":
        rows = [{"kind": o.kind, "namespace": o.namespace, "name": o.name, "file": o.file, "line": o.line,
                 "denied": o.denied,
                 "decisions": [{"policy": d.policy, "check": d.check_id, "verdict": d.verdict,
                                "messages": list(d.messages)} for d in o.decisions]}
                for o in result.objects]
        text = json.dumps({"policies": result.policies, "objects": rows, "denied": result.denied}, indent=2) + "\n"
    else:
        lines = []
        for o in result.objects:
            bad = [d for d in o.decisions if d.verdict != "allow"]
            if not bad and not show_all:
                continue
            ref = f"{o.kind} {o.namespace + '/' if o.namespace else ''}{o.name} ({o.file}:{o.line})"
            if not bad:
                lines.append(f"ALLOW  {ref}")
            for d in bad:
                lines.append(f"{d.verdict.upper():6} {ref}  {d.check_id or d.policy}: "
                             + "; ".join(d.messages))
        lines.append(f"{len(result.objects)} object(s), {result.policies} policy binding(s): "
                     f"{result.denied} denied")
        text = "\n".join(lines) + "\n"
    write_output(text, None)
    raise typer.Exit(EXIT_FINDINGS if result.denied else EXIT_OK)
