"""What the engine says about input it cannot use: an error for the caller, a problem per object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class NetpolError(ValueError):
    """Input the engine cannot analyse; the message is one line and names the object or the field."""


@dataclass(frozen=True, slots=True)
class Problem:
    """An object the engine left out of the analysis (or used only in part), as one line for the user.

    The rest of the input is analysed; the answers are then computed without this object, and `effect`
    says what that means for them (a skipped policy can make a pod look unisolated, or lose an allow).
    `file`/`line` say where the object was read (empty/None for plain dicts); `obj` is the K8sObject.
    """

    what: str
    """The object: `NetworkPolicy ns/name`, `Deployment ns/name`, `Pod ns/name`."""
    reason: str
    """Why, with the field path or the reference tool's wording (`Ingress rule #1 peer #1: CIDR error: ...`)."""
    effect: str
    """What the answers lack because of it."""
    file: str = ""
    line: int | None = None
    obj: Any = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> str:
        return f"{self.what}: {self.reason}; {self.effect}"

    def __str__(self) -> str:
        if not self.file:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"
