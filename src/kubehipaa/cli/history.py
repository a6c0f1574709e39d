"""`kubehipaa history list | show | diff | trend`: the scans saved with `kubehipaa scan ... --save`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer

from kubehipaa.cli import common
from kubehipaa.cli.common import write_output
from kubehipaa.config import Config
from kubehipaa.errors import KubehipaaError
from kubehipaa.pipelines.history import diff_scans, open_history, trend, verify_saved
from kubehipaa.reports.common import generated_at
from kubehipaa.reports.history import render_diff, render_list, render_show, render_trend
from kubehipaa.reports.terminal import terminal_width

app = typer.Typer(help="Saved scans: list, show, diff by fingerprint, trend per HIPAA safeguard.",
                  no_args_is_help=True)

URL_HELP = common.HISTORY_URL_HELP
CONFIG_HELP = "Path to .kubehipaa.yaml (default: the one in the current directory)."


class TextJson(str, Enum):
    text = "text"
    json = "json"


class TrendFormat(str, Enum):
    text = "text"
    json = "json"
    html = "html"


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A history or config problem is one `error:` line and exit 2, however the app is invoked."""
    try:
        yield
    except KubehipaaError as exc:
        raise common.fail(str(exc)) from None


def _config(path: str | None) -> Config:
    return common.load_config_if_present(path) or Config()


@app.command("list")
def list_(
    history_url: str | None = typer.Option(None, "--history-url", help=URL_HELP),
    config: str | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the newest N scans (0 = all)."),
    fmt: TextJson = typer.Option(TextJson.text, "--format", "-f"),
) -> None:
    """List saved scans, oldest first."""
    with one_line_errors(), open_history(history_url, _config(config), create=False) as store:
        write_output(render_list(store.scans(limit or None), store.location.display, fmt.value,
                                 terminal_width()), None)


@app.command("show")
def show(
    scan_id: str = typer.Argument(..., help="A scan id from `history list`, or `last`."),
    history_url: str | None = typer.Option(None, "--history-url", help=URL_HELP),
    config: str | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    fmt: TextJson = typer.Option(TextJson.text, "--format", "-f"),
) -> None:
    """One saved scan: metadata, inputs with SHA-256, findings with fingerprints, and its integrity
    re-checked (the saved report against the digest sealed with it; exit 2 when it does not match)."""
    with one_line_errors(), open_history(history_url, _config(config), create=False) as store:
        meta = store.resolve(scan_id)
        if meta is None:
            raise common.fail(f"no saved scans in {store.location.display}")
        integrity = verify_saved(store, meta.id)
        write_output(render_show(meta, store.inputs(meta.id), store.findings(meta.id), fmt.value,
                                 terminal_width(), integrity.problems), None)
    if not integrity.ok:
        for problem in integrity.problems:
            common.warn(f"saved scan #{meta.id}: {problem}")
        raise typer.Exit(common.EXIT_ERROR)


@app.command("diff")
def diff(
    old: str = typer.Argument(..., help="The earlier scan id."),
    new: str = typer.Argument("last", help="The later scan id (default: last)."),
    history_url: str | None = typer.Option(None, "--history-url", help=URL_HELP),
    config: str | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    fmt: TextJson = typer.Option(TextJson.text, "--format", "-f"),
    unchanged: bool = typer.Option(False, "--unchanged", help="Text: list the unchanged findings too."),
) -> None:
    """New, fixed and unchanged findings between two saved scans, by fingerprint (not file or line)."""
    with one_line_errors(), open_history(history_url, _config(config), create=False) as store:
        write_output(render_diff(diff_scans(store, old, new), fmt.value, terminal_width(),
                                 unchanged=unchanged), None)


@app.command("trend")
def trend_(
    history_url: str | None = typer.Option(None, "--history-url", help=URL_HELP),
    config: str | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the newest N scans (0 = all)."),
    fmt: TrendFormat = typer.Option(TrendFormat.text, "--format", "-f"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> None:
    """Unsuppressed findings per HIPAA safeguard over the saved scans (HTML: a self-contained page with an
    inline SVG chart)."""
    with one_line_errors(), open_history(history_url, _config(config), create=False) as store:
        t = trend(store, limit or None)
    write_output(render_trend(t, fmt.value, terminal_width(), generated_at()), output)
