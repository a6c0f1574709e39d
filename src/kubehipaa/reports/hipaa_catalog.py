"""`kubehipaa catalog`: the HIPAA catalog (paragraphs → rules → evidence) as Markdown, JSON or one
self-contained HTML page (inline CSS and a small filter script, no network).

The catalog is the tool's own data, not the user's input, so nothing here needs redacting; the JSON is written
as is (a redaction pass would mask NPI-shaped digit runs inside the catalog's SHA-256).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from kubehipaa.frameworks.catalog_view import CatalogView, ParagraphEntry, RuleEntry
from kubehipaa.frameworks.coverage import PROPOSED_RULE
from kubehipaa.reports.base import RenderOptions, require_format

FORMATS = ("md", "json", "html")
EVALUATED_BY = {"check": "kubehipaa scan", "audit": "kubehipaa audit analyze", "rbac-risk": "kubehipaa rbac risks",
                "unknown": "(not in this installation)"}


def requirement_label(p: ParagraphEntry) -> str:
    """'Required', 'Addressable', 'Standard'; '(Addressable in the catalog)' when the proposed rule changed it."""
    label = p.requirement.capitalize()
    if p.requirement != p.catalog_status:
        label += f" (proposed rule; {p.catalog_status.capitalize()} today)"
    return label


def evaluated_by(r: RuleEntry) -> str:
    return EVALUATED_BY.get(r.family, r.family)


@dataclass(slots=True)
class HipaaCatalogReport:
    formats: tuple[str, ...] = FORMATS

    def render(self, view: CatalogView, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return orjson.dumps(view.to_dict(), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
        if fmt == "html":
            return render_html(view)
        return render_markdown(view)


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or line: pipes and markup characters escaped, one line."""
    out = " ".join(text.split())
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(view: CatalogView) -> str:
    c = view.counts()
    lines = [f"# {view.name}: paragraphs, rules and evidence", "",
             f"{view.citation}. Catalog version {view.version}, SHA-256 `{view.digest}`.", ""]
    if view.proposed_rule:
        lines += [f"**Requirement shown under the proposed rule:** {PROPOSED_RULE}.", ""]
    lines += [f"{c['paragraphs']} paragraphs: {c['required']} required, {c['addressable']} addressable; "
              f"{c['withRules']} cited by automated rules; {c['attestationRequired']} need attestation "
              f"(no automated rule can evidence them).", ""]
    for _safeguard, heading, paragraphs in view.by_safeguard():
        lines += [f"## {heading}", ""]
        for p in paragraphs:
            lines += [f"### {_md(p.title)}", "", f"- Requirement: {requirement_label(p)}"]
            if p.standard:
                lines.append(f"- Standard: {p.standard}")
            if p.attestation_required:
                lines.append("- **Attestation required**: no automated rule can evidence this paragraph")
            elif p.via_specifications:
                lines.append("- Assessed through its implementation specifications")
            lines += [f"- Evidence: {_md(p.evidence)}", ""]
            if p.rules:
                lines += ["| Rule | Relation | Title | Evaluated by |", "| --- | --- | --- | --- |"]
                lines += [f"| {r.id} | {r.relation}{' (informational)' if r.informational else ''} | "
                          f"{_md(r.title)} | {evaluated_by(r)} |" for r in p.rules]
                lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(view: CatalogView) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape  # for HTML only

    env = Environment(loader=PackageLoader("kubehipaa.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("hipaa_catalog.html.j2").render(
        view=view, counts=view.counts(), proposed=PROPOSED_RULE if view.proposed_rule else "",
        requirement_label=requirement_label, evaluated_by=evaluated_by)
