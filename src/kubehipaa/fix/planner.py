"""From findings to file edits: which fixer runs on which object, and the new files `fix` adds.

The planner picks the active (unsuppressed: an exception is a decision someone made) findings whose check has
a fixer, opens each file they point to once, finds the object by its line (document root or `List` item),
runs the fixers, and returns the new text of every file that changed. Nothing is written here
(`fix.files.write_atomic` does that for the pipeline), so `--dry-run` and the real run share every step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kubehipaa.fix import files
from kubehipaa.fix.fixers import FIXERS, NEW_FILE_FIXES, FixContext, FixOptions, NotFixable
from kubehipaa.model import Finding, ResourceRef

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A namespace name as the API allows it (RFC 1123 label): it becomes part of a file name, so nothing else."""

DEFAULT_DENY_NAME = "kubehipaa-default-deny"
"""Name of the NetworkPolicy (and stem of the file) `fix` adds to a PHI namespace without a default deny."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file `fix` changes (`old` is '' for a file it creates)."""

    path: Path
    old: str
    new: str
    created: bool = False


@dataclass(frozen=True, slots=True)
class NotFixed:
    """A finding of a fixable check that was left as it is, and why."""

    finding: Finding
    reason: str
    line: int | None = None


@dataclass(slots=True)
class Plan:
    changes: list[FileChange] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    not_fixed: list[NotFixed] = field(default_factory=list)


def fixable(findings: Iterable[Finding], selected: set[str] | None) -> list[Finding]:
    """The active findings `fix` acts on: a check with a fixer, and one of `selected` when given."""
    known = set(FIXERS) | NEW_FILE_FIXES
    return [f for f in findings if not f.suppressed and f.check_id in known
            and (selected is None or f.check_id in selected)]


def plan(findings: Iterable[Finding], options: FixOptions, taken_policy_names: set[tuple[str, str]],
         scanned: Mapping[ResourceRef, dict[str, Any]] | None = None) -> Plan:
    """Run the fixers over the files the findings point to; `taken_policy_names` holds the (namespace, name)
    of every NetworkPolicy in the input, so an added default deny never shadows a user's policy; `scanned`
    maps each finding's resource to the object the scanner judged (containers are matched by its names)."""
    out = Plan()
    by_file: dict[str, list[Finding]] = {}
    deny: list[Finding] = []
    for f in findings:
        (deny if f.check_id in NEW_FILE_FIXES else by_file.setdefault(f.resource.file, [])).append(f)
    for name, group in by_file.items():
        _fix_file(Path(name), group, options, scanned or {}, out)
    _default_deny(deny, taken_policy_names, out)
    return out


def _fix_file(path: Path, group: list[Finding], options: FixOptions, scanned: Mapping[ResourceRef, dict[str, Any]],
              out: Plan) -> None:
    try:
        source = files.read(path)
    except files.FileProblem as exc:
        out.not_fixed.extend(NotFixed(f, str(exc), exc.line) for f in group)
        return
    done: list[Finding] = []
    for finding in sorted(group, key=lambda f: (f.resource.line, f.check_id)):
        res = finding.resource
        try:
            obj = source.mapping_at(res.line, res.kind, res.name)
            ctx = FixContext(options, scanned.get(res))
            changed = FIXERS[finding.check_id](obj, finding, ctx)
        except (files.FileProblem, NotFixable) as exc:
            out.not_fixed.append(NotFixed(finding, str(exc), getattr(exc, "line", None) or res.line))
            continue
        if changed:
            seg = source.segment_at(res.line)
            assert seg is not None  # mapping_at found the object in it
            seg.changed = True
        done.append(finding)
    new = source.render()
    if new != source.text:
        out.changes.append(FileChange(path, source.text, new))
    out.fixed.extend(done)


def default_deny_document(namespace: str) -> str:
    """A NetworkPolicy selecting every pod of `namespace` for ingress and egress, with no rule: all traffic
    the namespace's other policies do not allow is denied (KH-NET-001's remediation)."""
    return (
        f"# Added by `kubehipaa fix` (KH-NET-001): default-deny ingress and egress for the PHI namespace "
        f"{namespace}.\n"
        "# HIPAA 164.312(a)(1), 164.312(e)(1): pods send and accept only the traffic other policies allow.\n"
        "# Before applying, add policies for the flows each service needs (DNS to kube-dns included).\n"
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        f"  name: {DEFAULT_DENY_NAME}\n"
        f"  namespace: {namespace}\n"
        "spec:\n"
        "  podSelector: {}\n"
        "  policyTypes:\n"
        "  - Ingress\n"
        "  - Egress\n"
    )


def new_file_for(finding: Finding) -> Path:
    """Where the default deny for a KH-NET-001 finding goes: beside the file of the namespace's object."""
    res = finding.resource
    ns = res.namespace or (res.name if res.kind == "Namespace" else "")
    return Path(res.file).parent / f"{DEFAULT_DENY_NAME}-{ns}.yaml"


def _default_deny(findings: list[Finding], taken: set[tuple[str, str]], out: Plan) -> None:
    """One new file per PHI namespace, beside the file the finding points to (the namespace's objects)."""
    for finding in findings:
        res = finding.resource
        ns = res.namespace or (res.name if res.kind == "Namespace" else None)
        source = Path(res.file)
        if not ns or not DNS_LABEL.fullmatch(ns):
            out.not_fixed.append(NotFixed(finding, "the finding names no valid namespace"))
            continue
        if (ns, DEFAULT_DENY_NAME) in taken:
            out.not_fixed.append(NotFixed(finding, f"a NetworkPolicy {ns}/{DEFAULT_DENY_NAME} exists already "
                                                   "and is not a default deny; not replaced"))
            continue
        if not source.is_file():
            out.not_fixed.append(NotFixed(finding, "the finding's file is not a file on disk"))
            continue
        target = new_file_for(finding)
        if target.exists() or any(c.path == target for c in out.changes):
            out.not_fixed.append(NotFixed(finding, f"{target} exists already (is it scanned?); not overwritten"))
            continue
        try:
            listed = _list_in_kustomization(target)
        except (files.FileProblem, NotFixable) as exc:
            out.not_fixed.append(NotFixed(finding, f"{target.parent}: kustomization not editable: {exc}"))
            continue
        out.changes.append(FileChange(target, "", default_deny_document(ns), created=True))
        if listed is not None:
            out.changes = [c for c in out.changes if c.path != listed.path] + [listed]
        out.fixed.append(finding)


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _list_in_kustomization(target: Path) -> FileChange | None:
    """In a Kustomize directory a new file is built only when listed: add it to `resources:` of the
    directory's kustomization (round trip, like every edit), or None when the directory has none."""
    for name in KUSTOMIZATION_FILES:
        path = target.parent / name
        if path.is_file():
            break
    else:
        return None
    source = files.read(path)
    root = files.parse(source.segments[0]) if len(source.segments) == 1 else None
    if not isinstance(root, CommentedMap):
        raise NotFixable("not a single mapping document")
    resources = root.get("resources")
    if resources is None:
        root["resources"] = resources = CommentedSeq()
    if not isinstance(resources, CommentedSeq):
        raise NotFixable("resources is not a list")
    if target.name not in resources:
        resources.append(target.name)
        source.segments[0].changed = True
    new = source.render()
    return FileChange(path, source.text, new) if new != source.text else None
