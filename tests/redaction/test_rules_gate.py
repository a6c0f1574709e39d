"""`redact_text` (without `contact`) returns ASCII text untouched, without running the rules, when
`_rules_may_apply` says no rule can start (the shortcut every finding message takes, cached or not). The shortcut must never skip a text the full pass would
change: one example per condition it tests, the non-ASCII texts it must leave to the full pass, and generated
text built from the pieces the rules look for, compared with the full pass."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.redaction import redact_text
from kubehipaa.redaction.identifiers import LABEL_WORDS
from kubehipaa.redaction.text import _redact, _rules_may_apply

CHANGED = [
    "/v1/items?q",  # query string
    "postgres://admin:hunter2@db/x",  # URL password
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END RSA PRIVATE KEY-----",
    "MSH|^~\\&|EPIC|X",  # HL7
    '{"resourceType": "Patient"}',  # FHIR
    "x eyJhbGciOiJub25l.eyJzdWIiOiIxIn0.abc",  # JWT
    "AKIAIOSFODNN7EXAMPLE",  # AWS
    "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",  # token prefixes with `_`
    "glpat-abcdefghijklmnopqrstu",
    "xoxb-abcdefghijkl",
    "hvs.abcdefghijklmnopqrstuv",
    "Authorization: Bearer abcdefghijklmnop1q",
    "Cookie: a=b",
    "x-vault-token: abc",
    "bearer AbCdEfGhIjKlMnOpQr",  # no `:` or `=`
    "Basic dXNlcjpwYXNz",
    "pwd=hunter2",
    "apikey: xyz",
    "PASSWORD 'hunter2'",  # SQL, no `:` or `=`
    "IDENTIFIED BY 'hunter2'",
    "id 1245319599",  # NPI: ten digits, no label
    "x 078-05-1120",  # dashed SSN, no label
    "ssn 078051120",
    "mrn 12345",  # labels: four digits or more, no long run
    "MRN: 1234567",
    "medical record 123456",
    "patient id 123456",
    "chart no 123456",
    "dob 1990-05-17",
    "birth 1990-05-17",
    "d.o.b 05/17/1990",
]


@pytest.mark.parametrize("text", CHANGED)
def test_every_condition_lets_its_rule_run(text: str) -> None:
    assert _redact(text, False, None) != text  # the example is one the rules change...
    assert _rules_may_apply(text)  # ...so the shortcut must not skip it
    assert redact_text(text) == _redact(text, False, None)


@pytest.mark.parametrize("word", LABEL_WORDS)
def test_every_label_word_with_four_digits_lets_the_phi_rules_run(word: str) -> None:
    """`identifiers._labels` turns on the PHI rules for four digits in a row next to a label; the shortcut
    lists the labels' words itself."""
    for text in (f"{word} 1234", f"{word.upper()}=1990-05-17", f"x-1234{word}"):
        assert _rules_may_apply(text), text


@pytest.mark.parametrize("text", ["x \uff10\uff17\uff18-\uff10\uff15-\uff11\uff11\uff12\uff10", "mrn \uff11\uff12\uff13\uff14\uff15",
                                  "\u212aey=x y", "p\u0430ssword 'x' \u00e9"])
def test_non_ascii_text_takes_the_full_pass(text: str) -> None:
    """Unicode digits are digits to the rules (`\\d`), and `lower()` of a non-ASCII character can make an ASCII
    one (KELVIN SIGN -> `k`): the shortcut's byte tests would miss both, so it is not used there."""
    assert redact_text(text) == _redact(text, False, None)


@pytest.mark.parametrize("text", CHANGED)
def test_long_text_is_gated_the_same(text: str) -> None:
    """Text past the cache's length limit takes the shortcut without the cache."""
    long = "spec.template " * 30 + text
    assert redact_text(long) == _redact(long, False, None) != long


@pytest.mark.parametrize("text", ["call 415-555-2671 today", "mail jane.doe@example.org", "x" * 300 + " 415-555-2671"])
def test_contact_text_is_not_gated_by_the_shortcut(text: str) -> None:
    """Phone numbers and e-mail addresses are masked only with `contact`: the shortcut knows nothing of them."""
    assert not _rules_may_apply(text)
    assert redact_text(text, contact=True) == _redact(text, True, None) != text


def test_object_names_and_paths_skip_the_rules() -> None:
    """What the shortcut is for: the messages and paths of findings on numbered objects."""
    for text in ("svc-00000", "/tmp/c/team-00/svc-01234.yaml", "container app uses registry.example.org/svc-00000:latest",
                 "spec.template.spec.containers[0].image", "Deployment team-03/wl-01234 has no NetworkPolicy"):
        assert not _rules_may_apply(text), text
        assert redact_text(text) is text


_PIECES = (
    "?", "/", "://", ":", "=", ":=", "@", "|", "MSH|", "-----BEGIN", "resourceType", "eyJ", "A", "AKIA", "AIza",
    "_", "ghp_", "sk_live_", "npm_", "glpat-", "xox", "xoxb-", "hv", "hvs.", "Bearer ", "basic ", "Basic ",
    "password", "Password ", "identified by ", "'", '"', "key", "KEY", "api_key", "token", "-token", "secret",
    "cookie", "Authorization", "auth", "pw", "pass", "sig", "cred", "session", "ssn", "SSN", "social security ",
    "mrn", "MRN", "record", "medical record ", "patient", "patient_id", "chart", "dob", "DOB", "birth", "d.o.b",
    "-", ".", " ", "\n", "\t", "svc-", "team-", "app", "latest", "x", "Z", "T", "1", "12", "123", "1234", "12345",
    "078", "05", "1120", "078051120", "1245319599", "1990", "1990-05-17", "05/17/1990", "2024", "00000", "99",
    "dXNlcjpwYXNz", "AbCdEfGhIjKlMnOpQr", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRST", "hunter2",
)


def _generated(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 9)))


def test_the_shortcut_agrees_with_the_full_pass_on_generated_text() -> None:
    rng = random.Random(19)
    skipped = changed = 0
    for _ in range(60_000):
        text = _generated(rng)
        full = _redact(text, False, None)
        if full != text:
            changed += 1
            assert _rules_may_apply(text), text
        if not _rules_may_apply(text):
            skipped += 1
            assert redact_text(text) is text
    assert skipped > 5_000 and changed > 2_000  # both sides of the shortcut were exercised


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.text(alphabet=st.characters(max_codepoint=127), max_size=6),
                min_size=1, max_size=10))
def test_the_shortcut_agrees_with_the_full_pass_on_any_ascii_text(parts: list[str]) -> None:
    text = "".join(parts)
    if _redact(text, False, None) != text:
        assert _rules_may_apply(text), text
