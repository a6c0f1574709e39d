"""PHI detectors: what they find, what they must not find, and that raw values never come back out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.engines.phi import (
    STRONG_KINDS,
    PhiMatch,
    is_valid_npi,
    is_valid_ssn,
    redact,
    scan_text,
    scan_value,
)


def _luhn_npi(first9: str) -> str:
    """Independent check-digit computation (the textbook Luhn with the 80840 prefix)."""
    digits = [int(c) for c in "80840" + first9]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return first9 + str((10 - total % 10) % 10)


npis = st.builds(lambda a, b: _luhn_npi(a + b), st.sampled_from("12"), st.text("0123456789", min_size=8, max_size=8))


def kinds(text: str, key: str | None = None) -> list[str]:
    return [m.kind for m in scan_text(text, key)]


def test_cms_example_npi() -> None:
    assert is_valid_npi("1234567893")
    assert not is_valid_npi("1234567890")
    assert not is_valid_npi("3234567893")  # NPIs start with 1 or 2


@given(npis)
def test_valid_npi_always_detected(npi: str) -> None:
    assert is_valid_npi(npi)
    assert "npi" in kinds(npi)
    assert "npi" in kinds(f"provider npi={npi};")


@given(npis, st.integers(0, 9), st.integers(1, 9))
def test_one_digit_change_is_not_an_npi(npi: str, pos: int, delta: int) -> None:
    changed = npi[:pos] + str((int(npi[pos]) + delta) % 10) + npi[pos + 1 :]
    assert not is_valid_npi(changed)
    assert "npi" not in kinds(changed)


@pytest.mark.parametrize(
    ("text", "key", "kind"),
    [
        ("123-45-6789", None, "ssn"),
        ("patient SSN: 123456789", None, "ssn"),
        ("123456789", "PATIENT_SSN", "ssn"),
        ("MRN: 00123456", None, "mrn"),
        ("A1234567", "mrn", "mrn"),
        ("00991234", "patientId", "mrn"),
        ("DOB: 01/02/1980", None, "dob"),
        ("1980-01-02", "birthDate", "dob"),
        ("dob=1975-12-31", None, "dob"),
        ("(555) 234-5678", None, "phone"),
        ("jane.doe@example.org", None, "email"),
        ("MSH|^~\\&|EPIC|CLINIC|", None, "hl7"),
        ('{"resourceType": "Patient", "id": "x"}', None, "fhir"),
        ("resourceType: Observation", None, "fhir"),
    ],
)
def test_detects(text: str, key: str | None, kind: str) -> None:
    assert kind in kinds(text, key)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("000-12-3456", None),  # area 000 never issued
        ("666-12-3456", None),
        ("912-12-3456", None),
        ("123-00-4567", None),
        ("123-45-0000", None),
        ("123456789", None),  # a bare 9-digit number is not an SSN without a label
        ("2024-01-02", None),  # a date without a birth label is not a DOB
        ("2024-01-02", "createdAt"),
        ("1980-02-30", "dob"),  # not a calendar date
        ("1700000000", "creationTimestamp"),  # epoch seconds, not an NPI
        ("postgres://db:5432/app", None),
        ("replicas: 3", None),
        ("image: nginx:1.27.0", None),
        ("", None),
    ],
)
def test_does_not_detect(text: str, key: str | None) -> None:
    assert [k for k in kinds(text, key) if k in STRONG_KINDS] == []


def test_ssn_rules() -> None:
    assert is_valid_ssn("123", "45", "6789")
    assert not is_valid_ssn("000", "45", "6789")
    assert not is_valid_ssn("666", "45", "6789")
    assert not is_valid_ssn("900", "45", "6789")


def test_overlap_keeps_most_specific_kind() -> None:
    # the dashed SSN must not also be reported as a phone number
    assert kinds("ssn 123-45-6789") == ["ssn"]


def test_scan_value_walks_and_names_paths() -> None:
    doc = {
        "data": {"patient.json": '{"resourceType": "Patient"}', "note": "nothing here"},
        "env": [{"name": "PROVIDER_NPI", "value": 1234567893}, {"name": "X", "value": "ok"}],
        "metadata": {"annotations": {"example.com/dob": "1970-01-01"}},
        "flag": True,
    }
    found = scan_value(doc)
    assert PhiMatch("fhir", redact('"resourceType": "Patient'), 'data["patient.json"]') in found
    assert any(m.kind == "npi" and m.path == "env[0].value" for m in found)
    assert any(m.kind == "dob" and m.path == 'metadata.annotations["example.com/dob"]' for m in found)
    assert len(found) == 3


def test_scan_value_prefix_path() -> None:
    found = scan_value({"SSN": "123-45-6789"}, "spec.template.metadata.annotations")
    assert [m.path for m in found] == ["spec.template.metadata.annotations.SSN"]


@given(st.text(min_size=1).filter(lambda s: any(c.isalnum() for c in s)))
def test_redact_never_contains_raw(value: str) -> None:
    out = redact(value)
    assert value not in out
    assert not any(c.isalnum() for c in out)


@settings(max_examples=200)
@given(npis, st.text("0123456789", min_size=4, max_size=4), st.sampled_from(["ssn ", "npi ", "MRN ", ""]))
def test_matches_never_echo_raw(npi: str, serial: str, label: str) -> None:
    ssn = f"123-45-{serial}"
    text = f"{label}{npi} and {ssn} DOB: 04/05/1961"
    for m in scan_text(text):
        for raw in (npi, ssn, "04/05/1961"):
            assert raw not in m.redacted
