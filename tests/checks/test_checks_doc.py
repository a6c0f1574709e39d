"""docs/checks.md is generated from the registry; it must match the registered catalog."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_checks_doc_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_checks_doc", ROOT / "scripts" / "gen_checks_doc.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.render(gen.all_checks())
    current = (ROOT / "docs" / "checks.md").read_text()
    assert current == expected, "docs/checks.md is out of date: run python scripts/gen_checks_doc.py"
