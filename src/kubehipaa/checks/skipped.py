"""Objects an engine left out during a scan, collected per inventory for the report.

The engines leave out an object they cannot use (an invalid NetworkPolicy, a Role whose `rules` is not a
list, a pod spec with a wrong-typed field) and judge the rest, so one bad object no longer disables every
check built on them. The checks report each such object here; `pipeline.run_scan` puts them into the
result's `skipped` list, and the scan names each one and exits 2: a scan never looks cleaner than the
input it could not judge. Several checks share one engine, so a repeated report is kept once.
"""

from __future__ import annotations

import weakref

from kubehipaa.inventory import Inventory
from kubehipaa.sources.files import LOST, InputProblem

_SKIPPED: weakref.WeakKeyDictionary[Inventory, dict[tuple[str, int | None, str], InputProblem]] = (
    weakref.WeakKeyDictionary()
)


def report(inv: Inventory, file: str, line: int | None, message: str) -> None:
    """Record that an object read at `file:line` was left out of some answer, and why (`message`)."""
    seen = _SKIPPED.setdefault(inv, {})
    seen.setdefault((file, line, message), InputProblem(file, line, message, LOST))


def collected(inv: Inventory) -> list[InputProblem]:
    """Everything reported for `inv`, in the order first reported."""
    return list(_SKIPPED.get(inv, {}).values())
