"""`TreeRedactor` (the memoized `redact_tree` the archive ingests with) is `redact_tree`: same value, same JSON
bytes (key order included), also on a second pass over its own output, on random JSON trees full of PHI- and credential-shaped strings, with
a memo shared across examples and limits small enough that it is emptied and refilled while the test runs.

Also its one shortcut: a unique timestamp or UUID is returned without `redact_text`, which must therefore
return it unchanged; checked here on generated shapes, digit-heavy ones included.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubehipaa.redaction import redact_text, redact_tree
from kubehipaa.redaction.text import _NINE_DIGITS, _UNCHANGED, TreeRedactor

from .secrets import aws_keys, github_tokens, jwts, passwords

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SHAPED = st.sampled_from([
    "123-45-6789", "ssn 123456789", "patient_id: 00123456", "dob 1980-02-29", "DOB: 02/29/1980", "NPI 1234567893",
    "MRN-0012345", "MSH|^~\\&|EHR|", '{"resourceType":"Patient"}', "password=hunter2", "DB_PASSWORD='x y'",
    "Authorization: Bearer abcDEF1234567890xyz", "Basic dXNlcjpwYXNz", "https://u:p4ss@db.local/x",
    "/api/v1/pods?token=abc&ssn=123-45-6789", "jane@hospital.org", "+1 (555) 234-5678", "-----BEGIN RSA PRIVATE KEY-----x",
    "2026-11-27T10:00:00.123456Z", "2026-11-27T10:00:00.123456789Z", "2026-11-27T10:00:00+01:00",
    "9531985d-5d9d-49f8-9818-e811892f902b", "00000000-1234-5678-0000-123456789012", "", "get", "system:masters",
    "kubectl.kubernetes.io/last-applied-configuration", "<redacted:ssn>", "identified by 'pw'",
])
STRINGS = st.one_of(SHAPED, st.text(max_size=40), passwords(), jwts(), github_tokens(), aws_keys(),
                    st.builds(lambda a, b: f"{a} {b}", SHAPED, SHAPED),
                    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["token", "ssn", "dob", "key", "name"]),
                              passwords()))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), STRINGS)
JSON = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                    st.dictionaries(STRINGS, kids, max_size=5)), max_leaves=40)

SHARED = TreeRedactor(max_node=96, max_strings=64, max_tree_bytes=2048)
"""Shared by every example: hits come from earlier examples, and the tiny limits make it clear its memos."""


def _same(a: Any, b: Any) -> None:
    assert a == b
    assert orjson.dumps(a) == orjson.dumps(b)


@SETTINGS
@given(value=JSON)
def test_equal_to_redact_tree_on_json_trees(value: Any) -> None:
    want = redact_tree(value)
    for redactor in (SHARED, TreeRedactor()):
        _same(redactor.tree(value), want)
        _same(redactor.tree(value), want)  # second time: from the memo
        _same(redactor.tree(want), redact_tree(want))  # a second pass (the exit pass) agrees too
        if isinstance(value, dict):
            drop = next(iter(value), None)
            _same(redactor.mapping(value, drop=drop), redact_tree({k: v for k, v in value.items() if k != drop}))


@SETTINGS
@given(value=JSON)
def test_contact_variant_equal_to_redact_tree(value: Any) -> None:
    _same(TreeRedactor(contact=True, max_node=64).tree(value), redact_tree(value, contact=True))


def test_nodes_json_cannot_write_as_themselves_are_walked_like_redact_tree() -> None:
    class Sub(str):
        pass

    value = {"a": ("123-45-6789", 2**70), 7: "password=x", "s": Sub("ssn 123456789"), "d": {"k": Sub("dob 1980-02-29")},
             "n": [{"patient_id": "00123456"}, (1, "2")]}
    redactor = TreeRedactor()
    for _ in range(2):
        assert redactor.tree(value) == redact_tree(value)
        assert redactor.tree([value, value]) == redact_tree([value, value])


def test_the_memo_is_bounded() -> None:
    redactor = TreeRedactor(max_strings=100, max_tree_bytes=10_000)
    for i in range(5000):
        redactor.tree({"user": {"username": f"u{i}", "groups": [f"g{i}"]}, "n": f"name-{i}"})
        assert len(redactor._strings) <= 100 and redactor._tree_bytes <= 10_000


TIMESTAMPS = st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})\Z")
UUIDS = st.one_of(st.uuids().map(str),
                  st.from_regex(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"),
                  st.from_regex(r"\A[0-9]{8}-[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{12}\Z"))


@settings(max_examples=1500, deadline=None)
@given(text=st.one_of(TIMESTAMPS, UUIDS))
def test_the_unchanged_shapes_are_unchanged_by_redact_text(text: str) -> None:
    if _UNCHANGED.fullmatch(text) is not None and _NINE_DIGITS.search(text) is None:
        assert redact_text(text) == text
        assert TreeRedactor().text(text) == text
    assert TreeRedactor().text(text) == redact_text(text)  # either way


def test_the_shortcut_applies_where_the_archive_needs_it() -> None:
    for text in ("2026-11-01T00:00:00.001526Z", "5d0c1f7a-0b1e-4c2a-9f3e-2a7b4c8d9e0f", "9531985d-5d9d-49f8-9818-e811892f902b"):
        assert _UNCHANGED.fullmatch(text) and not _NINE_DIGITS.search(text)
    assert re.search(_NINE_DIGITS, "00000000-1234-5678-0000-123456789012")  # could be an SSN: full redaction
