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
    "STRONG_KINDS",
    "PhiMatch",
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
_NPI = re.compile(r"(?<![\d.])([12]\d{9})(?![\d.])")
_MRN_INLINE = re.compile(r"\bMRN\W{0,4}([A-Z]{0,3}\d{5,12})\b")
_MRN_LABELLED = re.compile(r"\b([A-Z]{0,3}-?\d{5,12})\b")
_DATE_ISO = re.compile(r"(?<!\d)((?:19|20)\d\d)-(\d\d)-(\d\d)(?!\d)")
_DATE_US = re.compile(r"(?<!\d)(\d{1,2})[/-](\d{1,2})[/-]((?:19|20)\d\d)(?!\d)")
_DOB_INLINE = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.|date\s+of\s+birth|birth\s*date|birth_date|birthdate)[\"']?\s*[:=]?\s*[\"']?"
    r"((?:19|20)\d\d-\d\d-\d\d|\d{1,2}[/-]\d{1,2}[/-](?:19|20)\d\d)"
)
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[-. ]?)?\(?([2-9]\d\d)\)?[-. ]([2-9]\d\d)[-. ](\d{4})(?![\d-])")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
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
        for m in _EMAIL.finditer(text):
            yield "email", m.start(), m.end()


def might_contain_phi(text: str) -> bool:
    """The cheap prefilter alone: False means `scan_text` is certain to find nothing."""
    return len(text) >= 5 and _PREFILTER.search(text) is not None


def scan_text(text: str, key: str | None = None, *, path: str = "") -> list[PhiMatch]:
    """PHI-shaped values in `text`; `key` is the field name the text was found under (it labels bare values).

    Overlapping detections keep the most specific kind (e.g. an SSN is not also reported as a phone).
    `path` is copied into every match so callers can point at the field.
    """
    if len(text) < 5 or _PREFILTER.search(text) is None:  # every kind needs >= 5 characters (5 MRN digits)
        return []
    taken: list[tuple[int, int]] = []
    out: list[PhiMatch] = []
    for kind, start, end in _candidates(text, _norm_key(key)):
        if kind not in ("hl7", "fhir") and any(s < end and start < e for s, e in taken):
            continue
        taken.append((start, end))
        out.append(PhiMatch(kind, redact(text[start:end]), path))
    return out


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(path: str, key: str) -> str:
    """`path.key`, or `path["key"]` when the key is not an identifier (annotation keys, file names)."""
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def scan_value(obj: Any, path: str = "", *, key: str | None = None) -> list[PhiMatch]:
    """Walk dicts, lists and scalars; match strings (and integers, which YAML makes of bare digits).

    Paths use the evidence convention of the checks: `data.patient`, `env[0].value`,
    `metadata.annotations["example.com/dob"]`. A path is only built for a value that passes the prefilter.
    """
    out: list[PhiMatch] = []
    _walk(obj, path, key, out)
    return out


def _walk(node: Any, path: str, key: str | None, out: list[PhiMatch]) -> None:
    if isinstance(node, dict):
        for ck, cv in node.items():
            sk = str(ck)
            if isinstance(cv, str):
                if cv and _PREFILTER.search(cv) is not None:
                    out.extend(scan_text(cv, sk, path=join_path(path, sk)))
            elif isinstance(cv, dict | list | int):
                _walk(cv, join_path(path, sk), sk, out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, str):
                if item and _PREFILTER.search(item) is not None:
                    out.extend(scan_text(item, key, path=f"{path}[{i}]"))
            elif isinstance(item, dict | list | int):
                _walk(item, f"{path}[{i}]", key, out)
    elif isinstance(node, str):
        out.extend(scan_text(node, key, path=path))
    elif isinstance(node, int) and not isinstance(node, bool):
        out.extend(scan_text(str(node), key, path=path))
