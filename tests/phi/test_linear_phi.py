"""The PHI detector and its walk take time linear in the input, and bounding the evidence keeps the verdict.

Each growth test runs a case of `bench/linear_bench.py` at n and 8n (same number of calls each, best of
three) and asserts the time ratio stays far below quadratic: linear is ~8, quadratic ~64. The slack (24)
absorbs a loaded machine; before the fix these cases were quadratic or worse (40,000 SSNs in one value
took minutes, a shared subtree made the walk exponential, deep nesting raised RecursionError), so each
test failed or hit its timeout.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bench.linear_bench import CASES, Case, check_linear, shared_levels, ssns
from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.checks.secrets import _url_credentials, relevant_phi
from kubehipaa.engines.phi import (
    MAX_PER_FIELD,
    PhiMatch,
    PhiScan,
    find_spans,
    join_path,
    redact,
    scan_text,
    scan_value,
)

LINEAR_SLACK = 24.0
"""Allowed time ratio for an 8x larger input: 8 is linear, 64 quadratic."""


def case(prefix: str) -> Case:
    return next(c for c in CASES if c.name.startswith(prefix))


def assert_linear(name: str, n: int) -> None:
    failure = check_linear(case(name), n, LINEAR_SLACK)
    assert failure is None, failure


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("phi: n SSNs in one ConfigMap value", 1_000),
        ("phi: ConfigMap data sharing subtrees", 60),
        ("phi: SSN n mappings deep", 1_500),
        ("phi regex: e-mail local-part run", 1_000),
        ("phi regex: DOB label + n blanks", 1_000),
        ("credential regex: scheme run", 1_000),
    ],
)
def test_time_grows_linearly(name: str, n: int) -> None:
    assert_linear(name, n)


# --- evidence is bounded, the verdict is not --------------------------------------------------------------


def test_many_matches_are_counted_but_few_kept() -> None:
    text = ssns(40_000) + "\ncall (555) 234-5678"
    scan = PhiScan()
    scan.add_text(text, "rows", path="data.rows")
    assert scan.total == 40_001
    assert scan.counts["ssn"] == 40_000
    assert scan.kinds == {"ssn", "phone"}  # the phone number after 40,000 SSNs still counts
    assert [m.kind for m in scan.matches].count("ssn") == MAX_PER_FIELD
    assert scan.truncated


def test_relevant_phi_is_the_same_with_bounded_evidence() -> None:
    """The checks decide per field from the kinds present: the bounded scan keeps every kind of every field."""
    doc = {
        "a": ssns(50) + " jane@example.org",
        "b": " ".join(["(555) 234-5678"] * 20),  # contact kind alone: not reported
        "patient_contact": "(555) 234-5678",  # contact kind under a patient key: reported
        "c": {"d": [ssns(10), "MRN 00123456 " * 10]},
    }
    full = scan_value(doc, "data")
    bounded = PhiScan()
    bounded.add_value(doc, "data")
    assert bounded.total == len(full)
    assert len(bounded.matches) < len(full)
    want = {p: sorted({m.kind for m in ms}) for p, ms in relevant_phi(full).items()}
    got = {p: sorted({m.kind for m in ms}) for p, ms in relevant_phi(bounded.matches).items()}
    assert got == want
    assert set(want) == {"data.a", "data.patient_contact", "data.c.d[0]", "data.c.d[1]"}


def test_configmap_check_with_40000_ssns_reports_one_bounded_finding() -> None:
    from kubehipaa.checks.secrets import phi_in_configmap

    inv = case("phi: n SSNs").make(40_000)
    hits = list(phi_in_configmap(inv))
    assert len(hits) == 1
    assert "ssn" in hits[0].message
    assert hits[0].sensitive and hits[0].value == ["###-##-####"]


# --- each container once, any depth ------------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_shared_subtrees_are_walked_once() -> None:
    """A billion-laughs structure (what YAML aliases build): 10 levels of 10 references, 10^10 leaves."""
    node: Any = ["123-45-6789", "MRN 00123456"]
    for _ in range(10):
        node = [node] * 10
    found = scan_value({"data": node})
    assert sorted(m.kind for m in found) == ["mrn", "ssn"]
    assert found[0].path == "data" + "[0]" * 10 + "[0]"


@pytest.mark.timeout(20)
def test_configmap_check_on_shared_subtrees_finishes() -> None:
    from kubehipaa.checks.secrets import phi_in_configmap

    inv = case("phi: ConfigMap data sharing").make(64)  # 2^64 paths to the SSN
    hits = list(phi_in_configmap(inv))
    assert [h.path for h in hits] == ["data.rows" + "[0]" * 65]


def test_long_shared_string_is_scanned_once_but_reported_per_field() -> None:
    text = ssns(2_000)
    scan = PhiScan()
    scan.add_value({"a": text, "b": [text, text]}, "data")
    assert scan.total == 3 * 2_000  # counted at every use
    assert {m.path for m in scan.matches} == {"data.a", "data.b[0]", "data.b[1]"}


def test_temporary_containers_are_not_mistaken_for_seen_ones() -> None:
    """Ids are reused once an object is freed: a scan must not skip a new dict that got an old dict's id."""
    scan = PhiScan()
    for i in range(200):
        scan.add_value({"ssn": "123-45-6789"}, f"obj{i}")
    assert scan.total == 200
    long_scan = PhiScan()
    for i in range(50):
        long_scan.add_text(f"{i:04d} " + ssns(60), "rows", path=f"p{i}")  # distinct long temporaries
    assert long_scan.total == 50 * 60


@pytest.mark.timeout(20)
def test_deep_nesting_is_no_recursion_error() -> None:
    node: Any = {"ssn": "123-45-6789"}
    for i in range(10_000):  # ten times Python's recursion limit
        node = [node] if i % 2 else {"next": node}
    found = scan_value({"deep": node}, "data")
    assert [m.kind for m in found] == ["ssn"]
    assert found[0].path == "data.deep" + "[0].next" * 5_000 + ".ssn"


# --- same answers as before --------------------------------------------------------------------------------


def _reference_walk(node: Any, path: str, key: str | None, out: list[PhiMatch]) -> None:
    """The recursive walk `scan_value` used to be (no sharing, shallow input): order and paths to keep."""
    if isinstance(node, dict):
        for ck, cv in node.items():
            sk = str(ck)
            if isinstance(cv, str):
                out.extend(scan_text(cv, sk, path=join_path(path, sk)))
            elif isinstance(cv, dict | list | int):
                _reference_walk(cv, join_path(path, sk), sk, out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, str):
                out.extend(scan_text(item, key, path=f"{path}[{i}]"))
            elif isinstance(item, dict | list | int):
                _reference_walk(item, f"{path}[{i}]", key, out)
    elif isinstance(node, str):
        out.extend(scan_text(node, key, path=path))
    elif isinstance(node, int) and not isinstance(node, bool):
        out.extend(scan_text(str(node), key, path=path))


PHI_VALUES = st.sampled_from(["123-45-6789", "MRN 00123456", "1234567893", "x", "jane@example.org",
                              "(555) 234-5678", "04/12/1961", "123456789", 1234567893, True, 3.5, None])
KEYS = st.sampled_from(["ssn", "dob", "a", "b c", "patient_id", "x.y", "0", "createdAt"])
DOCS = st.recursive(PHI_VALUES, lambda ch: st.lists(ch, max_size=4) | st.dictionaries(KEYS, ch, max_size=4),
                    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(DOCS, st.sampled_from(["", "data", "spec.x"]), st.sampled_from([None, "ssn", "dob"]))
def test_scan_value_matches_the_recursive_walk(doc: Any, path: str, key: str | None) -> None:
    expected: list[PhiMatch] = []
    _reference_walk(doc, path, key, expected)
    assert scan_value(doc, path, key=key) == expected


OLD_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
OLD_DOB = re.compile(
    r"(?i)\b(?:dob|d\.o\.b\.|date\s+of\s+birth|birth\s*date|birth_date|birthdate)[\"']?\s*[:=]?\s*[\"']?"
    r"((?:19|20)\d\d-\d\d-\d\d|\d{1,2}[/-]\d{1,2}[/-](?:19|20)\d\d)"
)
OLD_URL_CREDS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://([^/\s:@]*):([^@\s/]+)@")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1.-_%+@ éX", max_size=24))
def test_email_spans_equal_the_single_regex(text: str) -> None:
    from kubehipaa.engines.phi import _emails

    assert list(_emails(text)) == [m.span() for m in OLD_EMAIL.finditer(text)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="dob:= \"'\t19801-2/", max_size=30))
def test_dob_regex_finds_what_it_found(text: str) -> None:
    from kubehipaa.engines.phi import _DOB_INLINE

    assert [m.span(1) for m in _DOB_INLINE.finditer(text)] == [m.span(1) for m in OLD_DOB.finditer(text)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1.+-:/@ x*<>", max_size=24))
def test_url_credentials_equal_the_single_regex(text: str) -> None:
    from kubehipaa.checks.secrets import _PLACEHOLDER

    expected = any(not _PLACEHOLDER.match(m.group(2)) for m in OLD_URL_CREDS.finditer(text))
    assert _url_credentials(text) is expected


def test_url_credentials_examples() -> None:
    assert _url_credentials("postgres://app:s3cret@db:5432/x")
    assert _url_credentials("see http://a:b@h and x")
    assert not _url_credentials("postgres://app:${PASSWORD}@db/x")
    assert not _url_credentials("https://example.com/a:b@c")  # '/' before the '@': a path, not userinfo


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["123-45-6789", " ", "ssn 219099999", "a@b.co", "(555) 234-5678", "DOB: 1/2/1961",
                                 "MSH|^~\\&|", "\"resourceType\": \"Patient\"", "1234567893", "x"]), max_size=12),
       st.sampled_from([None, "ssn", "dob", "mrn"]))
def test_find_spans_are_what_scan_text_reports(parts: list[str], key: str | None) -> None:
    text = "".join(parts)
    spans = find_spans(text, key)
    assert [PhiMatch(k, redact(text[s:e]), "p") for k, s, e in spans] == scan_text(text, key, path="p")
    taken = [(s, e) for k, s, e in spans if k not in ("hl7", "fhir")]
    assert all(e1 <= s2 or e2 <= s1 for i, (s1, e1) in enumerate(taken) for s2, e2 in taken[i + 1 :])


def test_shared_levels_fixture_really_shares() -> None:
    rows = shared_levels(3)["rows"]
    assert rows[0] is rows[1] and rows[0][0] is rows[1][1]
