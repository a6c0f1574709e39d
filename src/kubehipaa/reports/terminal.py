"""Tables that fit the reader's terminal, and the text of rich renderables at a given width.

Why this exists: a table drawn at a fixed 140 or 160 columns wraps into noise in an 80-column terminal, and
rich, asked to fit a table into fewer columns than it needs, folds every column, names included
(`clinic-db-backu` / `p`). A resource name, check id or namespace split mid-word cannot be searched for or
copied. So every table of every report goes through `fit_table`:

- *key* columns (names, ids, severities) are never broken: they are as wide as their longest word;
- the other columns wrap at spaces (a single word longer than the whole line is the only thing ever folded);
- when the key columns alone do not fit, the rows are printed stacked, one block per row, each line
  `header: value`, which reads well at any width.

The width is the terminal's (`terminal_width`: `COLUMNS` when set, else the real terminal, else 80 when the
output is a pipe or a file), so `kubehipaa ... | less` and `-o report.txt` are readable too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

DEFAULT_WIDTH = 80
"""Width when neither `COLUMNS` nor a terminal says otherwise (a pipe, a file, CI logs)."""
MIN_WIDTH = 40
"""Narrowest layout attempted; narrower requests are drawn at this width (wrapping beats nonsense)."""

Cell = str | Text


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a report table.

    `key`: a name-like column (resource, namespace, id, severity) that must never be split inside a word.
    `justify`: rich's justification ("left", "right", "center").
    `style`: a rich style for the header and cells of this column ("" for none).
    """

    header: str
    key: bool = False
    justify: str = "left"
    style: str = ""


def terminal_width() -> int:
    """The reader's width: `COLUMNS`, else the terminal's, else `DEFAULT_WIDTH` (not a terminal)."""
    return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _as_text(cell: Cell, col: Column) -> Text:
    """A cell as rich `Text`: a plain string is shown as written, never parsed as markup (a resource named
    `[bold]x[/]` or `a[/]b` is data, and markup parsing would restyle it or raise)."""
    return cell if isinstance(cell, Text) else Text(cell, style=col.style or "")


def _longest_line(cell: Cell) -> int:
    return max((len(line) for line in _plain(cell).split("\n")), default=0)


def _longest_word(cell: Cell) -> int:
    words = _plain(cell).split()
    return max((len(w) for w in words), default=0)


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Content width of each column for a boxed table `width` wide, or None when it cannot be drawn without
    splitting a key cell's words or leaving another column narrower than `MIN_TEXT` characters.

    Each column starts at its natural width (its longest cell); while the table is too wide, the widest
    non-key column gives up a character, then the widest key column, never below their minimums."""
    avail = width - (1 + 3 * len(columns))  # a border left of each column and at the end, one space each side
    natural: list[int] = []
    least: list[int] = []
    soft: list[int] = []
    for i, col in enumerate(columns):
        cells = [_plain(r[i]) for r in rows]
        longest = max([len(col.header), *(_longest_line(c) for c in cells)])
        word = max([len(w) for w in col.header.split()] + [_longest_word(c) for c in cells])
        natural.append(longest)
        least.append(word if col.key else min(MIN_TEXT, longest))
        soft.append(word if col.key else min(longest, max(word, SOFT_TEXT)))
    if sum(least) - sum(w for w, c in zip(least, columns, strict=True) if not c.key) \
            + sum(w for w, c in zip(soft, columns, strict=True) if not c.key) > avail:
        return None  # names would leave the text too narrow to read: stacked reads better
    widths = list(natural)
    excess = sum(widths) - avail
    # Wrapping text first gives up room down to its longest word (or `SOFT_TEXT`), then names wrap at their
    # spaces; when that is not enough the rows are stacked (checked above).
    for keys, floor in ((False, soft), (True, least)):
        while excess > 0:
            movable = [i for i, c in enumerate(columns) if c.key is keys and widths[i] > floor[i]]
            if not movable:
                break
            widest = max(movable, key=lambda i: widths[i])
            others = [widths[i] for i in movable if i != widest]
            step = max(1, min(excess, widths[widest] - max([floor[widest], *others])))
            widths[widest] -= step
            excess -= step
    return widths


SOFT_TEXT = 20
"""A wrapping column keeps at least this many characters (or its longest word, if longer) while key columns
can still give up room."""
MIN_TEXT = 12
"""Narrowest a wrapping (non-key) column may become before the rows are stacked instead."""


def fits(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> bool:
    """Whether a boxed table of these rows fits `width` without splitting a key cell inside a word."""
    return _widths(columns, rows, max(width, MIN_WIDTH)) is not None


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *,
              title: str | None = None) -> RenderableType:
    """`rows` under `columns` as a table that fits `width`, or stacked blocks when it cannot (module doc)."""
    width = max(width, MIN_WIDTH)
    widths = _widths(columns, rows, width)
    if widths is None:
        return stacked(columns, rows, title=title, width=width)
    table = Table(title=Text(title) if title else None, box=box.SQUARE, title_justify="left", highlight=False)
    for col, w in zip(columns, widths, strict=True):
        table.add_column(col.header, justify=col.justify,  # type: ignore[arg-type]
                         style=col.style or None, width=w, overflow="fold")
    for row in rows:
        table.add_row(*(_as_text(cell, col) for cell, col in zip(row, columns, strict=True)))
    return table


def stacked(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, title: str | None = None,
            width: int | None = None) -> Group:
    """One block per row, `header  value` lines (values wrap under themselves), a blank line between rows."""
    parts: list[RenderableType] = []
    if title:
        parts.append(Text(title, style="bold"))
    label_width = max((len(c.header) for c in columns), default=0) + 1
    value_width = (width - label_width - 1) if width else None
    for n, row in enumerate(rows):
        if n:
            parts.append(Text(""))
        for col, cell in zip(columns, row, strict=True):
            text = cell if isinstance(cell, Text) else Text(cell, style=col.style or "")
            if value_width is not None and _longest_word(cell) > value_width:
                # a long name (or a text quoting one) on a line of its own rather than split under the label
                parts.append(Text(f"{col.header}:", style="bold"))
                parts.append(text)
                continue
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True, style="bold", min_width=label_width)
            grid.add_column(overflow="fold", max_width=value_width)
            grid.add_row(Text(f"{col.header}:"), text)
            parts.append(grid)
    return Group(*parts)


def render_text(renderables: Iterable[RenderableType], *, width: int | None = None, color: bool = False) -> str:
    """The renderables as text at `width` (the terminal's when None), with ANSI colours only when `color`."""
    console = Console(width=width or terminal_width(), force_terminal=color, no_color=not color,
                      highlight=False, color_system="standard" if color else None, soft_wrap=False)
    with console.capture() as cap:
        for r in renderables:
            console.print(r)
    text = cap.get()
    if color:
        return text
    return "\n".join(line.rstrip() for line in text.split("\n"))  # rich pads table lines to the width
