"""Connectivity diff between two inputs, in netpol-analyzer's `Connectivity diff:` terms.

Rows pair typed peers (`peers`): External ranges are compared by their address intervals, never by their
printed names.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from kubehipaa.engines.netpol import conns
from kubehipaa.engines.netpol.analysis import Connection
from kubehipaa.engines.netpol.conns import ConnSet
from kubehipaa.engines.netpol.ipranges import Interval
from kubehipaa.engines.netpol.peers import ExternalPeer, Peer, WorkloadPeer

_ORDER = {"changed": 0, "added": 1, "removed": 2}

Pair = tuple[Peer, Peer]


@dataclass(frozen=True, slots=True)
class DiffRow:
    """A pair whose allowed connections differ: `ref1`/`ref2` are the connections before and after
    (`No Connections` when the pair had or has none); `workloads` the peers of the pair that exist only
    after (added rows) or only before (removed rows)."""

    diff_type: str  # changed | added | removed
    src: Peer
    dst: Peer
    ref1: str
    ref2: str
    workloads: tuple[WorkloadPeer, ...] = ()

    @property
    def info(self) -> str:
        """netpol-analyzer's `workloads-diff-info`: `workload ns/a[Deployment] added` (or empty)."""
        if not self.workloads:
            return ""
        return f"workload {' and '.join(w.text for w in self.workloads)} {self.diff_type}"


def _new_workloads(src: Peer, dst: Peer, known: set[Peer]) -> tuple[WorkloadPeer, ...]:
    return tuple(p for p in (src, dst) if isinstance(p, WorkloadPeer) and p not in known)


def _ip_range(peer: Peer) -> Interval | None:
    return peer.interval if isinstance(peer, ExternalPeer) else None


def _refine(rows: Iterable[Connection], cuts: list[int]) -> dict[Pair, ConnSet]:
    """Split every External peer of `rows` at the common cut points of both inputs."""

    out: dict[Pair, ConnSet] = {}
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
            piece = ExternalPeer(start, end)
            out[(piece, c.dst) if src_r else (c.src, piece)] = c.conn
            start, i = end + 1, i + 1
    return out


def _merge_ip_rows(
    table: dict[Pair, tuple[ConnSet | None, ConnSet | None]],
) -> dict[Pair, tuple[ConnSet | None, ConnSet | None]]:
    """Merge touching External ranges that pair with the same peer and have the same two connection sets."""
    out: dict[Pair, tuple[ConnSet | None, ConnSet | None]] = {}
    groups: dict[tuple[bool, Peer, ConnSet | None, ConnSet | None], list[Interval]] = defaultdict(list)
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
            piece = ExternalPeer(*r)
            out[(piece, other) if ip_is_src else (other, piece)] = (c1, c2)
    return out


def diff(
    ref1: Iterable[Connection], peers1: Iterable[WorkloadPeer], ref2: Iterable[Connection],
    peers2: Iterable[WorkloadPeer],
) -> list[DiffRow]:
    """Rows for pairs whose connections differ; `peersN` are the workload peers of each input.

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
    p1: set[Peer] = set(peers1)
    p2: set[Peer] = set(peers2)
    rows: list[DiffRow] = []
    for (src, dst), (c1, c2) in table.items():
        if c1 == c2:
            continue
        s1 = conns.to_str(c1) if c1 is not None else conns.NO_CONNECTIONS
        s2 = conns.to_str(c2) if c2 is not None else conns.NO_CONNECTIONS
        if c1 is None:
            rows.append(DiffRow("added", src, dst, s1, s2, _new_workloads(src, dst, p1)))
        elif c2 is None:
            rows.append(DiffRow("removed", src, dst, s1, s2, _new_workloads(src, dst, p2)))
        else:
            rows.append(DiffRow("changed", src, dst, s1, s2))
    rows.sort(key=lambda r: (_ORDER[r.diff_type], r.src.text, r.dst.text))
    return rows
