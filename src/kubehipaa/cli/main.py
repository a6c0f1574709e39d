"""The `kubehipaa` (and `kubectl-hipaa`) entry point: registers the command groups, maps errors to exit codes."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

import typer
import typer.main
from rich.markup import escape
from typer.core import TyperGroup

from kubehipaa import __version__
from kubehipaa.cli import quick_exit
from kubehipaa.cli.common import EXIT_BROKEN_PIPE, EXIT_ERROR, err_console, silence_stdout
from kubehipaa.errors import KubehipaaError
from kubehipaa.sources import limits

if TYPE_CHECKING:
    from typer._click import Command, Context


# Command groups, in `--help` order. Each function imports its module and registers the command (or group) on
# `holder`. Nothing is imported until the group is invoked (or `--help` lists it): the modules behind these pull
# in the config models, the checks, the RBAC/NetworkPolicy engines, httpx, jsonschema, the kubernetes client, ...
# (0.5 s), and `audit analyze` must start fast (issue 7: 250k events/s end to end).
def _scan(holder: typer.Typer) -> None:
    from kubehipaa.cli import scan

    holder.command("scan")(scan.scan)


def _snapshot(holder: typer.Typer) -> None:
    from kubehipaa.cli import snapshot

    holder.command("snapshot")(snapshot.snapshot)


def _checks(holder: typer.Typer) -> None:
    from kubehipaa.cli import catalog

    holder.add_typer(catalog.app, name="checks")


def _catalog(holder: typer.Typer) -> None:
    from kubehipaa.cli import catalog_cmd

    holder.command("catalog")(catalog_cmd.catalog)


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


def _generate(holder: typer.Typer) -> None:
    from kubehipaa.cli import generate

    holder.add_typer(generate.app, name="generate")


def _fix(holder: typer.Typer) -> None:
    from kubehipaa.cli import fix

    holder.command("fix")(fix.fix)


def _etcd(holder: typer.Typer) -> None:
    from kubehipaa.cli import etcd

    holder.add_typer(etcd.app, name="etcd")


def _respond(holder: typer.Typer) -> None:
    from kubehipaa.cli import respond

    holder.add_typer(respond.register(), name="respond")


def _history(holder: typer.Typer) -> None:
    from kubehipaa.cli import history

    holder.add_typer(history.app, name="history")


def _exceptions(holder: typer.Typer) -> None:
    from kubehipaa.cli import exceptions

    holder.add_typer(exceptions.app, name="exceptions")


def _serve(holder: typer.Typer) -> None:
    from kubehipaa.cli import serve_admission

    holder.add_typer(serve_admission.app, name="serve")


def _admission(holder: typer.Typer) -> None:
    from kubehipaa.cli import admission

    holder.add_typer(admission.app, name="admission")


def _verify(holder: typer.Typer) -> None:
    from kubehipaa.cli import verify

    holder.command("verify")(verify.verify)


COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "scan": _scan,
    "snapshot": _snapshot,
    "checks": _checks,
    "catalog": _catalog,
    "pss": _pss,
    "rbac": _rbac,
    "netpol": _netpol,
    "audit": _audit,
    "audit-policy": _audit_policy,
    "etcd": _etcd,
    "generate": _generate,
    "fix": _fix,
    "respond": _respond,
    "history": _history,
    "exceptions": _exceptions,
    "verify": _verify,
    "serve": _serve,
    "admission": _admission,
}


def _build(name: str) -> Command:
    """The click command for `name`, built by typer exactly as `app.add_typer` / `app.command` would have, with
    the input caps (`--max-file-bytes`, ...) added to every command that reads input."""
    holder = typer.Typer(rich_markup_mode=app.rich_markup_mode, pretty_exceptions_short=app.pretty_exceptions_short)
    COMMANDS[name](holder)
    cmd = typer.main.get_group(holder).commands[name]
    _add_cap_options(cmd, (name,))
    return cmd


# ---- input caps: the same three options on every command that reads input (sources.limits) ---------------

NO_INPUT = {("checks",), ("catalog",), ("pss", "checks"), ("audit", "rules"), ("generate",), ("history",),
            ("exceptions",), *(("respond", c) for c in ("quarantine", "release", "scale", "cordon", "revoke", "evidence"))}
"""Commands (or groups) that read no file: no caps to offer."""

CAPS_PANEL = "Input limits"


def _cap_callback(field: str, parse: Callable[[str], int]) -> Callable[..., None]:
    def callback(ctx: typer.Context, _param: typer.CallbackParam, value: str | None) -> None:
        if "kubehipaa.caps" not in ctx.meta:
            ctx.meta["kubehipaa.caps"] = {}
            # the caps hold for this command only: in-process callers (tests) must not inherit them
            ctx.call_on_close(lambda: limits.configure(None))
        chosen = ctx.meta["kubehipaa.caps"]
        if value is not None:
            try:
                chosen[field] = parse(value)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        # click calls this for each of the three options, given or not: the last call sets them all
        limits.configure(limits.from_env()._replace(**chosen))

    return callback


def _cap_params() -> list[Any]:
    """Fresh click parameters for the three caps (built by typer, so help and errors look like the others)."""
    holder = typer.Typer()

    @holder.command()
    def _caps(
        _file: str | None = typer.Option(
            None, limits.FILE_OPTION, metavar="SIZE", expose_value=False, rich_help_panel=CAPS_PANEL,
            callback=_cap_callback("file_bytes", limits.parse_size),
            help=f"Largest file read whole: a manifest, config, rule file, control-plane file, stdin (default "
                 f"64Mi, or ${limits.FILE_ENV}). Sizes like 256Mi, 1Gi or bytes."),
        _line: str | None = typer.Option(
            None, limits.LINE_OPTION, metavar="SIZE", expose_value=False, rich_help_panel=CAPS_PANEL,
            callback=_cap_callback("line_bytes", limits.parse_size),
            help=f"Longest audit-log line; a longer one is counted as malformed (default 64Mi, or "
                 f"${limits.LINE_ENV})."),
        _ratio: str | None = typer.Option(
            None, limits.GZIP_OPTION, metavar="N", expose_value=False, rich_help_panel=CAPS_PANEL,
            callback=_cap_callback("gzip_ratio", limits.parse_ratio),
            help=f"How many times its compressed size a gzip file may inflate to, past 64Mi (default 200, or "
                 f"${limits.GZIP_ENV})."),
    ) -> None:
        """Only the options matter."""

    return list(typer.main.get_command(holder).params)


def _add_cap_options(cmd: Any, path: tuple[str, ...]) -> None:
    if any(path[: len(skip)] == skip for skip in NO_INPUT):
        return
    subcommands = getattr(cmd, "commands", None)
    if isinstance(subcommands, dict):
        for sub_name, sub in subcommands.items():
            _add_cap_options(sub, (*path, sub_name))
        return
    cmd.params.extend(_cap_params())


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


def _exact_yaml(ctx: typer.Context, _param: typer.CallbackParam, value: bool) -> None:
    if value:
        from kubehipaa.sources import fast_yaml

        fast_yaml.set_exact(True)
        ctx.call_on_close(lambda: fast_yaml.set_exact(None))  # in-process callers (tests) must not inherit it


def _jobs(ctx: typer.Context, _param: typer.CallbackParam, value: str | None) -> None:
    if value is None:
        return
    from kubehipaa import parallel

    jobs = parallel.parse_jobs(value)
    if jobs is None:
        raise typer.BadParameter(f"{value!r} is not a positive number of processes or `auto`")
    parallel.set_jobs(jobs)
    ctx.call_on_close(lambda: parallel.set_jobs(None))  # in-process callers (tests) must not inherit it


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    _exact: bool = typer.Option(
        False, "--exact-yaml", callback=_exact_yaml, expose_value=False,
        help="Read YAML only with the exact loader (libyaml + go-yaml's rules), not the fast one (rapidyaml), "
             "which hands every document it cannot decide to the exact loader anyway; same results, slower. "
             "Also KUBEHIPAA_EXACT_YAML=1."),
    _jobs_option: str | None = typer.Option(
        None, "--jobs", "-j", callback=_jobs, expose_value=False, metavar="N|auto",
        help="Processes for large manifest inputs: parsing the files (256 or more) and running the checks "
             "(5,000 objects or more). 1 keeps everything in one process. Default: auto, the CPUs this process "
             "may use (at most 8). Also KUBEHIPAA_JOBS. The results are the same whatever the number. (The audit "
             "commands have their own --jobs.)"),
) -> None:
    """Make a Kubernetes cluster HIPAA-ready and prove it."""


def _classes(name: str) -> tuple[type[Any], ...]:
    """click's exception class `name`; typer >= 0.20 vendors its own copy of click, so both copies count.

    Looked up when an exception is being handled: a copy nobody imported cannot have raised it, and importing
    click just for its exception classes would cost start-up time.
    """
    mods = (sys.modules.get("typer._click.exceptions"), sys.modules.get("click.exceptions"))
    return tuple(c for m in mods if isinstance(c := getattr(m, name, None), type))


# Errors writing the output: a full disk (ENOSPC, EDQUOT), a file size limit (EFBIG), an I/O error (EIO).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _say(markup: str) -> None:
    """One line on stderr; if stderr itself cannot be written, there is nowhere left to say it."""
    with contextlib.suppress(OSError):
        err_console.print(markup, soft_wrap=True)


def _pipe_closed_in_click() -> bool:
    """typer/click turn a closed stdout (EPIPE) into exit 1 after wrapping stdout in PacifyFlushWrapper."""
    return type(sys.stdout).__name__ == "PacifyFlushWrapper"


def main() -> None:
    """Run the CLI; user-facing errors become one line on stderr and exit code 2, never a traceback.

    Output errors are handled here, once for every command: stdout is flushed before exiting, so a write
    that fails (disk full, `> /dev/full`) is one `error:` line and exit 2, not an internal error or Python's
    exit 120 at shutdown; a reader that went away (`| head -1`) ends the run quietly with exit 141, as the
    shell reports for any tool killed by SIGPIPE (rich and click would say 1, our "findings" code).
    """
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()
    except SystemExit as exc:
        if exc.code == 1 and _pipe_closed_in_click():
            silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        raise
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
        silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            _internal_error(exc)
        silence_stdout()
        _say(f"[red]error:[/red] cannot write the output: {escape(exc.strerror or str(exc))}")
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _internal_error(exc: BaseException) -> NoReturn:
    if os.environ.get("KUBEHIPAA_DEBUG"):
        raise exc
    err_console.print(
        f"[red]internal error:[/red] {type(exc).__name__}: {escape(str(exc))} "
        "(set KUBEHIPAA_DEBUG=1 for a traceback and please report it)",
        soft_wrap=True,
    )
    sys.exit(3)


def run() -> NoReturn:
    """The console script (`kubehipaa`, `kubectl-hipaa`, `python -m kubehipaa.cli.main`): `main()`, and when
    the command held a large result (`quick_exit.hold`), the process ends without freeing it piece by piece
    (1.1 s after the report was written at 90,040 objects)."""
    quick_exit.allow()
    try:
        main()
    except SystemExit as exc:
        code = exc.code
        if not quick_exit.holding() or not (code is None or isinstance(code, int)):
            raise
        try:
            quick_exit.end(code or 0)
        except OSError:  # stdout or stderr could not be flushed: the normal exit reports it
            raise exc from None
    raise SystemExit(0)  # pragma: no cover - main() always exits


if __name__ == "__main__":
    run()
