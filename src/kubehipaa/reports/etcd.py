"""`etcd verify`'s report: per resource, counts by status (per namespace), the objects to re-encrypt, and how.

Table and JSON. Both name objects by namespace and name only (the pipeline never keeps a value), and both are
redacted like every other output: an object name can carry a credential or an identifier (a Secret named
after a connection string, a ConfigMap named after a patient), so the JSON tree goes through `json_text` and
every string of the table through `redact_text` before it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.pipelines.etcd import (
    BAD_STATUSES,
    STATUS_ENCRYPTED,
    STATUS_PLAINTEXT,
    STATUS_STALE,
    STATUS_UNREADABLE,
    STATUSES,
    EtcdVerification,
    ResourceReport,
)
from kubehipaa.redaction import redact_text
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Cell, Column, fit_table, render_text

REWRITE_HINT = "kubectl get {res} -A -o json | kubectl replace -f -"
TABLE_LIST_LIMIT = 50
"""Objects listed per resource and status in the table (JSON lists them all)."""
_WHAT = {
    STATUS_PLAINTEXT: "stored in PLAINTEXT",
    STATUS_STALE: "encrypted under a key that is not the current one",
    STATUS_UNREADABLE: "encrypted under a key the configuration does not list (unreadable)",
}


def resource_record(rep: ResourceReport) -> dict[str, Any]:
    """One resource as JSON data: totals, counts per status and namespace, and the objects to fix."""
    return {
        "resource": rep.display,
        "prefix": rep.prefix,
        "total": rep.total,
        "counts": {s: rep.counts.get(s, 0) for s in STATUSES if s != STATUS_ENCRYPTED or rep.counts.get(s)},
        "namespaces": {ns: dict(c) for ns, c in sorted(rep.namespaces.items())},
        **{status: rep.objects.get(status, []) for status in BAD_STATUSES},
    }


def verification_record(result: EtcdVerification) -> dict[str, Any]:
    """The whole verification as JSON data (`--format json`)."""
    return {
        "endpoint": result.endpoint,
        "revision": result.revision,
        "encryptionConfig": result.encryption_config,
        "resources": [resource_record(r) for r in result.resources],
        "ok": result.ok,
    }


def _resource_renderables(rep: ResourceReport, width: int) -> list[RenderableType]:
    shown = [s for s in STATUSES if s != STATUS_ENCRYPTED or rep.counts.get(s)]
    columns = [Column("namespace", key=True), Column("total", key=True, justify="right"),
               *(Column(s, key=True, justify="right") for s in shown)]
    rows: list[list[Cell]] = [[redact_text(ns), str(sum(c.values())), *(str(c.get(s, 0)) for s in shown)]
                              for ns, c in sorted(rep.namespaces.items())]
    rows.append([Text("all", style="bold"), str(rep.total), *(str(rep.counts.get(s, 0)) for s in shown)])
    display = redact_text(rep.display)
    out: list[RenderableType] = [fit_table(columns, rows, width, title=f"{display} ({redact_text(rep.prefix)})")]
    for status in BAD_STATUSES:
        objs = rep.objects.get(status, [])
        if not objs:
            continue
        out.append(Text(f"{len(objs)} {display} {_WHAT[status]}:", style="red"))
        for o in objs[:TABLE_LIST_LIMIT]:
            # Each value from the store redacted on its own, before our words join them.
            where = "/".join(redact_text(o[k]) for k in ("namespace", "name") if o[k])
            detail = redact_text(o["encoding"]) if o.get("encoding") else \
                " ".join((redact_text(o["provider"]), redact_text(o["version"]), "key", redact_text(o["key"])))
            out.append(Text(f"  {where}  ({detail})"))
        if len(objs) > TABLE_LIST_LIMIT:
            out.append(Text(f"  ... and {len(objs) - TABLE_LIST_LIMIT} more (use --format json for all)"))
    if rep.objects.get(STATUS_PLAINTEXT) or rep.objects.get(STATUS_STALE):
        # The command on a line of its own, so that it is copied whole at any width it fits.
        out.append(Text("  re-encrypt with the current key:"))
        out.append(Text(f"    {REWRITE_HINT.format(res=display)}"))
    return out


def table_renderables(result: EtcdVerification, width: int) -> list[RenderableType]:
    """The verification as rich renderables: a heading, then per resource its table and the objects to fix."""
    note = f"compared with {redact_text(result.encryption_config)}" if result.encryption_config \
        else "no encryption config given"
    out: list[RenderableType] = [Text(f"etcd {redact_text(result.endpoint)} at revision {result.revision} - {note}")]
    for rep in result.resources:
        out.extend(_resource_renderables(rep, width))
    return out


@dataclass(slots=True)
class EtcdReport:
    """`etcd verify`'s formats (the first is the default)."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: EtcdVerification, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text(verification_record(result))
        return render_text(table_renderables(result, options.width), width=options.width, color=options.color)
