"""`kubehipaa pss` command group (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="pss commands.", no_args_is_help=True)
