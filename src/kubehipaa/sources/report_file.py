"""Read a kubehipaa report back for `kubehipaa verify`: a JSON report, or an HTML report whose data is embedded as
`<script type="application/json" id="kubehipaa-report">…</script>` (`reports.integrity.embed_script`).

Why here: reading files (within the input caps, never blocking on a FIFO) is the sources layer's job; the
check itself (`reports.integrity.check`) is pure and the same for every format, so the HTML report only has to
embed its sealed tree.

Hostile input: an HTML page with two such elements is refused (which one would an auditor's browser show?),
as is anything that is not a JSON object made by kubehipaa (`tool.name`). A key written twice is reported:
kubehipaa never writes one, and a reader that keeps the first value would see other content than the digest
covers (orjson keeps the last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubehipaa.errors import InputError
from kubehipaa.sources import json_keys
from kubehipaa.sources.limits import current as current_limits
from kubehipaa.sources.reading import ReadRefused, read_path

EMBED_ID = "kubehipaa-report"  # reports.integrity.EMBED_ID (sources does not import reports)
_SCRIPT_OPEN = re.compile(
    r"<script\b[^>]*\sid\s*=\s*(?:\"kubehipaa-report\"|'kubehipaa-report'|kubehipaa-report(?=[\s>/]))[^>]*>",
    re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(r"</script", re.IGNORECASE)


@dataclass(slots=True)
class ReportFile:
    """A report read back: its data, where it came from (json / html), keys written twice (line, message)."""

    tree: dict[str, Any]
    kind: str
    duplicates: list[tuple[int, str]] = field(default_factory=list)


def read_report(path: str) -> ReportFile:
    """The report's data tree from `path` (JSON or HTML), or InputError naming the file and what is wrong."""
    try:
        data = read_path(path, current_limits().file_bytes)
    except ReadRefused as exc:
        raise InputError(f"cannot read: {exc.reason}", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    return parse_report(data, path)


def parse_report(data: bytes, name: str) -> ReportFile:
    """`data` (a JSON report or an HTML page embedding one) as the report's tree; InputError otherwise."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", name) from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        payload, where, kind = stripped, "JSON", "json"
    else:
        payload, where, kind = _embedded(text, name), f'<script id="{EMBED_ID}">', "html"
    try:
        tree = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where} is not valid JSON ({exc})", name) from None
    tool = tree.get("tool") if isinstance(tree, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != "kubehipaa":
        raise InputError("not a kubehipaa report (no tool.name 'kubehipaa')", name)
    too_deep, duplicates = json_keys.inspect(payload, tree)
    if too_deep:
        raise InputError("nested too deeply to be a kubehipaa report", name)
    return ReportFile(tree, kind, duplicates)


def _embedded(text: str, name: str) -> str:
    opens = list(_SCRIPT_OPEN.finditer(text))
    if not opens:
        raise InputError(f'not a kubehipaa report: neither a JSON object nor an HTML page with '
                         f'<script type="application/json" id="{EMBED_ID}">', name)
    if len(opens) > 1:
        raise InputError(f'{len(opens)} <script id="{EMBED_ID}"> elements: which one is the report is '
                         f"ambiguous, refusing", name)
    start = opens[0].end()
    close = _SCRIPT_CLOSE.search(text, start)
    if close is None:
        raise InputError(f'<script id="{EMBED_ID}"> is never closed', name)
    return text[start:close.start()]
