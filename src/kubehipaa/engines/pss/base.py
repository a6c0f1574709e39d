"""The record types of the check registry: a check, its revisions, and the check function signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubehipaa.engines.pss.api import Level


# Every container of the pod (init, regular, ephemeral, in that order) paired with its securityContext
# (or None): fetched once per pod because nearly every check needs it.
class Containers(list[tuple[dict[str, Any], Any]]):
    """The (container, securityContext) pairs, plus `sc_keys`: every key set in any container's
    securityContext, so a check about a field nobody sets returns without walking the containers."""

    __slots__ = ("sc_keys",)

    def __init__(self, pairs: list[tuple[dict[str, Any], Any]], sc_keys: set[str]) -> None:
        super().__init__(pairs)
        self.sc_keys = sc_keys


# (podMetadata, podSpec, containers in visiting order) -> None when allowed, else (reason, detail)
CheckFn = Callable[[dict[str, Any], dict[str, Any], Containers], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class VersionedCheck:
    """One revision of a check: the first policy minor it governs and its function."""

    min_minor: int
    fn: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """An upstream check: id, level and its revisions in strictly increasing version order."""

    id: str
    level: Level
    versions: tuple[VersionedCheck, ...]
    summary: str = ""

    @property
    def min_minor(self) -> int:
        return self.versions[0].min_minor

    def revision_for(self, minor: int) -> VersionedCheck | None:
        found = None
        for rev in self.versions:
            if rev.min_minor <= minor:
                found = rev
        return found
