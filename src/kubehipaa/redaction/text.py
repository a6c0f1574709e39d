"""`redact_text` and friends: the rules for any string (credentials, query strings, PHI), and request URIs."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import orjson

from kubehipaa.redaction.credentials import TOKEN_HINT, assign_hint, redact_credentials
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
            shown = _cached(text, contact)
            # the cache answers with the first equal string it saw: give back the caller's own object when
            # nothing was masked, so `redact_text(x) is x` says "unchanged" (`redact_ref` relies on it)
            return text if shown == text else shown
        if not _may_apply(text, contact):
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


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _rules_may_apply(text: str) -> bool:
    """False only when `_redact(text, contact=False, key=None)` certainly returns `text`: for ASCII text, the
    exact condition under which some rule can start, tested with `in` and one byte translation instead of the
    regular expressions. Where `_may_hold_anything` lets through every text with four digits or a `:` (the
    name `wl-01234`, an image `app:1.2`, a finding's message about either) and the rules' own pre-tests then
    cost ~10 µs, this costs 2-4 µs and lets through only what a rule can start on; a finding's message,
    unique per object, is asked once.

    It is the union of what each rule needs before it may change anything, in the order they run (a rule that
    changes the text makes this True, and the full pass then runs on everything):
    - `redact_credentials`: a PEM header, a token prefix (`TOKEN_HINT`; every prefix holds `eyJ`, an `A`, an
      `_`, `glpat-`, `xox` or `hv`), `bearer`, `basic`, `://`, `=` or `:` with an assignment hint
      (`assign_hint`; every header name `_HEADER` masks holds one, and needs `:` or `=`), `password` or
      `identified`;
    - `redact_queries`: a `?`;
    - `redact_phi` without `contact` and `key`: an HL7 or FHIR marker, or four digits in a row together with
      a word of an SSN/MRN/DOB label (`LABEL_WORDS`) or the digits of a strong kind (`_LONG_DIGITS`: nine
      digits, or `ddd-dd-dddd`); without either it returns its input (see there).
    Only for ASCII text, where a digit is `0-9` and `lower()` maps one character to one. Any other text takes
    the full pass. `tests/redaction/test_rules_gate.py` checks one example per condition and generated text
    against the full pass."""
    if "?" in text or "://" in text or "-----BEGIN" in text or "MSH|" in text or "resourceType" in text:
        return True
    if (("eyJ" in text or "A" in text or "_" in text or "glpat-" in text or "xox" in text or "hv" in text)
            and TOKEN_HINT.search(text) is not None):
        return True
    low = text.lower()
    if "bearer" in low or "basic" in low or "password" in low or "identified" in low:
        return True
    if ("=" in text or ":" in text) and assign_hint(low):
        return True
    zeros = text.encode("ascii").translate(_DIGITS_AS_ZERO)
    if b"0000" in zeros:
        return (b"000000000" in zeros or b"000-00-0000" in zeros  # `identifiers._LONG_DIGITS`
                or "ssn" in low or "social" in low or "mrn" in low or "record" in low or "patient" in low
                or "chart" in low or "dob" in low or "birth" in low or "d.o.b" in low)  # `LABEL_WORDS`
    return False


@lru_cache(maxsize=65536)
def _cached(text: str, contact: bool) -> str:
    """Reports repeat the same short strings (users, verbs, namespaces, paths, messages) thousands of times,
    and the exit pass sees again what creation redacted: a hit costs a dictionary lookup."""
    return _redact(text, contact, None) if _may_apply(text, contact) else text


def _may_apply(text: str, contact: bool) -> bool:
    """False when `_redact(text, contact, None)` certainly returns `text`: `_rules_may_apply` where it is exact
    (ASCII text, no `contact`), `_may_hold_anything` elsewhere."""
    if not contact and text.isascii():
        return _rules_may_apply(text)
    return _may_hold_anything(text)


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


_TREE_KEY_OPTS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Serialize only what JSON itself holds (str-keyed dicts, lists, tuples, str, int, float, bool, None): a str or
dict subclass, a datetime or a dataclass raises instead of being written like a plain value, and its node is
then walked without the memo."""


_UNCHANGED = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
"""Shapes `redact_text` (without `contact`) returns unchanged when they hold no nine ASCII digits in a row: an
RFC 3339 timestamp and a lower-case UUID (an audit event's `auditID` and timestamps, unique per event, which a
memo would only churn on). Why, rule by rule: no credential rule can start (no `=`, no token prefix, no
header or secret word: the only letters are `T`/`Z` or `a-f`), no `?`, no PHI label (`ssn`, `mrn`, `dob`,
`birth`, `patient`...), no SSN shape (`ddd-dd-dddd` needs a two-digit group between dashes) and no run of
nine digits (bare SSN, NPI, the PHI engine's digit kinds): the PHI pass returns its input before the engine
check. `tests/redaction/test_tree_redactor.py` checks it against `redact_text` on generated shapes."""
_NINE_DIGITS = re.compile(r"[0-9]{9}")


def is_unique_shape(text: str) -> bool:
    """A timestamp or UUID that `redact_text` (without `contact`) returns unchanged: see `_UNCHANGED`."""
    return _UNCHANGED.fullmatch(text) is not None and _NINE_DIGITS.search(text) is None


class TreeRedactor:
    """`redact_tree` for a stream of JSON documents that repeat their parts (audit events: the same `user`,
    `objectRef`, `annotations`, `userAgent` in thousands of events), with a bounded memory of what it did.

    Why: walking every node of every event in Python costs more than the redaction itself once strings are
    cached (an audit event has ~30 nodes and ~50 strings; most are identical to an earlier event's). Here a
    container of at most `max_node` serialized bytes is looked up by its JSON bytes (orjson, a C-speed pass)
    and redacted once; a string is looked up in a plain dict. Larger containers (request bodies) are walked,
    their children looked up the same way.

    Contract: `redactor.tree(v) == redact_tree(v, contact=contact)` and has the same JSON serialization (key
    order included) for every JSON value `v` (what a JSON parser returns; NaN and infinities are not JSON, and
    orjson writes them as `null`). Nodes JSON cannot write as themselves (subclasses, datetimes, dataclasses,
    non-str keys, integers beyond 64 bits) are walked as `redact_tree` walks them. Results are SHARED between
    calls: treat them as read-only. Memory is bounded: each memo is emptied when it reaches its limit.
    """

    __slots__ = (
        "_strings",
        "_tree_bytes",
        "_trees",
        "contact",
        "max_node",
        "max_string_len",
        "max_strings",
        "max_tree_bytes",
    )

    def __init__(self, *, contact: bool = False, max_node: int = 2048, max_strings: int = 65536,
                 max_string_len: int = 512, max_tree_bytes: int = 4 << 20) -> None:
        self.contact = contact
        self.max_node = max_node
        self.max_strings = max_strings
        self.max_string_len = max_string_len
        self.max_tree_bytes = max_tree_bytes
        self._strings: dict[str, str] = {}
        self._trees: dict[bytes, Any] = {}
        self._tree_bytes = 0

    def text(self, text: str) -> str:
        """`redact_text(text, contact=...)`, remembered; a unique timestamp or UUID is not (see `_UNCHANGED`)."""
        out = self._strings.get(text)
        if out is None:
            if not self.contact and is_unique_shape(text):
                return text
            out = redact_text(text, contact=self.contact)
            if len(text) <= self.max_string_len:
                if len(self._strings) >= self.max_strings:
                    self._strings.clear()
                self._strings[text] = out
        return out

    def tree(self, value: Any) -> Any:
        """`redact_tree(value, contact=...)`: the root is walked, each child looked up (see the class)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            text, node = self.text, self.node
            return {(text(k) if isinstance(k, str) else k): node(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.node(v) for v in value]
        return value

    def mapping(self, value: dict[Any, Any], drop: str | None = None) -> dict[Any, Any]:
        """`redact_tree({k: v for k, v in value.items() if k != drop})`, with the common cases (a str key, a
        str value already seen) inline: an audit event's top level is walked once per event."""
        strings, text, node = self._strings, self.text, self.node
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if k == drop:
                continue
            if isinstance(k, str):
                k = strings.get(k) or text(k)
            if type(v) is str:
                out[k] = strings.get(v) or text(v)
            else:
                out[k] = node(v)
        return out

    def node(self, value: Any) -> Any:
        """One value inside a tree: a small container by its JSON bytes, a large one walked."""
        if isinstance(value, str):
            return self.text(value)
        if not isinstance(value, dict | list | tuple):
            return value
        try:
            key = orjson.dumps(value, option=_TREE_KEY_OPTS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError: not plain JSON, walked like redact_tree
            return self._walk(value)
        if len(key) > self.max_node:
            return self.tree(value)
        out = self._trees.get(key)
        if out is None:
            out = self._walk(value)
            if self._tree_bytes + len(key) > self.max_tree_bytes:
                self._trees.clear()
                self._tree_bytes = 0
            self._trees[key] = out
            self._tree_bytes += len(key)
        return out

    def _walk(self, value: Any) -> Any:
        """`redact_tree` itself, with the string memo."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            text, walk = self.text, self._walk
            return {(text(k) if isinstance(k, str) else k): walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
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
