"""`kubehipaa rbac unused` and `kubehipaa rbac suggest`: least privilege from the API server's audit log.

Plain functions with typer options; the coordinator registers them on the `rbac` command group.
"""

from __future__ import annotations

import csv
import io
import re
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import typer
import yaml

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


def _dumps(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


CSV_COLUMNS = ("subject_kind", "subject", "active", "binding_kind", "binding", "binding_namespace", "role_kind",
               "role", "rule", "scope", "verb", "api_group", "resource", "resource_names", "non_resource_url",
               "file", "line")


def _cell(value: object) -> object:
    """Neutralise spreadsheet formulas: names come from manifests and logs, and a subject called
    `=HYPERLINK(...)` must not execute when a reviewer opens the sheet."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_unused_csv(report: UnusedReport) -> str:
    """One row per unused permission: the sheet an access reviewer signs off (keep / revoke)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in report.subjects:
        who = f"{s.subject.namespace}/{s.subject.name}" if s.subject.namespace else s.subject.name
        for p in s.unused:
            r = p.rule
            w.writerow(_cell(v) for v in (
                s.subject.kind, who, "yes" if s.identities else "no", p.binding.kind, p.binding.name,
                p.binding.namespace, p.role_kind, p.role_name, p.rule_index, p.scope or "cluster-wide",
                r.verbs[0] if r.verbs else "", r.api_groups[0] if r.api_groups else "",
                r.resources[0] if r.resources else "", " ".join(r.resource_names),
                r.non_resource_urls[0] if r.non_resource_urls else "", p.binding.origin.file, p.binding.origin.line,
            ))
    return buf.getvalue()


def render_unused_text(report: UnusedReport, *, show_all: bool = False) -> str:
    lines = [
        f"Log window: {report.window_start or '?'} .. {report.window_end or '?'} "
        f"({report.attributed} attributed requests of {report.events} events)",
        "",
    ]
    total = sum(len(s.unused) for s in report.subjects)
    for s in sorted(report.subjects, key=lambda s: (-len(s.unused), s.subject.kind, s.subject.name)):
        if not s.unused and not show_all:
            continue
        who = s.subject.display
        state = "no activity in the window" if not s.identities else f"active as {', '.join(s.identities[:3])}"
        if len(s.identities) > 3:
            state += f" (+{len(s.identities) - 3})"
        lines.append(f"{who}: {len(s.unused)} of {s.granted} granted permissions unused ({state})")
        for p in s.unused:
            lines.append(f"  - {p.describe()}  [{p.binding.origin.file}:{p.binding.origin.line}]")
        lines.append("")
    lines.append(f"{total} unused permission(s) across {len(report.subjects)} subject(s).")
    return "\n".join(_comment_safe(line) for line in lines) + "\n"  # no terminal escapes from manifests


def unused(
    rbac: str = typer.Argument(..., help="RBAC manifests: a file or directory (Roles, ClusterRoles, bindings)."),
    logs: list[str] = typer.Argument(..., help="API-server audit logs (plain, gzip, rotated), directories or '-'."),
    window: str | None = typer.Option(
        None, "--window", "-w", help="Only requests in this period before the newest event (e.g. 30d, 24h)."
    ),
    fmt: UnusedFormat = typer.Option(UnusedFormat.text, "--format", "-f", help="Report format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    show_all: bool = typer.Option(False, "--all", help="Text format: also list subjects with nothing unused."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Permissions granted (per the RBAC manifests) but never exercised in the audit log: access-review input.

    Example: kubehipaa rbac unused ./rbac /var/log/kubernetes/audit.log --window 30d
    """
    seconds = parse_window(window)
    # As for every RBAC answer: a binding in a file that could not be read would make its grants look unused.
    loaded = load_rbac([rbac], manifest_namespace)
    index = RbacIndex.from_objects(loaded.objects)
    for problem in index.problems:
        warn(problem)
    report = unused_permissions(index, read_usage(logs), seconds)
    if fmt == UnusedFormat.json:
        text = _dumps(report.to_dict())
    elif fmt == UnusedFormat.csv:
        text = render_unused_csv(report)
    else:
        text = render_unused_text(report, show_all=show_all)
    write_output(text, output)
    raise typer.Exit(finish(loaded, EXIT_OK))


def _comment_safe(text: str) -> str:
    """Control characters (a newline in a logged path or name) must not end a YAML comment early."""
    return "".join(c if c >= " " and c != "\x7f" else f"\\x{ord(c):02x}" for c in text)


def render_suggestion_yaml(result: dict[str, Any]) -> str:
    header = [
        f"# Least-privilege RBAC for {result['user']}, from observed requests "
        f"{result['window']['start'] or '?'} .. {result['window']['end'] or '?'}",
        f"# {len(result['allowed'])} distinct allowed request(s) covered.",
    ]
    if result["denied"]:
        header.append("# Denied requests (listed, NOT granted):")
        for d in result["denied"]:
            header.append(f"#   {_request_text(d)}")
    if result["conflicts"]:
        header.append("# Denied but still granted (also allowed, or implied by an allowed request; RBAC changed?):")
        for d in result["conflicts"]:
            header.append(f"#   {_request_text(d)}")
    items = result["manifest"]["items"]
    if not items:
        header.append("# No allowed request of this identity in the log: nothing to grant.")
        return "\n".join(_comment_safe(h) for h in header) + "\n"
    body = yaml.safe_dump_all(items, sort_keys=False, default_flow_style=False)
    return "\n".join(_comment_safe(h) for h in header) + "\n---\n" + body


def _request_text(obs: dict[str, Any]) -> str:
    r = obs["request"]
    if "path" in r:
        target = r["path"]
    else:
        res = r["resource"] + (f".{r['apiGroup']}" if r.get("apiGroup") else "")
        res += f"/{r['subresource']}" if r.get("subresource") else ""
        where = f" in {r['namespace']}" if r.get("namespace") else " cluster-wide"
        target = res + (f" {r['name']!r}" if r.get("name") else "") + where
    return f"{r['verb']} {target} (x{obs['count']}, last {obs['last'] or '?'})"


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
    text = _dumps(result) if fmt == SuggestFormat.json else render_suggestion_yaml(result)
    write_output(text, output)
    raise typer.Exit(EXIT_OK)
