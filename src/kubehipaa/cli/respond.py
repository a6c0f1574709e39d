"""`kubehipaa respond ...`: contain an incident, revoke access, preserve evidence, write the incident record.

The group and what its commands share: target parsing (`pod/app-123`, `deploy/app`, `sa/app-sa`, a node
name), the `-n/--dry-run/--evidence/--kubeconfig/--context` options, and one error path (a refused or failed
action is one line on stderr and exit 2). Each command lives in its own module and registers itself here:
respond_contain (quarantine, release), respond_ops (scale, cordon, revoke), respond_evidence (evidence, report).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, err_console, write_output

if TYPE_CHECKING:
    from kubehipaa.reports.respond_plan import ActionOutcome
    from kubehipaa.respond.runner import ActionRunner

app = typer.Typer(
    help="Incident response on a live cluster: quarantine, release, scale, cordon/drain, revoke, evidence, report.\n\n"
         "Every action is recorded with the API's answer in EVIDENCE/actions.jsonl (append-only, hash-chained); "
         "--dry-run prints the exact requests instead of sending them. Actions never leave the namespace given "
         "with -n.",
    no_args_is_help=True,
)

DEFAULT_EVIDENCE = Path("evidence")

NAMESPACE_HELP = "Namespace of the target; the action refuses to touch any other namespace."
DRY_RUN_HELP = "Send nothing: print the exact requests (method, path, content type, body) that would be sent."
EVIDENCE_HELP = "Evidence folder of the incident; actions are appended to its actions.jsonl."
KUBECONFIG_HELP = "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else in-cluster)."
CONTEXT_HELP = "kubeconfig context (default: the current one)."
FORMAT_HELP = "Output format: text (the exact requests, the API's answers and the notes) or json."
FORMATS = ("text", "json")

# The options every cluster-acting respond command takes, declared once.
Namespace = Annotated[str, typer.Option("--namespace", "-n", help=NAMESPACE_HELP)]
DryRun = Annotated[bool, typer.Option("--dry-run", help=DRY_RUN_HELP)]
Evidence = Annotated[Path, typer.Option("--evidence", help=EVIDENCE_HELP)]
Kubeconfig = Annotated[str | None, typer.Option("--kubeconfig", help=KUBECONFIG_HELP)]
Context = Annotated[str | None, typer.Option("--context", help=CONTEXT_HELP)]
Format = Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)]


def check_format(fmt: str) -> None:
    """A wrong --format is a usage error before anything is sent, not after."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}: choose one of {', '.join(FORMATS)}", param_hint="--format")


def render(outcome: ActionOutcome, fmt: str) -> None:
    """An action's requests, answers and notes on stdout (reports/respond_plan)."""
    from kubehipaa.reports.base import RenderOptions
    from kubehipaa.reports.respond_plan import REPORT

    write_output(REPORT.render(outcome, fmt, RenderOptions()), None)


@contextmanager
def action_runner(action: str, target: str, namespace: str | None, *, dry_run: bool, evidence: Path,
                  kubeconfig: str | None, context: str | None,
                  cluster_scoped: frozenset[str] = frozenset()) -> Iterator[ActionRunner]:
    """A runner for one action on the cluster `kubeconfig`/`context` names, recording into `evidence`; the
    connection is closed when the block ends."""
    from kubehipaa.respond.actions import ActionLog
    from kubehipaa.respond.api import ResponderClient
    from kubehipaa.respond.runner import ActionRunner
    from kubehipaa.sources.cluster import ClusterTarget

    with ResponderClient(ClusterTarget(kubeconfig, context)) as client:
        yield ActionRunner(client, ActionLog(evidence), action, target, namespace, dry_run,
                           cluster_scoped=cluster_scoped)


@dataclass(frozen=True, slots=True)
class Target:
    """What a responder named: `pod/app-123` → Target("Pod", "v1", "pods", "app-123")."""

    kind: str
    api_version: str
    plural: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


# kubectl's short names and singular/plural spellings for the kinds the respond commands act on.
_KINDS: dict[str, tuple[str, str, str]] = {}
for _names, _spec in (
    (("pod", "pods", "po"), ("Pod", "v1", "pods")),
    (("deployment", "deployments", "deploy"), ("Deployment", "apps/v1", "deployments")),
    (("statefulset", "statefulsets", "sts"), ("StatefulSet", "apps/v1", "statefulsets")),
    (("replicaset", "replicasets", "rs"), ("ReplicaSet", "apps/v1", "replicasets")),
    (("daemonset", "daemonsets", "ds"), ("DaemonSet", "apps/v1", "daemonsets")),
    (("serviceaccount", "serviceaccounts", "sa"), ("ServiceAccount", "v1", "serviceaccounts")),
    (("node", "nodes", "no"), ("Node", "v1", "nodes")),
):
    for _name in _names:
        _KINDS[_name] = _spec


def parse_target(text: str, allowed: tuple[str, ...], default_kind: str | None = None) -> Target:
    """`kind/name` (kubectl spelling, e.g. deploy/app) or a bare name when the command has one kind."""
    kind_text, sep, name = text.partition("/")
    if not sep:
        if default_kind is None:
            raise typer.BadParameter(f"give the target as KIND/NAME, e.g. {allowed[0].lower()}/NAME")
        kind_text, name = default_kind.lower(), text
    spec = _KINDS.get(kind_text.lower())
    if spec is None or spec[0] not in allowed:
        raise typer.BadParameter(f"{text!r}: this command acts on {', '.join(a.lower() for a in allowed)}")
    if not name or "/" in name:
        raise typer.BadParameter(f"{text!r}: no object name")
    return Target(spec[0], spec[1], spec[2], name)


def run(body: Callable[[], int]) -> None:
    """Run a command body; a kubehipaa error (refused, failed, bad input) is one redacted line and exit 2."""
    from kubehipaa.errors import KubehipaaError

    try:
        code = body()
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def register() -> typer.Typer:
    """Add every respond command to `app` (once) and return it."""
    if not getattr(app, "_registered", False):
        from kubehipaa.cli import respond_contain, respond_evidence, respond_ops

        for module in (respond_contain, respond_ops, respond_evidence):
            module.register(app)
        app._registered = True  # type: ignore[attr-defined]
    return app


