"""`kubehipaa fix`: apply the safe automatic remediations to manifest files, then re-scan (docs/fix.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from kubehipaa.cli import common
from kubehipaa.cli.common import EXIT_ERROR, err_console, load_objects
from kubehipaa.cli.scan import FailOn, exit_code
from kubehipaa.config import Config
from kubehipaa.errors import KubehipaaError


def fix(
    paths: list[str] = typer.Argument(None, help="Files or directories of YAML manifests to fix in place."),
    check: list[str] = typer.Option(
        None, "--check", help="Fix only the findings of these check ids (repeatable; see `kubehipaa checks list`)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print a unified diff of the changes; write nothing."),
    default_limits: bool = typer.Option(
        False, "--default-limits",
        help="Also write missing CPU/memory requests and a memory limit (KH-WL-011): 100m/128Mi/512Mi, or the "
             "container's own values where it has some.",
    ),
    as_patch: bool = typer.Option(
        False, "--as-patch",
        help="PATH is a Kustomize overlay: write the fixes as a strategic-merge patch in it (listed in its "
             "kustomization) instead of editing the base files.",
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Path to .kubehipaa.yaml (default: the one in the current directory)."
    ),
    trust_config: bool = typer.Option(False, "--trust-config", help=common.TRUST_CONFIG_HELP),
    fail_on: FailOn = typer.Option(
        FailOn.high, "--fail-on", help="Exit 1 when a finding at or above this severity remains after fixing."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", "--manifest-namespace", help=common.MANIFEST_NAMESPACE_HELP
    ),
) -> None:
    """Fix manifests: securityContext hardening, service-account tokens, Pod Security labels, default deny.

    Edits keep comments, key order, quoting and multi-document layout (ruamel.yaml round trip); a document
    with nothing to fix keeps its exact bytes, a file with nothing to fix is not rewritten. Missing default-deny
    NetworkPolicies are written to a new file (kubehipaa-default-deny-NS.yaml) beside the namespace's objects.
    After writing, the files are scanned again and the findings cleared and remaining are listed per check.

    Examples:

      kubehipaa fix ./k8s --dry-run                 # unified diff, nothing written

      kubehipaa fix ./k8s --check KH-WL-008 --check KH-WL-005

      kubehipaa fix ./k8s --default-limits

      kubehipaa fix overlays/prod --as-patch        # Kustomize: a patch in the overlay, bases untouched

    Exit codes: 0 no finding at or above --fail-on remains (--dry-run: in the files as they are); 1 one
    remains; 2 usage or input error (an unreadable file is named, left untouched, and the rest fixed).
    """
    from kubehipaa.fix import FIXABLE, FixOptions
    from kubehipaa.pipelines.fix import run_fix
    from kubehipaa.reports.fix import render_diff, render_summary

    try:
        if not paths:
            raise typer.BadParameter("give at least one file or directory")
        if "-" in paths:
            raise typer.BadParameter("fix edits files in place: give files or directories, not '-' (stdin)")
        selected = _selected(check or [], FIXABLE)
        overlay = _overlay(paths) if as_patch else None
        cfg = common.load_config_if_present(config, paths, trust=trust_config) or Config()
        loaded = load_objects(paths, namespace=namespace)
        common.require_objects(loaded.objects, paths, loaded, "nothing was fixed")
        run = run_fix(loaded, paths, cfg, selected=selected, options=FixOptions(default_limits=default_limits),
                      dry_run=dry_run, namespace=namespace, as_patch=overlay)
        if dry_run:
            sys.stdout.write(render_diff(run.plan.changes))
        err_console.print(escape(render_summary(run).rstrip("\n")), soft_wrap=True, highlight=False)
        final = run.after if run.after is not None else run.before
        code = exit_code(final.result, fail_on)
        code = common.finish(run.before.loaded, EXIT_ERROR if run.failed else code)
    except KubehipaaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        code = EXIT_ERROR
    raise typer.Exit(code)


def _overlay(paths: list[str]) -> Path:
    """--as-patch takes one Kustomize directory (the overlay the patch is written into)."""
    from kubehipaa.fix.patches import kustomization_of

    if len(paths) != 1 or not Path(paths[0]).is_dir() or kustomization_of(Path(paths[0])) is None:
        raise typer.BadParameter("--as-patch takes exactly one path: the Kustomize overlay directory to patch")
    return Path(paths[0])


def _selected(ids: list[str], fixable: frozenset[str]) -> set[str] | None:
    """The --check ids, each a registered check with a fixer; an unknown one is a usage error with a hint."""
    if not ids:
        return None
    from kubehipaa.pipelines.scan import known_check_ids

    known = known_check_ids()
    out: set[str] = set()
    for raw in ids:
        cid = raw.strip().upper()
        if cid not in known:
            import difflib

            close = difflib.get_close_matches(cid, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see `kubehipaa checks list` for the known ids"
            raise typer.BadParameter(f"--check {raw}: unknown check id; {hint}")
        if cid not in fixable:
            raise typer.BadParameter(f"--check {raw}: {cid} has no automatic fix (fixable: "
                                     f"{', '.join(sorted(fixable))})")
        out.add(cid)
    return out
