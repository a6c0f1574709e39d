"""PHI in free text: spans found with the PHI engine's validators, then the engine itself as the authority.

`kubehipaa.engines.phi` reports what it finds without offsets (and never the value), so the spans are found
here with the same validators (SSA rules, NPI Luhn, calendar dates); afterwards `phi.scan_text` runs on the
result, and anything it still calls PHI is masked.
"""

from __future__ import annotations

import re

from kubehipaa.engines import phi as _phi
from kubehipaa.redaction.masks import mask

_WORD = re.compile(r"\S++")

_SSN_DASHED = re.compile(r"(?:(?<![\d-])|(?<=[A-Za-z_]-))(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_SSN_BARE = re.compile(r"(?<![A-Za-z0-9])(\d{3})(\d{2})(\d{4})(?![A-Za-z0-9])")
"""Nine digits standing alone (inside `G849355949` they are part of an identifier: an MRN, not an SSN)."""
_NPI = re.compile(r"(?<![0-9A-Za-z.])([12]\d{9})(?![0-9A-Za-z.])")
_MRN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,3}+-?\d{5,12}+(?![A-Za-z0-9])")
_DATE_ISO = re.compile(r"(?<!\d)((?:19|20)\d\d)-(\d\d)-(\d\d)(?!\d)")
_DATE_US = re.compile(r"(?<!\d)(\d{1,2})[/-](\d{1,2})[/-]((?:19|20)\d\d)(?!\d)")
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[-. ]?)?\(?[2-9]\d\d\)?[-. ][2-9]\d\d[-. ]\d{4}(?![\d-])")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@([A-Za-z0-9.-]{3,255}+)")
_HL7 = re.compile(r"MSH\|\^~\\&")
_FHIR = re.compile(
    r"[\"']?resourceType[\"']?\s*+[:=]\s*+[\"']?(?:Patient|Observation|Condition|Encounter|MedicationRequest"
    r"|DiagnosticReport|Procedure|AllergyIntolerance|Immunization|Claim|Coverage|ExplanationOfBenefit|Bundle)\b"
)
_SOCIAL = re.compile(r"social[\s_.-]?security")
_MRN_LABEL = re.compile(r"medical[\s_.-]?record|patient[\s_.-]?id|chart[\s_.-]?n(?:o|umber)")
_DIGITS4 = re.compile(r"\d{4}")
_LONG_DIGITS = re.compile(r"\d{3}(?:\d{6}|-\d{2}-\d{4})")
"""What every strong kind of `engines.phi` needs when no label is in sight (HL7 and FHIR markers aside): nine
digits in a row (a bare or an inline SSN, an NPI) or an SSN's dashes. Labels and keys are tested separately."""


LABEL_WORDS = ("ssn", "social", "mrn", "record", "patient", "chart", "dob", "birth", "d.o.b")
"""A word each label of `_labels` contains (`redaction.text._rules_may_apply` tests these instead)."""


def _valid_date(y: int, m: int, d: int) -> bool:
    if not (1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= d <= 31):
        return False
    if m == 2:
        return d <= (29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28)
    return d <= 30 if m in (4, 6, 9, 11) else True


def _ssn(m: re.Match[str]) -> str:
    return mask("ssn") if _phi.is_valid_ssn(m.group(1), m.group(2), m.group(3)) else m.group(0)


def _npi(m: re.Match[str]) -> str:
    return mask("npi") if _phi.is_valid_npi(m.group(1)) else m.group(0)


def _iso(m: re.Match[str]) -> str:
    return mask("dob") if _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3))) else m.group(0)


def _us(m: re.Match[str]) -> str:
    return mask("dob") if _valid_date(int(m.group(3)), int(m.group(1)), int(m.group(2))) else m.group(0)


def _email(m: re.Match[str]) -> str:
    labels = m.group(1).strip(".").split(".")
    tld = labels[-1]
    return mask("email") if len(labels) >= 2 and len(tld) >= 2 and tld.isalpha() else m.group(0)


def _labels(text: str, key: str | None) -> tuple[bool, bool, bool]:
    """Which labels (SSN, MRN, DOB) appear in the text or its key, also inside identifiers (`patient_ssn`):
    they make bare numbers and dates PHI. Each needs one of `LABEL_WORDS` in the lower-cased text."""
    low = f"{text}\n{key}".lower() if key else text.lower()
    ssn = "ssn" in low or ("social" in low and _SOCIAL.search(low) is not None)
    mrn = "mrn" in low or (("record" in low or "patient" in low or "chart" in low)
                           and _MRN_LABEL.search(low) is not None)
    dob = "dob" in low or "birth" in low or "d.o.b" in low
    return ssn, mrn, dob


def redact_phi(text: str, contact: bool, key: str | None) -> str:
    hl7 = _HL7.search(text) if "MSH|" in text else None
    if hl7 is not None:
        # every segment after the header is the patient's record; what comes before it is text like any other
        return redact_phi(text[: hl7.start()], contact, key) + mask("hl7")
    if "resourceType" in text and _FHIR.search(text) is not None:
        return mask("fhir")
    labelled = long_digits = False
    if _DIGITS4.search(text) is not None:
        ssn, mrn, dob = _labels(text, key)
        labelled = ssn or mrn or dob
        long_digits = _LONG_DIGITS.search(text) is not None
        if long_digits:
            if "-" in text:
                text = _SSN_DASHED.sub(_ssn, text)
            if ssn:
                text = _SSN_BARE.sub(_ssn, text)
            text = _NPI.sub(_npi, text)
        if dob:
            text = _DATE_ISO.sub(_iso, text)
            text = _DATE_US.sub(_us, text)
        if mrn:
            text = _MRN.sub(mask("mrn"), text)
        if contact:
            text = _PHONE.sub(mask("phone"), text)
    elif not contact:
        return text  # every strong kind has four digits in a row (or a marker, handled above)
    if contact and "@" in text:
        text = _EMAIL.sub(_email, text)
    if not contact and key is None and not labelled and not long_digits:
        return text  # nothing any strong kind could be made of (a timestamp, a port, a version)
    return _engine_guard(text, contact, key)


_GUARD_DIGITS = re.compile(r"\d{2,}")


def _engine_guard(text: str, contact: bool, key: str | None) -> str:
    """The PHI engine is the authority: whatever `phi.scan_text` still finds after the span rules is masked
    (the whitespace-separated word that holds it; failing that, every run of digits)."""
    kinds = _phi.KINDS if contact else _phi.STRONG_KINDS
    if not _phi.might_contain_phi(text):
        return text
    found = [m for m in _phi.scan_text(text, key) if m.kind in kinds]
    if not found:
        return text

    def word(m: re.Match[str]) -> str:
        hits = [p for p in _phi.scan_text(m.group(0), key) if p.kind in kinds]
        return mask(hits[0].kind) if hits else m.group(0)

    text = _WORD.sub(word, text)
    if any(m.kind in kinds for m in _phi.scan_text(text, key)):
        text = _GUARD_DIGITS.sub(mask(found[0].kind), text)
    return text
