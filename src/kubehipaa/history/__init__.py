"""Scan history: saved scans in SQLite or PostgreSQL (docs/history.md).

Like `sources/`, this package talks to the outside world (a database); it is the only code that does.
Engines, checks and reports never import it: pipelines read and write it and hand plain records on.
"""

from kubehipaa.history.location import (
    ENV_URL,
    HistoryError,
    HistoryLocation,
    HistoryMissing,
    data_dir,
    display_url,
    locate,
    normalise,
)
from kubehipaa.history.schema import SCHEMA_VERSION
from kubehipaa.history.store import (
    ExceptionUse,
    FindingRecord,
    HistoryStore,
    InputRecord,
    ScanMeta,
    ScanRecord,
)

__all__ = [
    "ENV_URL",
    "SCHEMA_VERSION",
    "ExceptionUse",
    "FindingRecord",
    "HistoryError",
    "HistoryLocation",
    "HistoryMissing",
    "HistoryStore",
    "InputRecord",
    "ScanMeta",
    "ScanRecord",
    "data_dir",
    "display_url",
    "locate",
    "normalise",
]
