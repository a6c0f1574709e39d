"""The `kubehipaa` (and `kubectl-hipaa`) entry point: registers the command groups, maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from rich.markup import escape
from typer.core import TyperGroup

from kubehipaa import __version__
from kubehipaa.cli.common import EXIT_ERROR, err_console
from kubehipaa.errors import KubehipaaError

if TYPE_CHECKING:
    from typer._click import Command, Context


# Command groups, in `--help` order. Each function imports its module and registers the command (or group) on
# `holder`. Nothing is imported until the group is invoked (or `--help` lists it): the modules behind these pull
# in the config models, the checks, the RBAC/NetworkPolicy engines, httpx, jsonschema, the kubernetes client, ...
# (0.5 s), and `audit analyze` must start fast (issue 7: 250k events/s end to end).
def _scan(holder: typer.Typer) -> None:
    from kubehipaa.cli import scan

    holder.command("scan")(scan.scan)


def _checks(holder: typer.Typer) -> None:
    from kubehipaa.cli import checks_cmd

    holder.add_typer(checks_cmd.app, name="checks")


def _pss(holder: typer.Typer) -> None:
    from kubehipaa.cli import pss

    holder.add_typer(pss.app, name="pss")


@cache
def _rbac_app() -> typer.Typer:
    """`rbac` plus `unused` / `suggest` from rbac_usage; cached because it adds commands to `rbac.app`."""
    from kubehipaa.cli import rbac, rbac_usage

    rbac.app.command("unused")(rbac_usage.unused)
    rbac.app.command("suggest")(rbac_usage.suggest)
    return rbac.app


def _rbac(holder: typer.Typer) -> None:
    holder.add_typer(_rbac_app(), name="rbac")


def _netpol(holder: typer.Typer) -> None:
    from kubehipaa.cli import netpol

    holder.add_typer(netpol.app, name="netpol")


@cache
def _audit_app() -> typer.Typer:
    """`audit` plus `serve` from audit_serve; cached because it adds a command to `audit.app`."""
    from kubehipaa.cli import audit, audit_serve

    audit.app.command("serve")(audit_serve.serve)
    return audit.app


def _audit(holder: typer.Typer) -> None:
    holder.add_typer(_audit_app(), name="audit")


def _audit_policy(holder: typer.Typer) -> None:
    from kubehipaa.cli import audit_policy

    holder.add_typer(audit_policy.app, name="audit-policy")


def _etcd(holder: typer.Typer) -> None:
    from kubehipaa.cli import etcd

    holder.add_typer(etcd.app, name="etcd")


COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "scan": _scan,
    "checks": _checks,
    "pss": _pss,
    "rbac": _rbac,
    "netpol": _netpol,
    "audit": _audit,
    "audit-policy": _audit_policy,
    "etcd": _etcd,
}


def _build(name: str) -> Command:
    """The click command for `name`, built by typer exactly as `app.add_typer` / `app.command` would have."""
    holder = typer.Typer(rich_markup_mode=app.rich_markup_mode, pretty_exceptions_short=app.pretty_exceptions_short)
    COMMANDS[name](holder)
    return typer.main.get_group(holder).commands[name]


class _LazyCommands(MutableMapping[str, "Command"]):
    """The root group's `commands`: every name is known up front (for `--help` order and typer's "Did you mean",
    which read the keys), a command is built, importing its module, on first lookup."""

    def __init__(self, names: Iterable[str]) -> None:
        self._commands: dict[str, Command | None] = dict.fromkeys(names)

    def __getitem__(self, name: str) -> Command:
        cmd = self._commands[name]
        if cmd is None:
            cmd = self._commands[name] = _build(name)
        return cmd

    def __setitem__(self, name: str, cmd: Command) -> None:
        self._commands[name] = cmd

    def __delitem__(self, name: str) -> None:
        del self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


class LazyGroup(TyperGroup):
    """typer's root group with lazily built subcommands (see COMMANDS)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        lazy = _LazyCommands(COMMANDS)
        lazy.update(self.commands)  # anything registered on `app` itself stays as typer built it
        self.commands = lazy

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # names only: listing must not import every group


app = typer.Typer(
    name="kubehipaa",
    cls=LazyGroup,
    help=(
        "Make a Kubernetes cluster HIPAA-ready and prove it.\n\n"
        "Example: kubehipaa scan examples/clinic-insecure"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kubehipaa {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Make a Kubernetes cluster HIPAA-ready and prove it."""


def _classes(name: str) -> tuple[type[Any], ...]:
    """click's exception class `name`; typer >= 0.20 vendors its own copy of click, so both copies count.

    Looked up when an exception is being handled: a copy nobody imported cannot have raised it, and importing
    click just for its exception classes would cost start-up time.
    """
    mods = (sys.modules.get("typer._click.exceptions"), sys.modules.get("click.exceptions"))
    return tuple(c for m in mods if isinstance(c := getattr(m, name, None), type))


def main() -> None:
    """Run the CLI; user-facing errors become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except _classes("NoArgsIsHelpError") as exc:
        err_console.print(exc.format_message(), markup=False, highlight=False)
        sys.exit(EXIT_ERROR)
    except _classes("UsageError") as exc:
        # One line, like every other error: the rich box click/typer draw is hard to read in CI logs.
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        err_console.print(f"[red]error:[/red] {escape(exc.format_message())}{where}", soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except _classes("ClickException") as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.format_message())}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except _classes("Abort"):
        err_console.print("aborted")
        sys.exit(130)
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if os.environ.get("KUBEHIPAA_DEBUG"):
            raise
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc))} "
            "(set KUBEHIPAA_DEBUG=1 for a traceback and please report it)",
            soft_wrap=True,
        )
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
