"""`kubehipaa audit-policy`: simulate an audit Policy and show which high-value events it records, and how.

Thin layer over :mod:`kubehipaa.engines.controlplane` (audit_policy.py): load, simulate, render a coverage table.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    TRUST_CONFIG_HELP,
    load_config_if_present,
    load_objects,
    require_readable,
    warn,
    write_output,
)
from kubehipaa.engines.controlplane import (
    ClassCoverage,
    Policy,
    PolicyError,
    coverage,
    hiding_catch_all,
    is_audit_policy,
    parse_policy,
    request_received_recorded,
)
from kubehipaa.errors import InputError
from kubehipaa.inventory import Inventory

app = typer.Typer(
    help="Audit Policy: simulate first-match rule evaluation and report coverage of high-value events.",
    no_args_is_help=True,
)


class Format(str, Enum):
    table = "table"
    json = "json"


def _row(c: ClassCoverage) -> dict[str, Any]:
    return {
        "class": c.cls.key,
        "title": c.cls.title,
        "required": c.cls.min_level if c.cls.min_level == c.cls.max_level else f"{c.cls.min_level}+",
        "levels": c.levels,
        "rules": [i for i in c.rule_indexes],
        "ok": c.ok,
        "problems": c.problems,
        "why": c.cls.why,
    }


def _report(file: str, line: int, pol: Policy, cov: list[ClassCoverage]) -> dict[str, Any]:
    return {
        "file": file,
        "line": line,
        "rules": len(pol.rules),
        "omitStages": sorted(pol.omit_stages),
        "coverage": [_row(c) for c in cov],
        "requestReceivedRecordedBy": request_received_recorded(pol),
        "catchAllNoneHides": {str(k): v for k, v in hiding_catch_all(pol, cov).items()},
        "ok": all(c.ok for c in cov),
    }


def _rules_text(indexes: Sequence[int | None]) -> str:
    return ", ".join("default" if i is None else str(i) for i in indexes)


def _render_table(reports: list[dict[str, Any]], namespaces: Sequence[str]) -> str:
    console = Console(record=True, width=150, highlight=False)
    with console.capture() as cap:
        for rep in reports:
            table = Table(
                title=f"audit policy {rep['file']}:{rep['line']} - coverage in namespace(s) {', '.join(namespaces)}",
                show_lines=False,
            )
            table.add_column("event class", overflow="fold")
            table.add_column("required")
            table.add_column("recorded at")
            table.add_column("rule(s)")
            table.add_column("status")
            for row in rep["coverage"]:
                status = "[green]ok[/green]" if row["ok"] else "[red]FAIL[/red]"
                table.add_row(
                    row["title"], row["required"], ", ".join(row["levels"]), _rules_text(row["rules"]), status
                )
            console.print(table)
            for row in rep["coverage"]:
                for problem in row["problems"][:3]:
                    console.print(f"  [red]-[/red] {row['class']}: {problem}", soft_wrap=True)
                if len(row["problems"]) > 3:
                    console.print(f"    ({len(row['problems']) - 3} more for {row['class']})")
            for idx, keys in rep["catchAllNoneHides"].items():
                console.print(f"  [red]-[/red] rule {idx} is a catch-all None that hides: {', '.join(keys)}")
            if rep["requestReceivedRecordedBy"]:
                console.print(
                    "  [yellow]-[/yellow] RequestReceived is not omitted (rules "
                    f"{_rules_text(rep['requestReceivedRecordedBy'])}); add omitStages: [RequestReceived]"
                )
    return cap.get()


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
    policies = [o for o in loaded.objects if is_audit_policy(o)]
    if not policies:
        raise InputError(
            f"no audit Policy (apiVersion audit.k8s.io/v1, kind Policy) found in {', '.join(paths)}"
        )
    if namespace:
        nss = list(namespace)
    else:
        cfg = load_config_if_present(config, paths, trust=trust_config)
        inv = Inventory(loaded.objects, cfg)
        nss = sorted(inv.phi_namespaces) or ["default"]
    reports = []
    for obj in policies:
        try:
            pol = parse_policy(obj.doc)
        except PolicyError as exc:
            raise InputError(f"invalid audit Policy: {exc}", obj.file, obj.line) from None
        reports.append(_report(obj.file, obj.line, pol, coverage(pol, nss)))
    if fmt is Format.json:
        text = (
            orjson.dumps({"namespaces": nss, "policies": reports}, option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        text = _render_table(reports, nss)
    write_output(text, output)
    raise typer.Exit(EXIT_OK if all(r["ok"] for r in reports) else EXIT_FINDINGS)
