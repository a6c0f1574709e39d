#!/usr/bin/env python3
"""Generate the JSON report's JSON Schema from its typed model (`kubehipaa.reports.json_model.Report`).

The schema is published once, in the package (`src/kubehipaa/reports/schemas/kubehipaa-report.schema.json`,
what `pip install` users get and `report_schema()` reads). Edit the model, then run this; a test fails while
the file is stale.

Usage:
    python scripts/gen_report_schema.py            # rewrite the packaged schema
    python scripts/gen_report_schema.py --check    # exit 1 if it is out of date
    python scripts/gen_report_schema.py --stdout   # print instead of writing
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kubehipaa.reports.json_model import report_json_schema  # noqa: E402

SCHEMA = ROOT / "src" / "kubehipaa" / "reports" / "schemas" / "kubehipaa-report.schema.json"


def render() -> str:
    """The schema file's text: 2-space indent, keys in the model's order, trailing newline."""
    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = SCHEMA.read_text(encoding="utf-8") if SCHEMA.exists() else ""
        if current != text:
            print(f"{SCHEMA.relative_to(ROOT)} is stale: run python scripts/gen_report_schema.py", file=sys.stderr)
            return 1
        return 0
    SCHEMA.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
