"""`kubehipaa rbac unused` and `kubehipaa rbac suggest`: least privilege from the API server's audit log.

Plain functions with typer options; the coordinator registers them on the `rbac` command group. The answers
are rendered by reports/rbac_usage.py.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli.common import (
    EXIT_OK,
    MANIFEST_NAMESPACE_HELP,
    check_audit_read,
    finish,
    warn,
    write_output,
)
from kubehipaa.cli.rbac import load_rbac
from kubehipaa.engines.rbac import (
    RbacIndex,
    UnusedReport,
    Usage,
    collect_usage,
    suggest_role,
    unused_permissions,
)
from kubehipaa.errors import KubehipaaError
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.rbac_usage import SUGGESTION, UnusedReportRenderer
from kubehipaa.sources.auditlog import ReadStats, iter_events


class UnusedFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"


class SuggestFormat(str, Enum):
    yaml = "yaml"
    json = "json"


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_window(text: str | None) -> float | None:
    """`30d`, `24h`, `90m` → seconds; None/empty → the whole log."""
    if not text:
        return None
    m = _DURATION.match(text.strip())
    if not m:
        raise KubehipaaError(f"--window {text!r}: expected a duration like 30d, 24h or 90m")
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def read_usage(logs: list[str]) -> Usage:
    """Stream the audit logs into per-identity request sets; malformed lines are reported, never fatal.

    A log with no event at all is an input error (exit 2): with no request seen, every granted permission
    would read as unused and every suggested role as empty.
    """
    stats = ReadStats()
    usage = collect_usage(iter_events(logs, stats))
    check_audit_read(stats, logs)
    return usage


def unused(
    rbac: str = typer.Argument(..., help="RBAC manifests: a file or directory (Roles, ClusterRoles, bindings); "
                               "with --cluster, the first audit log."),
    logs: list[str] = typer.Argument(None, help="API-server audit logs (plain, gzip, rotated), directories or '-'."),
    window: str | None = typer.Option(
        None, "--window", "-w", help="Only requests in this period before the newest event (e.g. 30d, 24h)."
    ),
    fmt: UnusedFormat = typer.Option(UnusedFormat.text, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    show_all: bool = typer.Option(False, "--all", help="Text format: also list subjects with nothing unused."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
    cluster: bool = typer.Option(False, "--cluster", help="Read the grants from the live cluster (read-only: "
                                 "get/list) instead of RBAC manifests; every argument is then an audit log."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="With --cluster: kubeconfig file."),
    context: str | None = typer.Option(None, "--context", help="With --cluster: kubeconfig context."),
) -> None:
    """Permissions granted (per the RBAC manifests) but never exercised in the audit log: access-review input.

    Examples: kubehipaa rbac unused ./rbac /var/log/kubernetes/audit.log --window 30d
              kubehipaa rbac unused --cluster --context prod /var/log/kubernetes/audit.log
    """
    seconds = parse_window(window)
    if cluster:
        from kubehipaa.cli.common import load_cluster_manifests
        from kubehipaa.sources.cluster import ClusterTarget

        logs = [rbac, *(logs or [])]
        loaded = load_cluster_manifests(ClusterTarget(kubeconfig, context))
    else:
        if not logs:
            raise typer.BadParameter("give the RBAC manifests and at least one audit log (or --cluster LOGS)")
        if kubeconfig is not None or context is not None:
            raise typer.BadParameter("--kubeconfig and --context need --cluster")
        # As for every RBAC answer: a binding in a file that could not be read would make its grants look unused.
        loaded = load_rbac([rbac], manifest_namespace)
    index = RbacIndex.from_objects(loaded.objects)
    for problem in index.problems:
        warn(problem)
    report: UnusedReport = unused_permissions(index, read_usage(logs), seconds)
    write_output(UnusedReportRenderer(show_all=show_all).render(report, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


def suggest(
    logs: list[str] = typer.Argument(..., help="API-server audit logs (plain, gzip, rotated), directories or '-'."),
    user: str = typer.Option(..., "--user", "-u", help="User name as logged, e.g. system:serviceaccount:ns:sa."),
    window: str | None = typer.Option(
        None, "--window", "-w", help="Only requests in this period before the newest event (e.g. 30d, 24h)."
    ),
    fmt: SuggestFormat = typer.Option(SuggestFormat.yaml, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the manifest to FILE instead of stdout."),
) -> None:
    """A minimal Role/ClusterRole (with bindings) covering exactly the identity's observed allowed requests.

    Denied requests are listed as comments and never granted.

    Example: kubehipaa rbac suggest --user system:serviceaccount:clinical:app-sa audit.log -o app-sa-rbac.yaml
    """
    usage = read_usage(logs).within(parse_window(window))
    result = suggest_role(usage, user)
    if not result["allowed"] and not result["denied"]:
        warn(f"no request by {user!r} in the log")
    write_output(SUGGESTION.render(result, fmt.value, RenderOptions()), output)
    raise typer.Exit(EXIT_OK)
