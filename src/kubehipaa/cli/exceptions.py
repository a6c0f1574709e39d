"""`kubehipaa exceptions list`: the risk-acceptance register (pipelines.exceptions_register)."""

from __future__ import annotations

import typer

from kubehipaa.cli import common
from kubehipaa.cli.common import EXIT_OK, write_output
from kubehipaa.cli.history import CONFIG_HELP, URL_HELP, TextJson, one_line_errors
from kubehipaa.config import Config
from kubehipaa.history import HistoryMissing, HistoryStore
from kubehipaa.pipelines.exceptions_register import build_register
from kubehipaa.pipelines.history import build_record, history_location
from kubehipaa.pipelines.scan import check_exceptions, scan
from kubehipaa.reports.exceptions_register import render_register
from kubehipaa.reports.terminal import terminal_width

app = typer.Typer(help="The risk-acceptance register: exceptions of .kubehipaa.yaml and what they matched.",
                  no_args_is_help=True)


@app.command("list")
def list_(
    paths: list[str] = typer.Argument(
        None, help="Scan these manifests now and show what each exception matches in them (nothing is "
                   "saved); without paths, matches come from the history."),
    expired: bool = typer.Option(False, "--expired", help="Only exceptions past their expiry."),
    unused: bool = typer.Option(False, "--unused", help="Only live exceptions that matched nothing in the "
                                                        "latest saved scan of any target."),
    history_url: str | None = typer.Option(None, "--history-url", help=URL_HELP),
    config: str | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    fmt: TextJson = typer.Option(TextJson.text, "--format", "-f"),
) -> None:
    """Every exception with status (active, expired, unused, not-scanned), matched findings, owner, approver,
    justification, expiry, and its matched counts in every saved scan.

    Matches come from PATHS when given (scanned now), else from the latest saved scan of each target (input
    set) in the history; an exception no saved scan has recorded in its current wording is `not-scanned`.
    Save a scan first (`kubehipaa scan ... --save`) to build its history.
    """
    if expired and unused:
        raise typer.BadParameter("give --expired or --unused, not both")
    with one_line_errors():
        code = _list(paths or [], expired, unused, history_url, config, fmt)
    raise typer.Exit(code)


def _list(paths: list[str], expired: bool, unused: bool, history_url: str | None, config: str | None,
          fmt: TextJson) -> int:
    cfg = common.load_config_if_present(config, paths) or Config()
    check_exceptions(cfg)
    current, loaded = None, None
    if paths:
        loaded = common.load_objects(paths)
        common.require_objects(loaded.objects, paths, loaded, "nothing was scanned")
        current = build_record(scan(loaded, cfg), cfg, [], paths)
    location = history_location(history_url, cfg)
    try:
        store: HistoryStore | None = HistoryStore.open(location, create=False)
    except HistoryMissing:
        store = None  # no history yet: statuses say `not-scanned`
    try:
        register = build_register(cfg, store, current=current)
    finally:
        if store is not None:
            store.close()
    if expired or unused:
        want = "expired" if expired else "unused"
        register.entries = [e for e in register.entries if e.status == want]
    write_output(render_register(register, fmt.value, terminal_width()), None)
    return common.finish(loaded, EXIT_OK)  # lost input (exit 2): the matches may be incomplete
