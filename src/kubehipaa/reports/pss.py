"""The Pod Security Standards reports: one `Report` per `kubehipaa pss` result.

`EvaluationReport` (`pss evaluate`), `DryRunReport` (`pss dry-run`, also the API server's own warning lines),
`NamespacesReport` (`pss namespaces`) and `ChecksReport` (`pss checks`, the upstream check registry). Tables go
through `terminal.fit_table` at the reader's width: workload names, namespaces, check ids and levels are key
columns that are never split inside a word. Every string that came from the input (object and namespace
names, files, label values quoted in errors, violation details quoting the spec) is redacted: the JSON tree by
`json_text`, table cells by `redact_text` before they are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.engines import pss
from kubehipaa.pipelines.pss import DryRun, Evaluated, Evaluation, NamespacesResult
from kubehipaa.redaction import redact_text
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Cell, Column, fit_table, render_text

VIOLATIONS_HEADER = "violations"
"""Each line `check: reason (detail)`, the words the API server prints."""


def evaluated_record(r: Evaluated) -> dict[str, Any]:
    """One object's verdict as JSON data (`--format json` of evaluate and dry-run)."""
    return {
        "file": r.obj.file,
        "line": r.obj.line,
        "kind": r.obj.kind,
        "namespace": r.obj.namespace,
        "namespaceAssumed": r.obj.namespace_assumed,
        "name": r.obj.name,
        "level": str(r.verdict.level),
        "version": str(r.verdict.version),
        "allowed": r.verdict.allowed,
        "violations": [v.to_dict() for v in r.verdict.violations],
    }


def _verdict_table(results: Sequence[Evaluated], title: str, width: int,
                   enforced_now: Sequence[str] | None = None) -> RenderableType:
    columns = [Column("workload", key=True), Column("file:line", key=True), Column("allowed", key=True)]
    if enforced_now is not None:
        columns.append(Column("enforced now", key=True))
    columns.append(Column(VIOLATIONS_HEADER))
    rows: list[list[Cell]] = []
    for i, r in enumerate(results):
        # Values from the input are redacted on their own, before our words are added to them.
        shown = redact_text(r.obj.display) + (" (ns assumed)" if r.obj.namespace_assumed else "")
        row: list[Cell] = [shown, f"{redact_text(r.obj.file)}:{r.obj.line}", "yes" if r.verdict.allowed else "NO"]
        if enforced_now is not None:
            row.append(enforced_now[i])
        row.append("\n".join(f"{v.check}: {redact_text(v.message)}" for v in r.verdict.violations))
        rows.append(row)
    return fit_table(columns, rows, width, title=title)


def _text(renderables: Sequence[RenderableType], options: RenderOptions) -> str:
    return render_text(renderables, width=options.width, color=options.color)


@dataclass(slots=True)
class EvaluationReport:
    """`pss evaluate`: a verdict table and a summary line, or the verdicts as JSON."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: Evaluation, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text([evaluated_record(r) for r in result.results])
        level = f"{result.level}:{result.version}"
        summary = f"{len(result.results)} evaluated at {level}, {result.denied} denied"
        table = _verdict_table(result.results, f"Pod Security Standards {level}", options.width)
        return _text([table, Text(summary)], options)


@dataclass(slots=True)
class DryRunReport:
    """`pss dry-run`: the verdicts at the proposed level beside today's, as a table, JSON, or the warning lines
    `kubectl label --dry-run=server` would print."""

    formats: tuple[str, ...] = ("table", "json", "warnings")

    def render(self, result: DryRun, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        enforce = result.current.enforce
        if fmt == "warnings":
            lines = [redact_text(f"Warning: {w}") for w in result.label_warnings]
            return "\n".join(lines) + "\n" if lines else ""
        if fmt == "json":
            rows = []
            for r, now in zip(result.results, result.enforced_now, strict=True):
                row = evaluated_record(r)
                row["enforcedNow"] = {"level": str(enforce.level), "version": str(enforce.version),
                                      "allowed": now.allowed}
                rows.append(row)
            return json_text(rows)
        proposed = f"{result.proposed.level}:{result.proposed.version}"
        now_cells = [f"{enforce}: {'allowed' if v.allowed else 'denied'}" for v in result.enforced_now]
        namespace = redact_text(result.namespace)
        title = f"namespace {namespace}: enforce {enforce} → {proposed}"
        rejected = len(result.rejected)
        summary = (
            f"{rejected} of {len(result.results)} workloads in {namespace} would be rejected at {proposed}"
            + ("" if not rejected else " (existing pods keep running; new pods from them are refused)")
        )
        table = _verdict_table(result.results, title, options.width, now_cells)
        return _text([table, Text(summary)], options)


NAMESPACE_COLUMNS = (Column("namespace", key=True), Column("enforce", key=True), Column("audit", key=True),
                     Column("warn", key=True), Column("workloads", key=True, justify="right"),
                     Column("denied by enforce", key=True, justify="right"), Column("label errors"))


@dataclass(slots=True)
class NamespacesReport:
    """`pss namespaces`: each namespace's effective policy and what its enforce level denies."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: NamespacesResult, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            data = []
            for row in result.rows:
                entry: dict[str, Any] = {"namespace": row.namespace, **row.policy.to_dict()}
                entry["workloads"] = row.workloads
                entry["deniedByEnforce"] = row.denied
                data.append(entry)
            return json_text(data)
        rows: list[list[Cell]] = [
            [redact_text(row.namespace), str(row.policy.enforce), str(row.policy.audit), str(row.policy.warn),
             str(row.workloads), str(row.denied), "; ".join(redact_text(e) for e in row.policy.errors)]
            for row in result.rows
        ]
        return _text([fit_table(NAMESPACE_COLUMNS, rows, options.width, title="PodSecurity policy per namespace")],
                     options)


CHECK_COLUMNS = (Column("id", key=True), Column("level", key=True), Column("revisions from", key=True),
                 Column("overrides", key=True), Column("rule"))


@dataclass(slots=True)
class ChecksReport:
    """`pss checks`: the upstream checks, their level, the versions each revision applies from, overrides."""

    formats: tuple[str, ...] = ("table", "json")

    def render(self, result: Sequence[pss.Check], fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text([
                {
                    "id": c.id,
                    "level": str(c.level),
                    "versions": [f"v1.{v.min_minor}" for v in c.versions],
                    "overrides": sorted({o for v in c.versions for o in v.overrides}),
                    "summary": c.summary,
                }
                for c in result
            ])
        rows: list[list[Cell]] = [
            [c.id, str(c.level), ", ".join(f"v1.{v.min_minor}" for v in c.versions),
             ", ".join(sorted({o for v in c.versions for o in v.overrides})), c.summary]
            for c in result
        ]
        title = f"Pod Security Standards checks (latest = v1.{pss.MAX_MINOR})"
        return _text([fit_table(CHECK_COLUMNS, rows, options.width, title=title)], options)
