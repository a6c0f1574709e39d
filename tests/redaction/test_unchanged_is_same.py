"""Unchanged text comes back as the caller's own object, so `is` means "nothing was masked".

`checks.registry.redact_ref` keeps an object's ResourceRef when its name, namespace and file come back as
the same objects. The cache of short strings used to answer with the first equal string it had seen, so from
the second object in a namespace on every ref looked changed and was copied (43,000 copies at 10,000
workloads, and the JSON report then converted each copy again)."""

from __future__ import annotations

from kubehipaa.checks.registry import redact_ref
from kubehipaa.model import ResourceRef
from kubehipaa.redaction import redact_text


def _fresh(text: str) -> str:
    """An equal string that is a different object (as each parsed document gives)."""
    return "".join(list(text))


def test_an_unchanged_string_is_the_callers_object() -> None:
    for text in ("team-01", "svc-00001", "/srv/manifests/team-01/svc-00001.yaml", "plain words"):
        first, second = _fresh(text), _fresh(text)
        assert first is not second
        assert redact_text(first) is first
        assert redact_text(second) is second  # not the cached `first`


def test_a_masked_string_is_still_masked_from_the_cache() -> None:
    secret = "password=hunter2hunter2"
    assert redact_text(_fresh(secret)) != secret
    assert redact_text(_fresh(secret)) == redact_text(_fresh(secret)) != secret


def test_redact_ref_keeps_an_unchanged_ref() -> None:
    refs = [ResourceRef("v1", "ConfigMap", _fresh("team-01"), f"cm-{i}", _fresh("/srv/team-01/a.yaml"), i)
            for i in range(3)]
    assert all(redact_ref(ref) is ref for ref in refs)
