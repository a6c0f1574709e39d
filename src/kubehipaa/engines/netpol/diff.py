"""Connectivity diff between two inputs, in netpol-analyzer's `Connectivity diff:` line format."""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Connection
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.ipranges import Interval, atom_name

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


def _ip_range(peer: str) -> Interval | None:
    if not peer.endswith("[External]"):
        return None
    lo, hi = peer.removesuffix("[External]").split("-")
    return int(ipaddress.IPv4Address(lo)), int(ipaddress.IPv4Address(hi))


def _refine(rows: Iterable[Connection], cuts: list[int]) -> dict[tuple[str, str], ConnSet]:
    """Split every External peer of `rows` at the common cut points of both inputs."""

    out: dict[tuple[str, str], ConnSet] = {}
    for c in rows:
        src_r, dst_r = _ip_range(c.src), _ip_range(c.dst)
        r = src_r or dst_r
        if r is None:
            out[(c.src, c.dst)] = c.conn
            continue
        i = bisect.bisect_right(cuts, r[0])
        start = r[0]
        while start <= r[1]:
            end = min(r[1], cuts[i] - 1) if i < len(cuts) else r[1]
            name = atom_name((start, end))
            out[(name, c.dst) if src_r else (c.src, name)] = c.conn
            start, i = end + 1, i + 1
    return out


def _merge_ip_rows(
    table: dict[tuple[str, str], tuple[ConnSet | None, ConnSet | None]],
) -> dict[tuple[str, str], tuple[ConnSet | None, ConnSet | None]]:
    """Merge touching External ranges that pair with the same peer and have the same two connection sets."""
    out: dict[tuple[str, str], tuple[ConnSet | None, ConnSet | None]] = {}
    groups: dict[tuple[bool, str, ConnSet | None, ConnSet | None], list[Interval]] = defaultdict(list)
    for (src, dst), (c1, c2) in table.items():
        src_r, dst_r = _ip_range(src), _ip_range(dst)
        if src_r is None and dst_r is None:
            out[(src, dst)] = (c1, c2)
        elif src_r is not None:
            groups[(True, dst, c1, c2)].append(src_r)
        else:
            assert dst_r is not None
            groups[(False, src, c1, c2)].append(dst_r)
    for (ip_is_src, other, c1, c2), ranges in groups.items():
        ranges.sort()
        merged = [ranges[0]]
        for lo, hi in ranges[1:]:
            if lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        for r in merged:
            name = atom_name(r)
            out[(name, other) if ip_is_src else (other, name)] = (c1, c2)
    return out


def diff(
    ref1: Iterable[Connection], peers1: Iterable[str], ref2: Iterable[Connection], peers2: Iterable[str]
) -> list[DiffRow]:
    """Rows for pairs whose connections differ; `peersN` are the workload keys of each input.

    As netpol-analyzer does, External ranges of both inputs are first cut at their common boundaries so
    that rows are comparable, and touching ranges with identical before/after connections are merged back.
    """
    rows1, rows2 = list(ref1), list(ref2)
    cut_set: set[int] = set()
    for c in (*rows1, *rows2):
        for peer in (c.src, c.dst):
            r = _ip_range(peer)
            if r is not None:
                cut_set.update((r[0], r[1] + 1))
    cuts = sorted(cut_set)
    a, b = _refine(rows1, cuts), _refine(rows2, cuts)
    table = _merge_ip_rows({key: (a.get(key), b.get(key)) for key in a.keys() | b.keys()})
    p1, p2 = set(peers1), set(peers2)
    rows: list[DiffRow] = []
    for key, (c1, c2) in table.items():
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
