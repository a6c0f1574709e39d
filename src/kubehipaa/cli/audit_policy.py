"""`kubehipaa audit-policy`: simulate an audit Policy and show which high-value events it records, and how.

Thin layer: load, call the pipeline (`kubehipaa.pipelines.audit_policy`, over `kubehipaa.engines.controlplane`),
render its coverage report (`kubehipaa.reports.audit_policy`).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    TRUST_CONFIG_HELP,
    load_config_if_present,
    load_objects,
    require_readable,
    warn,
    write_output,
)
from kubehipaa.pipelines.audit_policy import check_policies
from kubehipaa.reports.audit_policy import AuditPolicyReport
from kubehipaa.reports.base import RenderOptions

app = typer.Typer(
    help="Audit Policy: simulate first-match rule evaluation and report coverage of high-value events.",
    no_args_is_help=True,
)


class Format(str, Enum):
    table = "table"
    json = "json"


@app.command("check")
def check_cmd(
    paths: list[str] = typer.Argument(..., help="Audit Policy file(s) or directories; '-' reads stdin."),
    namespace: list[str] = typer.Option(
        None,
        "--namespace",
        "-n",
        help="PHI namespace(s) to simulate requests in (default: from config, or 'default').",
    ),
    config: str | None = typer.Option(None, "--config", "-c", help="Path to .kubehipaa.yaml (default: the one in "
                                      "the current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """Show at which level each high-value event class is recorded, and whether that is acceptable.

    Classes: secrets, configmaps, tokenreviews and serviceaccounts/token (Metadata exactly: recorded, bodies
    never), pods/exec|attach|portforward (Request or above), RBAC writes (RequestResponse), authentication
    failures (recorded, stage ResponseStarted kept).  Requests are simulated for a human user and a
    service account, with the API server's first-match rule evaluation.

    Example:

      kubehipaa audit-policy check /etc/kubernetes/audit-policy.yaml

      kubehipaa audit-policy check audit.yaml -n clinical --format json -o coverage.json

    Exit codes: 0 every class covered; 1 some class is not; 2 input error (not a valid audit Policy).
    """
    loaded = load_objects(paths, quiet=True)
    # The API server refuses a policy file it cannot parse; judging the readable part would mislead.
    require_readable(loaded)
    for problem in loaded.problems:
        warn(str(problem))
    result = check_policies(loaded.objects, namespace or None,
                            lambda: load_config_if_present(config, paths, trust=trust_config), where=", ".join(paths))
    write_output(AuditPolicyReport().render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FINDINGS)
