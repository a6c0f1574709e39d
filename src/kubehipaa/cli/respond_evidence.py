"""Placeholder: filled in by the issue 14 respond work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the respond group."""
