"""Tables fit the reader's width and never split a name inside a word (issue 13 req 4)."""

from __future__ import annotations

import re

import pytest

from kubehipaa.reports.base import RenderOptions, json_text
from kubehipaa.reports.terminal import Column, fit_table, render_text, stacked, terminal_width

COLUMNS = [Column("Severity", key=True), Column("Check", key=True), Column("Resource", key=True), Column("Message")]
NAME = "Deployment clinical/patient-records-api-backend"
ROWS = [
    ["high", "KH-WL-001", NAME, "Container runs privileged; privileged containers can access the host's devices"],
    ["medium", "KH-NET-003", "Namespace clinical", "No default-deny NetworkPolicy for ingress in a PHI namespace"],
]


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_table_fits_width_and_keeps_names_whole(width: int) -> None:
    text = render_text([fit_table(COLUMNS, ROWS, width)], width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    words = re.findall(r"[\w/.:-]+", text)
    for name in ("clinical/patient-records-api-backend", "KH-WL-001", "KH-NET-003", "NetworkPolicy"):
        assert name in words, f"{name} split at width {width}:\n{text}"


def test_wide_terminal_draws_a_table_narrow_one_stacks() -> None:
    wide = render_text([fit_table(COLUMNS, ROWS, 140)], width=140)
    narrow = render_text([fit_table(COLUMNS, ROWS, 60)], width=60)
    assert wide.startswith("┌") and NAME in wide
    assert "┌" not in narrow and "Resource: " + NAME in narrow


def test_width_follows_columns_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "97")
    assert terminal_width() == 97
    assert RenderOptions().width == 97


def test_json_text_redacts_trees_before_serialising() -> None:
    text = json_text({"cmd": 'psql "postgres://admin:hunter2@db/phi"', "ok": 1})
    assert "hunter2" not in text
    assert text.endswith("\n") and '"ok": 1' in text


def test_stacked_rows_keep_a_long_word_of_a_text_column_whole() -> None:
    # A message quoting a long name: narrower than the line, wider than the room beside the label. Stacked,
    # it goes on a line of its own instead of being folded under the label.
    binding = '"clinical-records-production/patient-records-api-backend-reader-binding"'
    columns = [Column("Subject", key=True), Column("Granted by")]
    rows = [["ServiceAccount clinical/app", f"RoleBinding {binding} of Role reader"]]
    text = render_text([stacked(columns, rows, width=80)], width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert any(binding in line for line in text.splitlines()), text


def test_a_multi_line_cell_is_as_wide_as_its_longest_line() -> None:
    steps = "--[create jobs]--> a pod in argocd\n--[run the pod as controller]--> ServiceAccount argocd/controller"
    text = render_text([fit_table([Column("identity", key=True), Column("path")], [["User lead", steps]], 200)],
                       width=200)
    widest = max(len(line) for line in steps.split("\n"))
    assert max(len(line) for line in text.splitlines()) == len("│ User lead │  │") + widest


@pytest.mark.parametrize("width", [80, 200])
def test_plain_string_cells_are_data_not_markup(width: int) -> None:
    """A name with square brackets is printed as written in both layouts (rich would parse `[/]` and raise)."""
    rows = [["high", "KH-WL-001", "Pod clinical/a[/]b", "[bold]shown as written[/bold]"]]
    text = render_text([fit_table(COLUMNS, rows, width)], width=width)
    assert "a[/]b" in text and "[bold]shown as written[/bold]" in text
