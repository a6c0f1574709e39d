"""Evaluate a pod spec against a level and version: the hot path, kept to a flat loop."""

from __future__ import annotations

from typing import Any

from kubehipaa.engines.pss.api import Level, LevelVersion, Verdict, Version, Violation
from kubehipaa.engines.pss.helpers import containers_of
from kubehipaa.engines.pss.registry import checks_for, compiled


class PodSpecError(ValueError):
    """The pod spec does not have the shape of a Kubernetes PodSpec (a field of the wrong type)."""


def violations(meta: dict[str, Any], spec: dict[str, Any], level: Level, version: Version) -> list[Violation]:
    """All failed checks, in upstream's order; empty when the pod is allowed.

    `meta` is the pod (or pod template) metadata, `spec` the PodSpec, both as parsed YAML/JSON dicts.
    They are read, never copied or modified.
    """
    ids, fns = compiled(level, version.effective_minor)
    if not fns:
        return []
    try:
        ctrs = containers_of(spec)
        results = [fn(meta, spec, ctrs) for fn in fns]
    except (AttributeError, TypeError) as exc:
        raise PodSpecError(f"malformed pod spec: {_describe(exc)}") from None
    if results.count(None) == len(results):
        return []
    return [Violation(cid, r[0], r[1]) for cid, r in zip(ids, results, strict=True) if r is not None]


def _describe(exc: Exception) -> str:
    text = str(exc)
    if "has no attribute 'get'" in text:
        kind = text.split("'")[1] if "'" in text else "value"
        return f"expected a mapping but found a {kind}"
    return text


def evaluate(meta: dict[str, Any], spec: dict[str, Any], level: Level, version: Version) -> Verdict:
    """Verdict for one pod spec at `level:version`."""
    return Verdict(level, version, tuple(violations(meta, spec, level, version)))


def evaluate_lv(meta: dict[str, Any], spec: dict[str, Any], lv: LevelVersion) -> Verdict:
    return evaluate(meta, spec, lv.level, lv.version)


def is_allowed(meta: dict[str, Any], spec: dict[str, Any], level: Level, version: Version) -> bool:
    """Fast yes/no; stops at the first failing check."""
    checks = checks_for(level, version.effective_minor)
    if not checks:
        return True
    try:
        ctrs = containers_of(spec)
        return all(fn(meta, spec, ctrs) is None for _, fn in checks)
    except (AttributeError, TypeError) as exc:
        raise PodSpecError(f"malformed pod spec: {_describe(exc)}") from None
