"""EncryptionConfiguration semantics and etcd value classification (pure)."""

from __future__ import annotations

import pytest

from kubehipaa.engines.controlplane import (
    EncryptionConfigError,
    classify_value,
    parse_encryption_config,
    value_status,
)

KEY32 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
CFG = parse_encryption_config(
    {
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {
                        "aescbc": {
                            "keys": [{"name": "key1", "secret": KEY32}, {"name": "oldkey", "secret": KEY32}]
                        }
                    },
                    {"identity": {}},
                ],
            },
            {"resources": ["*.apps"], "providers": [{"kms": {"apiVersion": "v2", "name": "kms2"}}]},
            {"resources": ["*.*"], "providers": [{"identity": {}}]},
        ]
    }
)


def test_resource_matching_order() -> None:
    assert CFG.entry_for("secrets").index == 0  # type: ignore[union-attr]
    assert CFG.entry_for("deployments", "apps").index == 1  # type: ignore[union-attr]
    assert CFG.entry_for("configmaps").index == 2  # type: ignore[union-attr]
    assert CFG.write_provider("secrets").write_prefix == "k8s:enc:aescbc:v1:key1:"  # type: ignore[union-attr]
    assert CFG.write_provider("configmaps").write_prefix is None  # type: ignore[union-attr]


def test_no_key_material_kept() -> None:
    p = CFG.entries[0].providers[0]
    assert p.key_names == ("key1", "oldkey") and p.key_sizes == (32, 32)
    assert KEY32 not in repr(CFG)


@pytest.mark.parametrize(
    ("value", "kind", "label"),
    [
        (b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret", "plaintext", "plaintext (protobuf)"),
        (b'{"kind":"Secret"}', "plaintext", "plaintext (json)"),
        (b"k8s:enc:aescbc:v1:key1:\x00\x01", "encrypted", "aescbc v1 key key1"),
        (b"k8s:enc:kms:v2:kms2:\n\x01", "encrypted", "kms v2 key kms2"),
    ],
)
def test_classify(value: bytes, kind: str, label: str) -> None:
    vc = classify_value(value)
    assert (vc.kind, vc.label) == (kind, label)


@pytest.mark.parametrize(
    ("value", "resource", "group", "status"),
    [
        (b"k8s:enc:aescbc:v1:key1:xx", "secrets", "", "current"),
        (b"k8s:enc:aescbc:v1:oldkey:xx", "secrets", "", "stale"),
        (b"k8s:enc:aescbc:v1:gone:xx", "secrets", "", "unreadable"),
        (b"k8s\x00xx", "secrets", "", "plaintext"),
        (b"k8s:enc:kms:v2:kms2:xx", "deployments", "apps", "current"),
        (b"k8s:enc:secretbox:v1:k:xx", "configmaps", "", "unreadable"),
    ],
)
def test_status(value: bytes, resource: str, group: str, status: str) -> None:
    assert value_status(classify_value(value), CFG, resource, group) == status


def test_invalid_config() -> None:
    with pytest.raises(EncryptionConfigError, match="unknown provider type"):
        parse_encryption_config({"resources": [{"resources": ["secrets"], "providers": [{"aesxts": {}}]}]})
    with pytest.raises(EncryptionConfigError, match="must be a mapping"):
        parse_encryption_config({"resources": [{"resources": ["secrets"], "providers": [{"aescbc": 1}]}]})


@pytest.mark.parametrize(
    ("resources", "masked"),
    [
        ([["configmaps", "*.", "secrets"]], "'secrets' is masked by earlier rule '*.'"),
        ([["*.*"], ["secrets"]], "'secrets' is masked by earlier rule '*.*'"),
        ([["*.apps"], ["deployments.apps"]], "'deployments.apps' is masked by earlier rule '*.apps'"),
    ],
)
def test_masked_rules_are_rejected(resources: list[list[str]], masked: str) -> None:
    doc = {"resources": [{"resources": r, "providers": [{"identity": {}}]} for r in resources]}
    with pytest.raises(EncryptionConfigError, match=masked.replace("*", r"\*").replace(".", r"\.")):
        parse_encryption_config(doc)


def test_specific_before_wildcard_is_fine() -> None:
    cfg = parse_encryption_config(
        {
            "resources": [
                {"resources": ["secrets"], "providers": [{"identity": {}}]},
                {"resources": ["*.apps", "*.*"], "providers": [{"identity": {}}]},
            ]
        }
    )
    assert cfg.entry_for("secrets").index == 0  # type: ignore[union-attr]
    assert cfg.entry_for("widgets", "example.com").index == 1  # type: ignore[union-attr]
