"""Kubernetes' CEL IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library ip.go, cidr.go) for cel-python.

Why here: `admission test` must evaluate a policy as the API server would, and policies about Services,
NetworkPolicies or Ingresses use `ip()`/`cidr()`. Upstream parses with Go's net/netip and then refuses
IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) and zones (`fe80::1%eth0`); netip itself refuses leading zeros in
IPv4 octets and in a prefix length. Python's `ipaddress` is laxer (it accepts zones, `/08`, netmask prefixes),
so the grammar is checked here first and `ipaddress` does the arithmetic only.

`containsCIDR` follows the fixed upstream semantics (kubernetes#130450, Kubernetes 1.33 and the 1.31/1.32
patch releases): the other prefix masked to this one's length must equal this one masked. Older API servers
compared the unmasked address and answered false for most proper subnets.

Not implemented (unknown functions offline, an evaluation error): `ip.isCanonical` (a namespaced function
name cel-python cannot parse) and the type names `net.IP` / `net.CIDR`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:
    import celpy
    from celpy import celtypes
except ImportError:  # pragma: no cover - the evaluator refuses to run without cel-python
    celpy = None  # type: ignore[assignment]
    celtypes = None  # type: ignore[assignment]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_BITS = re.compile(r"(0|[1-9][0-9]*)")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True)
class IP:
    """A `net.IP` value: equal when the addresses are equal (an IPv4 address never equals an IPv6 one)."""

    addr: Address

    def __str__(self) -> str:
        return str(self.addr)


@dataclass(frozen=True)
class CIDR:
    """A `net.CIDR` value: the address as written (host bits kept) and the prefix length. Equality compares
    both, so `cidr('10.0.0.1/8') != cidr('10.0.0.1/8').masked()`, as upstream."""

    addr: Address
    bits: int

    def __str__(self) -> str:
        return f"{self.addr}/{self.bits}"

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network((self.addr, self.bits), strict=False)


class AddressError(ValueError):
    """A string the upstream parser refuses."""


def parse_ip(text: str) -> Address:
    """An address as upstream's `ip()` accepts it: netip.ParseAddr, minus zones and IPv4-mapped IPv6."""
    if "%" in text:
        raise AddressError(f"IP address {text!r} with zone value is not allowed")
    try:
        addr = ipaddress.ip_address(text)  # dotted quad without leading zeros, or RFC 4291 IPv6
    except ValueError:
        raise AddressError(f"IP Address {text!r} parse error during conversion from string") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr in _MAPPED:
        raise AddressError(f"IPv4-mapped IPv6 address {text!r} is not allowed")
    return addr


def parse_cidr(text: str) -> CIDR:
    """A prefix as upstream's `cidr()` accepts it: `address/bits`, bits decimal without a sign or leading
    zero and within the family's width; host bits may be set (`masked()` clears them)."""
    head, slash, bits_text = text.rpartition("/")
    if not slash:
        raise AddressError(f"network address parse error during conversion from string: no '/' in {text!r}")
    addr = parse_ip(head)
    if not _BITS.fullmatch(bits_text) or int(bits_text) > addr.max_prefixlen:
        raise AddressError(f"network address parse error during conversion from string: bad bits after slash: "
                           f"{bits_text!r}")
    return CIDR(addr, int(bits_text))


def _err(message: str) -> Any:
    return celpy.CELEvalError(message)


def _string_arg(value: Any, name: str) -> str | Any:
    if isinstance(value, str):
        return str(value)
    return _err(f"no such overload: {name}({type(value).__name__})")


def _ip(value: Any) -> Any:
    """`ip(string)` and `cidr.ip()`."""
    if isinstance(value, CIDR):
        return IP(value.addr)
    text = _string_arg(value, "ip")
    if not isinstance(text, str):
        return text
    try:
        return IP(parse_ip(text))
    except AddressError as exc:
        return _err(str(exc))


def _cidr(value: Any) -> Any:
    text = _string_arg(value, "cidr")
    if not isinstance(text, str):
        return text
    try:
        return parse_cidr(text)
    except AddressError as exc:
        return _err(str(exc))


def _is(parse: Callable[[str], object], name: str) -> Callable[[Any], Any]:
    def test(value: Any) -> Any:
        text = _string_arg(value, name)
        if not isinstance(text, str):
            return text
        try:
            parse(text)
        except AddressError:
            return celtypes.BoolType(False)
        return celtypes.BoolType(True)
    return test


def _on_ip(name: str, predicate: Callable[[Address], bool]) -> Callable[[Any], Any]:
    def method(value: Any) -> Any:
        if not isinstance(value, IP):
            return _err(f"no such overload: {name} on {type(value).__name__}")
        return celtypes.BoolType(predicate(value.addr))
    return method


def _family(value: Any) -> Any:
    if not isinstance(value, IP):
        return _err(f"no such overload: family on {type(value).__name__}")
    return celtypes.IntType(value.addr.version)


def _v4(addr: Address) -> bool:
    return isinstance(addr, ipaddress.IPv4Address)


def _loopback(a: Address) -> bool:  # netip: 127.0.0.0/8, ::1
    return a.is_loopback


def _multicast(a: Address) -> bool:  # netip: 224.0.0.0/4, ff00::/8
    return a.is_multicast


def _link_local_unicast(a: Address) -> bool:  # netip: 169.254.0.0/16, fe80::/10
    return a in (ipaddress.IPv4Network("169.254.0.0/16") if _v4(a) else ipaddress.IPv6Network("fe80::/10"))


def _link_local_multicast(a: Address) -> bool:
    """netip: 224.0.0.0/24, or IPv6 ff0X::/16 with scope 2 (first group & 0xff0f == 0xff02)."""
    if _v4(a):
        return a in ipaddress.IPv4Network("224.0.0.0/24")
    return (int(a) >> 112) & 0xFF0F == 0xFF02


def _global_unicast(a: Address) -> bool:
    """netip: not unspecified, not 255.255.255.255, not loopback, multicast or link-local unicast (private
    ranges and ULAs are global unicast)."""
    if a.is_unspecified or (_v4(a) and int(a) == 0xFFFFFFFF):
        return False
    return not (_loopback(a) or _multicast(a) or _link_local_unicast(a))


def _argument(value: Any, other: Any, name: str, parse: Callable[[Any], Any], kind: type) -> Any:
    """The argument of `cidr.<name>(other)` as a `kind` (a string is parsed first), or the CEL error to return:
    no such overload when the receiver is not a CIDR or the argument not a `kind`, the parse error as is."""
    if not isinstance(value, CIDR):
        return _err(f"no such overload: {name}")
    arg = parse(other) if isinstance(other, str) else other
    if isinstance(arg, celpy.CELEvalError):
        return arg
    return arg if isinstance(arg, kind) else _err(f"no such overload: {name}")


def _contains_ip(value: Any, other: Any) -> Any:
    ip = _argument(value, other, "containsIP", _ip, IP)
    if not isinstance(ip, IP):
        return ip
    return celtypes.BoolType(ip.addr.version == value.addr.version and ip.addr in value.network())


def _contains_cidr(value: Any, other: Any) -> Any:
    inner = _argument(value, other, "containsCIDR", _cidr, CIDR)
    if not isinstance(inner, CIDR):
        return inner
    if inner.addr.version != value.addr.version or inner.bits < value.bits:
        return celtypes.BoolType(False)
    return celtypes.BoolType(inner.addr in value.network())


def _prefix_length(value: Any) -> Any:
    if not isinstance(value, CIDR):
        return _err("no such overload: prefixLength")
    return celtypes.IntType(value.bits)


def _masked(value: Any) -> Any:
    if not isinstance(value, CIDR):
        return _err("no such overload: masked")
    return CIDR(value.network().network_address, value.bits)


NETWORK_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ip": _ip,
    "isIP": _is(parse_ip, "isIP"),
    "family": _family,
    "isUnspecified": _on_ip("isUnspecified", lambda a: a.is_unspecified),
    "isLoopback": _on_ip("isLoopback", _loopback),
    "isLinkLocalMulticast": _on_ip("isLinkLocalMulticast", _link_local_multicast),
    "isLinkLocalUnicast": _on_ip("isLinkLocalUnicast", _link_local_unicast),
    "isGlobalUnicast": _on_ip("isGlobalUnicast", _global_unicast),
    "cidr": _cidr,
    "isCIDR": _is(parse_cidr, "isCIDR"),
    "containsIP": _contains_ip,
    "containsCIDR": _contains_cidr,
    "prefixLength": _prefix_length,
    "masked": _masked,
}
"""Function name -> implementation; a member call `x.f(a)` reaches `f(x, a)` in cel-python. `string(ip)` and
`string(cidr)` need no entry: cel-python's `string` is `str`, which gives the canonical text of both (RFC 5952
for IPv6, the address as written for a CIDR). `string` must not be overridden: it is also the type name in
`type(x) == string`."""
