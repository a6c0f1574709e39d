"""Helpers shared by every command: consoles, loading inputs, writing output, exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from kubehipaa.config import Config, load_config
from kubehipaa.errors import InputError, KubehipaaError
from kubehipaa.inventory import Inventory
from kubehipaa.sources.files import LoadResult, load_paths

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the Exit to raise: `raise fail("...")`."""
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


def load_objects(paths: Sequence[str], *, strict: bool = False, quiet: bool = False) -> LoadResult:
    """Load manifests; skipped documents are warned about (or, with strict, fail with exit 2)."""
    if not paths:
        raise InputError("no input given (pass files, directories, or - for stdin)")
    result = load_paths(paths, strict=strict)
    if not quiet:
        for problem in result.problems:
            warn(str(problem))
    return result


def load_inventory(
    paths: Sequence[str],
    config_path: str | None = None,
    *,
    strict: bool = False,
    config: Config | None = None,
    quiet: bool = False,
) -> Inventory:
    """Config + objects → Inventory, the input of every engine and check."""
    cfg = config or load_config(config_path, paths)
    result = load_objects(paths, strict=strict, quiet=quiet)
    return Inventory(result.objects, cfg)


def write_output(text: str, output: Path | None) -> None:
    """Write a rendered report to `output`, or stdout when None or '-'."""
    if output is None or str(output) == "-":
        typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise KubehipaaError(f"{output}: cannot write: {exc.strerror}") from None
