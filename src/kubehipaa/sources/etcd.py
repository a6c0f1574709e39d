"""Read-only etcd v3 access through etcd's HTTP/JSON gRPC gateway (``POST /v3/kv/range``), with TLS.

Why the gateway and not a gRPC client: it ships with every etcd >= 3.3, needs nothing but ``httpx``, and the
maintained Python gRPC clients for etcd are stale.  We only ever call ``kv/range``:

1. ``keys_only`` pages (``limit``) under ``/registry/<resource>/`` pinned to one revision, so the scan sees a
   consistent snapshot however long it takes;
2. for each page of keys, one ranged read of the same span returns the values; only the head of each value
   is decoded and classified by prefix (:func:`kubehipaa.engines.encryption.classify_value`), then dropped.

Values are never stored, logged or returned: callers receive keys and a :class:`ValueClass` per key.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from kubehipaa.engines.encryption import ValueClass, classify_value
from kubehipaa.errors import KubehipaaError

PAGE = 500
# Only the head of a value is needed to classify it: 344 base64 chars = 258 bytes, far more than the longest
# "k8s:enc:<provider>:<version>:<key>:" header.  The rest of the value is never decoded.
HEAD_B64 = 344


class EtcdError(KubehipaaError):
    """Connection, TLS or protocol failure talking to etcd (CLI exit code 2)."""


def prefix_range_end(prefix: bytes) -> bytes:
    """etcd's GetPrefixRangeEnd: the smallest key greater than every key with this prefix."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"  # prefix of all 0xff: range to the end of the keyspace


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(slots=True)
class EtcdOptions:
    endpoints: Sequence[str]
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None
    timeout: float = 10.0
    page_size: int = PAGE


@dataclass(slots=True)
class ClassifiedKey:
    key: str
    value_class: ValueClass


@dataclass(slots=True)
class EtcdClient:
    """A minimal, read-only client; use as a context manager."""

    options: EtcdOptions
    endpoint: str = ""
    revision: int | None = None
    _client: httpx.Client | None = field(default=None, repr=False)

    def __enter__(self) -> EtcdClient:
        self._client = httpx.Client(verify=self._tls(), timeout=self.options.timeout)
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()

    def _tls(self) -> ssl.SSLContext | bool:
        opts = self.options
        if not any(e.startswith("https://") for e in opts.endpoints):
            return True
        if (opts.cert or opts.key) and not (opts.cert and opts.key):
            raise EtcdError("--cert and --key must be given together")
        try:
            ctx = (
                ssl.create_default_context(cafile=opts.cacert)
                if opts.cacert
                else ssl.create_default_context()
            )
        except FileNotFoundError as exc:
            raise EtcdError(f"{exc.filename}: no such file") from None
        except (ssl.SSLError, OSError) as exc:
            raise EtcdError(f"{opts.cacert}: --cacert is not a usable PEM CA bundle ({_tls_reason(exc)})") from None
        if opts.cert and opts.key:
            try:
                ctx.load_cert_chain(opts.cert, opts.key)
            except FileNotFoundError as exc:
                raise EtcdError(f"{exc.filename or opts.cert}: no such file") from None
            except (ssl.SSLError, OSError) as exc:
                raise EtcdError(
                    f"{opts.cert}: --cert/--key ({opts.key}) are not a matching PEM certificate and private key "
                    f"({_tls_reason(exc)})"
                ) from None
        return ctx

    def _connect(self) -> None:
        """Pick the first endpoint that answers; remember the revision to read at."""
        errors = []
        for ep in self.options.endpoints:
            self.endpoint = ep.rstrip("/")
            try:
                data = self._post("/v3/kv/range", {"key": _b64(b"\x00"), "keys_only": True, "limit": 1})
            except EtcdError as exc:
                errors.append(str(exc))
                continue
            self.revision = int(data.get("header", {}).get("revision", 0)) or None
            return
        raise EtcdError("; ".join(errors) or "no etcd endpoint given")

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._client is not None
        url = self.endpoint + path
        try:
            resp = self._client.post(url, json=body)
        except httpx.ConnectError as exc:
            raise EtcdError(f"{self.endpoint}: cannot connect ({_short(exc)})") from None
        except httpx.TimeoutException:
            raise EtcdError(f"{self.endpoint}: timed out after {self.options.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise EtcdError(f"{self.endpoint}: {type(exc).__name__}: {_short(exc)}") from None
        except (httpx.InvalidURL, ValueError) as exc:  # InvalidURL is not an HTTPError
            raise EtcdError(f"{self.endpoint}: invalid URL ({_short(exc)})") from None
        if resp.status_code != 200:
            try:
                detail = resp.json().get("error") or resp.json().get("message") or resp.text
            except ValueError:
                detail = resp.text[:200]
            raise EtcdError(f"{self.endpoint}: HTTP {resp.status_code} from {path}: {str(detail).strip()}")
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise EtcdError(
                f"{self.endpoint}: {path} did not return JSON (is this the etcd client port?)"
            ) from None
        if not isinstance(data, dict):
            raise EtcdError(f"{self.endpoint}: unexpected response from {path}")
        return data

    def _range(
        self, start: bytes, end: bytes, *, keys_only: bool, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(end), "limit": limit}
        if keys_only:
            body["keys_only"] = True
        if self.revision:
            body["revision"] = self.revision
        data = self._post("/v3/kv/range", body)
        kvs = data.get("kvs") or []
        return kvs, bool(data.get("more"))

    def scan_prefix(self, prefix: bytes) -> Iterator[ClassifiedKey]:
        """Every key under ``prefix`` with its value's classification (values are never kept)."""
        end = prefix_range_end(prefix)
        start = prefix
        size = max(1, self.options.page_size)
        while True:
            keys, more = self._range(start, end, keys_only=True, limit=size)
            if not keys:
                return
            first = base64.b64decode(keys[0]["key"])
            last = base64.b64decode(keys[-1]["key"])
            valued, _ = self._range(first, last + b"\x00", keys_only=False, limit=len(keys))
            for kv in valued:
                key = base64.b64decode(kv["key"])
                vc = classify_value(base64.b64decode((kv.get("value") or "")[:HEAD_B64]))
                yield ClassifiedKey(key.decode("utf-8", "replace"), vc)
            if not more:
                return
            start = last + b"\x00"


def _tls_reason(exc: Exception) -> str:
    """The short reason of an ssl/OS error (`NO_CERTIFICATE_OR_CRL_FOUND`, `PEM lib`), never file content."""
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(reason)) if reason else type(exc).__name__


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
