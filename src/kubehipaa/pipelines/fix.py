"""The fix pipeline: scan → plan the safe remediations → (write) → scan again, so the user sees what cleared.

`fix` is judged by the same scan as `kubehipaa scan` (same loader, checks, exceptions), before and after:
the "cleared" figures are what the scanner says of the files as written, never what the fixers meant to do.
Nothing is printed here; `cli.fix` renders `FixRun` through `reports.fix`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubehipaa.config import Config
from kubehipaa.fix import FixOptions, Plan, fixable, plan
from kubehipaa.fix import files as fix_files
from kubehipaa.fix.fixers import NEW_FILE_FIXES, OPT_IN
from kubehipaa.fix.patches import patch_plan
from kubehipaa.fix.planner import NotFixed, new_file_for
from kubehipaa.pipelines.scan import ScanRun, scan
from kubehipaa.sources.files import LoadResult, load_paths, load_text


@dataclass(slots=True)
class FixRun:
    before: ScanRun
    plan: Plan
    after: ScanRun | None
    """The scan of the written files; None with --dry-run (nothing was written)."""
    dry_run: bool
    selected: set[str] | None
    written: list[Path]
    failed: list[Path]
    """Files that could not be written (named in `plan.not_fixed`): the run exits 2."""


def run_fix(
    loaded: LoadResult,
    paths: Sequence[str],
    config: Config,
    *,
    selected: set[str] | None,
    options: FixOptions,
    dry_run: bool,
    namespace: str | None = None,
    as_patch: Path | None = None,
) -> FixRun:
    """Fix what `loaded` (read from `paths`) shows; write unless `dry_run`, then re-scan from disk.
    `as_patch`: the Kustomize overlay that receives the fixes as a strategic-merge patch (bases untouched)."""
    before = scan(loaded, config)
    taken = {(o.namespace or "", o.name) for o in loaded.objects if o.kind == "NetworkPolicy"}
    todo = [f for f in fixable(before.result.findings, selected)
            if options.default_limits or f.check_id not in OPT_IN]
    scanned = {o.ref: o.doc for o in loaded.objects}
    if as_patch is not None:
        result = patch_plan(as_patch, todo, options, scanned, taken)
    else:
        result = plan(todo, options, taken, scanned)
    _refuse_unloadable(result)
    if dry_run:
        return FixRun(before, result, None, True, selected, [], [])
    written: list[Path] = []
    failed: list[Path] = []
    for change in result.changes:
        try:
            (fix_files.create_new if change.created else fix_files.write_atomic)(change.path, change.new)
        except (OSError, fix_files.FileProblem) as exc:
            _unfixed(result, change.path, f"not written: {getattr(exc, 'strerror', None) or exc}")
            failed.append(change.path)
            continue
        written.append(change.path)
    rescan_paths = list(paths) + [str(p) for p in written if not _under(p, paths)]
    after = scan(load_paths(rescan_paths, namespace=namespace), config)
    return FixRun(before, result, after, False, selected, written, failed)


def _refuse_unloadable(result: Plan) -> None:
    """Drop a change whose new text the scanner would not read back completely (never write a file we made
    worse): the findings it meant to fix are reported as not fixed."""
    for change in list(result.changes):
        reread = load_text(change.new, str(change.path))
        before = load_text(change.old, str(change.path)) if change.old else LoadResult()
        if len(reread.problems) > len(before.problems) or len(reread.objects) < len(before.objects):
            _unfixed(result, change.path, "the edited file would not load completely; left unchanged")


def _unfixed(result: Plan, path: Path, reason: str) -> None:
    result.changes = [c for c in result.changes if c.path != path]
    moved = [f for f in result.fixed
             if path == (new_file_for(f) if f.check_id in NEW_FILE_FIXES else Path(f.resource.file))]
    result.fixed = [f for f in result.fixed if f not in moved]
    result.not_fixed.extend(NotFixed(f, reason) for f in moved)


def _under(path: Path, roots: Sequence[str]) -> bool:
    resolved = path.resolve()
    for root in roots:
        if root == "-":
            continue
        r = Path(root).resolve()
        if resolved == r or (r.is_dir() and r in resolved.parents):
            return True
    return False
