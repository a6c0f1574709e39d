"""The canonical content of a report or saved scan, and its SHA-256: what `kubehipaa verify` recomputes.

Canonical = the report's data (a JSON-able tree) serialised with sorted keys, no insignificant whitespace,
UTF-8, without the `integrity` block itself. Every format that carries an integrity block (JSON report, HTML
report's embedded data, saved scans in the history) hashes exactly these bytes, so one verifier serves all.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

INTEGRITY_KEY = "integrity"
ALGORITHM = "sha256"


def canonical_bytes(tree: Any) -> bytes:
    """Sorted keys, compact; a top-level `integrity` key is left out (it describes these bytes)."""
    if isinstance(tree, dict) and INTEGRITY_KEY in tree:
        tree = {k: v for k, v in tree.items() if k != INTEGRITY_KEY}
    return orjson.dumps(tree, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def content_digest(tree: Any) -> str:
    """Hex SHA-256 of `canonical_bytes(tree)`."""
    return hashlib.sha256(canonical_bytes(tree)).hexdigest()
