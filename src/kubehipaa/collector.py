"""Pausing Python's cyclic garbage collector around bulk work, in one place.

Loading, checking and reporting a large input allocate millions of objects that all stay alive (documents,
findings, report dicts) and make next to no reference cycles. While they are being made, every full
collection walks everything made so far to find no garbage: measured at 90,040 objects, a quarter of the
load time, and 1 s (of 1.1 s) just to sort the 93,392 findings once the checks had ended and the collector
was back on. So the collector is paused while such work runs, and what it made can be frozen afterwards
(`gc.freeze`: moved out of the collector's reach; still freed by reference counting when dropped), so the
collections that run later do not walk it again and again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

FREEZE_MIN_OBJECTS = 5_000
"""Freeze what bulk work made only when the input had at least this many objects. Below it the collections
are cheap, and a long-lived process (the admission webhook, tests) should keep collecting whatever cycles a
small run leaves behind."""


@dataclass(slots=True)
class Pause:
    """What to do when the pause ends: `freeze` moves everything alive out of the collector's reach."""

    freeze: bool = False


@contextmanager
def paused() -> Iterator[Pause]:
    """The collector off for the block (if it was on), back on after it, first freezing when `freeze` was set.

    Nested pauses are fine: an inner one finds the collector off and leaves it so."""
    pause = Pause()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield pause
    finally:
        if was_enabled:
            if pause.freeze:
                gc.freeze()
            gc.enable()
