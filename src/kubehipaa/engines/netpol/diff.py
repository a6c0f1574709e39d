"""Connectivity diff between two inputs, in netpol-analyzer's `Connectivity diff:` line format."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Connection

_ORDER = {"changed": 0, "added": 1, "removed": 2}


@dataclass(frozen=True, slots=True)
class DiffRow:
    diff_type: str  # changed | added | removed
    src: str
    dst: str
    ref1: str
    ref2: str
    info: str = ""

    def line(self) -> str:
        text = (
            f"diff-type: {self.diff_type}, source: {self.src}, destination: {self.dst}, "
            f"ref1: {self.ref1}, ref2: {self.ref2}"
        )
        return text + (f", workloads-diff-info: {self.info}" if self.info else "")


def _info(src: str, dst: str, peers: set[str], verb: str) -> str:
    new = [p for p in (src, dst) if not p.endswith("[External]") and not p.startswith("{") and p not in peers]
    if not new:
        return ""
    return f"workload {' and '.join(new)} {verb}"


def diff(
    ref1: Iterable[Connection], peers1: Iterable[str], ref2: Iterable[Connection], peers2: Iterable[str]
) -> list[DiffRow]:
    """Rows for pairs whose connections differ; `peersN` are the workload keys of each input."""
    a = {(c.src, c.dst): c.conn for c in ref1}
    b = {(c.src, c.dst): c.conn for c in ref2}
    p1, p2 = set(peers1), set(peers2)
    rows: list[DiffRow] = []
    for key in a.keys() | b.keys():
        c1, c2 = a.get(key), b.get(key)
        if c1 == c2:
            continue
        s1 = conns.to_str(c1) if c1 is not None else conns.NO_CONNECTIONS
        s2 = conns.to_str(c2) if c2 is not None else conns.NO_CONNECTIONS
        if c1 is None:
            rows.append(DiffRow("added", key[0], key[1], s1, s2, _info(key[0], key[1], p1, "added")))
        elif c2 is None:
            rows.append(DiffRow("removed", key[0], key[1], s1, s2, _info(key[0], key[1], p2, "removed")))
        else:
            rows.append(DiffRow("changed", key[0], key[1], s1, s2))
    rows.sort(key=lambda r: (_ORDER[r.diff_type], r.src, r.dst))
    return rows


def diff_text(rows: list[DiffRow]) -> str:
    if not rows:
        return ""
    return "Connectivity diff:\n" + "\n".join(r.line() for r in rows) + "\n"
