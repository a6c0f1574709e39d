"""The caps on what one input may cost, and where their values come from.

Why caps at all: a path can name something endless (`/dev/zero`, a FIFO nobody writes to) or something that
grows without bound when read (a 4.6 MB gzip that inflated to 2.1 GB; a log "line" with no newline). Every
reader in `sources` reads within these caps and names the cap it hit, so a hostile or mistaken input is one
clear line and exit 2, never a hang or all the memory of the machine.

The defaults are far above real inputs (docs/input-bounds.md gives the figures) and each can be raised:

| cap | option | environment | default |
|---|---|---|---|
| bytes of one file read whole (manifest, config, rules, control-plane file, a pretty-printed audit document, stdin) | `--max-file-bytes` | `KUBEHIPAA_MAX_FILE_BYTES` | 64 MiB |
| bytes of one line of an audit log | `--max-line-bytes` | `KUBEHIPAA_MAX_LINE_BYTES` | 64 MiB |
| how much a gzip file may inflate: `ratio` x its compressed size, and never less than `GZIP_FLOOR_BYTES` | `--max-gzip-ratio` | `KUBEHIPAA_MAX_GZIP_RATIO` | 200 |

The CLI sets the options (`configure`) once per command; without them, the environment decides; without
that, the defaults. Sizes are written like Kubernetes quantities: `1048576`, `512Ki`, `64Mi`, `1Gi`, `64MiB`,
or decimal `64M` (64,000,000).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from kubehipaa.errors import KubehipaaError

MiB = 1 << 20

DEFAULT_FILE_BYTES = 64 * MiB
DEFAULT_LINE_BYTES = 64 * MiB
DEFAULT_GZIP_RATIO = 200
GZIP_FLOOR_BYTES = 64 * MiB
"""A gzip file may always inflate to this much, whatever its ratio: small files compress less predictably."""

FILE_OPTION, LINE_OPTION, GZIP_OPTION = "--max-file-bytes", "--max-line-bytes", "--max-gzip-ratio"
FILE_ENV, LINE_ENV, GZIP_ENV = "KUBEHIPAA_MAX_FILE_BYTES", "KUBEHIPAA_MAX_LINE_BYTES", "KUBEHIPAA_MAX_GZIP_RATIO"


class Limits(NamedTuple):
    """The caps in force; see the module docstring. (A NamedTuple: every command imports this module, and a
    frozen dataclass costs a millisecond to create.)"""

    file_bytes: int = DEFAULT_FILE_BYTES
    line_bytes: int = DEFAULT_LINE_BYTES
    gzip_ratio: int = DEFAULT_GZIP_RATIO

    def gzip_allowance(self, compressed: int) -> int:
        """How many bytes a gzip stream may inflate to once `compressed` bytes of it were read."""
        return max(GZIP_FLOOR_BYTES, self.gzip_ratio * compressed)


_UNITS = {
    "": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}
_SIZE = re.compile(r"\s*([0-9]+)\s*(|k|K|M|G|T|Ki|Mi|Gi|Ti)B?\s*")


def parse_size(text: str) -> int:
    """`64Mi`, `64MiB`, `512Ki`, `1G`, `1048576` → bytes; ValueError for anything else (or zero)."""
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size (e.g. 64Mi, 512Ki, 1Gi or a number of bytes)")
    value = int(m.group(1)) * _UNITS[m.group(2)]
    if value < 1:
        raise ValueError("must be at least 1 byte")
    return value


def parse_ratio(text: str) -> int:
    """A whole number of at least 1."""
    text = text.strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def format_size(n: int) -> str:
    """Bytes as the largest binary unit that divides them (64 MiB), else as bytes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def from_env() -> Limits:
    """The defaults, overridden by the `KUBEHIPAA_MAX_*` environment variables that are set."""
    limits = Limits()
    for env, field, parse in ((FILE_ENV, "file_bytes", parse_size), (LINE_ENV, "line_bytes", parse_size),
                              (GZIP_ENV, "gzip_ratio", parse_ratio)):
        raw = os.environ.get(env, "").strip()
        if raw:
            try:
                limits = limits._replace(**{field: parse(raw)})
            except ValueError as exc:
                raise KubehipaaError(f"{env}: {exc}") from None
    return limits


_configured: Limits | None = None


def configure(limits: Limits | None) -> None:
    """Set the caps for this process (the CLI's options); None goes back to the environment and defaults."""
    global _configured
    _configured = limits


def current() -> Limits:
    """The caps in force: what `configure` set, else the environment, else the defaults."""
    return _configured if _configured is not None else from_env()


def file_cap_hint() -> str:
    return f"raise the cap with {FILE_OPTION} or {FILE_ENV}"


def line_cap_hint() -> str:
    return f"raise the cap with {LINE_OPTION} or {LINE_ENV}"


def gzip_cap_hint() -> str:
    return f"raise the cap with {GZIP_OPTION} or {GZIP_ENV}"
