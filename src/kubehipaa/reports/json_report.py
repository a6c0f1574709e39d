"""JSON report (minimal; schema-backed version in progress)."""

from __future__ import annotations

import orjson

from kubehipaa.config import Config
from kubehipaa.pipeline import ScanResult


def render_json(result: ScanResult, config: Config) -> str:
    doc = {
        "tool": "kubehipaa",
        "findings": [f.to_dict() for f in result.findings],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
