"""reports.integrity: seal / check over a real JSON report tree, every kind of tampering named (issue 15 req 8)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from kubehipaa.reports import integrity
from kubehipaa.reports.json_report import render_json, report_dict
from tests.reports.fixtures import make_result


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Any]:
    """A report as a verifier reads it back: the JSON text, parsed."""
    result, config = make_result(tmp_path)
    return json.loads(render_json(result, config))


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _resealed(doc: dict[str, Any], key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    return json.loads(json.dumps(integrity.sealed(doc, key)))


def test_a_fresh_report_is_sealed_and_intact(tree: dict[str, Any]) -> None:
    block = tree["integrity"]
    assert list(tree)[-1] == "integrity"
    assert block["digest"] == integrity.content_digest(tree)
    assert set(block["sections"]) == set(tree) - {"integrity"}
    assert set(block["items"]["digests"]) == {f["fingerprint"] for f in tree["findings"]}
    res = integrity.check(tree)
    assert res.ok and res.status == "intact" and res.changes == [] and res.signature is None


def test_tampered_finding_value_is_named_by_fingerprint_and_resource(tree: dict[str, Any]) -> None:
    priv = next(f for f in tree["findings"] if f["checkId"] == "KH-TST-001")
    priv["evidence"][0]["value"] = False
    res = integrity.check(tree)
    assert not res.ok and res.status == "changed"
    assert res.changes == [f"finding {priv['fingerprint']} (KH-TST-001 Deployment/clinical/ehr-api) changed"]


def test_removed_findings_are_counted_and_listed(tree: dict[str, Any]) -> None:
    gone = [tree["findings"].pop(0)["fingerprint"], tree["findings"].pop(0)["fingerprint"]]
    res = integrity.check(tree)
    assert not res.ok
    assert res.changes == [f"2 findings removed: {', '.join(gone)}"]


def test_added_finding_is_named(tree: dict[str, Any]) -> None:
    extra = copy.deepcopy(tree["findings"][0])
    extra["fingerprint"] = "0" * 32
    tree["findings"].append(extra)
    res = integrity.check(tree)
    assert len(res.changes) == 1 and res.changes[0].startswith(f"1 finding added: {'0' * 32} (")


def test_edited_summary_is_a_changed_section(tree: dict[str, Any]) -> None:
    tree["summary"]["findings"] = 0
    tree["summary"]["bySeverity"]["critical"] = 0
    res = integrity.check(tree)
    assert not res.ok and res.changes == ["section summary changed"]


def test_sections_added_removed_and_reordered_findings(tree: dict[str, Any]) -> None:
    doc = copy.deepcopy(tree)
    del doc["warnings"]
    doc["note"] = "all good"
    assert integrity.check(doc).changes == ["section note added", "section warnings removed"]
    doc = copy.deepcopy(tree)
    doc["findings"].reverse()
    assert integrity.check(doc).changes == ["findings reordered"]


def test_metadata_edits_are_caught(tree: dict[str, Any]) -> None:
    tree["generatedAt"] = "2020-01-01T00:00:00Z"
    tree["tool"]["version"] = "9.9.9"
    assert integrity.check(tree).changes == ["section generatedAt changed", "section tool changed"]


def test_no_integrity_block_is_not_verified(tree: dict[str, Any]) -> None:
    del tree["integrity"]
    res = integrity.check(tree)
    assert not res.ok and res.status == "unsealed" and res.problems


def test_a_block_that_is_not_ours_is_malformed(tree: dict[str, Any]) -> None:
    tree["integrity"] = {"algorithm": "md5", "digest": "x"}
    assert integrity.check(tree).status == "malformed"
    tree["integrity"] = "sealed, trust me"
    assert not integrity.check(tree).ok


def test_signed_report_verifies_with_embedded_and_given_key(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    doc = _resealed(tree, key)
    sig = doc["integrity"]["signature"]
    assert sig["keyFingerprint"] == integrity.key_fingerprint(key.public_key())
    res = integrity.check(doc)
    assert res.ok and res.signature == "valid" and res.signer == sig["keyFingerprint"]
    assert integrity.check(doc, key.public_key()).ok


def test_wrong_public_key_fails(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    doc = _resealed(tree, key)
    other = Ed25519PrivateKey.generate().public_key()
    res = integrity.check(doc, other)
    assert not res.ok and res.status == "intact" and res.signature == "wrong-key"


def test_unsigned_report_with_public_key_fails(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    res = integrity.check(tree, key.public_key())
    assert res.status == "intact" and res.signature == "missing" and not res.ok


def test_swapped_signature_key_fails(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """Someone replaces the recorded public key (and its fingerprint) with theirs, keeping the signature."""
    doc = _resealed(tree, key)
    mallory = Ed25519PrivateKey.generate()
    raw = mallory.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    import base64

    doc["integrity"]["signature"]["publicKey"] = base64.b64encode(raw).decode()
    doc["integrity"]["signature"]["keyFingerprint"] = integrity.key_fingerprint(mallory.public_key())
    res = integrity.check(doc)
    assert not res.ok and res.signature == "invalid"
    # and with only the key swapped (fingerprint left): the record contradicts itself
    doc = _resealed(tree, key)
    doc["integrity"]["signature"]["publicKey"] = base64.b64encode(raw).decode()
    assert integrity.check(doc).signature == "invalid"


def test_resealed_by_someone_else_passes_only_without_the_public_key(tree: dict[str, Any],
                                                                    key: Ed25519PrivateKey) -> None:
    """Tamper, then re-seal with another key: self-consistent, so only --public-key catches it."""
    tree["summary"]["findings"] = 0
    forged = _resealed(tree, Ed25519PrivateKey.generate())
    assert integrity.check(forged).ok  # the signer fingerprint differs, which is what the CLI prints
    assert integrity.check(forged, key.public_key()).signature == "wrong-key"


def test_signed_block_edits_break_the_signature(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    """Recomputing the digest after an edit (no private key) leaves the signature over the old block."""
    doc = _resealed(tree, key)
    doc["summary"]["findings"] = 0
    sig = doc["integrity"]["signature"]
    doc["integrity"] = {**integrity.seal(doc), "signature": sig}
    res = integrity.check(doc, key.public_key())
    assert res.status == "intact" and res.signature == "invalid" and not res.ok


def test_garbage_signature_is_invalid_not_a_crash(tree: dict[str, Any], key: Ed25519PrivateKey) -> None:
    doc = _resealed(tree, key)
    for bad in ({"algorithm": "ed25519", "publicKey": "!!", "value": "x"}, {"algorithm": "rsa"}, [], "x"):
        doc["integrity"]["signature"] = bad
        assert integrity.check(doc).signature == "invalid"


def test_seal_hashes_what_a_reader_parses(tmp_path: Path) -> None:
    """Dates and tuples in the tree serialise as strings and lists: the digest is over those."""
    import datetime as dt

    tree = {"tool": {"name": "kubehipaa"}, "when": dt.date(2026, 1, 2), "pair": (1, 2)}
    block = integrity.seal(tree)
    read_back = json.loads(json.dumps({**tree, "integrity": block}, default=str))
    assert integrity.check(read_back).ok


def test_duplicate_fingerprints_are_told_apart(tree: dict[str, Any]) -> None:
    twin = copy.deepcopy(tree["findings"][0])
    twin["message"] = "second"
    tree["findings"].append(twin)
    doc = _resealed(tree)
    fp = twin["fingerprint"]
    assert {fp, f"{fp}#2"} <= set(doc["integrity"]["items"]["digests"])
    doc["findings"][-1]["message"] = "edited"
    assert integrity.check(doc).changes == [f"finding {fp}#2{integrity._label(twin)} changed"]


def test_report_dict_is_unsealed_and_render_json_seals_it(tmp_path: Path) -> None:
    result, config = make_result(tmp_path)
    assert "integrity" not in report_dict(result, config)
    assert "integrity" in json.loads(render_json(result, config))


def test_key_loading_errors_are_one_line(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    ec = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(integrity.IntegrityError, match="must be Ed25519"):
        integrity.load_private_key(ec)
    with pytest.raises(integrity.IntegrityError, match="not a PEM"):
        integrity.load_private_key(b"hello")
    with pytest.raises(integrity.IntegrityError, match="not a PEM"):
        integrity.load_public_key(b"hello")


def test_embed_script_cannot_be_closed_by_a_value() -> None:
    from kubehipaa.sources.report_file import parse_report

    tree = _resealed({"tool": {"name": "kubehipaa"}, "x": "</script><script>alert(1)</script>&"})
    script = integrity.embed_script(tree)
    assert script.count("</script") == 1
    page = f"<!doctype html><html><body><h1>r</h1>{script}</body></html>".encode()
    got = parse_report(page, "r.html")
    assert got.kind == "html" and got.tree == tree and integrity.check(got.tree).ok


_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | \
    st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                                        max_size=4), max_leaves=20)
_finding = st.fixed_dictionaries({"fingerprint": st.sampled_from(["a" * 32, "b" * 32]), "v": _json})


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=5), st.lists(_finding, max_size=4))
def test_one_pass_digest_is_the_canonical_digest(sections: dict[str, Any], findings: list[dict[str, Any]]) -> None:
    """seal's one-pass digest equals content_digest of the tree a verifier parses (any keys, any unicode)."""
    tree = {**sections, "findings": findings}
    tree.pop("integrity", None)
    parsed = json.loads(json.dumps(tree))
    block = integrity.seal(tree)
    assert block["digest"] == integrity.content_digest(parsed)
    assert integrity.check({**parsed, "integrity": block}).ok


def test_non_string_keys_hash_as_a_reader_parses_them() -> None:
    import datetime as dt

    tree = {"tool": {"name": "kubehipaa"}, "evidence": {1: "one", "b": dt.date(2026, 1, 2), "t": (1, 2)}}
    block = integrity.seal(tree)
    parsed = json.loads(json.dumps(tree, default=str))
    assert block["digest"] == integrity.content_digest(parsed)
    assert integrity.check({**parsed, "integrity": block}).ok


def test_mass_changes_are_counted_not_listed(tree: dict[str, Any]) -> None:
    template = tree["findings"][0]
    many = []
    for i in range(200):
        f = copy.deepcopy(template)
        f["fingerprint"] = f"{i:032x}"
        many.append(f)
    doc = _resealed({**tree, "findings": many})
    for f in doc["findings"][:60]:
        f["message"] = "x"
    doc["findings"] = doc["findings"][:130]
    changes = integrity.check(doc).changes
    assert len(changes) == integrity.SHOWN + 2
    assert changes[integrity.SHOWN] == "... and 10 more findings changed"
    assert changes[-1].startswith("70 findings removed: ") and changes[-1].endswith(", ... and 20 more")
    assert changes[-1].count(",") == integrity.SHOWN
