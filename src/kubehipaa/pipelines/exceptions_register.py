"""The risk-acceptance register: every exception of `.kubehipaa.yaml`, its status, what it matched, and its
history across saved scans (issue 15 req 7).

Status is decided from facts, never assumed: `expired` (its expiry is before today: it suppresses nothing),
`active` (live and it matched findings in the basis), `unused` (live and it matched nothing in the basis),
`not-scanned` (live, but no saved scan has recorded this exception in its current wording, so nothing is
known about what it matches). The basis is the current input when the command is given one (it is
scanned now, nothing is saved), else the newest saved scan of each input set (each target: a directory,
a cluster context), so in a fleet history an exception for one cluster is judged on that cluster's latest
scan. An exception's identity is its content (`pipelines.history.exception_key`): editing
its justification or expiry starts a new history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.config import Config
from kubehipaa.history import FindingRecord, HistoryStore, ScanMeta
from kubehipaa.pipelines.history import ScanRecord, exception_key
from kubehipaa.reports.common import exception_record

STATUSES = ("active", "expired", "unused", "not-scanned")


@dataclass(slots=True)
class ExceptionHistory:
    scan_id: int
    created_at: str
    status: str
    matched: int


@dataclass(slots=True)
class RegisterEntry:
    position: int
    key: str
    record: dict[str, Any]  # the exception as report data (redacted), with `approver`
    status: str
    matched: int | None  # in the basis; None when not scanned
    matches: list[FindingRecord] = field(default_factory=list)
    history: list[ExceptionHistory] = field(default_factory=list)

    @property
    def expired(self) -> bool:
        return self.status == "expired"


@dataclass(slots=True)
class Register:
    config_source: str | None
    today: str
    history: str | None  # the history database, as it may be shown (None: none was read)
    basis: list[ScanMeta]
    entries: list[RegisterEntry]
    current: bool = False  # matches are from the current input, scanned now


def build_register(config: Config, store: HistoryStore | None, today: dt.date | None = None,
                   current: ScanRecord | None = None) -> Register:
    """The register; `current` (a scan of the current input, as `pipelines.history.build_record` makes it)
    is the basis when given, else the latest saved scans in `store`."""
    today = today or dt.date.today()
    history_rows = store.exceptions() if store is not None else []
    scans = store.scans() if store is not None else []
    latest: dict[str, ScanMeta] = {}
    for meta in scans:  # oldest first: the last one per target wins
        latest[meta.target] = meta
    basis = sorted(latest.values(), key=lambda m: m.id)
    basis_ids = {m.id for m in basis}
    findings: dict[int, list[FindingRecord]] = {}
    entries: list[RegisterEntry] = []
    for i, rule in enumerate(config.exceptions):
        key = exception_key(rule)
        record = exception_record(rule)
        hist = [ExceptionHistory(sid, when, use.status, use.matched)
                for sid, when, use in history_rows if use.exception_key == key]
        in_basis = [h for h in hist if h.scan_id in basis_ids]
        matched = sum(h.matched for h in in_basis) if in_basis else None
        matches: list[FindingRecord] = []
        if current is not None:
            matches = [f for f in current.findings if f.exception_key == key]
            matched, in_basis = len(matches), []
        for h in in_basis:
            if h.matched and store is not None:
                if h.scan_id not in findings:
                    findings[h.scan_id] = store.findings(h.scan_id)
                matches.extend(f for f in findings[h.scan_id] if f.exception_key == key)
        if rule.expires < today:
            status = "expired"
        elif matched is None:
            status = "not-scanned"
        else:
            status = "active" if matched else "unused"
        entries.append(RegisterEntry(i, key, record, status, matched, matches, hist))
    where = store.location.display if store is not None else None
    return Register(config.source, today.isoformat(), where, [] if current is not None else basis, entries,
                    current is not None)
