"""`fix --as-patch`: the fixes of a Kustomize overlay written as a strategic-merge patch in the overlay,
leaving the bases (often shared, or vendored) untouched.

The fixers run on a round-trip copy of each object as the overlay renders it (so a container an overlay adds
is fixed too, by the index the finding names); the difference to the rendered object becomes the patch:
mappings carry only what changed, the container and volume lists are merged by `name` as the API's
strategic merge does, any other list is given whole (it is replaced). The patch names each object by its
name in the base file (Kustomize matches patches by the original name, before namePrefix/nameSuffix). The
patch file `kubehipaa-fix-patch.yaml` is listed under `patches:` of the overlay's kustomization; a default
deny goes to a new file listed under `resources:`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kubehipaa.fix import files
from kubehipaa.fix.fixers import FIXERS, NEW_FILE_FIXES, FixContext, FixOptions, NotFixable
from kubehipaa.fix.planner import (
    DNS_LABEL,
    KUSTOMIZATION_FILES,
    FileChange,
    NotFixed,
    Plan,
    default_deny_document,
)
from kubehipaa.model import Finding, ResourceRef

PATCH_FILE = "kubehipaa-fix-patch.yaml"
MERGE_BY_NAME = frozenset({"containers", "initContainers", "ephemeralContainers", "volumes", "volumeMounts"})


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        return CommentedMap((k, _commented(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_commented(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def smp(old: Any, new: Any, key: str = "") -> Any:
    """The strategic-merge patch turning `old` into `new` (fixers only add or change, never remove)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: smp(old.get(k), v, k) for k, v in new.items() if k not in old or old[k] != v}
    if key in MERGE_BY_NAME and isinstance(old, list) and isinstance(new, list):
        before = {o.get("name"): o for o in old if isinstance(o, dict)}
        out = []
        for item in new:
            if isinstance(item, dict) and item != before.get(item.get("name")):
                diff = smp(before.get(item.get("name")) or {}, item)
                out.append({"name": item.get("name"), **diff})
        return out
    return _plain(new)


def kustomization_of(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def patch_plan(overlay: Path, findings: Iterable[Finding], options: FixOptions,
               scanned: Mapping[ResourceRef, dict[str, Any]], taken: set[tuple[str, str]]) -> Plan:
    out = Plan()
    kfile = kustomization_of(overlay)
    groups: dict[ResourceRef, list[Finding]] = {}
    deny: list[Finding] = []
    for f in findings:
        (deny if f.check_id in NEW_FILE_FIXES else groups.setdefault(f.resource, [])).append(f)
    if kfile is None:
        out.not_fixed.extend(NotFixed(f, f"--as-patch: {overlay} is not a Kustomize directory")
                             for g in groups.values() for f in g)
        out.not_fixed.extend(NotFixed(f, f"--as-patch: {overlay} is not a Kustomize directory") for f in deny)
        return out
    docs: list[dict[str, Any]] = []
    for ref, group in groups.items():
        patch = _object_patch(ref, group, options, scanned.get(ref), out)
        if patch is not None:
            docs.append(patch)
    additions: list[tuple[str, str]] = []
    if docs:
        target = overlay / PATCH_FILE
        if target.exists():
            fixed = [f for g in groups.values() for f in g if f in out.fixed]
            out.fixed = [f for f in out.fixed if f not in fixed]
            out.not_fixed.extend(NotFixed(f, f"{target} exists already; merge or remove it first") for f in fixed)
        else:
            out.changes.append(FileChange(target, "", _dump(docs), created=True))
            additions.append(("patches", PATCH_FILE))
    for f in deny:
        ns = f.resource.namespace or (f.resource.name if f.resource.kind == "Namespace" else "")
        target = overlay / f"kubehipaa-default-deny-{ns}.yaml"
        if not DNS_LABEL.fullmatch(ns) or target.exists() or (ns, "kubehipaa-default-deny") in taken:
            out.not_fixed.append(NotFixed(f, f"{target} or its policy exists already; not replaced"))
            continue
        out.changes.append(FileChange(target, "", default_deny_document(ns), created=True))
        additions.append(("resources", target.name))
        out.fixed.append(f)
    if additions:
        try:
            change = _list(kfile, additions)
        except (files.FileProblem, NotFixable) as exc:
            out.not_fixed.extend(NotFixed(f, f"{kfile}: {exc}") for f in out.fixed)
            out.fixed, out.changes = [], []
            return out
        if change is not None:
            out.changes.append(change)
    return out


def _object_patch(ref: ResourceRef, group: list[Finding], options: FixOptions, rendered: dict[str, Any] | None,
                  out: Plan) -> dict[str, Any] | None:
    if rendered is None:
        out.not_fixed.extend(NotFixed(f, "the scanned object was not found") for f in group)
        return None
    try:
        base = files.read(Path(ref.file)).mapping_at(ref.line, ref.kind, ref.name)
    except files.FileProblem as exc:
        out.not_fixed.extend(NotFixed(f, f"its base document: {exc}", exc.line) for f in group)
        return None
    work = _commented(rendered)
    done = []
    for f in group:
        try:
            FIXERS[f.check_id](work, f, FixContext(options))
        except NotFixable as exc:
            out.not_fixed.append(NotFixed(f, str(exc)))
            continue
        done.append(f)
    out.fixed.extend(done)
    diff = smp(rendered, _plain(work))
    if not diff:
        return None
    meta = base.get("metadata") if isinstance(base.get("metadata"), dict) else {}
    head: dict[str, Any] = {"name": str(meta.get("name") or ref.name)}
    if meta.get("namespace"):
        head["namespace"] = str(meta["namespace"])
    patch_meta = {**head, **({"labels": diff["metadata"]["labels"]} if "metadata" in diff else {})}
    body = {k: v for k, v in diff.items() if k != "metadata"}
    return {"apiVersion": rendered.get("apiVersion"), "kind": rendered.get("kind"), "metadata": patch_meta, **body}


def _dump(docs: list[dict[str, Any]]) -> str:
    header = ("# Written by `kubehipaa fix --as-patch`: strategic-merge patches with the safe remediations for the\n"
              "# objects of this overlay's bases (docs/fix.md). Listed under `patches:` in the kustomization.\n")
    return header + files.dump_plain(docs)


def _list(kfile: Path, additions: list[tuple[str, str]]) -> FileChange | None:
    source = files.read(kfile)
    root = files.parse(source.segments[0]) if len(source.segments) == 1 else None
    if not isinstance(root, CommentedMap):
        raise NotFixable("not a single mapping document")
    for field, name in additions:
        seq = root.get(field)
        if seq is None:
            root[field] = seq = CommentedSeq()
        if not isinstance(seq, CommentedSeq):
            raise NotFixable(f"{field} is not a list")
        entry: Any = CommentedMap([("path", name)]) if field == "patches" else name
        present = any((e.get("path") if isinstance(e, dict) else e) == name for e in seq)
        if not present:
            seq.append(entry)
            source.segments[0].changed = True
    new = source.render()
    return FileChange(kfile, source.text, new) if new != source.text else None
