"""IPv4 address ranges for ipBlock peers.

An ipBlock (`cidr` minus every `except`) is kept as sorted, disjoint integer intervals. The external
address space is split only where some ipBlock interval starts or ends, which yields the coarsest
partition in which every piece is either wholly inside or wholly outside each ipBlock; these pieces
("atoms") are the External peers, printed as `a.b.c.d-e.f.g.h[External]` as netpol-analyzer does.
"""

from __future__ import annotations

import bisect
import ipaddress

MAX_IP = (1 << 32) - 1
Interval = tuple[int, int]


class CidrError(ValueError):
    """A `cidr` or `except` entry that is not a valid IPv4/IPv6 CIDR."""


_CIDR_CACHE: dict[str, tuple[int, int] | None] = {}
_CIDR_CACHE_MAX = 100_000


def parse_cidr(text: object) -> tuple[int, int] | None:
    """(first, last) address of an IPv4 CIDR; None for an IPv6 CIDR (not modelled, see docs).

    Memoised: large inputs repeat the same few CIDRs in thousands of policies, and `ipaddress` is slow.
    """
    if not isinstance(text, str) or "/" not in text:
        raise CidrError(f"invalid CIDR address: {text}")
    try:
        return _CIDR_CACHE[text]
    except KeyError:
        pass
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise CidrError(f"invalid CIDR address: {text}") from exc
    result = None if net.version != 4 else (int(net.network_address), int(net.broadcast_address))
    if len(_CIDR_CACHE) >= _CIDR_CACHE_MAX:
        _CIDR_CACHE.clear()
    _CIDR_CACHE[text] = result
    return result


_PREFIX_CACHE: dict[str, int] = {}


def prefix_length(text: str) -> int:
    """The prefix length of a CIDR already validated by `parse_cidr` (IPv4 or IPv6); memoised like it."""
    hit = _PREFIX_CACHE.get(text)
    if hit is None:
        if len(_PREFIX_CACHE) >= _CIDR_CACHE_MAX:
            _PREFIX_CACHE.clear()
        hit = _PREFIX_CACHE[text] = ipaddress.ip_network(text.strip(), strict=False).prefixlen
    return hit


def ipblock_intervals(cidr: object, excepts: list[object] | None) -> tuple[Interval, ...]:
    """The address intervals of `cidr` minus its `except` list."""
    base = parse_cidr(cidr)
    if base is None:
        for ex in excepts or ():
            parse_cidr(ex)
        return ()
    result = [base]
    for ex in excepts or ():
        cut = parse_cidr(ex)
        if cut is None:
            continue
        nxt: list[Interval] = []
        for s, e in result:
            if cut[1] < s or cut[0] > e:
                nxt.append((s, e))
                continue
            if s < cut[0]:
                nxt.append((s, cut[0] - 1))
            if cut[1] < e:
                nxt.append((cut[1] + 1, e))
        result = nxt
    return tuple(result)


def atoms(blocks: list[tuple[Interval, ...]]) -> list[Interval]:
    """Split 0.0.0.0-255.255.255.255 at every start/end of every block interval."""
    cuts = {0, MAX_IP + 1}
    for block in blocks:
        for s, e in block:
            cuts.add(s)
            cuts.add(e + 1)
    edges = sorted(cuts)
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]


def atoms_inside(atom_list: list[Interval], block: tuple[Interval, ...]) -> list[int]:
    """Indices of the atoms that lie inside `block` (atoms never straddle a block boundary)."""
    starts = [a[0] for a in atom_list]
    out: list[int] = []
    for s, e in block:
        i = bisect.bisect_left(starts, s)
        while i < len(atom_list) and atom_list[i][1] <= e:
            out.append(i)
            i += 1
    return out


def ip_str(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def atom_name(atom: Interval) -> str:
    return f"{ip_str(atom[0])}-{ip_str(atom[1])}[External]"


def parse_ip_or_cidr(text: str) -> Interval:
    """A single address or a CIDR given on the command line, as an interval."""
    if "/" in text:
        r = parse_cidr(text)
        if r is None:
            raise CidrError(f"IPv6 is not supported: {text}")
        return r
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as exc:
        raise CidrError(f"invalid IP address: {text}") from exc
    if addr.version != 4:
        raise CidrError(f"IPv6 is not supported: {text}")
    return int(addr), int(addr)
