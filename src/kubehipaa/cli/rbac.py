"""`kubehipaa rbac` command group (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="rbac commands.", no_args_is_help=True)
