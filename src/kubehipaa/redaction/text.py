"""`redact_text` and friends: the rules for any string (credentials, query strings, PHI), and request URIs."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from kubehipaa.redaction.credentials import TOKEN_HINT, redact_credentials
from kubehipaa.redaction.identifiers import redact_phi
from kubehipaa.redaction.masks import GENERIC, PATH, QUERY, Redacted

_WORD = re.compile(r"\S++")
_CLOSER = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}"}


def redact_queries(text: str) -> str:
    """`/path?anything` and `scheme://host/path?anything` keep the path and lose the query: the names of the
    parameters too (an identifier can be a name), and the fragment with it."""
    if "?" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _WORD.finditer(text):
        word = m.group(0)
        q = word.find("?")
        if q < 0 or q + 1 >= len(word) or "/" not in word[:q]:
            continue
        if word.startswith(QUERY, q + 1):
            continue
        keep = word[-1] if word[0] in "\"'([{" and word[-1] == _CLOSER[word[0]] else ""
        out.append(text[pos:m.start() + q + 1])
        out.append(QUERY + keep)
        pos = m.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)



def redact_text(text: str, *, contact: bool = False, key: str | None = None) -> str:
    """Mask credentials, query strings and PHI in free text; `contact` also masks phone numbers and e-mail
    addresses; `key` is the field name the text came from (`ssn`, `dob`: it labels bare numbers and dates).

    Idempotent: `redact_text(redact_text(x)) == redact_text(x)`.
    """
    if not text:
        return text
    if key is None:
        if (not contact and 20 <= len(text) <= 36 and (text[4] == "-" or text[8] == "-")
                and _PLAIN_VALUE.fullmatch(text) is not None):
            return text
        if len(text) <= _CACHE_MAX:
            return _cached(text, contact)
        if not _may_hold_anything(text):
            return text
    return _redact(text, contact, key)


_CACHE_MAX = 256
_PLAIN_VALUE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
"""An RFC 3339 time or a UUID, the whole text: nothing in them is a credential or PHI (no rule changes one:
`tests/redaction` checks random ones), and every alert carries a unique one of each (its time, its auditID),
so the cache never helps them and the full pass (~10 µs) was most of what writing a report cost."""
_GATE = re.compile(r"[=:?@|]|\d{4}")


def _may_hold_anything(text: str) -> bool:
    """A necessary condition of every rule, tested first because nearly every string fails it (a name, a path
    like `spec.containers[0].image`, a message without digits or `=:?@`): what each rule needs is one of these
    characters, four digits in a row, a token prefix, a PEM header, or a word it starts with."""
    if _GATE.search(text) is not None or "-----BEGIN" in text or TOKEN_HINT.search(text) is not None:
        return True
    low = text.lower()
    return "bearer" in low or "basic" in low or "password" in low or "identified" in low


@lru_cache(maxsize=65536)
def _cached(text: str, contact: bool) -> str:
    """Reports repeat the same short strings (users, verbs, namespaces, paths, messages) thousands of times,
    and the exit pass sees again what creation redacted: a hit costs a dictionary lookup."""
    return _redact(text, contact, None) if _may_hold_anything(text) else text


def _redact(text: str, contact: bool, key: str | None) -> str:
    text = redact_credentials(text)
    text = redact_queries(text)
    return redact_phi(text, contact, key)


def redact_tree(value: Any, *, contact: bool = False) -> Any:
    """A JSON-like value with every string (dict keys included) passed through `redact_text`."""
    if isinstance(value, str):
        return redact_text(value, contact=contact)
    if isinstance(value, dict):
        return {(redact_text(k, contact=contact) if isinstance(k, str) else k): redact_tree(v, contact=contact)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, contact=contact) for v in value]
    return value


def mask_sensitive(value: Any) -> Any:
    """A value a check declared sensitive: every string that carries no letter or digit (the shapes of
    `phi.redact`, or a punctuation-only password) becomes the generic mask; strings with letters (the key
    names a check lists on purpose) are redacted as text; None becomes the generic mask."""
    if value is None:
        return GENERIC
    if isinstance(value, str):
        return redact_text(value) if any(c.isalnum() for c in value) else GENERIC
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for v in value:
            m = mask_sensitive(v)
            if m not in out:
                out.append(m)
        return out
    if isinstance(value, dict):
        return {k: mask_sensitive(v) for k, v in value.items()}
    return GENERIC


def redacted(text: str) -> Redacted:
    """`text` passed through `redact_text` and marked as such."""
    return text if isinstance(text, Redacted) else Redacted(redact_text(text))


_PROXY = "/proxy"
_PLAIN_SEGMENT = re.compile(r"(?:[A-Za-z][A-Za-z_.-]{0,31}|v\d{1,2}(?:(?:alpha|beta)\d{0,2})?)")


def redact_uri(uri: str) -> str:
    """A request URI with its query string masked (`?<redacted:query>`), the application path behind a
    `/proxy/` subresource cut at its first segment that is not a plain word (`/proxy/patients/<redacted:path>`:
    what a pod, service or node serves there is the application's data, not Kubernetes', and an identifier may
    run over several segments), and the rest redacted as text."""
    if not uri:
        return uri
    path, q, _query = uri.partition("?")
    if not q:
        path, h, _frag = path.partition("#")
        q = "?" if h else ""
    at = path.find(_PROXY + "/")
    if at >= 0:
        head, tail = path[: at + len(_PROXY) + 1], path[at + len(_PROXY) + 1:]
        segs = tail.split("/")
        cut = next((i for i, seg in enumerate(segs) if seg and not _PLAIN_SEGMENT.fullmatch(seg)), None)
        if cut is not None:
            segs[cut:] = [PATH]
        path = _redact(head, False, None) + "/".join(segs)
    else:
        path = _redact(path, False, None)
    return path + ("?" + QUERY if q else "")
