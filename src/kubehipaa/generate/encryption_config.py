"""Encryption at rest for Secrets and ConfigMaps: `kubehipaa generate encryption-config`.

An `apiserver.config.k8s.io/v1` EncryptionConfiguration covering exactly what the KH-ENC checks require
(`checks.encryption.MUST_ENCRYPT`: secrets, and configmaps because they routinely carry PHI or credentials).

* With a KMS endpoint: a KMS v2 provider (name, unix endpoint, timeout, apiVersion v2). The key-encryption
  key stays in the external KMS/HSM, never on the control-plane disk (164.312(a)(2)(iv)).
* Without: a `secretbox` provider (XSalsa20-Poly1305, 32-byte key). Not aescbc: CBC is open to padding-oracle
  attacks and upstream no longer recommends it; not aesgcm: it needs a key rotation every 200,000 writes.
  The key is a PLACEHOLDER that is deliberately not valid base64, so the API server refuses to start with it
  and KH-ENC-005 reports it: an unreplaced placeholder can never pass for a usable configuration. Only with
  a caller-provided key (`generate --generate-key`: `new_key()`) does the document hold a real secret.
* `identity` (plaintext) is never first. It is added last only on request (`allow_plaintext_reads`): the API
  server reads a stored value with the provider whose prefix it carries, and plaintext has none, so without
  identity in the list Secrets written before encryption was enabled cannot be read at all. It stays only
  until every object is rewritten; KH-ENC-004 reports it until it is removed.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

ENCRYPTION_API = "apiserver.config.k8s.io/v1"
RESOURCES = ["secrets", "configmaps"]
KEY_BYTES = 32
KEY_NAME = "key1"
KMS_TIMEOUT = "3s"
DEFAULT_KMS_NAME = "kubehipaa-kms"
PLACEHOLDER = "REPLACE-ME-with-the-output-of-head-c-32-dev-urandom-base64"
"""Not valid base64 (`-` is outside the alphabet): the API server and KH-ENC-005 both reject it."""
KEY_COMMAND = "head -c 32 /dev/urandom | base64"
_KMS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class EncryptionOptionError(ValueError):
    """An option the API server would refuse (the message names it)."""


@dataclass(frozen=True, slots=True)
class EncryptionOptions:
    """What to generate: KMS v2 when `kms_endpoint` is set, else secretbox with `key` (None: a placeholder)."""

    kms_endpoint: str | None = None
    kms_name: str = DEFAULT_KMS_NAME
    key: str | None = None
    allow_plaintext_reads: bool = False

    @property
    def has_real_key(self) -> bool:
        return self.kms_endpoint is None and self.key is not None


def new_key() -> str:
    """A fresh 32-byte secretbox key, base64 (from the OS CSPRNG via `secrets`)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def validate_kms(endpoint: str, name: str) -> None:
    """The API server's rules for a KMS v2 provider: a `unix://` endpoint with a socket path, and a name
    (used in the stored values' `k8s:enc:kms:v2:<name>:` prefix) without ':'."""
    if not endpoint.startswith("unix://") or len(endpoint) == len("unix://") or any(c.isspace() for c in endpoint):
        raise EncryptionOptionError(f"--kms-endpoint {endpoint!r}: give the KMS plugin's socket as "
                                    "unix:///path/to/socket (the API server supports only unix sockets)")
    if not _KMS_NAME.fullmatch(name) or len(name) > 63:
        raise EncryptionOptionError(f"--kms-name {name!r}: use lowercase letters, digits, '-' and '.' (no ':')")


def _provider(opts: EncryptionOptions) -> tuple[list[str], dict[str, Any]]:
    if opts.kms_endpoint is not None:
        validate_kms(opts.kms_endpoint, opts.kms_name)
        return ([f"Provider: KMS v2 plugin at {opts.kms_endpoint}: envelope encryption, a fresh data key per",
                 "write, the key-encryption key never leaves the KMS/HSM (164.312(a)(2)(iv)). Do not change",
                 f"`name` later: it is part of every stored value's prefix (k8s:enc:kms:v2:{opts.kms_name}:)."],
                {"kms": {"apiVersion": "v2", "name": opts.kms_name, "endpoint": opts.kms_endpoint,
                         "timeout": KMS_TIMEOUT}})
    if opts.key is None:
        why = ["Provider: secretbox with a PLACEHOLDER key. REPLACE IT before use: the placeholder is not",
               "valid base64, so the API server refuses to start with it (KH-ENC-005 reports it). Generate a",
               f"key with `{KEY_COMMAND}` (32 random bytes), or use",
               "`kubehipaa generate encryption-config --generate-key -o FILE`."]
    else:
        why = ["Provider: secretbox with a freshly generated random 32-byte key. THIS FILE IS A SECRET:",
               "keep it mode 0600, owner root, out of version control and out of etcd backups' reach."]
    why += ["A local key sits on the control-plane disk next to the data (KH-ENC-003 reports it, low):",
            "prefer a KMS v2 provider (--kms-endpoint). Rotate: add a new key FIRST, restart every API server,",
            "rewrite all Secrets and ConfigMaps, then remove the old key."]
    return why, {"secretbox": {"keys": [{"name": KEY_NAME, "secret": opts.key or PLACEHOLDER}]}}


def encryption_config(opts: EncryptionOptions) -> tuple[list[str], dict[str, Any]]:
    """The document's comment lines and the EncryptionConfiguration (see the module docstring)."""
    provider_why, provider = _provider(opts)
    providers = [provider]
    comments = [
        "EncryptionConfiguration: Secrets and ConfigMaps encrypted at rest in etcd (HIPAA 164.312(a)(2)(iv)",
        "encryption and decryption; 164.312(a)(1) access control: etcd backups no longer expose PHI).",
        "Install: save as /etc/kubernetes/enc/enc.yaml (mode 0600, owner root) and start every API server",
        "with --encryption-provider-config=/etc/kubernetes/enc/enc.yaml; then rewrite what is stored:",
        "  kubectl get secrets,configmaps -A -o json | kubectl replace -f -",
        "and verify with `kubehipaa etcd verify` (no plaintext value left).",
        "The FIRST provider encrypts every write; the others are only used to read older values.",
        "",
        *provider_why,
        "",
    ]
    if opts.allow_plaintext_reads:
        providers.append({"identity": {}})
        comments += ["Last provider: identity, ONLY so values stored before encryption was enabled stay readable",
                     "(plaintext has no prefix; without identity the API server cannot read them). Remove it",
                     "once the rewrite above is done and `kubehipaa etcd verify` finds no plaintext: until then",
                     "KH-ENC-004 reports it."]
    else:
        comments += ["No identity provider: plaintext is neither written nor read. If this cluster stored",
                     "Secrets or ConfigMaps before encryption was enabled, generate with --allow-plaintext-reads",
                     "first (identity last, to read them), rewrite them, then switch to this file."]
    doc = {"apiVersion": ENCRYPTION_API, "kind": "EncryptionConfiguration",
           "resources": [{"resources": list(RESOURCES), "providers": providers}]}
    return comments, doc
