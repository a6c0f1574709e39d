"""`kubehipaa respond ...`: contain an incident, revoke access, preserve evidence, write the incident record.

The group and what its commands share: target parsing (`pod/app-123`, `deploy/app`, `sa/app-sa`, a node
name), the `-n/--dry-run/--evidence/--kubeconfig/--context` options, and one error path (a refused or failed
action is one line on stderr and exit 2). Each command lives in its own module and registers itself here:
respond_contain (quarantine, release), respond_ops (scale, cordon, revoke), respond_evidence (evidence, report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, err_console

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


