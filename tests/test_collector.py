"""`kubehipaa.collector`: the cyclic collector is paused around bulk work and comes back as it was; what a
large scan made is frozen (out of the collector's reach) so later collections do not walk it again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubehipaa import collector
from kubehipaa.config import Config
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "clinic-insecure"


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.unfreeze()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_paused_turns_the_collector_off_and_back_on() -> None:
    gc.enable()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested: still off inside, and the outer pause turns it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with collector.paused() as pause:
        pause.freeze = True
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0  # the caller that turned it off decides


def test_paused_restores_the_collector_after_an_error() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_freeze_moves_what_is_alive_out_of_reach() -> None:
    gc.enable()
    kept = [[i] for i in range(1000)]
    with collector.paused() as pause:
        pause.freeze = True
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()


@pytest.mark.parametrize(("threshold", "frozen"), [(10**9, False), (1, True)])
def test_run_scan_keeps_the_collector_off_until_the_result_is_complete(
    monkeypatch: pytest.MonkeyPatch, threshold: int, frozen: bool,
) -> None:
    """The sort, the exceptions and the coverage bookkeeping run with the collector paused (each collection
    there walked every finding: 1 s of 1.1 s at 93,392 findings); a large input is then frozen."""
    objects = load_paths([str(EXAMPLE)]).objects
    monkeypatch.setattr(collector, "FREEZE_MIN_OBJECTS", threshold)
    enabled_after_checks: list[bool] = []
    import kubehipaa.pipelines.scan as scan_module

    original_apply = scan_module.apply_exceptions

    def spying_apply(findings, *args, **kwargs):  # type: ignore[no-untyped-def]
        enabled_after_checks.append(gc.isenabled())
        return original_apply(findings, *args, **kwargs)

    monkeypatch.setattr(scan_module, "apply_exceptions", spying_apply)
    gc.enable()
    result = run_scan(Inventory(objects, Config()))
    assert result.findings
    assert enabled_after_checks == [False]
    assert gc.isenabled()
    assert (gc.get_freeze_count() > 0) is frozen
