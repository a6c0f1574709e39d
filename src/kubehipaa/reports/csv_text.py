"""CSV for spreadsheets: every cell redacted, and none that a spreadsheet would run as a formula.

Why one module: CSV reports (the access review, unused permissions) are opened by auditors in Excel or
LibreOffice. Their cells quote manifests and logs, so a subject named `=HYPERLINK("http://x")` would run when
the sheet is opened, and a user named `postgres://admin:hunter2@db` would show its password. Both rules are
applied here, cell by cell, so no CSV report can forget one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from kubehipaa.redaction import redact_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP's CSV-injection list)."""


def safe_cell(value: object) -> object:
    """A text cell redacted and, when a spreadsheet would take it as a formula, prefixed with `'`; numbers as
    they are (a line number is not text from the input)."""
    if not isinstance(value, str):
        return value
    value = redact_text(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """`rows` under `header` as CSV text (`\\n` line ends), every cell through `safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue()
