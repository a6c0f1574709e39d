"""Every command's `--help` renders (rich markup in help texts is parsed: a stray `[/X]` used to crash one)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kubehipaa.cli.main import app


def _paths() -> list[list[str]]:
    """Every command path of the CLI, groups included, found by walking the command tree."""
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        out.append(path)
        if hasattr(cmd, "list_commands"):
            ctx = cmd.make_context("kubehipaa", [], resilient_parsing=True)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(root, [])
    return out


PATHS = _paths()


def test_the_walk_finds_the_commands() -> None:
    joined = {" ".join(p) for p in PATHS}
    assert {"scan", "audit analyze", "audit serve", "audit rules list", "netpol can-reach", "rbac who-can"} <= joined
    assert len(PATHS) > 30


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "kubehipaa")
def test_help_renders(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Usage" in result.output
