"""A digest is not a patient: digit runs inside hex fingerprints, SHA-256s and UUIDs are left intact, as nine
digits inside an identifier are not an SSN; a labelled or free-standing NPI is still masked."""

from __future__ import annotations

import hashlib

from kubehipaa.engines.phi import scan_text
from kubehipaa.redaction import redact_text

NPI = "1234567893"  # passes the NPI Luhn check


def test_npi_shaped_runs_inside_hex_digests_stay_intact() -> None:
    for digest in (f"ab{NPI}cd" + "0" * 18, f"{NPI}ab" + "f" * 52, f"0f{NPI}" + "e" * 52,
                   f"5f0c2e1a-{NPI[:4]}-4{NPI[4:7]}-8{NPI[7:]}-ab{NPI}"):
        assert redact_text(digest) == digest, digest
        assert not [m for m in scan_text(digest) if m.kind == "npi"]
    # real digests: none of 2,000 SHA-256s is altered
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    assert [redact_text(d) for d in digests] == digests


def test_a_free_standing_or_labelled_npi_is_still_masked() -> None:
    for text in (f"NPI {NPI}", f"npi={NPI}", f"npi:{NPI},", f"provider {NPI} signed"):
        assert NPI not in redact_text(text), text
        assert [m.kind for m in scan_text(text)].count("npi") == 1, text
