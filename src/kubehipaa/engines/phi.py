"""Detectors for PHI-shaped values in configuration: SSN, NPI, MRN, DOB, phone, e-mail, HL7 and FHIR.

Why a dedicated engine: PHI that leaks into ConfigMaps, env vars or annotations is stored unencrypted in etcd,
copied into every `kubectl get -o yaml`, CI log and backup, which defeats the access-control and encryption
safeguards (164.312(a)(1), 164.312(a)(2)(iv)). The engine is pure and fast (precompiled regexes behind a
cheap prefilter), and it never hands out the raw value: every `PhiMatch` carries a *redacted* shape only
(digits become ``#``, letters ``*``), so a report can say "an SSN-shaped value is at data.patient" without
repeating it.

Precision matters more than recall for a scanner people keep enabled, so identifiers that are just digits
are validated: SSNs by the SSA's area/group/serial rules, NPIs by their Luhn check digit over the ``80840``
prefix, dates by calendar ranges; MRNs and bare dates count only when labelled (a key name or an inline
``MRN``/``DOB`` label says what they are).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTACT_KINDS",
    "KINDS",
    "MAX_PER_FIELD",
    "STRONG_KINDS",
    "PhiMatch",
    "PhiScan",
    "find_spans",
    "is_valid_npi",
    "is_valid_ssn",
    "join_path",
    "might_contain_phi",
    "redact",
    "scan_text",
    "scan_value",
]

STRONG_KINDS = frozenset({"ssn", "npi", "mrn", "dob", "hl7", "fhir"})
"""Kinds that identify a patient (or a provider) on their own."""
CONTACT_KINDS = frozenset({"phone", "email"})
"""Kinds that are PHI only next to patient data; common in ordinary config (on-call numbers, alert mail)."""
KINDS = STRONG_KINDS | CONTACT_KINDS

_MAX_REDACTED = 40


@dataclass(frozen=True, slots=True)
class PhiMatch:
    """One PHI-shaped value: its kind, a redacted rendering, and where it was found (dotted field path)."""

    kind: str
    redacted: str
    path: str


_MASK = str.maketrans(
    {**{c: "#" for c in string.digits}, **{c: "*" for c in string.ascii_letters},
     **{c: " " for c in string.whitespace}}
)


def redact(value: str) -> str:
    """Mask a value so that only its shape survives: digits → ``#``, letters → ``*``, punctuation kept.

    The output contains no letter or digit at all, so it can never contain a raw value that has one.
    Long values are cut to 40 characters plus an ellipsis.
    """
    out = value[: _MAX_REDACTED + 1].translate(_MASK)
    if not out.isascii():  # rare: non-ASCII letters and digits (e.g. 'é', '٣') are masked one by one
        out = "".join(_mask_char(ch) for ch in out)
    if len(value) > _MAX_REDACTED:
        return out[:_MAX_REDACTED] + "…"
    return out


def _mask_char(ch: str) -> str:
    if ch.isdigit():
        return "#"
    if ch.isalnum():
        return "*"
    return " " if ch.isspace() else ch


# --- validators -------------------------------------------------------------------------------------------


def is_valid_ssn(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def is_valid_npi(digits: str) -> bool:
    """A 10-digit NPI starting with 1 or 2 whose last digit is the Luhn check digit of '80840' + first 9."""
    if len(digits) != 10 or not digits.isdigit() or digits[0] not in "12":
        return False
    payload = "80840" + digits[:9]
    total = 0
    # Luhn: double every second digit from the right of the payload (the check digit is not part of it).
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == ord(digits[9]) - 48


def _valid_date(year: int, month: int, day: int) -> bool:
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return day <= (29 if leap else 28)
    return day <= 30 if month in (4, 6, 9, 11) else True


# --- patterns ---------------------------------------------------------------------------------------------

# Every digit-based kind contains a run of at least four digits (SSN serial, NPI, MRN, a year, a phone
# line number); e-mail needs '@'; HL7 and FHIR have their markers. Most config values have none of these.
_PREFILTER = re.compile(r"\d{4}|@|MSH\||resourceType")
_DIGITS4 = re.compile(r"\d{4}")

_SSN_DASHED = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"(?<!\d)(\d{3})(\d{2})(\d{4})(?!\d)")
_SSN_INLINE = re.compile(r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?))?)\W{0,4}(\d{9})(?!\d)")
_NPI = re.compile(r"(?<![0-9A-Za-z.])([12]\d{9})(?![0-9A-Za-z.])")
_MRN_INLINE = re.compile(r"\bMRN\W{0,4}([A-Z]{0,3}\d{5,12})\b")
_MRN_LABELLED = re.compile(r"\b([A-Z]{0,3}-?\d{5,12})\b")
_DATE_ISO = re.compile(r"(?<!\d)((?:19|20)\d\d)-(\d\d)-(\d\d)(?!\d)")
_DATE_US = re.compile(r"(?<!\d)(\d{1,2})[/-](\d{1,2})[/-]((?:19|20)\d\d)(?!\d)")
_DOB_INLINE = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.|date\s+of\s+birth|birth\s*date|birth_date|birthdate)[\"']?\s*(?:[:=]\s*)?[\"']?"
    r"((?:19|20)\d\d-\d\d-\d\d|\d{1,2}[/-]\d{1,2}[/-](?:19|20)\d\d)"
)
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[-. ]?)?\(?([2-9]\d\d)\)?[-. ]([2-9]\d\d)[-. ](\d{4})(?![\d-])")
# An e-mail address is `\b[A-Za-z0-9._%+-]+@` + `_EMAIL_DOMAIN`. As one regex that is quadratic: every
# word boundary in a long run of local-part characters (`a.a.a.a…`) starts an attempt that scans the whole
# run for an '@'. `_emails` finds the same matches from each '@' instead (see there).
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_EMAIL_LOCAL_RUN = re.compile(r"[A-Za-z0-9._%+-]*")
_EMAIL_LOCAL_START = re.compile(r"\b[A-Za-z0-9._%+-]")
_HL7 = re.compile(r"MSH\|\^~\\&")
_FHIR = re.compile(
    r"[\"']?resourceType[\"']?\s*[:=]\s*[\"']?"
    r"(Patient|Observation|Condition|Encounter|MedicationRequest|DiagnosticReport|Procedure|AllergyIntolerance"
    r"|Immunization|Claim|Coverage|ExplanationOfBenefit|Bundle)\b"
)

# What a key name says about its value (normalised: lower case, letters and digits only).
_KEY_SSN = re.compile(r"ssn|socialsecurity")
_KEY_NPI = re.compile(r"npi")
_KEY_MRN = re.compile(r"mrn|medicalrecord|patientid|chartnumber|chartno")
_KEY_DOB = re.compile(r"dob|birth")
# Keys whose 10-digit values are times or counters, never NPIs (epoch seconds start with 1 until 2033).
_KEY_NOT_ID = re.compile(r"time|epoch|created|updated|generation|revision|version|port|size|bytes|timeout")
_NON_ALNUM = re.compile(r"[^a-z0-9]")


def _norm_key(key: str | None) -> str:
    return _NON_ALNUM.sub("", key.lower()) if key else ""


def _dates(text: str) -> Iterator[tuple[int, int]]:
    for m in _DATE_ISO.finditer(text):
        if _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            yield m.span()
    for m in _DATE_US.finditer(text):
        if _valid_date(int(m.group(3)), int(m.group(1)), int(m.group(2))):
            yield m.span()


def _candidates(text: str, nkey: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) for every detector, in priority order (earlier wins on overlap).

    Each detector runs only when the cheap substring test it needs passes: most values are skipped
    after one or two `in` tests.
    """
    if "MSH|" in text:
        for m in _HL7.finditer(text):
            yield "hl7", m.start(), m.end()
    if "resourceType" in text:
        for m in _FHIR.finditer(text):
            yield "fhir", m.start(), m.end()
    if _DIGITS4.search(text) is not None:
        lower = text.lower()
        for m in _SSN_DASHED.finditer(text):
            if is_valid_ssn(*m.groups()):
                yield "ssn", m.start(), m.end()
        if "ssn" in lower or "social" in lower:
            for m in _SSN_INLINE.finditer(text):
                d = m.group(1)
                if is_valid_ssn(d[:3], d[3:5], d[5:]):
                    yield "ssn", m.start(1), m.end(1)
        if nkey and _KEY_SSN.search(nkey):
            for m in _SSN_BARE.finditer(text):
                if is_valid_ssn(*m.groups()):
                    yield "ssn", m.start(), m.end()
        if not (nkey and _KEY_NOT_ID.search(nkey) and not _KEY_NPI.search(nkey)):
            for m in _NPI.finditer(text):
                if is_valid_npi(m.group(1)):
                    yield "npi", m.start(1), m.end(1)
        if "MRN" in text:
            for m in _MRN_INLINE.finditer(text):
                yield "mrn", m.start(1), m.end(1)
        if nkey and _KEY_MRN.search(nkey):
            for m in _MRN_LABELLED.finditer(text):
                yield "mrn", m.start(1), m.end(1)
        if "dob" in lower or "birth" in lower or "d.o.b" in lower:
            for m in _DOB_INLINE.finditer(text):
                for s, e in _dates(m.group(1)):
                    yield "dob", m.start(1) + s, m.start(1) + e
        if nkey and _KEY_DOB.search(nkey):
            for s, e in _dates(text):
                yield "dob", s, e
        for m in _PHONE.finditer(text):
            yield "phone", m.start(), m.end()
    if "@" in text:
        for start, end in _emails(text):
            yield "email", start, end


def _run_length(run: re.Pattern[str], text: str, pos: int) -> int:
    """Length of the match of `run` (a `[...]*` class, so it always matches) at `pos`."""
    m = run.match(text, pos)
    return 0 if m is None else m.end() - pos


def _emails(text: str) -> Iterator[tuple[int, int]]:
    """Spans of `\\b[A-Za-z0-9._%+-]+@<_EMAIL_DOMAIN>` as `finditer` gives them, in linear time.

    For each '@' (after the previous match): the domain must match right after it, and the match starts at
    the first word boundary inside the run of local-part characters that ends at the '@' (found on the
    reversed text, so no run is scanned twice). Runs of different '@'s never overlap, since '@' is in
    neither character class.
    """
    rev = text[::-1]
    n = len(text)
    pos = 0
    at = text.find("@")
    while at != -1:
        dom = _EMAIL_DOMAIN.match(text, at + 1)
        if dom is not None:
            run = _run_length(_EMAIL_LOCAL_RUN, rev, n - at)
            start = _EMAIL_LOCAL_START.search(text, max(at - run, pos), at)
            if start is not None:
                yield start.start(), dom.end()
                pos = dom.end()
        at = text.find("@", max(at + 1, pos))


def might_contain_phi(text: str) -> bool:
    """The cheap prefilter alone: False means `scan_text` is certain to find nothing."""
    return len(text) >= 5 and _PREFILTER.search(text) is not None


_MARKERS = ("hl7", "fhir")
_ONE = b"\x01"


def _spans(text: str, nkey: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of every detection `scan_text` reports, in the same order.

    Overlaps are settled with a byte per character of `text` (allocated at the first detection): a
    candidate is dropped when any of its characters is taken. Checking a candidate costs its own length,
    so the whole scan stays linear in the text however many values it holds (comparing each candidate
    with every earlier one, as this once did, was quadratic: 40,000 SSNs in one value took minutes).
    """
    taken: bytearray | None = None
    for kind, start, end in _candidates(text, nkey):
        if taken is None:
            taken = bytearray(len(text))
        elif kind not in _MARKERS and taken.find(1, start, end) != -1:
            continue
        taken[start:end] = _ONE * (end - start)
        yield kind, start, end


def find_spans(text: str, key: str | None = None) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each PHI-shaped value in `text`: what `scan_text` reports, with positions.

    For callers that mask the values in place (a redaction layer). Linear in `len(text)`.
    """
    if len(text) < 5 or _PREFILTER.search(text) is None:
        return []
    return list(_spans(text, _norm_key(key)))


def scan_text(text: str, key: str | None = None, *, path: str = "") -> list[PhiMatch]:
    """PHI-shaped values in `text`; `key` is the field name the text was found under (it labels bare values).

    Overlapping detections keep the most specific kind (e.g. an SSN is not also reported as a phone).
    `path` is copied into every match so callers can point at the field. Every match is returned; a caller
    that only needs the verdict and some evidence uses `PhiScan`, which bounds what it keeps.
    """
    if len(text) < 5 or _PREFILTER.search(text) is None:  # every kind needs >= 5 characters (5 MRN digits)
        return []
    return [PhiMatch(kind, redact(text[start:end]), path) for kind, start, end in _spans(text, _norm_key(key))]


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(path: str, key: str) -> str:
    """`path.key`, or `path["key"]` when the key is not an identifier (annotation keys, file names)."""
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


# --- bounded collection ------------------------------------------------------------------------------------

MAX_PER_FIELD = 3
"""Matches `PhiScan` keeps per field and kind (the evidence); every match is still counted."""

_CACHE_MIN_LEN = 256
"""Texts at least this long have their result remembered by identity for the rest of one walk: a long
string that YAML aliases repeat is scanned once, not once per alias."""


class _Path:
    """A field path built only when a match there is kept: walking a deep document must not build (and
    copy) a path string for every container on the way down."""

    __slots__ = ("_text", "parent", "seg")

    def __init__(self, parent: _Path | None, seg: str | int, text: str | None = None) -> None:
        self.parent = parent
        self.seg = seg
        self._text = text

    def text(self) -> str:
        """The dotted path (`join_path` rules), built in one join: linear in its length however deep."""
        if self._text is not None:
            return self._text
        segs: list[str | int] = []
        node: _Path | None = self
        base = ""
        while node is not None:
            if node._text is not None:
                base = node._text
                break
            segs.append(node.seg)
            node = node.parent
        pieces = [base]
        for seg in reversed(segs):
            if isinstance(seg, int):
                pieces.append(f"[{seg}]")
            elif not _IDENT.match(seg):
                pieces.append(f'["{seg}"]')
            else:
                pieces.append(f".{seg}" if len(pieces) > 1 or base else seg)
        self._text = out = "".join(pieces)
        return out


class PhiScan:
    """PHI found in one object (or any set of values), with the evidence bounded and the verdict exact.

    Every detection is counted (`total`, `counts` per kind); at most `limit` matches per field and kind
    are kept as `matches` (None keeps all). Since the first match of every kind in every field is kept,
    any decision made from the kinds present per field (strong vs contact kinds, the field's path) is the
    same as with every match; only the list of example shapes is shorter. Memory and time are linear in
    the input: 40,000 SSNs in one ConfigMap value cost 40,000 regex matches and keep three `PhiMatch`es.
    """

    __slots__ = ("_cache", "_seen", "counts", "limit", "matches", "total")

    def __init__(self, limit: int | None = MAX_PER_FIELD) -> None:
        self.limit = limit
        self.matches: list[PhiMatch] = []
        self.total = 0
        self.counts: dict[str, int] = {}
        # Both hold the objects themselves, not only their ids: an id is unique only while its object lives.
        self._seen: dict[int, Any] = {}
        self._cache: dict[tuple[int, str], tuple[str, dict[str, tuple[int, list[str]]]]] = {}

    @property
    def kinds(self) -> frozenset[str]:
        """Every kind detected, however many matches were left out of `matches`."""
        return frozenset(self.counts)

    @property
    def truncated(self) -> bool:
        """True when some matches were counted but not kept."""
        return self.total > len(self.matches)

    def add_text(self, text: str, key: str | None = None, *, path: str = "") -> None:
        """Scan one text (one field: `key` labels bare values, `path` names the field)."""
        if len(text) >= 5 and _PREFILTER.search(text) is not None:
            self._add(text, _norm_key(key), path)

    def add_value(self, obj: Any, path: str = "", *, key: str | None = None) -> None:
        """Walk dicts, lists and scalars as `scan_value` does, visiting each container once.

        A container reached again (YAML aliases share one object between their uses) is not walked again:
        its values were counted, and reported at the path where it was first seen. Depth first in document
        order like a recursive walk, but with an explicit stack, so nesting depth is not limited by Python's
        recursion limit; paths are built only for kept matches.
        """
        if isinstance(obj, str):
            self.add_text(obj, key, path=path)
            return
        if not isinstance(obj, dict | list):
            if isinstance(obj, int) and not isinstance(obj, bool):
                self.add_text(str(obj), key, path=path)
            return
        seen = self._seen
        if id(obj) in seen:
            return
        seen[id(obj)] = obj
        stack = [_Frame(obj, _Path(None, "", path), key)]
        while stack:
            frame = stack[-1]
            where, is_list = frame.where, frame.is_list
            for ck, cv in frame.items:
                if is_list:
                    seg: str | int = ck
                    ckey = frame.key
                else:
                    seg = ckey = str(ck)
                if isinstance(cv, str):
                    if len(cv) >= 5 and _PREFILTER.search(cv) is not None:
                        self._add(cv, frame.nkey if is_list else _norm_key(ckey), _Path(where, seg))
                elif isinstance(cv, dict | list):
                    if id(cv) not in seen:
                        seen[id(cv)] = cv
                        stack.append(_Frame(cv, _Path(where, seg), ckey))
                        break  # descend now: matches come out in document order
                elif isinstance(cv, int) and not isinstance(cv, bool):
                    text = str(cv)
                    if len(text) >= 5 and _PREFILTER.search(text) is not None:
                        self._add(text, frame.nkey if is_list else _norm_key(ckey), _Path(where, seg))
            else:
                stack.pop()

    def _add(self, text: str, nkey: str, path: str | _Path) -> None:
        """Count the detections in `text` and keep up to `limit` per kind (the text has passed the prefilter)."""
        long_text = len(text) >= _CACHE_MIN_LEN
        cached = self._cache.get((id(text), nkey)) if long_text else None
        if cached is not None:
            found = cached[1]
        else:
            found = {}
            limit = self.limit
            for kind, start, end in _spans(text, nkey):
                entry = found.get(kind)
                if entry is None:
                    found[kind] = (1, [redact(text[start:end])])
                else:
                    kept = entry[1]
                    if limit is None or len(kept) < limit:
                        kept.append(redact(text[start:end]))
                    found[kind] = (entry[0] + 1, kept)
            if long_text:
                self._cache[(id(text), nkey)] = (text, found)
        if not found:
            return
        where = path if isinstance(path, str) else path.text()
        counts = self.counts
        for kind, (count, shapes) in found.items():
            counts[kind] = counts.get(kind, 0) + count
            self.total += count
            self.matches.extend(PhiMatch(kind, shape, where) for shape in shapes)


class _Frame:
    """One container being walked: its remaining children, its path, and the key its list items share."""

    __slots__ = ("is_list", "items", "key", "nkey", "where")

    def __init__(self, node: dict[Any, Any] | list[Any], where: _Path, key: str | None) -> None:
        self.is_list = isinstance(node, list)
        self.items: Iterator[tuple[Any, Any]] = iter(enumerate(node)) if isinstance(node, list) else iter(node.items())
        self.where = where
        self.key = key
        self.nkey = _norm_key(key) if self.is_list else ""


def scan_value(obj: Any, path: str = "", *, key: str | None = None) -> list[PhiMatch]:
    """Walk dicts, lists and scalars; match strings (and integers, which YAML makes of bare digits).

    Paths use the evidence convention of the checks: `data.patient`, `env[0].value`,
    `metadata.annotations["example.com/dob"]`. A path is only built for a value with a match. Every match
    is returned; each container is walked once (see `PhiScan.add_value`), so shared subtrees (YAML
    aliases) cost nothing extra. For bounded evidence use `PhiScan`.
    """
    scan = PhiScan(limit=None)
    scan.add_value(obj, path, key=key)
    return scan.matches
