"""`kubehipaa rbac`: can-i, who-can, access reviews and escalation paths over RBAC manifests.

Thin layer: parse options, build the engine's index from the given files, ask the engine, and hand its answer
to its report (reports/rbac.py, reports/rbac_review.py), which writes every format.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import orjson
import typer

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    MANIFEST_NAMESPACE_HELP,
    TRUST_CONFIG_HELP,
    cluster_source,
    fail,
    finish,
    input_name,
    load_config_if_present,
    load_manifests,
    report_skipped,
    warn,
    write_output,
)
from kubehipaa.engines.rbac import (
    Attributes,
    RbacIndex,
    RequestSyntaxError,
    ReviewResult,
    build_escalation_graph,
    build_review,
    builtin_risk_rules,
    diff_reviews,
    evaluate_risks,
    load_review,
    load_risk_rules,
    request_attributes,
    request_namespace,
    user_info,
)
from kubehipaa.inventory import Inventory
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.rbac import (
    CAN_I,
    ESCALATION,
    RISKS,
    WHO_CAN,
    CanIAnswer,
    EscalationAnswer,
    RiskAnswer,
    WhoCanAnswer,
)
from kubehipaa.reports.rbac_review import ACCESS_REVIEW
from kubehipaa.sources.files import LoadResult
from kubehipaa.sources.limits import current as current_limits
from kubehipaa.sources.reading import ReadRefused, read_path

app = typer.Typer(help="RBAC: can-i, who-can, access reviews, escalation paths.", no_args_is_help=True)


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def load_rbac(paths: list[str], namespace: str | None = None) -> LoadResult:
    """Load manifests for an RBAC answer through the shared path (`common.load_manifests`). An answer from
    partly read input could be wrong (a "no" because the granting binding sat in a broken file), so each
    unreadable file is named and the command ends with `finish(result, code)`: the answer for the rest is
    shown, the exit code is 2. Input without any RBAC object is an error at once."""
    result = load_manifests(paths, namespace=namespace)
    if not any(obj.kind in RBAC_KINDS for obj in result.objects):
        raise fail(f"no Role, ClusterRole, RoleBinding or ClusterRoleBinding found in {input_name(paths)}")
    return result


def _load_rbac_inventory(paths: list[str], config_path: str | None, namespace: str | None = None,
                         trust_config: bool = False) -> tuple[Inventory, LoadResult]:
    config = load_config_if_present(config_path, paths, trust=trust_config)
    loaded = load_rbac(paths, namespace)
    return Inventory(loaded.objects, config), loaded


def build_index(paths: list[str], namespace: str | None = None) -> tuple[RbacIndex, LoadResult]:
    """Load manifests (warning about skipped documents) and build the RBAC index."""
    result = load_rbac(paths, namespace)
    return index_of(result), result


def index_of(loaded: LoadResult) -> RbacIndex:
    """The RBAC index of the loaded objects, its warnings printed. A malformed Role or binding is left out:
    one warning line naming file:line, the object and the field, counted as lost input so the command answers
    for the rest and exits 2 (`finish`). When no RBAC object is left, that is an error at once."""
    idx = RbacIndex.from_objects(loaded.objects)
    for problem in idx.problems:
        warn(problem)
    if idx.skipped and not idx.loaded.roles and not idx.loaded.bindings:
        first = idx.skipped[0]
        where = f"{first.file}:{first.line}: " if first.file else ""
        more = f" (and {len(idx.skipped) - 1} more)" if len(idx.skipped) > 1 else ""
        raise fail(f"{where}{first.message.split('; ')[0]}{more}; no Role, ClusterRole, RoleBinding or "
                   "ClusterRoleBinding left to evaluate")
    report_skipped(loaded, idx.skipped)
    return idx


def _attrs(verb: str, target: str, namespace: str | None, name: str | None, subresource: str | None) -> Attributes:
    """The request as asked. `-n` is kept for cluster-scoped resources too: the RBAC authorizer does not know
    scope (RoleBindings of the request's namespace count whenever it has one), and the API server itself asks
    such questions, e.g. `bind clusterroles X` in N for a RoleBinding in N. A warning says when a plain API
    request would carry another namespace; only a non-resource URL drops `-n` (it never has a namespace)."""
    try:
        attrs = request_attributes(verb, target, namespace or "", name or "", subresource or "")
    except RequestSyntaxError as exc:
        raise fail(f"cannot read request {verb} {target}: {exc}") from None
    if not namespace:
        return attrs
    if not attrs.resource_request:
        warn(f"a non-resource URL: the request has no namespace, -n {namespace} is ignored")
        return attrs
    plain = request_namespace(attrs.resource, attrs.api_group, attrs.name)
    if plain is None or plain == namespace:
        return attrs
    if plain:
        warn(f"namespaces {attrs.name!r}: a plain request for it is in namespace {plain}; answering as asked, in "
             f"namespace {namespace}")
    else:
        warn(f"{attrs.resource} is cluster-scoped: a plain request for it has no namespace; answering as asked, in "
             f"namespace {namespace}, where RoleBindings of {namespace} count (the authorizer ignores scope; the API "
             f"server asks this way when it checks bind for a RoleBinding in {namespace})")
    return attrs


@app.command("can-i")
@cluster_source
def can_i(
    verb: str = typer.Argument(..., help="Verb: get, list, create, delete, escalate, impersonate, ..."),
    target: str = typer.Argument(..., help="Resource as kubectl names it (pods, pods/exec, deployments.apps) or a /url."),
    paths: list[str] = typer.Argument(..., help="Files or directories with RBAC manifests."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Request namespace (none: a cluster-wide request); kept for cluster-scoped resources too, as the authorizer does."),
    name: str | None = typer.Option(None, "--name", help="Name of the object requested."),
    subresource: str | None = typer.Option(None, "--subresource", help="Subresource (or use resource/subresource)."),
    as_user: str = typer.Option(..., "--as", help="User name, e.g. jane or system:serviceaccount:ns:sa."),
    as_groups: list[str] = typer.Option([], "--as-group", help="Group of the user (repeatable)."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(None, "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP),
) -> None:
    """Would the API server's RBAC authorizer allow this request? Exit 0 for yes, 1 for no.

    Implicit groups are added as the authenticators would (system:authenticated, system:serviceaccounts, ...).

    Examples:

      kubehipaa rbac can-i get secrets -n clinical --as jane --as-group clinical-app-support ./rbac

      kubehipaa rbac can-i create pods/exec -n clinical --as system:serviceaccount:clinical:app-sa ./rbac
    """
    attrs = _attrs(verb, target, namespace, name, subresource)
    idx, loaded = build_index(paths, manifest_namespace)
    user = user_info(as_user, as_groups)
    decision = idx.authorize(user, attrs)
    write_output(CAN_I.render(CanIAnswer(user, attrs, decision), fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK if decision.allowed else EXIT_FINDINGS))


@app.command("who-can")
@cluster_source
def who_can(
    verb: str = typer.Argument(..., help="Verb, e.g. get."),
    target: str = typer.Argument(..., help="Resource as kubectl names it (pods, pods/exec, deployments.apps) or a /url."),
    paths: list[str] = typer.Argument(..., help="Files or directories with RBAC manifests."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Request namespace (none: a cluster-wide request); kept for cluster-scoped resources too, as the authorizer does."),
    name: str | None = typer.Option(None, "--name", help="Name of the object requested."),
    subresource: str | None = typer.Option(None, "--subresource", help="Subresource (or use resource/subresource)."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(None, "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP),
) -> None:
    """List every subject allowed a request, with the binding, role and rule that grants it.

    Examples:

      kubehipaa rbac who-can get secrets -n clinical ./rbac

      kubehipaa rbac who-can get secrets -n clinical --name app-tls --format json ./rbac
    """
    attrs = _attrs(verb, target, namespace, name, subresource)
    idx, loaded = build_index(paths, manifest_namespace)
    answer = WhoCanAnswer(attrs, idx.who_can(attrs))
    write_output(WHO_CAN.render(answer, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


class ReviewFormat(str, Enum):
    csv = "csv"
    json = "json"
    html = "html"
    table = "table"


@app.command("review")
@cluster_source
def review(
    paths: list[str] = typer.Argument(..., help="Files or directories with RBAC manifests (and Namespaces)."),
    namespaces: list[str] = typer.Option([], "--namespace", "-n", help="Namespace to review (repeatable); "
                                         "default: the PHI namespaces."),
    fmt: ReviewFormat = typer.Option(ReviewFormat.csv, "--format", "-f", help="Output format."),
    since: Path | None = typer.Option(None, "--since", help="A previous review (--format json) to diff against."),
    config_path: str | None = typer.Option(None, "--config", help="Config file (default: .kubehipaa.yaml in the "
                                           "current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(None, "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP),
    max_rows: int = typer.Option(100, "--max-rows", min=0, help="Table format: at most this many rows per table "
                                 "(0 = all); CSV, JSON and HTML always hold every row."),
) -> None:
    """Access-review matrix: every subject's permissions on sensitive resources, with the granting path.

    Keep the JSON of each review; `--since` compares with it and lists added and removed grants.

    Examples:

      kubehipaa rbac review ./rbac --namespace clinical --format csv -o review.csv

      kubehipaa rbac review ./rbac --format json -o review-2026q4.json

      kubehipaa rbac review ./rbac --since review-2026q3.json --format html -o changes.html

      kubehipaa rbac review ./rbac --namespace clinical --format table
    """
    inv, loaded = _load_rbac_inventory(paths, config_path, manifest_namespace, trust_config)
    idx = index_of(loaded)
    chosen = list(namespaces) or sorted(inv.phi_namespaces)
    if not chosen:
        raise fail("no PHI namespaces found in the input or config; name the namespaces with --namespace")
    result = ReviewResult(build_review(idx, chosen))
    if since is not None:
        try:
            previous = load_review(orjson.loads(read_path(str(since), current_limits().file_bytes)), str(since))
        except ReadRefused as exc:
            raise fail(f"{since}: cannot read: {exc.reason}") from None
        except OSError as exc:
            raise fail(f"{since}: cannot read: {exc.strerror}") from None
        except orjson.JSONDecodeError as exc:
            raise fail(f"{since}: not JSON ({exc})") from None
        except ValueError as exc:
            raise fail(str(exc)) from None
        result.changes = diff_reviews(previous, result.review.grants)
    write_output(ACCESS_REVIEW.render(result, fmt.value, RenderOptions(max_rows=max_rows or None)), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


@app.command("escalation")
@cluster_source
def escalation(
    paths: list[str] = typer.Argument(..., help="Files or directories with RBAC manifests, ServiceAccounts, "
                                      "workloads and Namespaces."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="Output format."),
    config_path: str | None = typer.Option(None, "--config", help="Config file (default: .kubehipaa.yaml in the "
                                           "current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Identities that can become more powerful ones: the shortest path from each non-admin identity to
    cluster-admin-equivalent power or to reading all Secrets of a PHI namespace. Exit 1 if any path exists.

    Examples:

      kubehipaa rbac escalation ./rbac

      kubehipaa rbac escalation ./manifests --format json -o escalation.json

      kubehipaa rbac escalation argo-cd/install.yaml -n argocd   # the namespace `kubectl apply -n` gives it
    """
    inv, loaded = _load_rbac_inventory(paths, config_path, manifest_namespace, trust_config)
    idx = index_of(loaded)
    graph = build_escalation_graph(idx, inv.phi_namespaces)
    found = graph.shortest_paths()
    answer = EscalationAnswer(graph, found, frozenset(inv.phi_namespaces))
    write_output(ESCALATION.render(answer, fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if found else EXIT_OK))


@app.command("risks")
@cluster_source
def risks(
    paths: list[str] = typer.Argument(..., help="Files or directories with RBAC manifests."),
    rules_file: Path | None = typer.Option(None, "--rules", help="A risk-rule catalog to use instead of the "
                                           "built-in one (same schema)."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="Output format."),
    config_path: str | None = typer.Option(None, "--config", help="Config file (default: .kubehipaa.yaml in the "
                                           "current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Evaluate the RBAC risk-rule catalog: every risky grant, severity raised in PHI namespaces and
    kube-system. Exit 1 if any rule fires.

    Examples:

      kubehipaa rbac risks ./rbac

      kubehipaa rbac risks ./rbac --rules my-risk-rules.yaml --format json
    """
    if rules_file is not None:
        try:
            text = read_path(str(rules_file), current_limits().file_bytes).decode("utf-8")
        except ReadRefused as exc:
            raise fail(f"{rules_file}: cannot read: {exc.reason}") from None
        except OSError as exc:
            raise fail(f"{rules_file}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise fail(f"{rules_file}: not UTF-8 text ({exc.reason}); expected a risk-rule catalog (YAML)") from None
        if not text.strip():
            raise fail(f"{rules_file}: empty file; expected a risk-rule catalog (YAML with a 'rules' list)")
        rules = load_risk_rules(text, str(rules_file))
    else:
        rules = list(builtin_risk_rules())
    inv, loaded = _load_rbac_inventory(paths, config_path, manifest_namespace, trust_config)
    idx = index_of(loaded)
    hits = sorted(evaluate_risks(idx, inv.phi_namespaces, rules), key=lambda h: (-h.severity, h.rule.id))
    write_output(RISKS.render(RiskAnswer(rules, hits), fmt.value, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_FINDINGS if hits else EXIT_OK))
