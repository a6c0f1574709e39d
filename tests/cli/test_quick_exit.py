"""The console script ends a large scan without freeing it object by object (`cli.quick_exit`), and loses
nothing by doing so: the report (to a file or to stdout), the exit code, the stderr lines and every `atexit`
handler are what a normal exit gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubehipaa import collector
from kubehipaa.cli import quick_exit
from kubehipaa.cli.main import main
from tests.conftest import EXAMPLES

# A real process running the console entry point, with the "large scan" threshold lowered to one object so
# the bundled example takes the early exit; it says when it ends early and registers an atexit handler.
_PROGRAM = """
import atexit, sys
from kubehipaa import collector
from kubehipaa.cli import main as cli_main, quick_exit
collector.FREEZE_MIN_OBJECTS = int(sys.argv.pop(1))
real_end = quick_exit.end
def end(code):
    sys.stderr.write(f"ending early with {code}\\n")
    real_end(code)
quick_exit.end = end
atexit.register(lambda: sys.stderr.write("atexit handler ran\\n"))
sys.argv[0] = "kubehipaa"
cli_main.run()
"""


def _console(threshold: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run([sys.executable, "-c", _PROGRAM, str(threshold), *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


@pytest.mark.parametrize("threshold", [1, 10**9], ids=["early", "normal"])
def test_report_to_stdout_arrives_whole(threshold: int) -> None:
    res = _console(threshold, "scan", str(EXAMPLES / "clinic-insecure"), "-f", "json")
    assert res.returncode == 1, res.stderr
    assert ("ending early with 1" in res.stderr) is (threshold == 1)
    assert "atexit handler ran" in res.stderr
    assert json.loads(res.stdout)["summary"]["findings"] > 0  # the whole report, flushed before the end


def test_early_and_normal_exits_write_the_same_report(tmp_path: Path) -> None:
    early, normal = tmp_path / "early.json", tmp_path / "normal.json"
    runs = [_console(t, "scan", str(EXAMPLES / "clinic-insecure"), "-f", "json", "-o", str(out), "--fail-on",
                     "never") for t, out in ((1, early), (10**9, normal))]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "ending early with 0" in runs[0].stderr and "ending early" not in runs[1].stderr
    assert early.read_bytes() == normal.read_bytes()
    assert runs[0].stderr.replace("ending early with 0\n", "") == runs[1].stderr


def test_input_error_still_exits_2_early() -> None:
    res = _console(1, "scan", "no/such/dir")
    assert res.returncode == 2
    assert "error: no/such/dir: no such file or directory" in res.stderr


def test_main_in_process_never_holds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the console script may end early: `main()` called in a test process (or a server) keeps nothing."""
    monkeypatch.setattr(collector, "FREEZE_MIN_OBJECTS", 1)
    monkeypatch.setattr(quick_exit, "_allowed", False)
    monkeypatch.setattr(quick_exit, "_held", [])
    monkeypatch.setattr(sys, "argv", ["kubehipaa", "scan", str(EXAMPLES / "clinic-insecure"), "-f", "json", "-o",
                                      str(tmp_path / "r.json")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    assert not quick_exit.holding()
