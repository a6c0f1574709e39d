"""The registry of upstream checks and the precompiled per-(level, version) check lists.

Mirrors upstream's registry semantics:
- a check applies from the `min_minor` of its first revision; for policy version v1.N the revision in force
  is the newest one with `min_minor <= N`;
- restricted = every restricted check + every baseline check not overridden by a restricted revision in force;
- checks run baseline ids first, then restricted ids, each group sorted by id (stable message order);
- versions above the newest `min_minor` (and `latest`) clamp to it.
Lists are compiled once at import so evaluating a pod is a flat loop over plain functions.
"""

from __future__ import annotations

from kubehipaa.engines.pss.api import MAX_MINOR, Level
from kubehipaa.engines.pss.base import Check, CheckFn, VersionedCheck
from kubehipaa.engines.pss.controls import ALL_CHECKS

__all__ = ["BY_ID", "CHECKS", "Check", "CheckFn", "VersionedCheck", "checks_for", "compiled"]


def _validate(checks: list[Check]) -> None:
    seen: set[str] = set()
    for c in checks:
        if c.id in seen:
            raise ValueError(f"duplicate check id {c.id}")
        seen.add(c.id)
        if c.level is Level.PRIVILEGED or not c.versions:
            raise ValueError(f"check {c.id}: invalid level or no versions")
        minors = [v.min_minor for v in c.versions]
        if minors != sorted(set(minors)):
            raise ValueError(f"check {c.id}: versions must be strictly increasing")
        if any(v.overrides for v in c.versions) and c.level is not Level.RESTRICTED:
            raise ValueError(f"check {c.id}: only restricted checks may override")


CHECKS: tuple[Check, ...] = ()
BY_ID: dict[str, Check] = {}
# _COMPILED[level][minor] -> tuple of (check id, fn)
_COMPILED: dict[Level, list[tuple[tuple[str, CheckFn], ...]]] = {}
_SPLIT: dict[Level, list[tuple[tuple[str, ...], tuple[CheckFn, ...]]]] = {}


def _compile() -> None:
    global CHECKS
    checks = list(ALL_CHECKS)
    _validate(checks)
    top = max(rev.min_minor for c in checks for rev in c.versions)
    if top != MAX_MINOR:
        raise ValueError(f"MAX_MINOR={MAX_MINOR} but newest check revision is v1.{top}")
    CHECKS = tuple(sorted(checks, key=lambda c: (c.level.rank, c.id)))
    BY_ID.clear()
    BY_ID.update({c.id: c for c in CHECKS})
    baseline = [c for c in CHECKS if c.level is Level.BASELINE]
    restricted = [c for c in CHECKS if c.level is Level.RESTRICTED]
    base_lists: list[tuple[tuple[str, CheckFn], ...]] = []
    restr_lists: list[tuple[tuple[str, CheckFn], ...]] = []
    for minor in range(MAX_MINOR + 1):
        base_revs = [(c.id, r) for c in baseline if (r := c.revision_for(minor))]
        restr_revs = [(c.id, r) for c in restricted if (r := c.revision_for(minor))]
        overridden = {o for _, r in restr_revs for o in r.overrides}
        base_lists.append(tuple((cid, r.fn) for cid, r in base_revs))
        restr_lists.append(
            tuple((cid, r.fn) for cid, r in base_revs if cid not in overridden)
            + tuple((cid, r.fn) for cid, r in restr_revs)
        )
    _COMPILED[Level.BASELINE] = base_lists
    _COMPILED[Level.RESTRICTED] = restr_lists
    _COMPILED[Level.PRIVILEGED] = [() for _ in range(MAX_MINOR + 1)]
    for level, lists in _COMPILED.items():
        _SPLIT[level] = [(tuple(i for i, _ in lst), tuple(f for _, f in lst)) for lst in lists]


def compiled(level: Level, minor: int) -> tuple[tuple[str, ...], tuple[CheckFn, ...]]:
    """Same as `checks_for`, split into parallel (ids, functions) tuples for the hot loop."""
    return _SPLIT[level][minor]


def checks_for(level: Level, minor: int) -> tuple[tuple[str, CheckFn], ...]:
    """The ordered (id, fn) list in force at `level` and effective policy minor `minor`."""
    return _COMPILED[level][minor]


_compile()
