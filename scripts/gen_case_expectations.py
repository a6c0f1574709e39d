#!/usr/bin/env python3
"""Write the expected.yaml of case folders from today's findings and alerts (format: tests/cases/README.md).

The output is a first draft, not a proof: it encodes whatever the code does today, bugs included. Read every
file it writes (right object? the field the check talks about? the severity the check documents?) before
committing it.

Usage:
    python scripts/gen_case_expectations.py                 # write expected.yaml where a folder has none
    python scripts/gen_case_expectations.py ID [ID ...]     # rewrite these folders (after an intended change)
    python scripts/gen_case_expectations.py --check         # exit 1 naming folders whose expected.yaml differs
    python scripts/gen_case_expectations.py --stdout ID     # print instead of writing

IDs are check ids (tests/cases/<ID>/) or audit-log rule ids (tests/audit_cases/<ID>/). A `note:` in an existing
expected.yaml is kept when the file is rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import yaml  # noqa: E402

from tests.case_specs import (  # noqa: E402
    AUDIT_CASES,
    AUDIT_FIRE,
    CHECK_CASES,
    EXPECTED,
    alert_entries,
    check_entries,
    render_check_spec,
    render_rule_spec,
)


def folders() -> dict[str, Path]:
    """Every case folder by id: check cases and audit-rule cases."""
    out: dict[str, Path] = {}
    for base in (CHECK_CASES, AUDIT_CASES):
        if base.is_dir():
            out.update({p.name: p for p in sorted(base.iterdir()) if p.is_dir()})
    return out


def _note(folder: Path) -> str | None:
    path = folder / EXPECTED
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    note = doc.get("note") if isinstance(doc, dict) else None
    return note if isinstance(note, str) else None


def spec_text(folder: Path) -> str:
    """The expected.yaml today's behaviour gives for `folder`."""
    note = _note(folder)
    if folder.parent == AUDIT_CASES:
        return render_rule_spec(folder.name, alert_entries(folder / AUDIT_FIRE, folder.name), note)
    per_file = {f.name: check_entries(f, folder.name) for f in sorted(folder.glob("fire*.yaml"))}
    return render_check_spec(folder.name, per_file, note)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="case folders to (re)write; default: those without expected.yaml")
    ap.add_argument("--check", action="store_true", help="report folders whose expected.yaml is out of date")
    ap.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = ap.parse_args(argv)
    every = folders()
    unknown = [i for i in args.ids if i not in every]
    if unknown:
        print(f"no case folder for {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.check:
        stale = [i for i, f in every.items()
                 if not (f / EXPECTED).is_file() or (f / EXPECTED).read_text(encoding="utf-8") != spec_text(f)]
        for i in stale:
            print(f"{every[i].relative_to(ROOT)}/{EXPECTED}: missing or differs from today's behaviour")
        return 1 if stale else 0
    chosen = args.ids or [i for i, f in every.items() if not (f / EXPECTED).is_file()]
    for i in chosen:
        text = spec_text(every[i])
        if args.stdout:
            print(text, end="")
            continue
        (every[i] / EXPECTED).write_text(text, encoding="utf-8")
        print(f"wrote {every[i].relative_to(ROOT)}/{EXPECTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
