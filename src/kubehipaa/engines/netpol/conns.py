"""Connection sets: which protocols and port ranges a flow may use.

A connection set is an immutable, canonical tuple of three sorted, disjoint, non-adjacent interval
tuples, one per protocol in the order SCTP, TCP, UDP. Canonical form makes sets hashable and comparable
with `==`, which lets the connlist computation cache unions and group equal results cheaply.
"""

from __future__ import annotations

from functools import lru_cache

PROTOCOLS: tuple[str, ...] = ("SCTP", "TCP", "UDP")  # also the order used when printing
PROTO_INDEX = {p: i for i, p in enumerate(PROTOCOLS)}
MIN_PORT = 1
MAX_PORT = 65535

Intervals = tuple[tuple[int, int], ...]
ConnSet = tuple[Intervals, Intervals, Intervals]

_FULL: Intervals = ((MIN_PORT, MAX_PORT),)
ALL: ConnSet = (_FULL, _FULL, _FULL)
NONE: ConnSet = ((), (), ())
ALL_CONNECTIONS = "All Connections"
NO_CONNECTIONS = "No Connections"


def _merge(items: list[tuple[int, int]]) -> Intervals:
    """Sort and merge overlapping or adjacent intervals."""
    if not items:
        return ()
    items.sort()
    out = [items[0]]
    for s, e in items[1:]:
        ls, le = out[-1]
        if s <= le + 1:
            if e > le:
                out[-1] = (ls, e)
        else:
            out.append((s, e))
    return tuple(out)


def _intersect_iv(a: Intervals, b: Intervals) -> Intervals:
    if not a or not b:
        return ()
    if a == _FULL:
        return b
    if b == _FULL:
        return a
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s <= e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def make(protocol: str, start: int = MIN_PORT, end: int = MAX_PORT) -> ConnSet:
    """The set holding one protocol's port range."""
    parts: list[Intervals] = [(), (), ()]
    parts[PROTO_INDEX[protocol]] = ((start, end),)
    return (parts[0], parts[1], parts[2])


@lru_cache(maxsize=65536)
def union(a: ConnSet, b: ConnSet) -> ConnSet:
    if a is b or a == b or b == NONE:
        return a
    if a == NONE:
        return b
    if a == ALL or b == ALL:
        return ALL
    return (
        _merge(list(a[0] + b[0])),
        _merge(list(a[1] + b[1])),
        _merge(list(a[2] + b[2])),
    )


@lru_cache(maxsize=65536)
def intersect(a: ConnSet, b: ConnSet) -> ConnSet:
    if a == ALL:
        return b
    if b == ALL:
        return a
    return (_intersect_iv(a[0], b[0]), _intersect_iv(a[1], b[1]), _intersect_iv(a[2], b[2]))


def is_empty(c: ConnSet) -> bool:
    return not (c[0] or c[1] or c[2])


def contains(c: ConnSet, protocol: str, port: int) -> bool:
    """Whether the set allows `port` on `protocol`."""
    return any(s <= port <= e for s, e in c[PROTO_INDEX[protocol]])


def to_str(c: ConnSet) -> str:
    """netpol-analyzer's rendering: `All Connections` or `SCTP a,TCP b-c,UDP d` (protocols sorted)."""
    if c == ALL:
        return ALL_CONNECTIONS
    if is_empty(c):
        return NO_CONNECTIONS
    parts = []
    for proto, ivs in zip(PROTOCOLS, c, strict=True):
        if ivs:
            ports = ",".join(f"{s}" if s == e else f"{s}-{e}" for s, e in ivs)
            parts.append(f"{proto} {ports}")
    return ",".join(parts)


def from_str(text: str) -> ConnSet:
    """Parse `to_str` output back (used to read golden files and `--port` style arguments)."""
    text = text.strip()
    if text == ALL_CONNECTIONS:
        return ALL
    if text in (NO_CONNECTIONS, ""):
        return NONE
    parts: list[list[tuple[int, int]]] = [[], [], []]
    current: int | None = None
    for token in text.split(","):
        token = token.strip()
        if " " in token:
            proto, token = token.split(" ", 1)
            current = PROTO_INDEX[proto.upper()]
        if current is None:
            raise ValueError(f"cannot parse connection set {text!r}")
        if "-" in token:
            s, e = token.split("-", 1)
            parts[current].append((int(s), int(e)))
        else:
            parts[current].append((int(token), int(token)))
    return (_merge(parts[0]), _merge(parts[1]), _merge(parts[2]))
