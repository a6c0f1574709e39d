"""`kubehipaa audit-policy` command group (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="audit-policy commands.", no_args_is_help=True)
