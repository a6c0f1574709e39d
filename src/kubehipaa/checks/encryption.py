"""Encryption at rest: the API server's EncryptionConfiguration (KH-ENC-NNN).

Semantics come from :mod:`kubehipaa.engines.controlplane` (encryption.py) (first provider writes, first matching resource
entry governs).  Evidence never contains key material: only provider types, key names and sizes.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks.apiserver import not_assessed
from kubehipaa.checks.registry import Hit, check
from kubehipaa.engines.controlplane import (
    KEYED_PROVIDERS,
    EncryptionConfig,
    EncryptionConfigError,
    expected_key_size,
    parse_encryption_config,
)
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject, Severity

AREA = "encryption"
HIPAA = ("164.312(a)(2)(iv)",)
#: Resources whose plaintext storage matters most; configmaps because they routinely carry PHI/credentials.
MUST_ENCRYPT: tuple[tuple[str, str], ...] = (("secrets", ""), ("configmaps", ""))
#: Annotation a node agent may put on a captured document to carry the file mode seen on the node.
FILE_MODE_ANNOTATION = "kubehipaa.io/observed-file-mode"

WEAKER_PROVIDER_REASON = {
    "aescbc": "aescbc keeps the key in a file on the control-plane node next to the data, and CBC is "
    "vulnerable to padding-oracle attacks; upstream no longer recommends it",
    "aesgcm": "aesgcm keeps the key in a file on the control-plane node and needs key rotation every "
    "200,000 writes to stay safe",
    "secretbox": "secretbox keeps the key in a file on the control-plane node next to the data",
}


def configs(inv: Inventory) -> Iterator[tuple[K8sObject, EncryptionConfig | None, str | None]]:
    """(object, parsed config or None, parse error or None) for every EncryptionConfiguration."""
    for obj in inv.control_plane.encryption_configs:
        try:
            yield obj, parse_encryption_config(obj.doc), None
        except EncryptionConfigError as exc:
            yield obj, None, str(exc)


def _entry_path(index: int, provider: int | None = None) -> str:
    path = f"resources[{index}]"
    return path + (f".providers[{provider}]" if provider is not None else "")


@check(
    id="KH-ENC-001",
    title="Secrets or ConfigMaps not covered by encryption at rest",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=HIPAA,
    cis=("1.2.29",),
    scope="control-plane",
    remediation="Add an entry for secrets and configmaps (or '*.*') with a KMS v2 provider first.",
    description="Resources not named in the EncryptionConfiguration are stored in etcd in plaintext.",
)
def not_covered(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, _ in configs(inv):
        if cfg is None:
            continue
        for resource, group in MUST_ENCRYPT:
            if cfg.entry_for(resource, group) is None:
                sev = Severity.HIGH if resource == "secrets" else Severity.MEDIUM
                yield Hit(
                    obj,
                    f"{resource} are not listed in any resources entry",
                    path="resources",
                    value=resource,
                    severity=sev,
                )


@check(
    id="KH-ENC-002",
    title="Encryption configuration writes plaintext (identity first)",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=HIPAA,
    cis=("1.2.29",),
    scope="control-plane",
    remediation="Put the encrypting provider (KMS v2) first; keep identity only as a later provider while "
    "old data is rewritten.",
    description="The first provider encrypts new writes; identity first means Secrets are written in plaintext "
    "even though encryption is 'configured'.",
)
def identity_first(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, _ in configs(inv):
        if cfg is None:
            continue
        for entry in cfg.entries:
            if not entry.providers:
                yield Hit(
                    obj,
                    f"entry for {', '.join(entry.resources)} has no providers",
                    path=_entry_path(entry.index),
                )
            elif entry.providers[0].type == "identity":
                yield Hit(
                    obj,
                    f"{', '.join(entry.resources)}: first provider is identity (plaintext writes)",
                    path=_entry_path(entry.index, 0),
                    value="identity",
                )


@check(
    id="KH-ENC-003",
    title="Encryption provider is not KMS v2",
    area=AREA,
    severity=Severity.LOW,
    hipaa=HIPAA,
    cis=("1.2.29",),
    scope="control-plane",
    remediation="Use a KMS v2 provider (apiVersion: v2) backed by an external KMS/HSM so the key-encryption "
    "key never sits on the control-plane disk.",
    description="KMS v2 keeps the key-encryption key outside the cluster and supports rotation; KMS v1 is "
    "deprecated (disabled by default since 1.29); local-key providers store the key next to the data.",
)
def not_kms_v2(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, _ in configs(inv):
        if cfg is None:
            continue
        for entry in cfg.entries:
            if not entry.providers:
                continue
            first = entry.providers[0]
            what = ", ".join(entry.resources)
            path = _entry_path(entry.index, 0)
            if first.type == "kms" and first.kms_api_version != "v2":
                yield Hit(
                    obj,
                    f"{what}: KMS {first.kms_api_version} provider {first.name!r} is deprecated "
                    "(disabled by default since Kubernetes 1.29); migrate to KMS v2",
                    path=path,
                    value=first.label,
                )
            elif first.type in KEYED_PROVIDERS:
                yield Hit(obj, f"{what}: {WEAKER_PROVIDER_REASON[first.type]}", path=path, value=first.label)


@check(
    id="KH-ENC-004",
    title="identity provider still accepted for reading",
    area=AREA,
    severity=Severity.LOW,
    hipaa=HIPAA,
    scope="control-plane",
    remediation="Run `kubehipaa etcd verify` to confirm no plaintext objects remain, then remove identity.",
    description="identity as a later provider is right while old plaintext data is rewritten; leaving it "
    "afterwards hides plaintext values that were never rewritten (etcd verify finds them).",
)
def identity_later(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, _ in configs(inv):
        if cfg is None:
            continue
        for entry in cfg.entries:
            for p in entry.providers[1:]:
                if p.type == "identity":
                    yield Hit(
                        obj,
                        f"{', '.join(entry.resources)}: identity still listed (reads plaintext data)",
                        path=_entry_path(entry.index, p.index),
                        value="identity",
                    )


@check(
    id="KH-ENC-005",
    title="Encryption key missing or of invalid size",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=HIPAA,
    scope="control-plane",
    remediation="Give every aescbc/aesgcm key 32 random bytes (base64) and every secretbox key exactly 32; "
    "generate with `head -c 32 /dev/urandom | base64`.",
    description="The API server refuses to start with invalid keys, or encrypts with weak ones. Key values "
    "are never printed, only their decoded size.",
)
def bad_keys(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, _ in configs(inv):
        if cfg is None:
            continue
        for entry in cfg.entries:
            for p in entry.providers:
                if p.type not in KEYED_PROVIDERS:
                    continue
                path = _entry_path(entry.index, p.index)
                if not p.key_names:
                    yield Hit(obj, f"{p.type} provider has no keys", path=path)
                for name, size in zip(p.key_names, p.key_sizes, strict=True):
                    if size is None:
                        yield Hit(
                            obj, f"{p.type} key {name!r} is not valid base64", path=path, sensitive=True
                        )
                    elif size not in expected_key_size(p.type):
                        yield Hit(
                            obj,
                            f"{p.type} key {name!r} decodes to {size} bytes (expected "
                            f"{' or '.join(map(str, expected_key_size(p.type)))})",
                            path=path,
                            sensitive=True,
                        )


def observed_mode(obj: K8sObject) -> int | None:
    """File mode seen by the control-plane source, or recorded by a node agent in an annotation."""
    mode = obj.extra.get("file_mode")
    if isinstance(mode, int):
        return mode
    raw = obj.annotations.get(FILE_MODE_ANNOTATION) if isinstance(obj.doc.get("metadata"), dict) else None
    if isinstance(raw, str):
        try:
            return int(raw, 8)
        except ValueError:
            return None
    return None


@check(
    id="KH-ENC-006",
    title="Encryption configuration file readable by others",
    area=AREA,
    severity=Severity.MEDIUM,
    hipaa=(*HIPAA, "164.312(a)(1)"),
    scope="control-plane",
    remediation="chmod 600 the EncryptionConfiguration file (owner root).",
    description="The file holds the data-encryption keys of local-key providers (and KMS endpoints): "
    "anyone who can read it can decrypt etcd backups. Judged only when the real file was read "
    "(--control-plane/--encryption-config) or a node agent recorded the mode.",
)
def file_mode(inv: Inventory) -> Iterator[Hit]:
    for obj in inv.control_plane.encryption_configs:
        mode = observed_mode(obj)
        if mode is not None and mode & 0o077:
            yield Hit(
                obj,
                f"file mode {mode:04o} allows group/other access (want 0600)",
                path="(file mode)",
                value=f"{mode:04o}",
            )


@check(
    id="KH-ENC-007",
    title="Encryption configuration is invalid",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=HIPAA,
    scope="control-plane",
    remediation="Fix the EncryptionConfiguration so the API server accepts it (see the message).",
    description="An invalid configuration stops the API server or leaves data unencrypted.",
)
def invalid(inv: Inventory) -> Iterator[Hit]:
    for obj, cfg, err in configs(inv):
        if cfg is None:
            yield Hit(obj, f"invalid EncryptionConfiguration: {err}", path="resources")


@check(
    id="KH-ENC-008",
    title="Encryption at rest not assessed",
    area=AREA,
    severity=Severity.LOW,
    hipaa=HIPAA,
    scope="control-plane",
    remediation="Provide the EncryptionConfiguration (self-managed), or keep the listed provider evidence "
    "with your HIPAA documentation (managed control plane); verify etcd with `kubehipaa etcd verify`.",
    description="A control-plane scan was requested but the encryption configuration was not visible. "
    "Reported instead of a silent pass.",
)
def encryption_not_assessed(inv: Inventory) -> Iterator[Hit]:
    yield from not_assessed(inv, "encryption", "encryption at rest")
