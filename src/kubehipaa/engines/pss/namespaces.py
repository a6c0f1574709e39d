"""Namespace `pod-security.kubernetes.io/*` labels → the policy each admission mode applies.

Follows upstream's PolicyToEvaluate: unspecified labels fall back to the defaults (privileged:latest
unless the cluster configures otherwise); an unparsable enforce level means restricted, an unparsable
audit/warn level fails open to privileged; an unparsable version means latest. Parse problems are
reported alongside the (always valid) policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubehipaa.engines.pss.api import (
    LATEST,
    Level,
    LevelVersion,
    PolicyError,
    Verdict,
    parse_level,
    parse_version,
)

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
DEFAULT = LevelVersion(Level.PRIVILEGED, LATEST)


@dataclass(frozen=True, slots=True)
class NamespacePolicy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion
    labelled: frozenset[str] = frozenset()
    """Which of enforce/audit/warn, and `<mode>-version`, carry an explicit label."""
    errors: tuple[str, ...] = field(default=())

    def mode(self, name: str) -> LevelVersion:
        return {"enforce": self.enforce, "audit": self.audit, "warn": self.warn}[name]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            m: {"level": str(self.mode(m).level), "version": str(self.mode(m).version)} for m in MODES
        }
        out["errors"] = list(self.errors)
        return out


def policy_from_labels(
    labels: Mapping[str, str] | None,
    defaults: tuple[LevelVersion, LevelVersion, LevelVersion] = (DEFAULT, DEFAULT, DEFAULT),
) -> NamespacePolicy:
    labels = labels or {}
    resolved: dict[str, LevelVersion] = dict(zip(MODES, defaults, strict=True))
    labelled: set[str] = set()
    errors: list[str] = []
    for mode in MODES:
        level = resolved[mode].level
        version = resolved[mode].version
        key = LABEL_PREFIX + mode
        if key in labels:
            labelled.add(mode)
            try:
                level = parse_level(str(labels[key]))
            except PolicyError as exc:
                errors.append(f"{key}: {exc}")
                level = Level.RESTRICTED if mode == "enforce" else Level.PRIVILEGED
        vkey = f"{key}-version"
        if vkey in labels:
            labelled.add(f"{mode}-version")
            try:
                version = parse_version(str(labels[vkey]))
            except PolicyError as exc:
                errors.append(f"{vkey}: {exc}")
                version = LATEST
        resolved[mode] = LevelVersion(level, version)
    return NamespacePolicy(
        resolved["enforce"], resolved["audit"], resolved["warn"], frozenset(labelled), tuple(errors)
    )


def label_change_warnings(
    namespace: str, enforce: LevelVersion, verdicts: list[tuple[str, Verdict]]
) -> list[str]:
    """The warnings the API server returns when a namespace's enforce label is changed (as printed by
    `kubectl label --dry-run=server ns NS pod-security.kubernetes.io/enforce=...`), without "Warning: ".

    Pods with the same list of forbidden reasons are grouped under the alphabetically first pod name:
    `name (and 2 other pods): reason, reason`. No warnings when nothing would be rejected or the new level is
    privileged.
    """
    if enforce.level is Level.PRIVILEGED:
        return []
    groups: dict[str, list[str]] = {}
    for name, verdict in sorted(verdicts, key=lambda nv: nv[0]):
        if verdict.allowed:
            continue
        reasons = ", ".join(v.reason for v in verdict.violations)
        groups.setdefault(reasons, []).append(name)
    if not groups:
        return []
    out = [f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{enforce}"']
    for reasons, names in groups.items():
        others = len(names) - 1
        suffix = "" if others == 0 else f" (and {others} other pod{'s' if others > 1 else ''})"
        out.append(f"{names[0]}{suffix}: {reasons}")
    return out
