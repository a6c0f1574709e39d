"""`kubehipaa generate ...`: manifests to apply (baselines, control-plane files, admission, the scanner itself)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli.common import EXIT_ERROR, EXIT_OK, err_console, write_output
from kubehipaa.errors import KubehipaaError
from kubehipaa.generate import (
    DEFAULT_NAME,
    DEFAULT_NAMESPACE,
    DEFAULT_SCHEDULE,
    CronJobOptions,
    HistoryTarget,
    Subject,
    scanner_cronjob,
    scanner_rbac,
)
from kubehipaa.reports.manifests import manifests_yaml

app = typer.Typer(
    help="Generate hardened configuration: a HIPAA-ready namespace baseline, the audit policy, encryption at rest, "
         "break-glass access, the admission webhook and ValidatingAdmissionPolicies, the scanner's RBAC and CronJob.",
    no_args_is_help=True,
)

SECRETS_HELP = (
    "Leave Secrets out of the role. `list secrets` returns Secret values to the caller (the API has no "
    "metadata-only list); kubehipaa masks them on arrival, but the identity can read them. Without it the "
    "scan reports Secrets not-readable (KH-SEC-008, KH-RBAC-012 not assessed) and exits 2."
)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _name(value: str, what: str, pattern: re.Pattern[str] = _DNS_SUBDOMAIN, limit: int = 253) -> str:
    if not pattern.fullmatch(value) or len(value) > limit:
        raise typer.BadParameter(f"{what} {value!r} is not a valid Kubernetes name (lowercase letters, digits, '-')")
    return value


def _subjects(service_accounts: list[str], users: list[str], groups: list[str]) -> list[Subject]:
    out: list[Subject] = []
    for sa in service_accounts:
        namespace, sep, name = sa.partition("/")
        if not sep:
            raise typer.BadParameter(f"--serviceaccount {sa!r}: give NAMESPACE/NAME")
        out.append(Subject("ServiceAccount", _name(name, "service account"),
                           _name(namespace, "namespace", _DNS_LABEL, 63)))
    out.extend(Subject("User", u) for u in users if u)
    out.extend(Subject("Group", g) for g in groups if g)
    return out


def _write(docs: list[dict], header: list[str], output: Path | None) -> None:
    write_output(manifests_yaml(docs, header), output)


@app.command("scanner-rbac")
def scanner_rbac_cmd(
    name: str = typer.Option(DEFAULT_NAME, "--name", help="Name of the ClusterRole (and ClusterRoleBinding)."),
    service_account: list[str] = typer.Option(
        None, "--serviceaccount", metavar="NAMESPACE/NAME", help="Bind the role to this ServiceAccount (repeatable)."
    ),
    user: list[str] = typer.Option(None, "--user", help="Bind the role to this user (repeatable)."),
    group: list[str] = typer.Option(None, "--group", help="Bind the role to this group (repeatable)."),
    no_secrets: bool = typer.Option(False, "--no-secrets", help=SECRETS_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """The least-privilege ClusterRole `scan --cluster` needs (+ a ClusterRoleBinding with --serviceaccount,
    --user or --group).

    get/list on exactly the kinds the scan lists and list on nodes (managed control-plane detection), derived
    from the scanner's own list of kinds; no write verb, no wildcard. Discovery and /version are granted to
    every authenticated identity by the default system:discovery and system:public-info-viewer roles.

    `list secrets` returns Secret values to the caller: kubehipaa keeps only metadata, type and key names and
    masks every value on arrival, but the identity CAN read them; guard its credentials like any Secret
    reader's, or use --no-secrets.

    Example: kubehipaa generate scanner-rbac --serviceaccount kubehipaa/kubehipaa-scanner | kubectl apply -f -
    """
    try:
        _name(name, "--name")
        subjects = _subjects(service_account or [], user or [], group or [])
        _write(scanner_rbac(subjects, name, include_secrets=not no_secrets),
               ["kubehipaa generate scanner-rbac: what `kubehipaa scan --cluster` needs (get/list only)"], output)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


@app.command("cronjob")
def cronjob_cmd(
    image: str = typer.Option(
        ..., "--image", help="The kubehipaa image, pinned by digest (registry/kubehipaa:1.2.3@sha256:...)."
    ),
    namespace: str = typer.Option(DEFAULT_NAMESPACE, "--namespace", "-n", help="Namespace the scanner runs in."),
    create_namespace: bool = typer.Option(
        False, "--create-namespace", help="Also emit the Namespace (Pod Security 'restricted' enforced)."
    ),
    name: str = typer.Option(DEFAULT_NAME, "--name", help="Name of the CronJob, ServiceAccount and RBAC objects."),
    schedule: str = typer.Option(DEFAULT_SCHEDULE, "--schedule", help="Cron schedule (default: daily at 03:17)."),
    cluster_name: str | None = typer.Option(
        None, "--cluster-name",
        help="The cluster's name in the reports (cluster:<name>/...); set it per cluster. Default: in-cluster.",
    ),
    history_secret: str | None = typer.Option(
        None, "--history-secret", metavar="SECRET[:KEY]",
        help="Save each run to the shared history database whose URL (postgresql://...) is in this Secret's KEY "
             "(default key: url), in --namespace (`scan --save --history-url`, docs/history.md).",
    ),
    history_url: str | None = typer.Option(
        None, "--history-url",
        help="Like --history-secret, for a URL without a password (inlined); a URL with a password is refused.",
    ),
    pvc: str = typer.Option(
        "kubehipaa-reports", "--pvc", help="Without a history database: the claim the JSON reports are written to."
    ),
    pvc_size: str = typer.Option(
        "1Gi", "--pvc-size", help="Size of the claim to emit; '' (empty) if the claim exists already."
    ),
    no_secrets: bool = typer.Option(False, "--no-secrets", help=SECRETS_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the YAML to FILE instead of stdout."),
) -> None:
    """The in-cluster scanner: ServiceAccount, the scanner ClusterRole and its binding, and a CronJob running
    `kubehipaa scan --cluster --format json` on --schedule.

    The pod runs under Pod Security 'restricted' (non-root, RuntimeDefault seccomp, no privilege escalation,
    all capabilities dropped, read-only root filesystem) and mounts only its service-account token.

    Without a history database each run's JSON report is written to the claim --pvc as
    /history/<pod name>.json. With --history-secret the database URL is read from the Secret into an
    environment variable and passed as `--save --history-url $(KUBEHIPAA_HISTORY_URL)`: no credential is ever
    in the manifest; `kubehipaa history ...` then reads every cluster's runs from that one database.

    Example: kubehipaa generate cronjob --image ghcr.io/example/kubehipaa:0.1.0@sha256:... --cluster-name prod-east
    """
    try:
        for value, what in ((namespace, "--namespace"), (pvc, "--pvc")):
            _name(value, what, _DNS_LABEL, 63)
        _name(name, "--name", _DNS_LABEL, 52)  # a CronJob name is at most 52 characters
        if not image.strip() or any(c.isspace() for c in image):
            raise typer.BadParameter("--image needs an image reference")
        if schedule.strip() not in _MACROS and len(schedule.split()) != 5:
            raise typer.BadParameter(f"--schedule {schedule!r}: give 5 cron fields (minute hour day month weekday) "
                                     "or @hourly/@daily/@weekly/@monthly/@yearly")
        history = _history(history_secret, history_url)
        opts = CronJobOptions(image=image, namespace=namespace, name=name, schedule=schedule,
                              cluster_name=cluster_name, create_namespace=create_namespace, history=history,
                              pvc=pvc, pvc_size=pvc_size or None, include_secrets=not no_secrets)
        _write(scanner_cronjob(opts), [f"kubehipaa generate cronjob: the in-cluster scanner ({schedule})"], output)
        code = EXIT_OK
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def _history(secret: str | None, url: str | None) -> HistoryTarget | None:
    if secret is not None and url is not None:
        raise typer.BadParameter("give --history-secret or --history-url, not both")
    if url is not None:
        from urllib.parse import parse_qs, urlsplit

        parts = urlsplit(url)
        if not parts.scheme or not (parts.netloc or parts.query):
            raise typer.BadParameter("--history-url needs a URL such as postgresql://host/db")
        query = {k.lower() for k in parse_qs(parts.query, keep_blank_values=True)}
        if parts.password is not None or query & {"password", "sslpassword", "passfile"}:
            # never print the URL: it holds the password
            raise typer.BadParameter("--history-url carries a password: put the URL in a Secret and give "
                                     "--history-secret SECRET[:KEY]; a credential never goes in the manifest")
        return HistoryTarget(url=url)
    if secret is None:
        return None
    name, _, key = secret.partition(":")
    return HistoryTarget(_name(name, "--history-secret"), key or "url")


from kubehipaa.cli import generate_controlplane as _generate_controlplane  # noqa: E402  (issue 17)
from kubehipaa.cli.generate_namespace import namespace_cmd  # noqa: E402  (issue 17: generate namespace)

_generate_controlplane.register(app)  # generate audit-policy | encryption-config | break-glass
app.command("namespace")(namespace_cmd)
from kubehipaa.cli.generate_vap import admission_policies_cmd  # noqa: E402  (issue 18: admission-policies)
from kubehipaa.cli.generate_webhook import register as _register_webhook  # noqa: E402  (issue 18: webhook)

_register_webhook(app)
app.command("admission-policies")(admission_policies_cmd)
