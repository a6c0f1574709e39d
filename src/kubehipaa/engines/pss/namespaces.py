"""Namespace `pod-security.kubernetes.io/*` labels → the policy each admission mode applies.

Follows upstream's PolicyToEvaluate: unspecified labels fall back to the defaults (privileged:latest
unless the cluster configures otherwise); an unparsable enforce level means restricted, an unparsable
audit/warn level fails open to privileged; an unparsable version means latest. Parse problems are
reported alongside the (always valid) policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubehipaa.engines.pss.api import LATEST, Level, LevelVersion, PolicyError, parse_level, parse_version

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
