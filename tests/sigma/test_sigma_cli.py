"""`kubehipaa audit analyze --sigma DIR`: Sigma alerts in the same report as the built-in ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import InputError


def test_analyze_with_sigma_rules(shared_dir: Callable[[str], Path], tmp_path: Path) -> None:
    traces = shared_dir("conformance/audit/falco/trace_files")
    sigma = shared_dir("conformance/audit/sigma")
    out = tmp_path / "report.json"
    r = CliRunner().invoke(app, ["audit", "analyze", str(traces / "exec_pod.json"),
                                 str(traces / "create_nginx_pod_privileged.json"), "--sigma", str(sigma),
                                 "--format", "json", "--fail-on", "never", "-o", str(out)])
    assert r.exit_code == 0, r.output
    ids = {g["id"]: g for g in json.loads(out.read_text())["rules"]}
    assert "sigma:a1b0ca4e-7835-413e-8471-3ff2b8a66be6" in ids  # Potential Remote Command Execution In Pod
    assert "sigma:c5cd1b20-36bb-488d-8c05-486be3d0cb97" in ids  # Privileged Container Deployed
    assert "KH-AUDLOG-030" in ids and "KH-AUDLOG-040" in ids


def test_bad_sigma_path_is_a_user_error(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    r = CliRunner().invoke(app, ["audit", "analyze", str(log), "--sigma", str(tmp_path / "missing")])
    # raised as InputError, which kubehipaa's entry point prints as one line with exit code 2
    assert isinstance(r.exception, InputError) and str(r.exception).endswith("missing: Sigma rule path not found")
