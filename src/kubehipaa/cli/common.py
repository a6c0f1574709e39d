"""Helpers shared by every command: consoles, loading inputs, writing output, exit codes.

Every line the CLI writes to stderr goes through `err_console`, which redacts secrets and PHI
(`kubehipaa.redaction`): warnings, errors (input problems quote what they could not read), notes. Log records are
redacted where they are made (`install_log_redaction`, for `audit serve` and its HTTP server's access log).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import inspect
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from kubehipaa.errors import InputError, KubehipaaError
from kubehipaa.redaction import install_log_redaction, redact_text

if TYPE_CHECKING:  # imported where used: every command imports this module, not every command needs these
    from kubehipaa.config import Config
    from kubehipaa.engines.auditlog import SigmaRuleSet
    from kubehipaa.inventory import Inventory
    from kubehipaa.sources.auditlog import ReadStats
    from kubehipaa.sources.cluster import ClusterTarget, Progress
    from kubehipaa.sources.files import LoadResult

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what the shell reports for a tool whose reader went away (`kubehipaa scan x | head -1`), as
for `yes | head -1`. Not 0: with `set -o pipefail` a cut-short report must not pass as a clean result."""


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null once stdout failed (reader gone, disk full), so the interpreter's
    last flush at exit cannot fail again (which would print a traceback and exit 120)."""
    with contextlib.suppress(OSError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)


class _Console(Console):
    """rich's Console, whose answer to a closed pipe (exit 1, our "findings" code) becomes the broken-pipe
    exit code."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        silence_stdout()
        raise SystemExit(EXIT_BROKEN_PIPE)


class RedactingConsole(_Console):
    """A rich Console whose `print` redacts every string it is given (markup included: a mask has no brackets,
    so markup survives). The stderr console of every command: a message that quotes input cannot leak."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(redact_text(o) if isinstance(o, str) else o for o in objects), **kwargs)


console = _Console(highlight=False)
err_console = RedactingConsole(stderr=True, highlight=False)
install_log_redaction()


def check_audit_read(stats: ReadStats, paths: list[str]) -> None:
    """After reading audit logs: warn (one line) about malformed lines, and fail (exit 2) when no event at
    all could be read, since an analysis, timeline or usage report over nothing would look like a clean one.

    Malformed lines alone never fail a run that read events: they are counted and listed in the report.
    """
    for line in stats.skipped:  # a FIFO, socket or device in a log directory
        warn(line)
    if stats.malformed and stats.events:
        shown = "; ".join(str(m) for m in stats.malformed_samples[:3])
        more = f" (first: {shown})" if shown else ""
        warn(f"{stats.malformed} malformed audit line(s) skipped{more}")
    if not stats.events:
        first = stats.malformed_samples[0] if stats.malformed_samples else None
        if first is not None:
            raise InputError(f"no audit event could be read ({stats.malformed} malformed line(s); first: "
                             f"{first.message})", file=first.file, line=first.line)
        where = ", ".join(stats.files) if stats.files else ", ".join(paths)
        raise InputError(f"no audit events read from {where} (empty, or no log files in the directory)")


def load_sigma_rules(sigma: Sequence[Path]) -> SigmaRuleSet:
    """The Sigma rules of `--sigma` files/directories; skipped rules are warned about, and finding no
    kubernetes/audit rule at all is an input error (running without the rules that were asked for would
    look like "no Sigma alert")."""
    from kubehipaa.pipelines.audit import read_sigma_rules

    rules = read_sigma_rules(list(sigma))
    for skipped in rules.skipped:
        warn(f"{skipped.file}: Sigma rule {skipped.title!r} skipped: {skipped.reason}")
    if not rules.rules and not rules.correlations:
        raise KubehipaaError(
            f"--sigma {' '.join(str(p) for p in sigma)}: no Sigma rule for the kubernetes/audit log source found"
        )
    return rules


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the Exit to raise: `raise fail("...")`."""
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


TRUST_CONFIG_HELP = (
    "Use a .kubehipaa.yaml found in a scanned directory (or beside a scanned file). Without it only --config "
    "or the current directory's is used: a config that comes with the input could suppress its own findings."
)


def load_config_if_present(path: str | None = None, scan_paths: Sequence[str] = (), *, trust: bool = False,
                           ignored: list[str] | None = None) -> Config | None:
    """The config given (`path`), else the current directory's (or, with `trust`, the one beside a scanned
    path), else None, meaning the defaults. A config found beside a scanned path and not used is warned
    about, one line each, and its message appended to `ignored` (for the reports' warnings).

    For commands whose engines take `Config | None`: with no config file, kubehipaa.config is not imported at
    all (building its pydantic models costs ~100 ms), which matters for `audit analyze` start-up (issue 7).
    """
    from kubehipaa.config_location import locate_config

    location = locate_config(path, scan_paths, trust=trust)
    for message in location.messages:
        warn(message)
    if ignored is not None:
        ignored.extend(location.messages)
    if location.path is None:
        return None
    from kubehipaa.config import read_config

    return read_config(location.path)


# The option every manifest-reading command offers for objects without metadata.namespace. Commands whose
# -n already means something else (the request's namespace in `rbac can-i`, the namespaces to examine in
# `rbac review` or `netpol exposure`) offer only the long name.
MANIFEST_NAMESPACE_HELP = (
    "Namespace for manifest objects that have none, as `kubectl apply -n` (default: default). A namespaced "
    "object naming another namespace is reported as an error, as kubectl refuses it."
)
DUPLICATES_SHOWN = 10


def load_objects(paths: Sequence[str], *, strict: bool = False, quiet: bool = False,
                 namespace: str | None = None) -> LoadResult:
    """Load manifests; skipped documents are warned about (or, with strict, fail with exit 2).

    Prefer `load_manifests`, which also refuses an input with no object and says what was assumed.
    """
    if not paths:
        raise InputError("no input given (pass files, directories, or - for stdin)")
    from kubehipaa.sources.files import load_paths

    result = load_paths(paths, strict=strict, namespace=namespace)
    if not quiet:
        report_load(result)
    return result


_CLUSTER: contextvars.ContextVar[ClusterTarget | None] = contextvars.ContextVar("kubehipaa_cluster", default=None)
"""The live cluster the running command reads instead of files (set by `cluster_source`), else None."""
_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("kubehipaa_cluster_progress", default=False)
"""Whether `load_cluster_manifests` shows the listing progress (set by `cluster_source` per command)."""


def cluster_source(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a manifest-reading command `--cluster/--kubeconfig/--context`, once for all of them.

    The command's `paths` argument becomes optional; with `--cluster`, `load_manifests` lists the live cluster
    (sources.cluster, read-only) instead of reading files, under the same honesty rules as `scan --cluster`.
    Done by wrapping the signature typer reads, so no command repeats the options or their checks.
    """
    sig = inspect.signature(command, eval_str=True)
    params = []
    for param in sig.parameters.values():
        if param.name == "paths":
            info = copy.copy(param.default)
            info.default = None  # optional: --cluster needs none
            param = param.replace(default=info, annotation=list[str] | None)
        params.append(param)
    extra = [
        inspect.Parameter("cluster", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--cluster", help="Read the live cluster (read-only: get/list) instead of files.")),
        inspect.Parameter("kubeconfig", inspect.Parameter.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--kubeconfig", help="With --cluster: kubeconfig file.")),
        inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=str | None, default=typer.Option(
            None, "--context", help="With --cluster: kubeconfig context.")),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, cluster: bool = False, kubeconfig: str | None = None, context: str | None = None,
                **kwargs: Any) -> Any:
        if not cluster:
            if kubeconfig is not None or context is not None:
                raise typer.BadParameter("--kubeconfig and --context need --cluster")
            return command(*args, **kwargs)
        if kwargs.get("paths"):
            raise typer.BadParameter("give either paths or --cluster, not both")
        kwargs["paths"] = []
        from kubehipaa.sources.cluster import ClusterTarget

        token = _CLUSTER.set(ClusterTarget(kubeconfig, context))
        fmt = kwargs.get("fmt")
        machine = "json" in str(getattr(fmt, "value", fmt) or "").lower()  # JSON output: never a bar
        shown = _PROGRESS.set(interactive() and not machine and not kwargs.get("quiet"))
        try:
            return command(*args, **kwargs)
        finally:
            _CLUSTER.reset(token)
            _PROGRESS.reset(shown)

    wrapper.__signature__ = sig.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*params, *extra)} | {"return": sig.return_annotation}
    del wrapper.__wrapped__  # typer must read the new signature, not the command's
    return wrapper


def interactive() -> bool:
    """Whether stderr is a terminal: progress bars and spinners only then (never in CI logs or captures)."""
    import sys

    return err_console.is_terminal and sys.stderr.isatty()


@contextlib.contextmanager
def listing_progress(show: bool, clusters: int = 1) -> Iterator[Progress | None]:
    """A progress bar on stderr (kinds listed / total over every cluster, objects) when `show`; nothing
    otherwise. With several clusters the callback is called from the listing threads (rich's Progress
    serialises updates with its own lock)."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from kubehipaa.sources.cluster import KINDS

    width = 22 if clusters == 1 else 40
    columns = (TextColumn(f"Listing {{task.fields[kind]:<{width}}}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[objects]} objects"), TimeElapsedColumn())
    with Bar(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("list", total=len(KINDS) * clusters, kind="", objects=0)

        def step(kind: str, done: int, objects: int) -> None:
            bar.update(task, completed=done, kind=kind, objects=objects)

        yield step


def input_name(paths: Sequence[str]) -> str:
    """How a message names the input: the paths given, or "the cluster" under `--cluster`."""
    return ", ".join(paths) if paths or _CLUSTER.get() is None else "the cluster"


def load_cluster_manifests(target: ClusterTarget, *, quiet: bool = False,
                           outcome: str = "nothing was evaluated") -> LoadResult:
    """The live cluster as a LoadResult: a kind the identity cannot list is lost input (a warning naming it,
    and exit 2 from `finish`), as an unreadable file is; nothing readable at all is an input error."""
    from kubehipaa.sources.cluster import load_cluster
    from kubehipaa.sources.files import LOST, InputProblem, LoadResult

    with listing_progress(_PROGRESS.get()) as progress:
        load = load_cluster(target, progress)
    if not load.objects:
        first = load.unreadable[0].reason if load.unreadable else "no objects"
        raise InputError(f"nothing could be read from cluster {load.context} ({first}); {outcome}")
    problems = [InputProblem(load.location(item.kind) + "/*", None,
                             f"{item.kind} could not be listed ({item.reason}); the answer does not cover it", LOST)
                for item in load.unreadable]
    result = LoadResult(objects=load.objects, problems=problems)
    report_load(result, quiet=quiet)
    return result


def load_manifests(paths: Sequence[str], *, strict: bool = False, quiet: bool = False,
                   namespace: str | None = None, outcome: str = "nothing was evaluated") -> LoadResult:
    """The one loading path of every command that reads manifests (scan, pss, netpol, rbac).

    Under `cluster_source --cluster` it lists the live cluster instead (`load_cluster_manifests`).

    Every problem is printed once, one line each (`quiet` silences only skips and notes, never lost input);
    a file that cannot be read does not stop the others: the command evaluates the rest and ends with
    `finish(result, code)`, which turns the exit code into 2 when input was lost. Input with no Kubernetes
    object at all is an input error at once: an answer over nothing would look like a clean one.
    """
    target = _CLUSTER.get()
    if target is not None:
        return load_cluster_manifests(target, quiet=quiet, outcome=outcome)
    if not paths:
        raise InputError("no input given (pass files, directories, or - for stdin, or --cluster)")
    from kubehipaa.sources.files import load_paths

    result = load_paths(paths, strict=strict, namespace=namespace)
    report_load(result, quiet=quiet)
    require_objects(result.objects, paths, result, outcome)
    return result


def report_load(result: LoadResult, *, quiet: bool = False) -> None:
    """Print what loading found, one line each: lost input and skips as warnings (the run then ends with one
    error line, from `finish`), duplicates (after the first few, one count), notes, and the namespaces
    assumed."""
    from kubehipaa.sources.files import DUPLICATE, DUPLICATE_KEY, LOST, NOTE

    duplicates = duplicate_keys = 0
    for problem in result.problems:
        if problem.severity == LOST:
            warn(str(problem))  # one line each; `finish` (or `require_objects`) says "error" once
        elif quiet:
            continue
        elif problem.severity == NOTE:
            err_console.print(f"[cyan]note:[/cyan] {escape(str(problem))}", soft_wrap=True, highlight=False)
        elif problem.severity == DUPLICATE:
            duplicates += 1
            if duplicates <= DUPLICATES_SHOWN:
                warn(str(problem))
        elif problem.severity == DUPLICATE_KEY:
            duplicate_keys += 1
            if duplicate_keys <= DUPLICATES_SHOWN:
                warn(str(problem))
        else:
            warn(str(problem))
    if duplicates > DUPLICATES_SHOWN:
        warn(f"... and {duplicates - DUPLICATES_SHOWN} more object(s) defined twice (only the last definition of "
             "each is analysed)")
    if duplicate_keys > DUPLICATES_SHOWN:
        warn(f"... and {duplicate_keys - DUPLICATES_SHOWN} more duplicate key(s) (the last value of each is "
             "analysed)")
    if result.namespace_assumed and not quiet:
        how = ("as given" if result.namespace_given
               else "as `kubectl apply` without -n; give the real one with --manifest-namespace")
        warn(f"{result.namespace_assumed} object(s) had no namespace; assumed {result.namespace} ({how})")


def finish(result: LoadResult | None, code: int) -> int:
    """The exit code after the results are written: 2 when input was lost or refused (already listed one
    line each by `report_load`), since the results do not cover it; else `code`."""
    lost = result.lost if result is not None else []
    if not lost:
        return code
    where = lost[0].file if lost[0].line is None else f"{lost[0].file}:{lost[0].line}"
    first = f"{where}: {lost[0].message.split(';')[0]}"
    err_console.print(
        f"[red]error:[/red] {len(lost)} input problem(s) (first: {escape(first)}; see the warnings); the "
        "results do not cover what could not be read", soft_wrap=True, highlight=False,
    )
    return EXIT_ERROR


def is_data_loss(message: str) -> bool:
    """A skipped-document message that means content was lost: malformed YAML/JSON or a file that is not
    UTF-8 text (it may hold anything). A document without `kind`, or not a mapping, is only a skip.
    (Kept for callers holding only a message; an InputProblem knows it itself: `problem.lost`.)"""
    return message.startswith(("malformed", "not UTF-8"))


def require_readable(result: LoadResult, why: str = "") -> None:
    """Raise an InputError (exit 2) naming file and line for the first file that could not be read in full.

    For single-file commands (an etcd config, an audit Policy) where nothing remains to evaluate once the
    file is unreadable. Commands over many manifests use `load_manifests` + `finish` instead.
    """
    for problem in result.problems:
        if problem.lost:
            reason = problem.message.split(";")[0]
            raise InputError(reason + (f" ({why})" if why else ""), file=problem.file, line=problem.line)


def require_objects(objects: Sequence[object], paths: Sequence[str], result: LoadResult | None = None,
                    outcome: str = "nothing was evaluated") -> None:
    """Raise an InputError (exit 2) when the inputs held no Kubernetes object at all: an answer over nothing
    (an empty connectivity list, "0 findings") would pass CI although an empty directory or a wrong path was
    given. Names the skipped documents when there were some."""
    if objects:
        return
    lost = result.lost if result is not None else []
    if lost:  # say why nothing was found: the file that could not be read
        more = f" (and {len(lost) - 1} more input problem(s))" if len(lost) > 1 else ""
        raise InputError(lost[0].message.split(";")[0] + more, file=lost[0].file, line=lost[0].line)
    skipped = f" ({len(result.problems)} document(s) skipped, see the warnings)" if result and result.problems else ""
    raise InputError(f"no Kubernetes objects found in {', '.join(paths)}{skipped}; {outcome}")


def load_inventory(
    paths: Sequence[str],
    config_path: str | None = None,
    *,
    strict: bool = False,
    config: Config | None = None,
    quiet: bool = False,
    namespace: str | None = None,
) -> Inventory:
    """Config + objects → Inventory, the input of every engine and check."""
    from kubehipaa.config import load_config
    from kubehipaa.inventory import Inventory

    cfg = config or load_config(config_path, paths)
    result = load_manifests(paths, strict=strict, quiet=quiet, namespace=namespace)
    return Inventory(result.objects, cfg)


def write_output(text: str | bytes, output: Path | None) -> None:
    """Write a rendered report to `output`, or stdout when None or '-' (bytes, e.g. a PDF, as they are).

    A file is written whole or not at all: into a temporary file beside it, then renamed over it, so a full
    disk leaves the previous report (or nothing), never half a report that a CI job would upload as
    evidence. What is not a regular file (`/dev/stdout`, a FIFO, `/dev/full`) is written in place. A write
    error is one line and exit 2; stdout's are handled once, in `cli.main`.
    """
    if output is None or str(output) == "-":
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
        else:
            typer.echo(text, nl=not text.endswith("\n"))
        return
    try:
        _write_whole(output, text if isinstance(text, bytes) else text.encode("utf-8"))
    except OSError as exc:
        raise KubehipaaError(f"{output}: cannot write: {exc.strerror or exc}") from None


def _write_whole(output: Path, data: bytes) -> None:
    try:
        st: os.stat_result | None = os.stat(output)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(output, "wb") as fh:  # a device or a FIFO: nothing to replace
            fh.write(data)
        return
    from kubehipaa.sources.atomic import replace_file  # here: every command imports this module, few write

    target = Path(os.path.realpath(output))  # a symlink stays a symlink: its target is replaced
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, data)


def report_skipped(result: LoadResult, skipped: Iterable[Any]) -> None:
    """Objects an engine left out of its answer (each with `file`, `line`, `message`: an invalid
    NetworkPolicy, a Role whose rules are not a list): one warning line each, counted with the lost input,
    so that `finish` exits 2 after the answers for the rest are written."""
    from kubehipaa.sources.files import LOST, InputProblem

    for item in skipped:
        problem = InputProblem(item.file, item.line, item.message, LOST)
        warn(str(problem))
        result.problems.append(problem)


HISTORY_URL_HELP = ("History database: a SQLite path or sqlite:///PATH, or postgresql://USER@HOST/DB (password via "
                    "PGPASSWORD or ~/.pgpass). Default: $KUBEHIPAA_HISTORY_URL, the config's history block, else a "
                    "file under the user's data directory.")
"""One text for every `--history-url` (scan, history, verify); here so scan's start-up need not import history."""
