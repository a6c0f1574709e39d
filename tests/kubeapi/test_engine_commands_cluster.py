"""`--cluster` on the manifest-reading engine commands (rbac, netpol, pss): one shared loading path
(`common.cluster_source` + `load_manifests`) that lists the loopback API server instead of files.

The server is seeded with examples/clinic-insecure, so each command must give the same answer as on those
files (locations aside: a cluster object has no file:line), and a kind it cannot list is lost input (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import InputError
from kubehipaa.sources.cluster import KINDS
from tests.conftest import EXAMPLES
from tests.kubeapi.server import FakeCluster

runner = CliRunner()
FILES = [str(p) for p in sorted((EXAMPLES / "clinic-insecure").glob("*.yaml"))]
"""What the server is seeded with (tests/kubeapi/conftest.py: the top-level files, not control-plane/)."""


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _both(kubeconfig: Path, *args: str) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """The command on the example files, and the same command with --cluster on the loopback server."""
    return _run(*args, *FILES), _run(*args, "--cluster", "--kubeconfig", str(kubeconfig))


def _subjects(out: str) -> set[tuple[str, str, str | None]]:
    """who-can's answer without locations: subject and the binding that grants it."""
    rows = set()
    for s in json.loads(out)["subjects"]:
        binding = s["grant"]["binding"]
        rows.add((s["subject"]["kind"], s["subject"]["name"], binding and f"{binding['kind']}/{binding['name']}"))
    return rows


def test_who_can_on_the_cluster_answers_as_on_the_files(kubeconfig: Path) -> None:
    (fcode, fout, _), (ccode, cout, cerr) = _both(kubeconfig, "rbac", "who-can", "get", "secrets", "-n", "clinical",
                                                  "-f", "json")
    assert (fcode, ccode) == (0, 0), cerr
    assert _subjects(cout) == _subjects(fout)
    assert ("ServiceAccount", "app-sa", "RoleBinding/app-everything") in _subjects(cout)


def _strip_locations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_locations(v) for k, v in value.items() if k not in {"file", "line", "source"}}
    if isinstance(value, list):
        return [_strip_locations(v) for v in value]
    return value


def test_netpol_connlist_on_the_cluster_answers_as_on_the_files(kubeconfig: Path) -> None:
    (fcode, fout, _), (ccode, cout, cerr) = _both(kubeconfig, "netpol", "connlist", "-f", "json")
    assert (fcode, ccode) == (0, 0), cerr
    assert json.loads(cout)  # an answer, not an empty list
    assert _strip_locations(json.loads(cout)) == _strip_locations(json.loads(fout))


def test_pss_evaluate_on_the_cluster_answers_as_on_the_files(kubeconfig: Path) -> None:
    (fcode, fout, _), (ccode, cout, cerr) = _both(kubeconfig, "pss", "evaluate", "--format", "json")
    assert fcode == ccode == 1, cerr  # the insecure clinic has denied workloads
    assert _sorted(_strip_locations(json.loads(cout))) == _sorted(_strip_locations(json.loads(fout)))


def _sorted(rows: list[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def test_forbidden_rolebindings_make_who_can_exit_2_and_say_what_was_not_read(fake: FakeCluster,
                                                                              kubeconfig: Path) -> None:
    fake.forbidden.add("rolebindings")
    code, out, err = _run("rbac", "who-can", "get", "secrets", "-n", "clinical", "-f", "json", "--cluster",
                          "--kubeconfig", str(kubeconfig))
    assert code == 2  # an answer missing the RoleBindings is never a clean one
    assert "RoleBinding could not be listed" in err and "cluster:test-ctx/RoleBinding/*" in err
    assert "the results do not cover what could not be read" in err
    # the answer for what was read is still written: the ClusterRoleBindings' subjects, no RoleBinding's
    kinds = {b for (_, _, b) in _subjects(out) if b}
    assert kinds and not any(b.startswith("RoleBinding/") for b in kinds)


def test_nothing_readable_is_an_input_error(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.update(spec.plural for spec in KINDS)
    res = runner.invoke(app, ["pss", "evaluate", "--cluster", "--kubeconfig", str(kubeconfig)])
    # an InputError: `cli.main.main` prints it as one line and exits 2 (as for files holding no object)
    assert isinstance(res.exception, InputError)
    assert "nothing could be read from cluster test-ctx" in str(res.exception)
    assert res.stdout == ""


def test_paths_and_cluster_together_is_a_usage_error(kubeconfig: Path) -> None:
    code, _, err = _run("netpol", "connlist", *FILES, "--cluster", "--kubeconfig", str(kubeconfig))
    assert code == 2
    assert "give either paths or --cluster, not both" in err


def test_kubeconfig_without_cluster_is_a_usage_error(kubeconfig: Path) -> None:
    code, _, err = _run("rbac", "risks", *FILES, "--kubeconfig", str(kubeconfig))
    assert code == 2
    assert "--kubeconfig and --context need --cluster" in err


def test_a_cluster_without_readable_rbac_names_the_cluster(fake: FakeCluster, kubeconfig: Path) -> None:
    fake.forbidden.update({"roles", "clusterroles", "rolebindings", "clusterrolebindings"})
    code, out, err = _run("rbac", "who-can", "get", "secrets", "--cluster", "--kubeconfig", str(kubeconfig))
    assert code == 2
    assert "found in the cluster" in err and out == ""


def test_engine_commands_show_listing_progress_on_a_terminal_only(monkeypatch, kubeconfig: Path) -> None:  # type: ignore[no-untyped-def]
    """The shared cluster loader lists with a progress callback when stderr is a terminal and the output is
    not JSON; silent otherwise (issue 14 req 3, for every --cluster command, not only scan)."""
    from kubehipaa.cli import common
    from kubehipaa.sources import cluster as cluster_source

    seen: list[object] = []
    real = cluster_source.load_cluster

    def spy(target, progress=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(progress)
        return real(target, progress, *args, **kwargs)

    monkeypatch.setattr(cluster_source, "load_cluster", spy)
    cluster = ["--cluster", "--kubeconfig", str(kubeconfig)]
    _run("rbac", "who-can", "get", "secrets", "-n", "clinical", *cluster)  # CliRunner: not a terminal
    monkeypatch.setattr(common, "interactive", lambda: True)
    _run("rbac", "who-can", "get", "secrets", "-n", "clinical", "-f", "json", *cluster)
    _run("netpol", "connlist", *cluster)
    assert seen[:2] == [None, None]
    assert callable(seen[2])
