"""`kubehipaa netpol`: NetworkPolicy connectivity (connlist, can-reach, exposure, diff).

Thin layer: parse the options, load the manifests through the sources layer (`common.load_manifests`, the
only reader: typed Lists, kind-less documents and namespaces are settled there once), ask the engine
(`kubehipaa.engines.netpol`), render with `kubehipaa.reports.netpol`. Output of `connlist` is line-compatible
with np-guard's netpol-analyzer so the two tools can be diffed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from kubehipaa.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    MANIFEST_NAMESPACE_HELP,
    TRUST_CONFIG_HELP,
    cluster_source,
    finish,
    load_config_if_present,
    load_manifests,
    report_skipped,
    warn,
    write_output,
)
from kubehipaa.engines.netpol import Engine, NetpolError, Topology, build_topology, can_reach, diff, exposure
from kubehipaa.errors import InputError
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.reports.base import RenderOptions, Report
from kubehipaa.reports.netpol import CONNLIST, DIFF, EXPOSURE, VERDICT
from kubehipaa.sources.files import LoadResult

app = typer.Typer(
    help="NetworkPolicy connectivity: every allowed connection, reachability proofs, exposure, diffs.",
    no_args_is_help=True,
)

def load_netpol(paths: Sequence[str], *, quiet: bool = False, namespace: str | None = None) -> LoadResult:
    """Load manifests through the shared path (`common.load_manifests`): each unreadable file is named and
    the rest is analysed; commands end with `finish`, which exits 2 since a NetworkPolicy in the lost file
    could change any answer."""
    return load_manifests(paths, quiet=quiet, namespace=namespace)


def load_netpol_objects(paths: Sequence[str], *, quiet: bool = False, namespace: str | None = None
                        ) -> list[K8sObject]:
    """The objects of `load_netpol` (for callers that only need them)."""
    return load_netpol(paths, quiet=quiet, namespace=namespace).objects


def build_engine(paths: Sequence[str], *, quiet: bool = False, namespace: str | None = None
                 ) -> tuple[Engine, LoadResult]:
    loaded = load_netpol(paths, quiet=quiet, namespace=namespace)
    return Engine(topology(loaded, quiet=quiet)), loaded


def topology(loaded: LoadResult, *, quiet: bool = False) -> Topology:
    """The engine's view of the loaded objects. An object it cannot use (an invalid NetworkPolicy, a Service
    whose spec is not a mapping) is one warning line naming file:line, the object and what the answers lack
    without it, and counts as lost input: the command answers for the rest and exits 2 (`finish`). When
    nothing usable is left, that is an input error at once, as for input with no object at all."""
    topo = build_topology(loaded.objects)
    if not quiet:
        for w in topo.warnings:
            warn(w)
    if topo.problems and not topo.workloads and not topo.policies:
        first = topo.problems[0]
        more = f" (and {len(topo.problems) - 1} more)" if len(topo.problems) > 1 else ""
        raise InputError(f"{first.what}: {first.reason}{more}; no workload or NetworkPolicy left to analyse",
                         first.file or None, first.line)
    report_skipped(loaded, topo.problems)
    return topo


def _format(report: Report[Any], fmt: str) -> str:
    """`fmt` if the report offers it, else an input error (exit 2) before anything is loaded."""
    if fmt not in report.formats:
        raise InputError(f"--format {fmt!r}: choose one of {', '.join(report.formats)}")
    return fmt


@app.command("connlist")
@cluster_source
def connlist_cmd(
    paths: list[str] = typer.Argument(..., help="Manifest files or directories ('-' for stdin)."),
    fmt: str = typer.Option("txt", "--format", "-f", help="txt, json, csv, md, dot (netpol-analyzer's) or table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not warn about skipped documents."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """List every allowed connection, `src => dst : conns`, sorted (netpol-analyzer's format).

    Example: kubehipaa netpol connlist ./k8s --format dot -o graph.dot
    """
    _format(CONNLIST, fmt)
    engine, loaded = build_engine(paths, quiet=quiet, namespace=manifest_namespace)
    shown = len(engine.topo.warnings)
    result = engine.connlist()
    if not quiet:
        for w in engine.topo.warnings[shown:]:  # e.g. an Ingress whose target the policies block
            warn(w)
    write_output(CONNLIST.render(result, fmt, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


def _parse_port(text: str | None) -> tuple[str | None, int | None]:
    if not text:
        return None, None
    port_s, _, proto = text.partition("/")
    try:
        port = int(port_s)
    except ValueError:
        raise InputError(f"--port {text!r}: expected PORT or PORT/PROTOCOL, e.g. 5432/TCP") from None
    if not 1 <= port <= 65535:
        raise InputError(f"--port {text!r}: port must be in 1-65535")
    return (proto or "TCP").upper(), port


@app.command("can-reach")
@cluster_source
def can_reach_cmd(
    src: str = typer.Argument(..., help="Source: ns/name, ns/name[Kind] or an IPv4 address/CIDR."),
    dst: str = typer.Argument(..., help="Destination: ns/name, ns/name[Kind] or an IPv4 address/CIDR."),
    paths: list[str] = typer.Argument(..., help="Manifest files or directories."),
    port: str | None = typer.Option(None, "--port", "-p", help="PORT or PORT/PROTOCOL, e.g. 5432/TCP."),
    fmt: str = typer.Option("txt", "--format", "-f", help="txt or json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not warn about skipped documents."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Answer yes/no for one flow and name the policies and rules that decide it (exit 0 yes, 1 no).

    Example: kubehipaa netpol can-reach clinical/frontend clinical/db --port 5432/TCP ./k8s
    """
    protocol, number = _parse_port(port)
    _format(VERDICT, fmt)
    engine, loaded = build_engine(paths, quiet=quiet, namespace=manifest_namespace)
    try:
        v = can_reach(engine, src, dst, protocol, number)
    except NetpolError as exc:
        raise InputError(str(exc)) from None
    write_output(VERDICT.render(v, fmt, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK if v.reachable else EXIT_FINDINGS))


@app.command("exposure")
@cluster_source
def exposure_cmd(
    paths: list[str] = typer.Argument(..., help="Manifest files or directories."),
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="Namespace to examine (repeatable); default: the PHI namespaces."
    ),
    config: str | None = typer.Option(None, "--config", "-c", help="Path to .kubehipaa.yaml (default: the one in "
                                      "the current directory)."),
    trust_config: bool = typer.Option(False, "--trust-config", help=TRUST_CONFIG_HELP),
    fmt: str = typer.Option("txt", "--format", "-f", help="txt, json or table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not warn about skipped documents."),
    manifest_namespace: str | None = typer.Option(None, "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP),
) -> None:
    """Who can reach workloads in the namespaces, and where those workloads can send.

    Example: kubehipaa netpol exposure ./k8s --namespace clinical
    """
    _format(EXPOSURE, fmt)
    loaded = load_netpol(paths, quiet=quiet, namespace=manifest_namespace)
    objects = loaded.objects
    nss = list(namespace)
    if not nss:
        inv = Inventory(objects, load_config_if_present(config, paths, trust=trust_config))
        nss = sorted(inv.phi_namespaces)
        if not nss:
            raise InputError("no PHI namespace found; pass --namespace or label one kubehipaa.io/phi=true")
    engine = Engine(topology(loaded, quiet=quiet))
    write_output(EXPOSURE.render(exposure(engine, nss), fmt, RenderOptions()), output)
    raise typer.Exit(finish(loaded, EXIT_OK))


@app.command("diff")
def diff_cmd(
    before: str = typer.Argument(..., help="Manifests before the change (file or directory); with --cluster: "
                                 "the manifests you would apply."),
    after: str | None = typer.Argument(None, help="Manifests after the change (file or directory); not with "
                                       "--cluster."),
    fmt: str = typer.Option("txt", "--format", "-f", help="txt, json, csv (netpol-analyzer's) or table."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not warn about skipped documents."),
    manifest_namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=MANIFEST_NAMESPACE_HELP
    ),
    cluster: bool = typer.Option(False, "--cluster", help="Before: the live cluster (read-only: get/list); "
                                 "after: the live cluster with the given manifests applied."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="With --cluster: kubeconfig file."),
    context: str | None = typer.Option(None, "--context", help="With --cluster: kubeconfig context."),
) -> None:
    """Connections added, removed or changed between two versions (exit 1 when they differ).

    With --cluster, "before" is what runs now and "after" is the live cluster with FILES applied (each manifest
    object replaces the live object of the same group, kind, namespace and name, or is added): the
    connections a `kubectl apply` of FILES would open or close.

    Examples: kubehipaa netpol diff ./before ./after
              kubehipaa netpol diff --cluster --context prod ./k8s/netpol
    """
    _format(DIFF, fmt)
    if cluster:
        if after is not None:
            raise typer.BadParameter("with --cluster give only the manifests to apply (before is the cluster)")
        from kubehipaa.cli.common import load_cluster_manifests
        from kubehipaa.sources.cluster import ClusterTarget
        from kubehipaa.sources.overlay import overlay

        loaded1 = load_cluster_manifests(ClusterTarget(kubeconfig, context), quiet=quiet)
        changes = load_netpol([before], quiet=quiet, namespace=manifest_namespace)
        loaded2 = LoadResult(objects=overlay(loaded1.objects, changes.objects), problems=changes.problems)
        e1, e2 = Engine(topology(loaded1, quiet=quiet)), Engine(topology(loaded2, quiet=quiet))
    else:
        if after is None:
            raise typer.BadParameter("give the manifests before and after the change (or --cluster FILES)")
        if kubeconfig is not None or context is not None:
            raise typer.BadParameter("--kubeconfig and --context need --cluster")
        e1, loaded1 = build_engine([before], quiet=quiet, namespace=manifest_namespace)
        e2, loaded2 = build_engine([after], quiet=quiet, namespace=manifest_namespace)
    c1, c2 = e1.connlist(), e2.connlist()
    rows = diff(c1.connections, c1.peers, c2.connections, c2.peers)
    write_output(DIFF.render(rows, fmt, RenderOptions()), output)
    loaded1.problems.extend(loaded2.problems)
    raise typer.Exit(finish(loaded1, EXIT_FINDINGS if rows else EXIT_OK))
