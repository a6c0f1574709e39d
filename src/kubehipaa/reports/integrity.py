"""The canonical content of a report or saved scan, its SHA-256, an optional Ed25519 signature, and the check
that `kubehipaa verify` runs: what `seal` writes, `check` recomputes and, when it differs, names.

Canonical = the report's data (a JSON-able tree) serialised with sorted keys, no insignificant whitespace,
UTF-8, without the `integrity` block itself. Every format that carries an integrity block (JSON report, HTML
report's embedded data, saved scans in the history) hashes exactly these bytes, so one verifier serves all.

Why per-section digests as well as one digest: a verifier that only says "digest mismatch" leaves an auditor
guessing whether a finding was deleted or a timestamp was fixed. The block also records a digest per
top-level section and one per finding (keyed by its fingerprint), so `check` can say "finding <fp>
(KH-WL-001 Deployment/clinical/ehr-api) changed", "section summary changed", "2 findings removed". Those
digests only *locate* a change: the whole-content `digest` (and the signature over the whole block) decides.

Pure: no file I/O. Keys arrive as PEM bytes (`load_private_key` / `load_public_key`); the CLI reads files.
"""

from __future__ import annotations

import base64
import gc
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

INTEGRITY_KEY = "integrity"
ALGORITHM = "sha256"
CANONICALIZATION = "kubehipaa-json-c14n-1"
"""Sorted keys, compact separators, UTF-8, top-level `integrity` left out (orjson's output for that tree)."""
SIGNATURE_ALGORITHM = "ed25519"
ITEM_DIGEST_HEX = 32
"""Per-item digests are SHA-256 cut to 128 bits: they locate a change; the full `digest` proves it."""
SHOWN = 50
"""At most this many changed / removed / added findings are named one by one; the rest are counted."""
ITEMS_SECTION = "findings"
"""The list section whose entries are digested one by one, keyed by their `fingerprint`."""


class IntegrityError(ValueError):
    """A key or integrity block that cannot be used (wrong key type, malformed PEM, unknown algorithm)."""


def canonical_bytes(tree: Any) -> bytes:
    """Sorted keys, compact; a top-level `integrity` key is left out (it describes these bytes)."""
    if isinstance(tree, dict) and INTEGRITY_KEY in tree:
        tree = {k: v for k, v in tree.items() if k != INTEGRITY_KEY}
    return orjson.dumps(tree, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def content_digest(tree: Any) -> str:
    """Hex SHA-256 of `canonical_bytes(tree)`."""
    return hashlib.sha256(canonical_bytes(tree)).hexdigest()


# ---- keys ---------------------------------------------------------------------------------------------------


def load_private_key(data: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, `openssl genpkey -algorithm ed25519`) or OpenSSH format."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
            key: Any = serialization.load_ssh_private_key(data, password)
        else:
            key = serialization.load_pem_private_key(data, password)
    except TypeError as exc:  # encrypted without a password, or a password for an unencrypted key
        raise IntegrityError(f"cannot load the signing key: {exc}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise IntegrityError("not a PEM or OpenSSH private key (or the password is wrong)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError(f"the signing key must be Ed25519, not {type(key).__name__.removesuffix('PrivateKey')} "
                             f"(openssl genpkey -algorithm ed25519 -out key.pem)")
    return key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or an OpenSSH `ssh-ed25519 AAAA...` line."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        if data.lstrip().startswith(b"ssh-"):
            key: Any = serialization.load_ssh_public_key(data.strip())
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise IntegrityError("not a PEM or OpenSSH public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError("the public key must be Ed25519")
    return key


def _raw_public(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """`SHA256:` + unpadded base64 of the SHA-256 of the key's SSH wire form: what `ssh-keygen -l` prints for
    the same key, so a signer can compare it with the fingerprint of their `.pub` file."""
    from cryptography.hazmat.primitives import serialization

    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


# ---- sealing ------------------------------------------------------------------------------------------------


def _plain(tree: Any) -> Any:
    """`tree` as it reads back from JSON: the slow path of `_parts`, for trees with non-string keys."""
    return orjson.loads(orjson.dumps(tree, default=str, option=orjson.OPT_NON_STR_KEYS))


class _Parts:
    """The digests of a tree (whole content, each top-level section, each finding) from one serialisation pass.

    Each section is dumped once, the findings one by one, and the bytes are streamed into the hashes in
    canonical order (sorted keys: Python's code-point order is orjson's UTF-8 byte order), so the whole-content
    digest is the SHA-256 of exactly `canonical_bytes` of the tree as a reader parses it (a property test holds
    the two equal) without building those bytes twice. Measured at 9,400 findings: a JSON round trip plus a
    dump per digest cost 320 ms; this costs about 80 ms.
    """

    __slots__ = ("digest", "item_digests", "items", "sections")

    def __init__(self, tree: Mapping[str, Any]) -> None:
        # The digests dict holds one entry per finding while the whole report is alive: a full cyclic collection
        # would walk every report object again to find no garbage (as in the scan pipeline). Paused meanwhile.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(tree)
        except TypeError:  # a non-string key somewhere: JSON makes it a string; hash what a reader parses
            self._build(_plain({k: v for k, v in tree.items() if k != INTEGRITY_KEY}))
        finally:
            if gc_was_enabled:
                gc.enable()

    def _build(self, tree: Mapping[str, Any]) -> None:
        self.sections: dict[str, str] = {}
        self.items: list[Any] | None = None
        self.item_digests: dict[str, str] | None = None
        keys = [k for k in tree if k != INTEGRITY_KEY]
        if not all(isinstance(k, str) for k in keys):
            raise TypeError("non-string key")
        whole = hashlib.sha256(b"{")
        for n, key in enumerate(sorted(keys)):
            whole.update(b"," + orjson.dumps(key) + b":" if n else orjson.dumps(key) + b":")  # a few bytes
            value = tree[key]
            if key == ITEMS_SECTION:
                streamed = self._items(key, value, whole.copy())
                if streamed is not None:
                    whole = streamed
                    continue
            blob = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)
            self.sections[key] = hashlib.sha256(blob).hexdigest()
            whole.update(blob)
        whole.update(b"}")
        self.digest = whole.hexdigest()

    def _items(self, key: str, value: Any, whole: Any) -> Any:
        """Stream each finding's canonical bytes into `whole` (returned), the section digest and the
        per-finding digests keyed by fingerprint (`#2`, `#3` when repeated); no finding's bytes are kept, so
        sealing needs no second copy of the report in memory. None (and `whole` dropped) unless every entry
        is an object with a string fingerprint."""
        if not isinstance(value, list):
            return None
        digests: dict[str, str] = {}
        seen: dict[str, int] = {}
        section = hashlib.sha256(b"[")
        whole.update(b"[")
        sha256, dumps, opt = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
        add_section, add_whole = section.update, whole.update
        for i, item in enumerate(value):
            fp = item.get("fingerprint") if isinstance(item, dict) else None
            if not isinstance(fp, str):
                return None
            blob = dumps(item, default=str, option=opt)
            seen[fp] = count = seen.get(fp, 0) + 1
            digests[fp if count == 1 else f"{fp}#{count}"] = sha256(blob).hexdigest()[:ITEM_DIGEST_HEX]
            if i:
                add_section(b",")
                add_whole(b",")
            add_section(blob)  # never `b"," + blob`: that would copy every finding once more
            add_whole(blob)
        section.update(b"]")
        whole.update(b"]")
        self.sections[key] = section.hexdigest()
        self.items, self.item_digests = value, digests
        return whole


def _item_keys(items: list[Any]) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for item in items:
        fp = item["fingerprint"]
        seen[fp] = n = seen.get(fp, 0) + 1
        keys.append(fp if n == 1 else f"{fp}#{n}")
    return keys


def seal(tree: Mapping[str, Any], sign_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """The integrity block for `tree` (a report's data, with or without an old `integrity` key): the SHA-256 of
    its canonical bytes, a digest per top-level section and per finding, and, with `sign_key`, an Ed25519
    signature over the canonical bytes of the block itself (so the section digests are signed too).

    The caller stores it as `tree["integrity"]` (see `sealed`)."""
    parts = _Parts(tree)
    block: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "canonicalization": CANONICALIZATION,
        "digest": parts.digest,
        "sections": parts.sections,
    }
    items = parts.item_digests
    if items is not None:
        block["items"] = {"section": ITEMS_SECTION, "key": "fingerprint", "digests": items}
    if sign_key is not None:
        public = sign_key.public_key()
        block["signature"] = {
            "algorithm": SIGNATURE_ALGORITHM,
            "publicKey": base64.b64encode(_raw_public(public)).decode(),
            "keyFingerprint": key_fingerprint(public),
            "value": base64.b64encode(sign_key.sign(canonical_bytes(_unsigned(block)))).decode(),
        }
    return block


def sealed(tree: Mapping[str, Any], sign_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """A copy of `tree` with its integrity block (last key, after the content it describes)."""
    out = {k: v for k, v in tree.items() if k != INTEGRITY_KEY}
    out[INTEGRITY_KEY] = seal(out, sign_key)
    return out


def _unsigned(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "signature"}


# ---- checking -----------------------------------------------------------------------------------------------

INTACT = "intact"
CHANGED = "changed"
UNSEALED = "unsealed"
MALFORMED = "malformed"


@dataclass(slots=True)
class VerifyResult:
    """What `check` found. `ok` is the verdict; `changes` name what differs from what was sealed.

    `status`: intact / changed / unsealed (no integrity block) / malformed (a block that is not ours).
    `signature`: None (unsigned, none required), "valid", "invalid", "missing" (a key was given, the report is
    unsigned), "wrong-key" (signed, but not by the given key). `signer`: the key fingerprint recorded.
    """

    status: str
    digest: str | None = None
    expected: str | None = None
    changes: list[str] = field(default_factory=list)
    signature: str | None = None
    signer: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == INTACT and self.signature in (None, "valid")


def _label(item: Any) -> str:
    """A finding named as a person reads it: `KH-WL-001 Deployment/clinical/ehr-api` (best effort)."""
    if not isinstance(item, dict):
        return ""
    res = item.get("resource")
    if not isinstance(res, dict):
        res = {}
    parts = [str(p) for p in (res.get("kind"), res.get("namespace"), res.get("name")) if p]
    text = " ".join(p for p in (str(item.get("checkId") or ""), "/".join(parts)) if p)
    return f" ({text})" if text else ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _diff(parts: _Parts, block: Mapping[str, Any]) -> list[str]:
    """Name what differs from the sealed section / item digests (empty if they cannot tell)."""
    changes: list[str] = []
    sections = block.get("sections")
    if not isinstance(sections, dict):
        return changes
    items_spec = block.get("items")
    if not isinstance(items_spec, dict):
        items_spec = {}
    item_section = items_spec.get("section")
    now = parts.sections
    for name in sorted(set(sections) | set(now)):
        if name not in now:
            changes.append(f"section {name} removed")
        elif name not in sections:
            changes.append(f"section {name} added")
        elif now[name] != sections[name]:
            if name == item_section == ITEMS_SECTION:
                changes.extend(_diff_items(parts, items_spec, name))
            else:
                changes.append(f"section {name} changed")
    return changes


def _diff_items(parts: _Parts, spec: Mapping[str, Any], section: str) -> list[str]:
    sealed_digests = spec.get("digests")
    now = parts.item_digests
    if not isinstance(sealed_digests, dict) or now is None or parts.items is None:
        return [f"section {section} changed"]
    by_key = dict(zip(_item_keys(parts.items), parts.items, strict=True))
    singular = section[:-1] if section.endswith("s") else section
    changed = [key for key in now if key in sealed_digests and now[key] != sealed_digests[key]]
    changes = [f"{singular} {key}{_label(by_key[key])} changed" for key in changed[:SHOWN]]
    if len(changed) > SHOWN:
        changes.append(f"... and {len(changed) - SHOWN} more {singular}s changed")
    removed = [key for key in sealed_digests if key not in now]
    added = [key for key in now if key not in sealed_digests]
    if removed:
        changes.append(f"{_plural(len(removed), singular)} removed: {_some(removed)}")
    if added:
        changes.append(f"{_plural(len(added), singular)} added: "
                       + _some([f"{key}{_label(by_key[key])}" for key in added]))
    if not changes:
        changes.append(f"{section} reordered")
    return changes


def _some(names: list[str]) -> str:
    """The first SHOWN names, then how many more: a report with 90,000 findings removed is one readable line."""
    more = f", ... and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def check(tree: Mapping[str, Any], public_key: Ed25519PublicKey | None = None) -> VerifyResult:
    """Recompute `tree`'s digest (`tree` as parsed from the report) against its integrity block and check the
    signature.

    With `public_key`, a signature by that key is required: an unsigned report, or one signed by another key,
    fails. Without it, a signature present is checked against the key it records (which proves the content
    was not changed after signing, not who signed: the signer's fingerprint is reported for that)."""
    block = tree.get(INTEGRITY_KEY)
    if block is None:
        result = VerifyResult(UNSEALED, problems=["no integrity block: this report was not sealed"])
        if public_key is not None:
            result.signature = "missing"
        return result
    if not isinstance(block, dict) or block.get("algorithm") != ALGORITHM or not isinstance(block.get("digest"), str):
        return VerifyResult(MALFORMED, problems=["integrity block is not a kubehipaa sha256 block"])
    parts = _Parts(tree)
    digest = parts.digest
    result = VerifyResult(INTACT if digest == block["digest"] else CHANGED, digest=digest, expected=block["digest"])
    if result.status == CHANGED:
        result.changes = _diff(parts, block) or ["content changed (no section digests to say where)"]
    _check_signature(block, public_key, result)
    return result


def _check_signature(block: Mapping[str, Any], public_key: Ed25519PublicKey | None, result: VerifyResult) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = block.get("signature")
    if sig is None:
        if public_key is not None:
            result.signature = "missing"
            result.problems.append("the report is not signed, but a public key was given")
        return
    try:
        if not isinstance(sig, dict) or sig.get("algorithm") != SIGNATURE_ALGORITHM:
            raise ValueError("unknown signature algorithm")
        recorded = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["publicKey"], validate=True))
        value = base64.b64decode(sig["value"], validate=True)
    except (ValueError, KeyError, TypeError):
        result.signature = "invalid"
        result.problems.append("signature block is malformed")
        return
    result.signer = key_fingerprint(recorded)
    if sig.get("keyFingerprint") != result.signer:
        result.problems.append("recorded key fingerprint does not match the recorded public key")
        result.signature = "invalid"
        return
    if public_key is not None and _raw_public(public_key) != _raw_public(recorded):
        result.signature = "wrong-key"
        result.problems.append(f"signed by {result.signer}; the given key is {key_fingerprint(public_key)}")
        return
    try:
        recorded.verify(value, canonical_bytes(_unsigned(block)))
    except InvalidSignature:
        result.signature = "invalid"
        result.problems.append(f"signature does not match (key {result.signer})")
        return
    result.signature = "valid"


# ---- embedding (HTML) ---------------------------------------------------------------------------------------

EMBED_ID = "kubehipaa-report"
"""`<script type="application/json" id="kubehipaa-report">` holds a sealed tree in an HTML report."""


def script_json(tree: Any) -> str:
    """`tree` as JSON safe inside a `<script>` element: `<`, `>` and `&` written as JSON `\\u` escapes, so no
    value can close the element (`</script>`) or open a comment; the parsed data is unchanged."""
    text = orjson.dumps(tree, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def embed_script(tree: Any) -> str:
    """The `<script>` element carrying `tree` in an HTML page; `kubehipaa verify page.html` parses it back to
    the same tree."""
    return f'<script type="application/json" id="{EMBED_ID}">{script_json(tree)}</script>'
