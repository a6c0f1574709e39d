"""Render the RBAC engine's answers: can-i, who-can, escalation paths and risky grants, as text or JSON.

Each answer is a small record of what the engine returned (`CanIAnswer`, `WhoCanAnswer`, `EscalationAnswer`,
`RiskAnswer`) with one `Report` (reports/base.py). JSON goes through `json_text` (the tree redacted, then
serialised; keys sorted, as the commands always wrote them); text through rich `Text` cells whose strings were
redacted (`redact_text`) and never parsed as markup (a name like `[bold]x[/]` stays as written), laid out by
`fit_table` at the reader's width, so no subject, role or resource name is split inside a word.

The access review has its own module (rbac_review.py): it is a document for auditors with CSV and HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.engines.rbac import (
    Attributes,
    Decision,
    EscalationGraph,
    EscalationPath,
    RiskHit,
    RiskRule,
    UserInfo,
    WhoCanEntry,
)
from kubehipaa.redaction import redact_text, redact_tree
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.terminal import Column, fit_table, render_text, stacked

TEXT_FORMATS = ("text", "json")


def cell(value: str) -> Text:
    """A table cell: redacted, plain (no rich markup)."""
    return Text(redact_text(value))


def request_dict(a: Attributes) -> dict[str, Any]:
    """The request as the JSON answers show it."""
    if not a.resource_request:
        return {"verb": a.verb, "nonResourceURL": a.path}
    return {"verb": a.verb, "resource": a.resource, "apiGroup": a.api_group, "subresource": a.subresource,
            "name": a.name, "namespace": a.namespace}


def source_of(file: str, line: int) -> str:
    """` (file:line)` when the object came from a file, else ""."""
    return f" ({file}:{line})" if file else ""


def _text(parts: Sequence[RenderableType], options: RenderOptions) -> str:
    return render_text(parts, width=options.width, color=options.color)


# ------------------------------------------------------------------------------------------------ can-i


@dataclass(frozen=True, slots=True)
class CanIAnswer:
    """The authorizer's decision for one user and request."""

    user: UserInfo
    request: Attributes
    decision: Decision


class CanIReport:
    """`rbac can-i`: `yes`/`no` on the first line (for scripts), then why: the reason and the granting path."""

    formats: tuple[str, ...] = TEXT_FORMATS

    def render(self, result: CanIAnswer, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        d = result.decision
        if fmt == "json":
            return json_text({
                "allowed": d.allowed,
                "reason": d.reason,
                "user": {"name": result.user.name, "groups": list(result.user.groups)},
                "request": request_dict(result.request),
                "grant": d.grant.to_dict() if d.grant else None,
                "errors": list(d.errors),
            }, sort_keys=True)
        labels = [Column("reason")]
        values = [cell(d.reason)]
        g = d.grant
        if g is not None and g.binding is not None:
            b = g.binding
            labels += [Column("binding", key=True), Column("role", key=True)]
            values += [cell(f"{b.kind} {b.name}" + (f" (namespace {b.namespace})" if b.namespace else "")
                            + (f" at {b.origin.file}:{b.origin.line}" if b.origin.file else "")),
                       cell(f"{g.role_kind} {g.role_name}")]
            if g.rule is not None:
                labels.append(Column("rule"))
                values.append(cell(f"rules[{g.rule_index}] {g.rule.compact()}"))
        if d.errors:
            labels.append(Column("unresolved"))
            values.append(cell("\n".join(d.errors)))
        return _text([Text("yes" if d.allowed else "no"), stacked(labels, [values], width=options.width)], options)


# ------------------------------------------------------------------------------------------------ who-can


@dataclass(frozen=True, slots=True)
class WhoCanAnswer:
    """Every subject allowed a request, each with the grant that allows it."""

    request: Attributes
    entries: Sequence[WhoCanEntry]


WHO_CAN_COLUMNS = (Column("kind", key=True), Column("subject", key=True), Column("granted by"))


class WhoCanReport:
    """`rbac who-can`: one row per subject, the binding, role and rule that grant it, and where it is."""

    formats: tuple[str, ...] = TEXT_FORMATS

    def render(self, result: WhoCanAnswer, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text({"request": request_dict(result.request),
                              "subjects": [e.to_dict() for e in result.entries]}, sort_keys=True)
        rows = []
        for e in result.entries:
            s, b = e.subject, e.binding
            where = source_of(b.origin.file, b.origin.line) if b is not None else ""
            rows.append([cell(s.kind), cell(f"{s.namespace}/{s.name}" if s.namespace else s.name),
                         cell(e.grant.describe() + where)])
        title = redact_text(f"who can {result.request.display}:")
        if not rows:
            return _text([Text(title), Text("nobody")], options)
        return _text([fit_table(WHO_CAN_COLUMNS, rows, options.width, title=title)], options)


# ------------------------------------------------------------------------------------------------ escalation


@dataclass(frozen=True, slots=True)
class EscalationAnswer:
    """The escalation graph and the shortest path of each identity to cluster-admin or PHI Secrets."""

    graph: EscalationGraph
    paths: Sequence[EscalationPath]
    phi_namespaces: frozenset[str]


ESCALATION_COLUMNS = (Column("hops", key=True, justify="right"), Column("identity", key=True),
                      Column("path"))


class EscalationReport:
    """`rbac escalation`: the graph's size and admins, then one row per identity and target with its path."""

    formats: tuple[str, ...] = TEXT_FORMATS

    def render(self, result: EscalationAnswer, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        g = result.graph
        if fmt == "json":
            return json_text({
                "phiNamespaces": sorted(result.phi_namespaces),
                "admins": sorted(g.admins),
                "identities": len(g.nodes),
                "edges": [e.to_dict() for e in g.edges],
                "paths": [p.to_dict() for p in result.paths],
            }, sort_keys=True)
        parts: list[RenderableType] = [cell(
            f"{len(g.nodes)} identities, {len(g.edges)} escalation edges; already cluster-admin: "
            + (", ".join(sorted(g.admins)) or "none"))]
        if not result.phi_namespaces:
            parts.append(Text("note: no PHI namespaces found, only paths to cluster-admin are searched"))
        if not result.paths:
            parts.append(Text("no escalation paths found"))
            return _text(parts, options)
        rows = []
        for p in result.paths:
            d = redact_tree(p.to_dict())
            steps = "\n".join(f"--[{h['how']}]--> {h['to']}" for h in d["path"])
            rows.append([Text(str(d["hops"])), Text(d["identity"]), Text(steps)])
        parts.append(fit_table(ESCALATION_COLUMNS, rows, options.width))
        return _text(parts, options)


# ------------------------------------------------------------------------------------------------ risks


@dataclass(frozen=True, slots=True)
class RiskAnswer:
    """The risk rules evaluated and their hits (most severe first)."""

    rules: Sequence[RiskRule]
    hits: Sequence[RiskHit]


RISK_COLUMNS = (Column("severity", key=True), Column("rule", key=True), Column("finding"))


class RiskReport:
    """`rbac risks`: one row per risky grant (severity, rule id, what and where), then the count."""

    formats: tuple[str, ...] = TEXT_FORMATS

    def render(self, result: RiskAnswer, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text({"rules": [r.id for r in result.rules],
                              "findings": [h.to_dict() for h in result.hits]}, sort_keys=True)
        rows = []
        for h in result.hits:
            target = h.binding or h.role
            where = source_of(target.origin.file, target.origin.line) if target is not None else ""
            rows.append([Text(h.severity.label.upper()), cell(h.rule.id), cell(h.message + where)])
        parts: list[RenderableType] = []
        if rows:
            parts.append(fit_table(RISK_COLUMNS, rows, options.width))
        parts.append(Text(f"{len(result.hits)} risky grant(s) from {len(result.rules)} rules"))
        return _text(parts, options)


CAN_I = CanIReport()
WHO_CAN = WhoCanReport()
ESCALATION = EscalationReport()
RISKS = RiskReport()
