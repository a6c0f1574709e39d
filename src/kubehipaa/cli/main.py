"""The `kubehipaa` (and `kubectl-hipaa`) entry point: registers the command groups, maps errors to exit codes."""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import click
import typer
from rich.markup import escape

from kubehipaa import __version__
from kubehipaa.cli import (
    audit,
    audit_policy,
    audit_serve,
    checks_cmd,
    etcd,
    netpol,
    pss,
    rbac,
    rbac_usage,
    scan,
)
from kubehipaa.cli.common import EXIT_ERROR, err_console
from kubehipaa.errors import KubehipaaError

app = typer.Typer(
    name="kubehipaa",
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


app.command("scan")(scan.scan)
app.add_typer(checks_cmd.app, name="checks")
app.add_typer(pss.app, name="pss")
rbac.app.command("unused")(rbac_usage.unused)
rbac.app.command("suggest")(rbac_usage.suggest)
app.add_typer(rbac.app, name="rbac")
app.add_typer(netpol.app, name="netpol")
audit.app.command("serve")(audit_serve.serve)
app.add_typer(audit.app, name="audit")
app.add_typer(audit_policy.app, name="audit-policy")
app.add_typer(etcd.app, name="etcd")


def _click_modules() -> list[ModuleType]:
    """click's exception classes; typer >= 0.20 vendors its own copy of click, so catch both."""
    mods: list[ModuleType] = [click.exceptions]
    try:
        from typer._click import exceptions as vendored
    except ImportError:  # older typer: it uses click itself
        return mods
    mods.append(vendored)
    return mods


_CLICK = _click_modules()


def _classes(name: str) -> tuple[type[Any], ...]:
    return tuple(getattr(m, name) for m in _CLICK if isinstance(getattr(m, name, None), type))


_NO_ARGS = _classes("NoArgsIsHelpError")
_USAGE = _classes("UsageError")
_CLICK_ERROR = _classes("ClickException")
_ABORT = _classes("Abort")


def main() -> None:
    """Run the CLI; user-facing errors become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except _NO_ARGS as exc:
        err_console.print(exc.format_message(), markup=False, highlight=False)
        sys.exit(EXIT_ERROR)
    except _USAGE as exc:
        # One line, like every other error: the rich box click/typer draw is hard to read in CI logs.
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        err_console.print(f"[red]error:[/red] {escape(exc.format_message())}{where}", soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except _CLICK_ERROR as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.format_message())}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except _ABORT:
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
