"""Small formatting helpers that reproduce upstream's message wording byte for byte."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubehipaa.engines.pss.base import Containers

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def join_quote(items: Iterable[str]) -> str:
    """`"a", "b"` — items wrapped in double quotes without escaping, as upstream's joinQuote."""
    items = list(items)
    if not items:
        return ""
    return '"' + '", "'.join(items) + '"'


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def go_quote(text: str) -> str:
    """Go's `%q` for a string (strconv.Quote): used where upstream formats annotation values."""
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _container_list(spec: dict[str, Any], key: str) -> list[Any] | tuple[()]:
    value = spec.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        # `containers: {}` used to read as "no containers" and pass every check
        raise TypeError(f"{key} must be a list, not {type(value).__name__}")
    return value


def containers_of(spec: dict[str, Any]) -> Containers:
    """(container, securityContext) for init containers, then containers, then ephemeral containers:
    upstream's visiting order. Raises TypeError when a container list is not a list or a securityContext
    is not a mapping (the API server refuses both, so such a pod is malformed, never "allowed")."""
    init = _container_list(spec, "initContainers")
    main = _container_list(spec, "containers")
    eph = _container_list(spec, "ephemeralContainers")
    if init or eph:
        main = [*init, *main, *eph]
    pairs = []
    keys: set[str] = set()
    for c in main:
        sc = c.get("securityContext")
        if sc is not None:
            if not isinstance(sc, dict):
                raise TypeError(f"container securityContext must be a mapping, not {type(sc).__name__}")
            keys.update(sc)
        pairs.append((c, sc))
    return Containers(pairs, keys)


def is_windows(spec: dict[str, Any]) -> bool:
    """`spec.os.name == "windows"`: from policy v1.25 the Linux-only restricted checks skip such pods."""
    os_ = spec.get("os")
    return os_ is not None and os_.get("name") == "windows"


def user_namespaced(spec: dict[str, Any]) -> bool:
    """`spec.hostUsers: false` — the pod runs in a user namespace (relaxes some checks from v1.35)."""
    return spec.get("hostUsers") is False
