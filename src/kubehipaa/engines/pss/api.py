"""Levels, policy versions and verdict records of the Pod Security Standards engine.

These mirror the vocabulary of upstream `k8s.io/pod-security-admission/api` so that a user can put the
same strings in a namespace label and on our command line: levels `privileged|baseline|restricted`,
versions `v1.N` or `latest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

# Newest policy version any registered check introduces (sysctls gained a revision in v1.37).
# `latest` and every pinned version above it resolve to this minor, as upstream clamps to its maxVersion.
MAX_MINOR = 37


class Level(str, Enum):
    """The three Pod Security Standards levels, ordered by strictness via `rank`."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __str__(self) -> str:
        return self.value


_RANK = {Level.PRIVILEGED: 0, Level.BASELINE: 1, Level.RESTRICTED: 2}

LEVEL_CHOICES = tuple(level.value for level in Level)
_VERSION_RE = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


class PolicyError(ValueError):
    """A level or version string that upstream would also reject."""


def parse_level(text: str) -> Level:
    """Parse a level name exactly as upstream does (case-sensitive, no trimming)."""
    try:
        return Level(text)
    except ValueError:
        raise PolicyError(f"invalid level {text!r}: must be one of {', '.join(LEVEL_CHOICES)}") from None


@dataclass(frozen=True, slots=True)
class Version:
    """A policy version: `v1.<minor>` or `latest` (latest compares newer than everything)."""

    minor: int
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v1.{self.minor}"

    @property
    def effective_minor(self) -> int:
        """The minor whose rules are in force: latest and future versions clamp to MAX_MINOR."""
        if self.latest or self.minor > MAX_MINOR:
            return MAX_MINOR
        return self.minor


LATEST = Version(MAX_MINOR, latest=True)


def parse_version(text: str) -> Version:
    """Parse `latest` or `v1.N` with upstream's grammar (no leading zeros, major must be 1)."""
    if text == "latest":
        return LATEST
    match = _VERSION_RE.fullmatch(text)
    if not match:
        raise PolicyError(f'invalid version {text!r}: must be "latest" or "v1.x"')
    return Version(int(match.group(1)))


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: Level
    version: Version

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed upstream check: its id, forbidden reason and forbidden detail, verbatim wording."""

    check: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason, "detail": self.detail}

    @property
    def message(self) -> str:
        """`reason (detail)`: the fragment the API server prints for this check."""
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of evaluating one pod spec at one level and version."""

    level: Level
    version: Version
    violations: tuple[Violation, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(v.check for v in self.violations)

    def forbidden_message(self) -> str:
        """The sentence `kubectl apply` shows when the pod is rejected ("" when allowed)."""
        if not self.violations:
            return ""
        parts = ", ".join(v.message for v in self.violations)
        return f'violates PodSecurity "{self.level}:{self.version}": {parts}'
