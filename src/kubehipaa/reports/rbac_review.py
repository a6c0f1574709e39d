"""Render an access review (`kubehipaa.engines.rbac.ReviewResult`) as CSV, JSON, HTML or a terminal table.

The engine builds the review (who may do what to the resources that expose PHI or credentials, each grant
with the binding, role and rule behind it); this module only writes it. Every format starts from the same
redacted trees (`redact_tree` over the review's rows), so a subject or resource name that looks like a
credential is masked alike in all of them, and the HTML is rendered by Jinja2 with autoescaping on.

CSV with `--since` lists the changes (one row per grant added or removed) instead of the matrix, as a sheet
of what to sign off; JSON, HTML and the table show both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from kubehipaa.engines.rbac import Review, ReviewDiff, ReviewGrant, ReviewResult
from kubehipaa.redaction import redact_text, redact_tree
from kubehipaa.reports.base import RenderOptions, json_text, require_format
from kubehipaa.reports.csv_text import csv_text
from kubehipaa.reports.terminal import Column, fit_table, render_text

CSV_COLUMNS = ("namespace", "subject_kind", "subject_namespace", "subject_name", "resource", "verbs",
               "resource_names", "granted_by")
DIFF_CSV_COLUMNS = ("change", "namespace", "subject_kind", "subject_namespace", "subject_name", "resource", "verb",
                    "resource_names", "granted_by")
CHANGES = ("added", "removed")
MATRIX_COLUMNS = (Column("namespace", key=True), Column("subject", key=True), Column("resource", key=True),
                  Column("verbs"), Column("names"), Column("granted by"))
CHANGE_COLUMNS = (Column("change", key=True), Column("namespace", key=True), Column("subject", key=True),
                  Column("resource", key=True), Column("verb", key=True), Column("names"), Column("granted by"))


def subject_text(kind: str, namespace: str, name: str) -> str:
    """`ServiceAccount clinical/app-sa`, `Group ops`: how every review format names a subject."""
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


def matrix_rows(review: Review) -> list[dict[str, Any]]:
    """The review's matrix (one row per namespace, subject and resource), redacted."""
    rows: list[dict[str, Any]] = redact_tree(review.matrix())
    for row in rows:
        row["subject"] = subject_text(row["subject_kind"], row["subject_namespace"], row["subject_name"])
    return rows


def _grant_row(g: ReviewGrant) -> dict[str, Any]:
    row: dict[str, Any] = redact_tree({
        "namespace": g.namespace, "subject_kind": g.subject_kind, "subject_namespace": g.subject_namespace,
        "subject_name": g.subject_name, "resource": g.resource, "verb": g.verb, "names": list(g.names),
        "via": g.via})
    row["subject"] = subject_text(row["subject_kind"], row["subject_namespace"], row["subject_name"])
    return row


def change_rows(diff: ReviewDiff) -> dict[str, list[dict[str, Any]]]:
    """The grants added and removed, redacted, under `added` and `removed`."""
    return {"added": [_grant_row(g) for g in diff.added], "removed": [_grant_row(g) for g in diff.removed]}


def review_csv(review: Review) -> str:
    """The matrix as CSV for spreadsheets (one row per namespace, subject and resource). Every cell is redacted
    as the sheet shows it, joined lists included, by `csv_text` (not the tree first: that would be twice)."""
    return csv_text(CSV_COLUMNS, (
        (r["namespace"], r["subject_kind"], r["subject_namespace"], r["subject_name"], r["resource"],
         " ".join(r["verbs"]), " ".join(r["resource_names"]), " | ".join(r["via"]))
        for r in review.matrix()))


def diff_csv(diff: ReviewDiff) -> str:
    """One row per grant added or removed since the previous review (cells redacted by `csv_text`)."""
    return csv_text(DIFF_CSV_COLUMNS, (
        (change, g.namespace, g.subject_kind, g.subject_namespace, g.subject_name, g.resource, g.verb,
         " ".join(g.names), g.via)
        for change, grants in (("added", diff.added), ("removed", diff.removed)) for g in grants))


def subject_count(review: Review) -> int:
    return len({(g.subject_kind, g.subject_namespace, g.subject_name) for g in review.grants})


def review_title(review: Review) -> str:
    return "Access review: " + ", ".join(review.namespaces)


def review_html(review: Review, diff: ReviewDiff | None = None, *, title: str | None = None) -> str:
    """A self-contained HTML page (no external assets) from the Jinja2 template in reports/templates."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubehipaa.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("rbac_review.html.j2").render(
        title=redact_text(title if title is not None else review_title(review)),
        namespaces=redact_tree(list(review.namespaces)), notes=redact_tree(list(review.notes)),
        subjects=subject_count(review), rows=matrix_rows(review),
        changes=None if diff is None else change_rows(diff)) + "\n"


def _capped(rows: Sequence[Sequence[Text]], max_rows: int | None) -> tuple[Sequence[Sequence[Text]], int]:
    if max_rows is None or len(rows) <= max_rows:
        return rows, 0
    return rows[:max_rows], len(rows) - max_rows


def review_table(result: ReviewResult, options: RenderOptions) -> str:
    """The review for a terminal: the changes (with `--since`), then the matrix, each fitted to the width."""
    review = result.review
    rows = matrix_rows(review)
    parts: list[RenderableType] = [
        Text(redact_text(review_title(review)), style="bold"),
        Text(f"{subject_count(review)} subjects, {len(rows)} subject/resource rows "
             "(and cluster-scoped RBAC objects under (cluster))"),
        *(Text(f"note: {n}") for n in redact_tree(list(review.notes))),
    ]
    if result.changes is not None:
        changes = change_rows(result.changes)
        cells = [[Text(c), Text(g["namespace"]), Text(g["subject"]), Text(g["resource"]), Text(g["verb"]),
                  Text(", ".join(g["names"])), Text(g["via"])] for c in CHANGES for g in changes[c]]
        shown, more = _capped(cells, options.max_rows)
        parts.append(fit_table(CHANGE_COLUMNS, shown, options.width,
                               title=f"Changes since the previous review: {len(changes['added'])} grant(s) "
                               f"added, {len(changes['removed'])} removed"))
        if more:
            parts.append(Text(f"… {more} more change(s) (use --format csv, json or html)"))
    cells = [[Text(r["namespace"]), Text(r["subject"]), Text(r["resource"]), Text(" ".join(r["verbs"])),
              Text(", ".join(r["resource_names"])), Text("\n".join(r["via"]))] for r in rows]
    shown, more = _capped(cells, options.max_rows)
    parts.append(fit_table(MATRIX_COLUMNS, shown, options.width, title="Access matrix"))
    if more:
        parts.append(Text(f"… {more} more row(s) (use --format csv, json or html)"))
    return render_text(parts, width=options.width, color=options.color)


class AccessReviewReport:
    """`rbac review`: CSV (the default, for the sign-off sheet), JSON (kept for `--since`), HTML, table."""

    formats: tuple[str, ...] = ("csv", "json", "html", "table")

    def render(self, result: ReviewResult, fmt: str, options: RenderOptions) -> str:
        require_format(self, fmt)
        if fmt == "json":
            return json_text(result.to_dict(), sort_keys=True)
        if fmt == "csv":
            return diff_csv(result.changes) if result.changes is not None else review_csv(result.review)
        if fmt == "html":
            return review_html(result.review, result.changes)
        return review_table(result, options)


ACCESS_REVIEW = AccessReviewReport()
