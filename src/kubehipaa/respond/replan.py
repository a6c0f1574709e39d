"""Re-read and re-plan after a conflict, a bounded number of times (scale, cordon, revoke share this).

A write carries a precondition (`metadata.resourceVersion` in a merge patch, JSON-patch `test` ops): when
another writer got there first the API answers 409 Conflict (a failed `test` may also come back as 422
Invalid), nothing was changed, and the action must look again before deciding what to send — the object
may even already be in the wanted state. Each try is recorded by the runner; after `TRIES` the action
stops with one line saying so rather than looping against a writer that never settles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kubehipaa.errors import KubehipaaError
from kubehipaa.respond.runner import ActionFailed

TRIES = 3
CONFLICT_CODES = (409,)

T = TypeVar("T")


class StillConflicting(KubehipaaError):
    """The object kept changing under the action; nothing more was sent."""


def replanning(attempt: Callable[[], T], what: str, *, codes: tuple[int, ...] = CONFLICT_CODES,
               tries: int = TRIES) -> T:
    """Run `attempt` (read, plan, send) until it does not end in a conflict answer, at most `tries` times."""
    for _ in range(tries):
        try:
            return attempt()
        except ActionFailed as exc:
            if exc.answer.code not in codes:
                raise
    raise StillConflicting(f"{what}: the object changed under us {tries} times in a row (conflict); "
                           "stopped — every attempt is in the action log; re-run once it settles")
