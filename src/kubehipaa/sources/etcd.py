"""Read-only etcd v3 access through etcd's HTTP/JSON gRPC gateway (``POST /v3/kv/range``), with TLS.

Why the gateway and not a gRPC client: it ships with every etcd >= 3.3, needs nothing but an HTTP client, and
the maintained Python gRPC clients for etcd are stale.  We only ever call ``kv/range``:

1. ``keys_only`` pages (``limit``) under ``/registry/<resource>/`` pinned to one revision, so the scan sees a
   consistent snapshot however long it takes;
2. for each page of keys, one ranged read of the same span returns the values; only the head of each value
   is decoded and classified by prefix (:func:`kubehipaa.engines.controlplane.classify_value`), then dropped.

Values are never stored, logged or returned: callers receive keys and a :class:`ValueClass` per key.

The endpoint is not trusted to behave (a wrong port, a proxy, a hostile or broken server):

* one overall deadline (``EtcdOptions.timeout``, on the monotonic clock) covers connecting and every page of
  every resource. Each socket operation (connect, TLS handshake, every read and write) gets at most what is
  left, so a response trickled a byte at a time or a ``more: true`` that never ends stops at the deadline
  (:class:`EtcdDeadlineError`) instead of hanging. This is why the client is built on httpcore with a
  deadline-aware network backend: httpx's timeouts apply to each read, and a trickle resets them;
* a response is read up to ``MAX_RESPONSE_BYTES``; a values page that is larger is read again in smaller
  pages;
* an error names the endpoint, the request path and the HTTP status or the field that is wrong, never the
  response body (it may hold stored values);
* every field used is type-checked and every base64 string validated: a wrong type or bad base64 is an
  :class:`EtcdError` (exit 2), as are keys outside the requested range or out of order (which would make
  pagination loop).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import orjson

from kubehipaa.engines.controlplane import ValueClass, classify_value
from kubehipaa.errors import KubehipaaError

PAGE = 500
# Only the head of a value is needed to classify it: 344 base64 chars = 258 bytes, far more than the longest
# "k8s:enc:<provider>:<version>:<key>:" header.  The rest of the value is never decoded.
HEAD_B64 = 344
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The most read of one response. A keys-only page of 500 keys is well under 1 MiB; a values page of 500
ConfigMaps near their 1 MiB limit is not, and is then read in smaller pages (down to one value, which etcd's
request-size limit keeps far below this)."""
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class EtcdError(KubehipaaError):
    """Connection, TLS or protocol failure talking to etcd (CLI exit code 2)."""


class EtcdDeadlineError(EtcdError):
    """The overall deadline ran out; the message says where."""


class _TooLarge(Exception):
    """A response over MAX_RESPONSE_BYTES (internal: a values page is then read in smaller pages)."""


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
    timeout: float = 120.0
    """Seconds for everything: connecting (to each endpoint in turn) and every page of every resource."""
    page_size: int = PAGE


@dataclass(slots=True)
class ClassifiedKey:
    key: str
    value_class: ValueClass


class Deadline:
    """A point on the monotonic clock shared by every socket operation of a client.

    `limit` narrows it for a while (each endpoint tried gets its share of what is left), so one endpoint
    that never answers cannot use up the time of the next.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def clip(self, timeout: float | None, exc: type[Exception]) -> float:
        """`timeout` shortened to what is left; `exc` (an httpcore timeout) when nothing is left."""
        left = self.remaining()
        if left <= 0:
            raise exc("deadline reached")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket timeout (one deadline, not one per record).
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      self._deadline.clip(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking backend with every timeout clipped to the client's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self._deadline.clip(timeout, httpcore.ConnectTimeout),
                                         local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("unix sockets are not supported")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self._deadline.remaining())))


@dataclass(slots=True)
class _Endpoint:
    url: str
    scheme: bytes
    host: bytes
    port: int
    netloc: bytes
    base: str

    @classmethod
    def parse(cls, url: str) -> _Endpoint:
        url = url.rstrip("/")
        try:
            parts = urlsplit(url)
            port = parts.port
            host = parts.hostname
        except ValueError as exc:
            raise EtcdError(f"{url}: invalid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not host:
            raise EtcdError(f"{url}: invalid URL (expected http:// or https:// and a host)")
        try:
            return cls(url, parts.scheme.encode("ascii"), host.encode("idna"),
                       port or (443 if parts.scheme == "https" else 80), parts.netloc.encode("idna"), parts.path)
        except UnicodeError:
            raise EtcdError(f"{url}: invalid URL (host is not a valid name)") from None


@dataclass(slots=True)
class EtcdClient:
    """A minimal, read-only client; use as a context manager. Every request shares one deadline."""

    options: EtcdOptions
    endpoint: str = ""
    revision: int | None = None
    deadline: Deadline | None = field(default=None, repr=False)
    keys_read: int = 0
    """Keys classified under the prefix being read (for "how far it got" when the deadline runs out)."""
    pages_read: int = 0
    _ep: _Endpoint | None = field(default=None, repr=False)
    _pool: httpcore.ConnectionPool | None = field(default=None, repr=False)

    def __enter__(self) -> EtcdClient:
        timeout = self.options.timeout
        if not (timeout > 0 and math.isfinite(timeout)):
            raise EtcdError(f"timeout {timeout}: must be a positive number of seconds")
        ssl_context = self._tls()
        self.deadline = Deadline(timeout)
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context if isinstance(ssl_context, ssl.SSLContext)
                                             else None, network_backend=_DeadlineBackend(self.deadline))
        try:
            self._connect()
        except BaseException:
            self._pool.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()

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
        """Pick the first endpoint that answers; remember the revision to read at. Each endpoint gets its
        share of the time left, so the next one is still tried when one never answers."""
        assert self.deadline is not None
        errors: list[EtcdError] = []
        endpoints = list(self.options.endpoints)
        overall_end = self.deadline.end
        for i, ep in enumerate(endpoints):
            self.endpoint = ep.rstrip("/")
            try:
                self._ep = _Endpoint.parse(ep)
                self.deadline.end = time.monotonic() + max(0.0, overall_end - time.monotonic()) / (len(endpoints) - i)
                data = self._post("/v3/kv/range", {"key": _b64(b"\x00"), "keys_only": True, "limit": 1})
                _, _, revision = _range_fields(data, self.endpoint, "/v3/kv/range")
            except EtcdError as exc:
                errors.append(exc)
                continue
            finally:
                self.deadline.end = overall_end
            self.revision = revision or None
            return
        kind = EtcdDeadlineError if errors and all(isinstance(e, EtcdDeadlineError) for e in errors) else EtcdError
        raise kind("; ".join(map(str, errors)) or "no etcd endpoint given")

    def _post(self, path: str, body: dict[str, Any], *, splittable: bool = False) -> dict[str, Any]:
        """One request; the decoded JSON object. Errors name the endpoint, path and status, never the body.

        A response over MAX_RESPONSE_BYTES is an EtcdError, or with `splittable` (a values page the caller
        can read in smaller pages) the internal _TooLarge."""
        assert self._pool is not None and self._ep is not None and self.deadline is not None
        ep = self._ep
        payload = orjson.dumps(body)
        left = self.deadline.remaining()
        if left <= 0:
            raise self._timed_out(path)
        url = httpcore.URL(scheme=ep.scheme, host=ep.host, port=ep.port, target=(ep.base + path).encode("ascii"))
        headers = [(b"Host", ep.netloc), (b"Content-Type", b"application/json"), (b"Accept", b"application/json")]
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        try:
            with self._pool.stream("POST", url, headers=headers, content=payload,
                                   extensions={"timeout": timeouts}) as resp:
                status = resp.status
                content = _read_capped(resp.iter_stream()) if status == 200 else b""
        except httpcore.TimeoutException:
            raise self._timed_out(path) from None
        except httpcore.ConnectError as exc:
            raise EtcdError(f"{self.endpoint}: cannot connect ({_short(exc)})") from None
        except httpcore.NetworkError as exc:
            raise EtcdError(f"{self.endpoint}: connection lost during {path} ({_short(exc)})") from None
        except httpcore.ProtocolError:
            # h11's messages quote the bytes it could not parse: say what, not what was received.
            raise EtcdError(f"{self.endpoint}: {path}: not a valid HTTP response (is this the etcd client port?)") \
                from None
        except httpcore.UnsupportedProtocol as exc:
            raise EtcdError(f"{self.endpoint}: invalid URL ({_short(exc)})") from None
        except _TooLarge:
            if splittable:
                raise
            raise EtcdError(f"{self.endpoint}: {path} returned more than "
                            f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; stopped") from None
        except OSError as exc:  # e.g. name resolution outside httpcore's mapping
            raise EtcdError(f"{self.endpoint}: cannot connect ({_short(exc)})") from None
        if status != 200:
            raise EtcdError(f"{self.endpoint}: HTTP {status} from {path}")
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise EtcdError(
                f"{self.endpoint}: {path} did not return JSON (is this the etcd client port?)"
            ) from None
        if not isinstance(data, dict):
            raise EtcdError(f"{self.endpoint}: {path} returned JSON that is not an object")
        return data

    def _timed_out(self, path: str) -> EtcdDeadlineError:
        seconds = self.deadline.seconds if self.deadline is not None else self.options.timeout
        return EtcdDeadlineError(f"{self.endpoint}: time limit of {seconds:g}s (--timeout) reached during {path}")

    def _range(
        self, start: bytes, end: bytes, *, keys_only: bool, limit: int
    ) -> tuple[list[tuple[bytes, bytes]], bool]:
        """One page: (key, head of the value) pairs in key order, and whether more follow. Keys are checked
        to lie in [start, end) in ascending order, at most `limit` of them."""
        path = "/v3/kv/range"
        body: dict[str, Any] = {"key": _b64(start), "range_end": _b64(end), "limit": limit}
        if keys_only:
            body["keys_only"] = True
        if self.revision:
            body["revision"] = self.revision
        data = self._post(path, body, splittable=not keys_only)
        kvs, more, _ = _range_fields(data, self.endpoint, path)
        if len(kvs) > limit:
            raise EtcdError(f"{self.endpoint}: {path} returned {len(kvs)} keys for a limit of {limit}")
        previous = None
        for key, _ in kvs:
            if key < start or (end != b"\x00" and key >= end) or (previous is not None and key <= previous):
                raise EtcdError(f"{self.endpoint}: {path} returned keys outside the requested range or out of "
                                "order; stopped (is this etcd?)")
            previous = key
        if more and not kvs:
            raise EtcdError(f"{self.endpoint}: {path} said more keys follow but returned none; stopped")
        return kvs, more

    def scan_prefix(self, prefix: bytes) -> Iterator[ClassifiedKey]:
        """Every key under ``prefix`` with its value's classification (values are never kept).

        When the deadline runs out the EtcdDeadlineError says how far the read got under this prefix.
        """
        self.keys_read = self.pages_read = 0
        try:
            yield from self._scan_prefix(prefix)
        except EtcdDeadlineError as exc:
            raise EtcdDeadlineError(
                f"{exc} while reading {prefix.decode('utf-8', 'replace')}: {self.keys_read} key(s) classified "
                f"in {self.pages_read} page(s), the rest not read"
            ) from None

    def _scan_prefix(self, prefix: bytes) -> Iterator[ClassifiedKey]:
        end = prefix_range_end(prefix)
        start = prefix
        size = max(1, self.options.page_size)
        while True:
            keys, more = self._range(start, end, keys_only=True, limit=size)
            if not keys:
                return
            first, last = keys[0][0], keys[-1][0]
            for key, head in self._values(first, last + b"\x00", len(keys)):
                self.keys_read += 1
                yield ClassifiedKey(key.decode("utf-8", "replace"), classify_value(head))
            self.pages_read += 1
            if not more:
                return
            start = last + b"\x00"

    def _values(self, first: bytes, end: bytes, count: int) -> Iterator[tuple[bytes, bytes]]:
        """The values of the keys in [first, end): one read, or smaller pages when that one is too large."""
        start, limit = first, max(1, count)
        while True:
            try:
                kvs, more = self._range(start, end, keys_only=False, limit=limit)
            except _TooLarge:
                if limit == 1:
                    raise EtcdError(f"{self.endpoint}: one value is larger than "
                                    f"{MAX_RESPONSE_BYTES // (1024 * 1024)} MiB; stopped") from None
                limit = max(1, limit // 2)
                continue
            yield from kvs
            if not more or not kvs:
                return
            start = kvs[-1][0] + b"\x00"


def _read_capped(chunks: Iterable[bytes]) -> bytes:
    parts = []
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise _TooLarge
        parts.append(chunk)
    return b"".join(parts)


def _range_fields(data: dict[str, Any], endpoint: str, path: str) -> tuple[list[tuple[bytes, bytes]], bool, int]:
    """The fields of a RangeResponse as the gateway encodes them (int64 as strings, bytes as base64, false and
    empty fields omitted), type-checked: (key, decoded head of the value) pairs, `more`, the header revision.
    A field of the wrong type or bad base64 is an EtcdError naming the field, never its content."""

    def bad(where: str, what: str) -> EtcdError:
        return EtcdError(f"{endpoint}: {path} returned an invalid range response: {where} {what}")

    header = data.get("header")
    revision = 0
    if header is not None:
        if not isinstance(header, dict):
            raise bad("header", "is not an object")
        revision = _int64(header.get("revision"), lambda: bad("header.revision", "is not an integer"))
    more = data.get("more", False)
    if not isinstance(more, bool):
        raise bad("more", "is not a boolean")
    raw_kvs = data.get("kvs")
    if raw_kvs is None:
        raw_kvs = []
    if not isinstance(raw_kvs, list):
        raise bad("kvs", "is not a list")
    kvs = []
    for i, kv in enumerate(raw_kvs):
        if not isinstance(kv, dict):
            raise bad(f"kvs[{i}]", "is not an object")
        key = kv.get("key")
        if not isinstance(key, str) or not key or not _is_b64(key):
            raise bad(f"kvs[{i}].key", "is missing or not base64")
        value = kv.get("value", "")
        if value is None:
            value = ""
        if not isinstance(value, str) or not _is_b64(value):
            raise bad(f"kvs[{i}].value", "is not base64")
        try:
            # a valid string's head is valid too: HEAD_B64 is a multiple of 4 and padding only ends the string
            kvs.append((base64.b64decode(key), base64.b64decode(value[:HEAD_B64])))
        except (binascii.Error, ValueError):
            raise bad(f"kvs[{i}]", "is not base64") from None
    return kvs, more, revision


def _int64(value: Any, error: Any) -> int:
    """A protobuf int64 as the JSON gateway writes it (a decimal string; plain numbers accepted)."""
    if value is None:
        return 0
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 19):
            raise error()
    elif isinstance(value, bool) or not isinstance(value, int):
        raise error()
    number = int(value)
    if number < 0 or number >= 2**63:
        raise error()
    return number


def _is_b64(text: str) -> bool:
    return len(text) % 4 == 0 and _B64.fullmatch(text) is not None


def _tls_reason(exc: Exception) -> str:
    """The short reason of an ssl/OS error (`NO_CERTIFICATE_OR_CRL_FOUND`, `PEM lib`), never file content."""
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(reason)) if reason else type(exc).__name__


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    return text.splitlines()[0][:200]

