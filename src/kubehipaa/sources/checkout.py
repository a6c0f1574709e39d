"""Whether this installation runs from a source checkout, and where a rule's test-case folder is in it.

Why here: it reads the filesystem around the installed package (sources/ is where the outside world is
read). An installed wheel carries no tests/, so `kubehipaa checks show` says the cases are "not in this
installation" instead of printing a path that does not exist on the reader's machine.
"""

from __future__ import annotations

import re
from pathlib import Path

import kubehipaa

CASE_BASES = ("tests/cases", "tests/audit_cases")
"""Where case folders live, relative to the checkout: KH checks, then built-in audit-log rules."""
_ID = re.compile(r"^[A-Z][A-Z0-9-]{0,40}$")


def checkout_root() -> Path | None:
    """The checkout the package is imported from (`<root>/src/kubehipaa` beside `<root>/pyproject.toml` and
    `<root>/tests`), or None for an installed package."""
    package = Path(kubehipaa.__file__).resolve().parent
    src = package.parent
    if src.name != "src":
        return None
    root = src.parent
    if (root / "pyproject.toml").is_file() and (root / "tests").is_dir():
        return root
    return None


def case_folder(rule_id: str) -> tuple[str, tuple[str, ...]] | None:
    """(`tests/cases/<ID>/`, the file names in it) for a check or audit-rule id, or None when this
    installation has no source checkout or no folder for the id. The id is used as a path component only
    when it looks like one (`KH-RBAC-001`), never `..` or a path."""
    root = checkout_root()
    if root is None or not _ID.match(rule_id):
        return None
    for base in CASE_BASES:
        folder = root / base / rule_id
        if folder.is_dir():
            files = tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))
            return f"{base}/{rule_id}/", files
    return None
