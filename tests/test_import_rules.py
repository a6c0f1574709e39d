"""The layer rules of docs/architecture.md, checked on the import graph (issue 13 req 3).

Read with `ast` from the source files (cheap, no third-party tool): every `import` and `from ... import`
anywhere in a module counts, function-level and TYPE_CHECKING imports included, because a lazy import is
still a dependency.

Rules:
1. An engine package is used through its front module: outside `kubehipaa.engines.<pkg>`, only
   `kubehipaa.engines.<pkg>` itself may be imported, never `kubehipaa.engines.<pkg>.<module>`.
2. Engines are pure: they import no sources, checks, pipelines, reports, cli, server or respond.
3. Checks read the Inventory's views: they import no sources, pipelines, reports, cli or server.
4. Only the CLI imports the CLI; reports import no sources, cli or server; pipelines import no cli.
   The history store (`history/`, the only code talking to the history database) is an outside-world
   component like sources: engines, checks, reports, frameworks, redaction and sources never import it; it
   imports no cli, checks, engines, pipelines, reports, sources, server or respond (pipelines read and
   write it).
5. Redaction is a leaf: it imports nothing of the project but the PHI engine's validators (`ALLOWED`).
6. Generators (`generate/`) build manifests as data: no CLI, server, respond, reports, pipelines or checks.
7. `fix/` edits the user's files (comment-preserving round trips) driven by `pipelines.fix`: it imports no cli,
   server, respond, reports, pipelines or history. `archive/` is an outside-world component (the audit
   archive on disk, DuckDB): no cli, checks, reports, respond, pipelines, server or history. Engines, checks,
   frameworks, redaction and generators import neither.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "kubehipaa"


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file; `from X import y` yields X.y and X (y may be a
    submodule or a name: both are checked, since `from kubehipaa.engines.rbac import index` is a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path)
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            yield mod, node.lineno
            for alias in node.names:
                candidate = f"{mod}.{alias.name}"
                if (SRC / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                        (SRC / Path(*candidate.split("."))).is_dir():
                    yield candidate, node.lineno


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def engine_package(module: str) -> str | None:
    """`kubehipaa.engines.rbac.index` → `kubehipaa.engines.rbac`; a top-level engine module is its own front."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["kubehipaa", "engines"]:
        return ".".join(parts[:3])
    return None


FORBIDDEN: dict[str, set[str]] = {
    "engines": {"sources", "checks", "pipelines", "pipeline", "reports", "cli", "server", "respond", "history",
                "archive", "fix"},
    "checks": {"sources", "pipelines", "pipeline", "reports", "cli", "server", "respond", "history", "archive",
               "fix"},
    "reports": {"sources", "cli", "server", "respond", "history"},
    "pipelines": {"cli"},
    "sources": {"cli", "reports", "checks", "history"},
    "server": {"cli"},
    "respond": {"cli"},
    "generate": {"cli", "server", "respond", "reports", "pipelines", "checks", "history", "archive", "fix"},
    "frameworks": {"sources", "checks", "cli", "server", "reports", "history", "archive", "fix"},
    "redaction": {"sources", "checks", "cli", "server", "reports", "engines", "pipelines", "history", "archive",
                  "fix"},
    "fix": {"cli", "server", "respond", "reports", "pipelines", "history"},
    "archive": {"cli", "checks", "reports", "respond", "pipelines", "server", "history"},
    "history": {"cli", "checks", "engines", "server", "respond", "pipelines", "reports", "sources"},
}


ALLOWED: dict[str, set[str]] = {
    "redaction": {"kubehipaa.engines", "kubehipaa.engines.phi"},
}
"""Documented exceptions to FORBIDDEN: the redaction leaf uses the PHI engine's validators (SSN areas, NPI
check digits), which are pure and import nothing of the project, so PHI is recognised the same way everywhere."""


def violations() -> list[str]:
    out: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        me = module_name(path)
        my_layer = layer(me)
        my_engine = engine_package(me)
        for target, line in imports_of(path):
            if not target.startswith("kubehipaa."):
                continue
            where = f"{path.relative_to(SRC.parent)}:{line}"
            target_layer = layer(target)
            if target_layer in FORBIDDEN.get(my_layer, set()) and target not in ALLOWED.get(my_layer, set()):
                out.append(f"{where}: {me} ({my_layer}) imports {target} ({target_layer})")
            front = engine_package(target)
            if front and target != front and front != my_engine:
                out.append(f"{where}: {me} imports engine internal {target}; import {front}")
    return out


def test_layers_import_only_what_the_architecture_allows() -> None:
    found = violations()
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source,expected", [
    ("from kubehipaa.engines.rbac.index import RbacIndex\n", "engine internal"),
    ("from kubehipaa.sources.files import load\n", "imports kubehipaa.sources.files (sources)"),
    ("from kubehipaa.history import HistoryStore\n", "imports kubehipaa.history (history)"),
])
def test_the_rule_catches_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str,
                                      expected: str) -> None:
    """The checker itself can fail: a check importing an engine internal or a source is reported."""
    fake_src = tmp_path / "src"
    checks = fake_src / "kubehipaa" / "checks"
    checks.mkdir(parents=True)
    (checks / "__init__.py").write_text("")
    (checks / "bad.py").write_text(source)
    monkeypatch.setitem(globals(), "SRC", fake_src)
    monkeypatch.setitem(globals(), "PKG", fake_src / "kubehipaa")
    found = violations()
    assert any(expected in v for v in found), found
