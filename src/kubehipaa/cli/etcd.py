"""`kubehipaa etcd` command group (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="etcd commands.", no_args_is_help=True)
