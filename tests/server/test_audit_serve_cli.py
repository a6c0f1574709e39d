"""The `serve` command function: help with an example, TLS required unless explicitly disabled."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from kubehipaa.cli.audit_serve import serve


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve)
    return app


def test_help_has_an_example() -> None:
    r = CliRunner().invoke(_app(), ["--help"])
    assert r.exit_code == 0
    assert "Example: kubehipaa audit serve" in r.output
    for opt in ("--tls-cert", "--tls-key", "--alerts-out", "--queue-size", "--max-body-bytes", "--sigma"):
        assert opt in r.output


def test_tls_is_required() -> None:
    r = CliRunner().invoke(_app(), ["--port", "18443"])
    assert r.exit_code == 2
