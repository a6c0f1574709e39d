"""Pure model of encryption at rest: EncryptionConfiguration semantics and etcd value classification.

EncryptionConfiguration (``apiserver.config.k8s.io/v1`` ``EncryptionConfiguration``, and the older
``EncryptionConfig`` kind): ``resources[]`` entries each list resource names (``secrets``,
``deployments.apps``, ``*.apps``, ``*.`` for every core resource, ``*.*`` for everything) and an ordered
provider list.  The API server *writes* with the first provider (for key-based providers: its first key) and
*reads* with whichever provider recognises the stored prefix.  A resource matches the first entry naming it
exactly, then ``*.<group>``, then ``*.*``; like the API server we reject a resource listed after a wildcard
that already covers it ("masked by earlier rule").

Stored values in etcd (the transformer prefixes of k8s.io/apiserver ``storage/value``):

* plaintext: the ``k8s\\x00`` protobuf envelope, or JSON (custom resources, old clusters);
* ``k8s:enc:aescbc:v1:<key>:``, ``k8s:enc:aesgcm:v1:<key>:``, ``k8s:enc:secretbox:v1:<key>:``;
* ``k8s:enc:kms:v1:<provider>:`` and ``k8s:enc:kms:v2:<provider>:`` (the KMS key id lives inside the
  encrypted envelope; the provider name is what we can compare).

Key material is never returned by this module: only provider types, key *names* and sizes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

KEYED_PROVIDERS = ("aescbc", "aesgcm", "secretbox")
PROVIDER_TYPES = ("identity", "aescbc", "aesgcm", "secretbox", "kms")
ENC_PREFIX = b"k8s:enc:"
PROTOBUF_MAGIC = b"k8s\x00"


class EncryptionConfigError(ValueError):
    """The document is not a usable EncryptionConfiguration; the message names the field."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider entry; ``keys`` holds key names and decoded sizes only, never the secret."""

    type: str
    name: str = ""
    kms_api_version: str = ""
    key_names: tuple[str, ...] = ()
    key_sizes: tuple[int | None, ...] = ()
    index: int = 0

    @property
    def label(self) -> str:
        if self.type == "kms":
            return f"kms {self.kms_api_version} ({self.name})"
        if self.type in KEYED_PROVIDERS:
            first = self.key_names[0] if self.key_names else "?"
            return f"{self.type} (key {first})"
        return self.type

    @property
    def write_prefix(self) -> str | None:
        """Prefix of values this provider writes; None for identity (plaintext)."""
        if self.type == "identity":
            return None
        if self.type == "kms":
            return f"k8s:enc:kms:{self.kms_api_version}:{self.name}:"
        if self.key_names:
            return f"k8s:enc:{self.type}:v1:{self.key_names[0]}:"
        return None


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """One ``resources[]`` entry of the configuration."""

    resources: tuple[str, ...]
    providers: tuple[Provider, ...]
    index: int


@dataclass(slots=True)
class EncryptionConfig:
    entries: list[ResourceEntry] = field(default_factory=list)

    def entry_for(self, resource: str, group: str = "") -> ResourceEntry | None:
        """The entry that governs ``resource`` in API ``group`` (exact, then ``*.group``, then ``*.*``)."""
        exact = f"{resource}.{group}" if group else resource
        for want in (exact, f"*.{group}", "*.*"):
            for entry in self.entries:
                if want in entry.resources:
                    return entry
        return None

    def write_provider(self, resource: str, group: str = "") -> Provider | None:
        entry = self.entry_for(resource, group)
        return entry.providers[0] if entry and entry.providers else None


def _decoded_size(secret: Any) -> int | None:
    if not isinstance(secret, str):
        return None
    try:
        return len(base64.b64decode(secret, validate=True))
    except (binascii.Error, ValueError):
        return None


def parse_encryption_config(doc: dict[str, Any]) -> EncryptionConfig:
    """Validate the document shape and return providers without any key material."""
    if not isinstance(doc, dict):
        raise EncryptionConfigError("encryption configuration must be a mapping")
    raw = doc.get("resources")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise EncryptionConfigError("resources must be a list")
    entries: list[ResourceEntry] = []
    seen: set[tuple[str, str]] = set()  # (group, resource) already configured, in file order
    for i, item in enumerate(raw):
        where = f"resources[{i}]"
        if not isinstance(item, dict):
            raise EncryptionConfigError(f"{where} must be a mapping")
        names = item.get("resources") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise EncryptionConfigError(f"{where}.resources must be a list of strings")
        if not names:
            raise EncryptionConfigError(f"{where}.resources must name at least one resource")
        for name in names:
            resource, _, group = name.partition(".")
            # The API server refuses a rule hidden behind an earlier '*.<group>' or '*.*' (even in one entry).
            for mask in ((group, "*"), ("*", "*")):
                if mask in seen:
                    shown = f"*.{mask[0]}" if mask[0] != "*" else "*.*"
                    raise EncryptionConfigError(
                        f"{where}: resource {name!r} is masked by earlier rule {shown!r}"
                    )
            seen.add((group, resource))
        provs_raw = item.get("providers") or []
        if not isinstance(provs_raw, list):
            raise EncryptionConfigError(f"{where}.providers must be a list")
        providers: list[Provider] = []
        for j, p in enumerate(provs_raw):
            pwhere = f"{where}.providers[{j}]"
            if not isinstance(p, dict) or len(p) != 1:
                raise EncryptionConfigError(f"{pwhere} must name exactly one provider type")
            ((ptype, body),) = p.items()
            if ptype not in PROVIDER_TYPES:
                raise EncryptionConfigError(f"{pwhere}: unknown provider type {ptype!r}")
            if body is None and ptype == "identity":
                body = {}
            if not isinstance(body, dict):
                raise EncryptionConfigError(f"{pwhere}.{ptype} must be a mapping")
            if ptype == "kms":
                providers.append(
                    Provider(
                        type="kms",
                        name=str(body.get("name") or ""),
                        kms_api_version=str(body.get("apiVersion") or "v1"),
                        index=j,
                    )
                )
            elif ptype in KEYED_PROVIDERS:
                keys = body.get("keys") or []
                if not isinstance(keys, list):
                    raise EncryptionConfigError(f"{pwhere}.{ptype}.keys must be a list")
                kn: list[str] = []
                ks: list[int | None] = []
                for k in keys:
                    if not isinstance(k, dict):
                        raise EncryptionConfigError(f"{pwhere}.{ptype}.keys entries must be mappings")
                    kn.append(str(k.get("name") or ""))
                    ks.append(_decoded_size(k.get("secret")))
                providers.append(Provider(type=ptype, key_names=tuple(kn), key_sizes=tuple(ks), index=j))
            else:
                providers.append(Provider(type="identity", index=j))
        entries.append(ResourceEntry(resources=tuple(names), providers=tuple(providers), index=i))
    return EncryptionConfig(entries=entries)


# --------------------------------------------------------------------------------------------------------
# etcd values


@dataclass(frozen=True, slots=True)
class ValueClass:
    """What a stored value is, judged only from its prefix.

    ``kind`` is ``plaintext`` (``encoding`` = protobuf|json|unknown) or ``encrypted`` (``provider``,
    ``version`` and ``key`` = key name, or KMS provider name).
    """

    kind: str
    encoding: str = ""
    provider: str = ""
    version: str = ""
    key: str = ""

    @property
    def prefix(self) -> str:
        if self.kind != "encrypted":
            return ""
        return f"k8s:enc:{self.provider}:{self.version}:{self.key}:"

    @property
    def label(self) -> str:
        if self.kind == "plaintext":
            return f"plaintext ({self.encoding})"
        return f"{self.provider} {self.version} key {self.key}"


_PLAIN_PROTOBUF = ValueClass("plaintext", encoding="protobuf")
_PLAIN_JSON = ValueClass("plaintext", encoding="json")
_PLAIN_UNKNOWN = ValueClass("plaintext", encoding="unknown")
_ENC_UNKNOWN = ValueClass("encrypted", provider="unknown")
_HEADER_CACHE: dict[bytes, ValueClass] = {}
_HEADER_CACHE_MAX = 4096


def classify_value(value: bytes) -> ValueClass:
    """Classify a raw etcd value by prefix only (the rest is never inspected).

    A cluster has a handful of distinct ``k8s:enc:<provider>:<version>:<key>:`` headers, so parsed headers
    are memoised; classifying a value is then two ``find`` calls and a dict lookup.
    """
    if value.startswith(ENC_PREFIX):
        a = value.find(b":", 8)
        b = value.find(b":", a + 1) if a >= 0 else -1
        c = value.find(b":", b + 1) if b >= 0 else -1
        if c < 0:
            return _ENC_UNKNOWN
        header = value[: c + 1]
        vc = _HEADER_CACHE.get(header)
        if vc is None:
            vc = ValueClass(
                "encrypted",
                provider=value[8:a].decode("utf-8", "replace"),
                version=value[a + 1 : b].decode("utf-8", "replace"),
                key=value[b + 1 : c].decode("utf-8", "replace"),
            )
            if len(_HEADER_CACHE) < _HEADER_CACHE_MAX:
                _HEADER_CACHE[header] = vc
        return vc
    if value.startswith(PROTOBUF_MAGIC):
        return _PLAIN_PROTOBUF
    stripped = value.lstrip()
    if stripped.startswith((b"{", b"[")):
        return _PLAIN_JSON
    return _PLAIN_UNKNOWN


STATUS_PLAINTEXT = "plaintext"
STATUS_CURRENT = "current"
STATUS_STALE = "stale"
STATUS_UNREADABLE = "unreadable"


def value_status(vc: ValueClass, config: EncryptionConfig | None, resource: str, group: str = "") -> str:
    """Compare a classified value to the key the configuration currently writes with.

    * ``plaintext``: stored unencrypted (even if identity is the configured writer - that is the problem);
    * ``current``: encrypted under the write provider/key of the governing entry;
    * ``stale``: encrypted, but under another key or provider that the server can still read (needs a
      rewrite to move to the current key);
    * ``unreadable``: encrypted under a provider/key not in the configuration at all - the API server
      cannot decrypt it.
    Without a configuration, encrypted values are reported as ``current`` (nothing to compare to).
    """
    if vc.kind == "plaintext":
        return STATUS_PLAINTEXT
    if config is None:
        return STATUS_CURRENT
    entry = config.entry_for(resource, group)
    if entry is None or not entry.providers:
        return STATUS_UNREADABLE
    writer = entry.providers[0]
    if writer.write_prefix == vc.prefix:
        return STATUS_CURRENT
    for p in entry.providers:
        if p.type == "kms" and vc.provider == "kms" and p.name == vc.key and p.kms_api_version == vc.version:
            return STATUS_STALE
        if p.type == vc.provider and vc.key in p.key_names:
            return STATUS_STALE
    return STATUS_UNREADABLE


def expected_key_size(ptype: str) -> tuple[int, ...]:
    """Valid decoded key sizes in bytes for key-based providers."""
    if ptype == "secretbox":
        return (32,)
    return (16, 24, 32)
