"""The manifest: one JSON object per line, each carrying the SHA-256 of the line before it (a hash chain).

Why a chain of lines and not a signed index file: an archive grows by appends for six years. Each line is
written once and never rewritten; the `prev` field of line N is the SHA-256 of line N-1's bytes (the exact
bytes on disk, without the newline; `GENESIS` for the first), so removing, editing, inserting or swapping any
line changes a hash that a later line recorded. Each line is canonical JSON (sorted keys, no spaces, UTF-8),
so a verifier needs no re-serialisation to hash it.

Optional signatures (`sig`) make the chain's *tail* trustworthy too: without a key, whoever can write the
store can also rewrite the whole chain consistently, or cut its last lines off; with an HMAC key or an
Ed25519 key the attacker also needs the key. `sig` signs the canonical JSON of the entry without `sig`.

Appends are atomic enough for a crash: all the lines of one ingest are one `write` followed by `fsync`, under
an exclusive `flock` on `<store>/.lock` held for the whole ingest (two ingests never interleave). A crash
during the write can leave a last line without its newline; `read` reports it as truncated, and `add`
refuses to append after it (the chain would otherwise continue from a line nobody can verify).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kubehipaa.archive.schema import MANIFEST
from kubehipaa.errors import InputError

GENESIS = "0" * 64
"""The `prev` of the first entry."""

LOCK = ".lock"

SEGMENT = "segment"
PRUNE = "prune"


def canonical(entry: dict[str, Any]) -> bytes:
    """The one byte form of an entry: sorted keys, compact, UTF-8 (orjson), no newline."""
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def signed_bytes(entry: dict[str, Any]) -> bytes:
    """What a signature covers: the canonical entry without its `sig`."""
    return canonical({k: v for k, v in entry.items() if k != "sig"})


# -- keys ---------------------------------------------------------------------------------------------------

class KeyFileError(InputError):
    """A key file that cannot be used."""


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key: {exc.strerror or exc}", file=str(path)) from None


@dataclass(slots=True)
class Signer:
    """Signs entries with an HMAC-SHA256 key or an Ed25519 private key."""

    alg: str
    key_id: str
    _hmac: bytes | None = None
    _ed: Any = None

    def sign(self, entry: dict[str, Any]) -> dict[str, str]:
        data = signed_bytes(entry)
        if self._hmac is not None:
            value = hmac.new(self._hmac, data, hashlib.sha256).hexdigest()
        else:
            value = base64.b64encode(self._ed.sign(data)).decode()
        return {"alg": self.alg, "key": self.key_id, "value": value}


@dataclass(slots=True)
class Checker:
    """Checks entry signatures with the HMAC key or the Ed25519 public key."""

    alg: str
    key_id: str
    _hmac: bytes | None = None
    _ed: Any = None

    def check(self, entry: dict[str, Any]) -> str | None:
        """None when the signature is valid, else why not."""
        sig = entry.get("sig")
        if not isinstance(sig, dict):
            return "entry is not signed"
        if sig.get("alg") != self.alg:
            return f"signed with {sig.get('alg')!r}, not {self.alg}"
        value = sig.get("value")
        if not isinstance(value, str):
            return "signature has no value"
        data = signed_bytes(entry)
        if self._hmac is not None:
            good = hmac.new(self._hmac, data, hashlib.sha256).hexdigest()
            return None if hmac.compare_digest(good, value) else "signature does not match (wrong key or edited)"
        from cryptography.exceptions import InvalidSignature

        try:
            self._ed.verify(base64.b64decode(value, validate=True), data)
        except (InvalidSignature, ValueError):
            return "signature does not match (wrong key or edited)"
        return None


def _hmac_key(path: Path) -> tuple[bytes, str]:
    key = _read_key_file(path).strip()
    if len(key) < 16:
        raise KeyFileError("an HMAC key needs at least 16 bytes (e.g. `openssl rand -hex 32 > key`)", file=str(path))
    return key, hashlib.sha256(b"kubehipaa-archive-hmac-id\0" + key).hexdigest()[:16]


def hmac_signer(path: Path) -> Signer:
    key, kid = _hmac_key(path)
    return Signer("hmac-sha256", kid, _hmac=key)


def hmac_checker(path: Path) -> Checker:
    key, kid = _hmac_key(path)
    return Checker("hmac-sha256", kid, _hmac=key)


def _ed_id(public: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def ed25519_signer(path: Path) -> Signer:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(_read_key_file(path), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"not an unencrypted PEM private key ({type(exc).__name__})", file=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError("not an Ed25519 private key", file=str(path))
    return Signer("ed25519", _ed_id(key.public_key()), _ed=key)


def ed25519_checker(path: Path) -> Checker:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    data = _read_key_file(path)
    try:
        key: Any = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:  # the private key works too: its public half is derived
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyFileError("not a PEM Ed25519 public key", file=str(path)) from None
        if isinstance(key, Ed25519PrivateKey):
            key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("not an Ed25519 public key", file=str(path))
    return Checker("ed25519", _ed_id(key), _ed=key)


# -- reading ------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Line:
    """One manifest line: its number (1-based), bytes, hash and entry (None if it is not a JSON object)."""

    number: int
    raw: bytes
    hash: str
    entry: dict[str, Any] | None


@dataclass(slots=True)
class Manifest:
    lines: list[Line] = field(default_factory=list)
    truncated: bytes | None = None
    """The bytes after the last newline, if any: a line whose write did not complete."""

    @property
    def head(self) -> Line | None:
        return self.lines[-1] if self.lines else None

    def entries(self) -> Iterator[dict[str, Any]]:
        for line in self.lines:
            if line.entry is not None:
                yield line.entry


def read(store: Path) -> Manifest | None:
    """The manifest of `store`, or None when there is none."""
    path = store / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    out = Manifest()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        out.truncated = data[end:]
    for i, raw in enumerate(data[:end].split(b"\n")[:-1], 1):
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            entry = None
        out.lines.append(Line(i, raw, line_hash(raw), entry if isinstance(entry, dict) else None))
    return out


# -- writing ------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def locked(store: Path) -> Iterator[None]:
    """Exclusive lock on the store for one ingest or prune (a second one waits for the first)."""
    store.mkdir(parents=True, exist_ok=True)
    fd = os.open(store / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class TruncatedManifest(InputError):
    """The manifest ends with a partial line: appending would bury it in the middle of the chain."""


def _last_lines(path: Path, block: int = 1 << 16) -> tuple[bytes | None, bytes]:
    """(the last complete line, the bytes after the last newline) of `path`, read from the end: a six-year
    manifest is read whole only by commands that need every entry, not by each append."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        buf = b""
        pos = end
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            buf = fh.read(step) + buf
            last_nl = buf.rfind(b"\n")
            if last_nl >= 0 and (buf.rfind(b"\n", 0, last_nl) >= 0 or pos == 0):
                break
    last_nl = buf.rfind(b"\n")
    if last_nl < 0:
        return None, buf
    start = buf.rfind(b"\n", 0, last_nl) + 1
    return buf[start:last_nl], buf[last_nl + 1:]


def tail(store: Path, signer: Signer | None = None, *, check_signing: bool = True) -> tuple[int, str]:
    """(last seq, hash of the last line) to chain the next entry to; (0, GENESIS) for a new store.

    A store whose last entry is signed takes only entries signed with the same key: an unsigned append (a
    forgotten key option) or one under another key would make every later `verify --key` fail."""
    path = store / MANIFEST
    try:
        last, partial = _last_lines(path)
    except FileNotFoundError:
        return 0, GENESIS
    if partial:
        raise TruncatedManifest(
            f"ends with a truncated line ({len(partial)} bytes without a newline: an interrupted append); "
            "run `kubehipaa audit archive verify` and repair the store before adding to it", file=str(path))
    if last is None:
        return 0, GENESIS
    try:
        entry = orjson.loads(last)
    except orjson.JSONDecodeError:
        entry = None
    seq = entry.get("seq") if isinstance(entry, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise InputError("the last line is not a manifest entry; run `kubehipaa audit archive verify`",
                         file=str(path))
    if check_signing:
        _same_signing(entry, signer, path)
    return seq, line_hash(last)


class SigningMismatch(InputError):
    """The store is signed with a key the writer was not given (or not signed, and a key was given)."""


def _same_signing(entry: dict[str, Any], signer: Signer | None, path: Path) -> None:
    sig = entry.get("sig")
    if isinstance(sig, dict):
        alg, kid = sig.get("alg"), sig.get("key")
        option = "--hmac-key" if alg == "hmac-sha256" else "--ed25519-key"
        if signer is None:
            raise SigningMismatch(f"this archive's entries are signed ({alg}, key {kid}): give its key with "
                                  f"{option}", file=str(path))
        if (signer.alg, signer.key_id) != (alg, kid):
            raise SigningMismatch(f"this archive's entries are signed with {alg} key {kid}, not the given "
                                  f"{signer.alg} key {signer.key_id}", file=str(path))
    elif signer is not None and entry:
        raise SigningMismatch("this archive's entries are not signed: adding signed entries now would leave the "
                              "earlier ones unverifiable by key (start a new store to sign)", file=str(path))


def chain(entries: list[dict[str, Any]], seq: int, prev: str, signer: Signer | None) -> tuple[bytes, int, str]:
    """Number, link and sign `entries` after (seq, prev): the bytes to append and the new (seq, prev)."""
    out = bytearray()
    for entry in entries:
        seq += 1
        entry["seq"] = seq
        entry["prev"] = prev
        if signer is not None:
            entry["sig"] = signer.sign(entry)
        line = canonical(entry)
        prev = line_hash(line)
        out += line + b"\n"
    return bytes(out), seq, prev


def append(store: Path, data: bytes, *, fsync: bool = True) -> None:
    """Append whole lines in one write, then fsync (the caller holds `locked`)."""
    path = store / MANIFEST
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if new and fsync:
        fsync_dir(store)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
