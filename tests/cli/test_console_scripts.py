"""The installed console scripts, run for real: `kubehipaa` and the kubectl plugin `kubectl-hipaa`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES


def _script(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"console script {name} is not installed (pip install -e .)")
    return found


def _run(name: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_script(name), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)


def test_insecure_example_exits_1_with_table() -> None:
    res = _run("kubehipaa", "scan", str(EXAMPLES / "clinic-insecure"))
    assert res.returncode == 1, res.stderr
    assert "findings (" in res.stdout and "Traceback" not in res.stderr


def test_stdin_json_report() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {a: b}\n"
    res = _run("kubehipaa", "scan", "-", "--format", "json", "--fail-on", "never", stdin=text)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["summary"]["objects"] == 1


def test_input_error_is_one_line_and_exit_2() -> None:
    res = _run("kubehipaa", "scan", "no/such/dir")
    assert res.returncode == 2
    assert res.stderr.strip() == "error: no/such/dir: no such file or directory"


def test_kubectl_plugin_is_the_same_program() -> None:
    ours = _run("kubehipaa", "scan", str(EXAMPLES / "clinic-insecure"), "-f", "json", "--fail-on", "never")
    plugin = _run("kubectl-hipaa", "scan", str(EXAMPLES / "clinic-insecure"), "-f", "json", "--fail-on", "never")
    assert plugin.returncode == ours.returncode == 0
    # the time differs, and so does the integrity block's digest over it
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k not in ("generatedAt", "integrity")}  # noqa: E731
    assert strip(plugin.stdout) == strip(ours.stdout)
