"""What a terminal user sees must not cost the parallel work: the loading line and the checks' progress bar of
`kubehipaa scan` start no thread, because a process with a second thread does not fork workers
(`parallel.can_fork`) and a large scan would then run on one core only."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kubehipaa import parallel
from kubehipaa.cli import common
from kubehipaa.cli import scan as scan_cli
from kubehipaa.config import Config
from kubehipaa.pipelines.scan import ControlPlaneFiles
from kubehipaa.sources.files import load_paths

ROOT = Path(__file__).resolve().parents[2]


def test_interactive_scan_leaves_forking_possible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "interactive", lambda: True)
    seen: list[bool] = []
    real = scan_cli.scan_pipeline

    def watched(*args: Any, **kwargs: Any) -> Any:
        progress = kwargs["progress"]

        def advance(chk: Any) -> None:
            seen.append(parallel.can_fork())
            progress(chk)

        kwargs["progress"] = advance
        return real(*args, **kwargs)

    monkeypatch.setattr(scan_cli, "scan_pipeline", watched)
    before = threading.active_count()
    with scan_cli._status("Loading manifests…"):
        assert threading.active_count() == before
        loaded = load_paths([str(ROOT / "examples" / "clinic-insecure")])
    run = scan_cli._run_with_progress(loaded, Config(), ControlPlaneFiles(), scan_cli.select_checks(), [])
    assert run.result.findings
    assert seen and all(seen) == (before == 1)  # no thread of ours while the checks ran
    assert threading.active_count() == before
