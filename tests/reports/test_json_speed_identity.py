"""The JSON report as `render_json_bytes` makes it (one streamed pass, fingerprints made per resource) is the
report the plain algorithm makes, byte for byte: same content, same integrity block, same per-finding digests,
same signature.

`reference_render` is that plain algorithm, written from the integrity block's definition (one canonical dump
per digest, nothing shared, one process): kept here so the fast path is always compared with an
independent one. Ed25519 signatures are deterministic (RFC 8032),
so a signed report is comparable byte for byte too.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kubehipaa.checks.registry import all_checks
from kubehipaa.config import Config, load_config
from kubehipaa.inventory import Inventory
from kubehipaa.model import Evidence, Finding, ResourceRef, Severity
from kubehipaa.pipelines.scan import ScanResult, run_scan
from kubehipaa.reports import integrity
from kubehipaa.reports.json_report import render_json_bytes, report_dict
from kubehipaa.sources.files import load_paths
from tests.conftest import ROOT

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)


def reference_seal(tree: dict[str, Any], sign_key: Ed25519PrivateKey | None) -> dict[str, Any]:
    """The integrity block by its definition: each digest from its own canonical dump."""
    content = {k: v for k, v in tree.items() if k != "integrity"}
    block: dict[str, Any] = {
        "algorithm": "sha256",
        "canonicalization": "kubehipaa-json-c14n-1",
        "digest": hashlib.sha256(_canon(content)).hexdigest(),
        "sections": {k: hashlib.sha256(_canon(content[k])).hexdigest() for k in sorted(content)},
    }
    items = content.get("findings")
    if isinstance(items, list) and all(isinstance(i, dict) and isinstance(i.get("fingerprint"), str) for i in items):
        seen: dict[str, int] = {}
        digests = {}
        for item in items:
            seen[item["fingerprint"]] = n = seen.get(item["fingerprint"], 0) + 1
            key = item["fingerprint"] if n == 1 else f"{item['fingerprint']}#{n}"
            digests[key] = hashlib.sha256(_canon(item)).hexdigest()[:32]
        block["items"] = {"section": "findings", "key": "fingerprint", "digests": digests}
    if sign_key is not None:
        public = sign_key.public_key()
        unsigned = orjson.dumps(block, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        block["signature"] = {
            "algorithm": "ed25519",
            "publicKey": base64.b64encode(integrity._raw_public(public)).decode(),
            "keyFingerprint": integrity.key_fingerprint(public),
            "value": base64.b64encode(sign_key.sign(unsigned)).decode(),
        }
    return block


def reference_render(result: ScanResult, config: Config, sign_key: Ed25519PrivateKey | None = None) -> bytes:
    tree = report_dict(result, config)
    tree["integrity"] = reference_seal(tree, sign_key)
    return orjson.dumps(tree, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=str)


def _scan(*paths: Path) -> tuple[ScanResult, Config]:
    roots = [str(p) for p in paths]
    config = load_config(None, roots)
    loaded = load_paths(roots)
    return run_scan(Inventory(loaded.objects, config), config, checks=all_checks()), config


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _same(result: ScanResult, config: Config) -> None:
    for key in (None, KEY):
        assert render_json_bytes(result, config, key) == reference_render(result, config, key)


@pytest.mark.parametrize("example", ["clinic-insecure", "clinic-hardened"])
def test_examples_are_byte_identical(example: str) -> None:
    _same(*_scan(ROOT / "examples" / example))


def test_every_case_directory_is_byte_identical() -> None:
    result, config = _scan(*sorted(p for p in (ROOT / "tests" / "cases").iterdir() if p.is_dir()))
    assert len(result.findings) > 100
    _same(result, config)


def test_generated_corpus_is_byte_identical(tmp_path: Path) -> None:
    from bench.scan_bench import generate

    generate(tmp_path / "corpus", 120)
    result, config = _scan(tmp_path / "corpus")
    assert len(result.findings) > 1000
    _same(result, config)


def _ref(name: str, namespace: str | None = "clinical", file: str = "a.yaml") -> ResourceRef:
    return ResourceRef("apps/v1", "Deployment", namespace, name, file, 3)


def _hostile_result(findings: list[Finding]) -> ScanResult:
    base, _config = _scan(ROOT / "examples" / "clinic-hardened")
    return dataclasses.replace(base, findings=findings)


def _finding(n: int, resource: ResourceRef, evidence: list[Evidence], message: str = "m") -> Finding:
    return Finding(f"KH-TST-{n:03d}", "Tïtle — with \"quotes\" and \\ backslash", Severity.HIGH, resource, message,
                   evidence, "Fix: \u2028 line sep, tab\t, nul \x00, emoji \U0001f512", ("164.312(a)(1)",))


HOSTILE_EVIDENCE: list[Any] = [
    {"zeta": 1, "alpha": {"ß": "straße", "a\"b": [1, 2.5, None, True]}, "\u00e9": "é", "A": "upper first"},
    ["nested", {"b": {"d": 1, "c": 2}}, [[]], {}],
    "text with </script> & <!-- and \ud7ff and \U0010ffff",
    2**63 - 1,
    -(2**63),
    "123456789012345678901234567890123456789",  # a huge number as text
    1e308,
    0.1,
]


def test_hostile_findings_are_byte_identical() -> None:
    shared = _ref("shared")
    findings = [
        _finding(i % 7, shared if i % 3 else _ref(f"r-{i}", None if i % 5 == 0 else "ns-\u00fc", f"cluster:ctx/{i}"),
                 [Evidence(f"spec.containers[{i}].env[\"KEY\\n\"]", HOSTILE_EVIDENCE[i % len(HOSTILE_EVIDENCE)])],
                 message=f"message {i} \u2014 \"{i}\"")
        for i in range(60)
    ]
    findings += [_finding(1, shared, [Evidence("same.path", 1)]) for _ in range(3)]  # fingerprints #2, #3
    findings += [_finding(2, shared, [])]  # no evidence
    findings[5] = dataclasses.replace(findings[5], suppressed=True,
                                      suppression={"owner": "ops", "justification": "ticket \u00e9", "z": [1]})
    _same(_hostile_result(findings), load_config(None, []))


def test_empty_findings_are_byte_identical() -> None:
    result = _hostile_result([])
    config = load_config(None, [])
    _same(result, config)
    assert b'"findings": []' in render_json_bytes(result, config)


def test_non_string_keys_fail_the_same_way() -> None:
    """An evidence value with a non-string key: the old algorithm refused to write it (orjson's indented dump
    takes string keys only); so does the new one."""
    findings = [_finding(1, _ref("x"), [Evidence("p", {1: "one"})])]
    result, config = _hostile_result(findings), load_config(None, [])
    with pytest.raises(TypeError) as old:
        reference_render(result, config)
    with pytest.raises(TypeError) as new:
        render_json_bytes(result, config)
    assert str(new.value) == str(old.value)


def test_batch_fingerprints_are_the_findings_fingerprints() -> None:
    """`report_dict` takes fingerprints from `model.fingerprints` (the resource's key made once): the same as
    each finding's own, on real findings and on resources that are equal but not the same object."""
    from kubehipaa.model import fingerprints

    result, _config = _scan(ROOT / "examples" / "clinic-insecure")
    found = list(result.findings)
    found += [dataclasses.replace(f, resource=dataclasses.replace(f.resource)) for f in found[:5]]
    found += [_finding(3, _ref("c", None, "cluster:ctx/x"), [Evidence("a\x1fb", 1)]), _finding(3, _ref("d"), [])]
    assert fingerprints(found) == [f.fingerprint for f in found]
