"""What `kubehipaa fix` says: the unified diff of its edits (--dry-run) and the before/after summary.

The diff is a standard unified diff (`a/` and `b/` prefixes, so `patch -p1` applies it from the directory the
paths are relative to). Its lines pass the redaction layer like every other output: a context line that
holds a credential (an `env` value under a secret-named variable, a password in a URL) is masked, and such a
hunk then no longer applies with `patch`; running `fix` without --dry-run writes the real text.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable

from kubehipaa.fix import FIXABLE
from kubehipaa.fix.planner import FileChange
from kubehipaa.model import Finding
from kubehipaa.pipelines.fix import FixRun
from kubehipaa.redaction import redact_text

_NAME = re.compile(r"^[ +-]\s*-?\s*name:\s*[\"']?([A-Za-z_][\w.-]*)[\"']?\s*(?:#.*)?$")
_VALUE = re.compile(r"^([ +-]\s*value:\s*)(.+)$")
MASK = "<redacted:secret>"


def _diff_path(path: str) -> str:
    return path[2:] if path.startswith("./") else path.lstrip("/")


def render_diff(changes: Iterable[FileChange]) -> str:
    """Unified diff of every change (a created file diffs against /dev/null), redacted."""
    out: list[str] = []
    for change in changes:
        name = _diff_path(str(change.path))
        old = "/dev/null" if change.created else f"a/{name}"
        lines = difflib.unified_diff(change.old.splitlines(keepends=True), change.new.splitlines(keepends=True),
                                     old, f"b/{name}")
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(_redact(out))


def _redact(lines: list[str]) -> list[str]:
    """Each line through `redact_text`; a `value:` under a `name:` is judged as the pair NAME=value, the way
    an env entry reads (`DB_PASSWORD` two lines up makes the value a secret)."""
    out: list[str] = []
    name: str | None = None
    for line in lines:
        value = _VALUE.match(line)
        pair = f"{name}={value.group(2)}" if value is not None and name is not None else ""
        if value is not None and pair and redact_text(pair) != pair:
            line = f"{value.group(1)}{MASK}\n"
        m = _NAME.match(line)
        if m is not None:
            name = m.group(1)
        elif value is not None:
            name = None
        out.append(redact_text(line.rstrip("\n")) + "\n" if line.endswith("\n") else redact_text(line))
    return out


def _key(f: Finding) -> tuple[str, ...]:
    r = f.resource
    return (f.check_id, r.kind, r.namespace or "", r.name, ";".join(e.path for e in f.evidence))


def render_summary(run: FixRun) -> str:
    """Files changed, findings not fixed (with why), and per check: before, after, cleared."""
    lines: list[str] = []
    plan = run.plan
    verb = "would change" if run.dry_run else "changed"
    for change in plan.changes:
        if run.dry_run or change.path in run.written:
            lines.append(f"{'would create' if run.dry_run else 'created'} {change.path}" if change.created
                         else f"{verb} {change.path}")
    if not plan.changes:
        lines.append("nothing to change")
    for nf in plan.not_fixed:
        r = nf.finding.resource
        where = f"{r.file}:{nf.line or r.line}"
        lines.append(f"not fixed: {where}: {nf.finding.check_id} {r.display}: {nf.reason}")
    before = [f for f in run.before.result.findings if not f.suppressed]
    if run.after is None:
        planned = Counter(f.check_id for f in plan.fixed)
        lines.append("")
        lines.append("dry run: nothing written; findings the changes address, per check:")
        for cid, n in sorted(planned.items()):
            lines.append(f"  {cid:<12} {n}")
        return "\n".join(lines) + "\n"
    after = [f for f in run.after.result.findings if not f.suppressed]
    after_keys = {_key(f) for f in after}
    b = Counter(f.check_id for f in before)
    a = Counter(f.check_id for f in after)
    cleared = Counter(f.check_id for f in before if _key(f) not in after_keys)
    rows = sorted(set(b) | set(a), key=lambda c: (c not in FIXABLE, c))
    lines.append("")
    lines.append(f"{'check':<12} {'before':>6} {'after':>6} {'cleared':>7}  auto-fix")
    for cid in rows:
        if run.selected is not None and cid not in run.selected and cid not in cleared:
            continue
        lines.append(f"{cid:<12} {b[cid]:>6} {a[cid]:>6} {cleared[cid]:>7}  {'yes' if cid in FIXABLE else 'no'}")
    lines.append(f"{sum(cleared.values())} finding(s) cleared, {len(after)} remain "
                 "(`kubehipaa scan` lists them)")
    return "\n".join(lines) + "\n"
