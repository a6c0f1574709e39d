"""A pod spec of the wrong shape is malformed, never "allowed", and never hides the other workloads
(issue 11, req. 5): `pss evaluate`/`dry-run`/`namespaces` name it and exit 2, the scan lists it in
`skipped[]` (it was silently passed over) and exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.pss import Level, PodSpecError, evaluate, parse_version

runner = CliRunner()


@pytest.mark.parametrize("field", ["containers", "initContainers", "ephemeralContainers"])
@pytest.mark.parametrize("value", [{}, "", 0, {"c": {"name": "c"}}, "nginx"])
@pytest.mark.parametrize("level", [Level.BASELINE, Level.RESTRICTED])
def test_a_container_list_that_is_not_a_list_is_malformed(field: str, value: Any, level: Level) -> None:
    # Before: `containers: {}` read as "no containers" and the pod passed every check.
    spec = {"containers": [{"name": "c", "image": "x"}], field: value}
    with pytest.raises(PodSpecError, match=r"must be a list|expected a mapping"):
        evaluate({}, spec, level, parse_version("latest"))


def _pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "clinical"}, "spec": spec}


GOOD = _pod("good", {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]})
BAD = [
    _pod("no-containers", {"containers": {}}),
    _pod("pod-sc", {"securityContext": 5, "containers": [{"name": "c", "image": "x"}]}),
    _pod("caps", {"containers": [{"name": "c", "image": "x", "securityContext": {"capabilities": {"add": 5}}}]}),
    _pod("volumes", {"volumes": 7, "containers": [{"name": "c", "image": "x"}]}),
]
PHI_NS = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "clinical", "labels": {"kubehipaa.io/phi": "true",
                                                       "pod-security.kubernetes.io/enforce": "baseline"}}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "app.yaml").write_text(yaml.safe_dump_all([PHI_NS, GOOD, *BAD]))
    return tmp_path


@pytest.mark.parametrize("cmd", [["evaluate"], ["dry-run", "--namespace", "clinical", "--level", "restricted"],
                                 ["namespaces"]])
def test_pss_commands_name_each_malformed_pod_and_judge_the_rest(folder: Path, cmd: list[str]) -> None:
    res = runner.invoke(app, ["pss", *cmd, str(folder)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    if cmd[0] != "namespaces":
        assert "good" in res.stdout
    for pod in BAD:
        name = pod["metadata"]["name"]
        assert any(name in line and "malformed pod spec" in line for line in res.stderr.splitlines()), name


def test_scan_lists_malformed_pod_specs_in_skipped_and_exits_2(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["scan", str(folder), "-f", "json", "-o", str(out)])
    assert res.exit_code == 2, res.output
    report = json.loads(out.read_text())
    messages = [s["message"] for s in report["skipped"] if "Pod Security not evaluated" in s["message"]]
    for pod in BAD:
        assert any(f"Pod/clinical/{pod['metadata']['name']}:" in m for m in messages), pod["metadata"]["name"]
    # the well-formed pod is still judged
    assert any(f["checkId"] == "KH-PSS-001" and f["resource"]["name"] == "good" for f in report["findings"])
