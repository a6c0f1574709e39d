"""`kubehipaa pss ...` end to end: verdict per workload, JSON shape, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.errors import KubehipaaError

from .conftest import DATA, PSS_TESTDATA

runner = CliRunner()
WORKLOADS = str(DATA / "workloads.yaml")


def _json(args: list[str]) -> tuple[int, list[dict]]:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def test_evaluate_json_names_every_workload_kind() -> None:
    code, rows = _json(["pss", "evaluate", WORKLOADS, "--level", "restricted", "--version", "v1.30"])
    assert code == 1
    kinds = {r["kind"] for r in rows}
    assert kinds == {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Job",
        "ReplicationController",
        "ReplicaSet",
        "PodTemplate",
        "Pod",
    }
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        assert set(row) == {
            "file",
            "line",
            "kind",
            "namespace",
            "namespaceAssumed",
            "name",
            "level",
            "version",
            "allowed",
            "violations",
        }
        assert row["level"] == "restricted" and row["version"] == "v1.30"
        assert row["file"].endswith("workloads.yaml") and row["line"] > 1
    assert by_name["ehr-api"]["allowed"] and by_name["nightly-export"]["allowed"]
    ds = by_name["log-shipper"]
    assert not ds["allowed"]
    checks = [v["check"] for v in ds["violations"]]
    # upstream order: baseline check ids sorted, then restricted ones; hostPathVolumes is overridden
    assert checks == [
        "hostNamespaces",
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "restrictedVolumes",
        "runAsNonRoot",
        "seccompProfile_restricted",
    ]
    host = next(v for v in ds["violations"] if v["check"] == "hostNamespaces")
    assert host == {"check": "hostNamespaces", "reason": "host namespaces", "detail": "hostNetwork=true"}
    vol = next(v for v in ds["violations"] if v["check"] == "restrictedVolumes")
    assert vol["detail"] == 'volume "varlog" uses restricted volume type "hostPath"'
    job = next(v for v in by_name["migrate"]["violations"] if v["check"] == "runAsUser")
    assert job["detail"] == 'container "migrate" must not set runAsUser=0'
    # no metadata.namespace: placed where `kubectl apply` would put it, and flagged as assumed
    assert by_name["debug"]["namespace"] == "default" and by_name["debug"]["namespaceAssumed"] is True
    assert by_name["ehr-api"]["namespaceAssumed"] is False


def test_evaluate_baseline_exit_codes() -> None:
    code, rows = _json(["pss", "evaluate", WORKLOADS, "--level", "baseline"])
    assert code == 1
    denied = {r["name"] for r in rows if not r["allowed"]}
    assert denied == {"log-shipper", "legacy", "rs", "tpl"}
    rs = next(r for r in rows if r["name"] == "rs")["violations"][0]
    assert rs == {
        "check": "appArmorProfile",
        "reason": "forbidden AppArmor profile",
        "detail": "annotation must not set AppArmor profile type to "
        '"container.apparmor.security.beta.kubernetes.io/c="unconfined""',
    }
    code, rows = _json(["pss", "evaluate", WORKLOADS, "--level", "privileged"])
    assert code == 0 and all(r["allowed"] for r in rows)


@pytest.mark.skipif(not PSS_TESTDATA.is_dir(), reason="upstream PSS fixtures absent")
def test_evaluate_allowed_pod_exits_zero_and_table_lists_it() -> None:
    pod = str(PSS_TESTDATA / "restricted" / "v1.37" / "pass" / "base.yaml")
    result = runner.invoke(app, ["pss", "evaluate", pod, "--level", "restricted", "--version", "v1.37"])
    assert result.exit_code == 0
    assert "Pod/default/base (ns assumed)" in result.stdout and "1 evaluated at restricted:v1.37, 0 denied" in result.stdout


def test_evaluate_table_shows_violation_wording(tmp_path: Path) -> None:
    out = tmp_path / "report.txt"
    result = runner.invoke(app, ["pss", "evaluate", WORKLOADS, "--version", "v1.30", "-o", str(out)])
    assert result.exit_code == 1
    text = out.read_text()
    assert "DaemonSet/clinical/log-shipper" in text
    assert "privileged: privileged (container" in text
    assert "denied" in text


def test_bad_level_and_version_are_input_errors() -> None:
    for args in (["--level", "strict"], ["--version", "1.30"], ["--version", "v2.1"]):
        result = runner.invoke(app, ["pss", "evaluate", WORKLOADS, *args])
        assert isinstance(result.exception, KubehipaaError), args


def test_malformed_spec_is_one_line_and_the_other_objects_are_still_evaluated() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubehipaa.cli.main", "pss", "evaluate", str(DATA / "malformed.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2  # after the verdicts: the broken object was not evaluated
    assert "Pod/default/ok" in proc.stdout and "1 evaluated" in proc.stdout
    err = proc.stderr.strip().splitlines()
    [line] = [x for x in err if "Deployment/clinical/broken" in x and x.startswith("warning:")]
    assert "malformed.yaml:10:" in line and "malformed pod spec" in line
    assert len([x for x in err if x.startswith("error:")]) == 1 and "Traceback" not in proc.stderr


def test_no_workloads_is_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["pss", "evaluate", str(f)])
    assert isinstance(result.exception, KubehipaaError)


def test_dry_run_reports_what_the_label_change_would_reject() -> None:
    code, rows = _json(["pss", "dry-run", WORKLOADS, "--namespace", "clinical", "--level", "restricted"])
    assert code == 1
    assert "debug" not in {r["name"] for r in rows}  # other namespace ("default")
    by_name = {r["name"]: r for r in rows}
    assert not by_name["ehr-db"]["allowed"]  # plain postgres pod: fine at baseline, rejected at restricted
    assert by_name["ehr-db"]["enforcedNow"] == {"level": "baseline", "version": "v1.30", "allowed": True}
    assert by_name["log-shipper"]["enforcedNow"]["allowed"] is False
    assert by_name["ehr-api"]["allowed"]


def test_dry_run_nothing_rejected_exits_zero() -> None:
    code, rows = _json(["pss", "dry-run", WORKLOADS, "-n", "clinical", "--level", "privileged"])
    assert code == 0 and rows and all(r["allowed"] for r in rows)
    code, rows = _json(["pss", "dry-run", WORKLOADS, "-n", "default", "--level", "baseline"])
    assert code == 0 and [r["name"] for r in rows] == ["debug"]


def test_namespaces_reports_effective_policy() -> None:
    code, rows = _json(["pss", "namespaces", WORKLOADS])
    assert code == 0
    by_ns = {r["namespace"]: r for r in rows}
    clinical = by_ns["clinical"]
    assert clinical["enforce"] == {"level": "baseline", "version": "v1.30"}
    assert clinical["warn"] == {"level": "restricted", "version": "latest"}
    assert clinical["audit"] == {"level": "privileged", "version": "latest"}
    assert clinical["workloads"] == 8 and clinical["deniedByEnforce"] == 4
    assert by_ns["default"]["enforce"]["level"] == "privileged"


def test_checks_lists_registry() -> None:
    result = runner.invoke(app, ["pss", "checks", "--format", "json"])
    assert result.exit_code == 0
    data = {c["id"]: c for c in json.loads(result.stdout)}
    assert data["sysctls"]["versions"] == ["v1.0", "v1.27", "v1.29", "v1.32", "v1.37"]
    assert data["restrictedVolumes"]["overrides"] == ["hostPathVolumes"]


def test_dry_run_warnings_format_mirrors_kubectl_label_dry_run() -> None:
    result = runner.invoke(
        app, ["pss", "dry-run", WORKLOADS, "-n", "clinical", "--format", "warnings", "--version", "v1.30"]
    )
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        'Warning: existing pods in namespace "clinical" violate the new PodSecurity enforce level '
        '"restricted:v1.30"'
    )
    assert (
        "Warning: job/migrate: allowPrivilegeEscalation != false, unrestricted capabilities, "
        "runAsNonRoot != true, runAsUser=0, seccompProfile"
    ) in lines
    assert all(line.startswith("Warning: ") for line in lines)


@pytest.mark.parametrize("cmd", [["evaluate"], ["dry-run", "--namespace", "clinical"], ["namespaces"]])
def test_malformed_yaml_next_to_good_manifests_is_exit_2(tmp_path: Path, cmd: list[str]) -> None:
    # "every object allowed" could hide the broken file's privileged pod: exit 2. But the good files are still
    # evaluated and shown (issue 11: 6 Helm templates beside 128 workloads gave no output at all).
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p\n  bad: [\n")
    result = runner.invoke(app, ["pss", *cmd, WORKLOADS, str(broken)])
    assert result.exit_code == 2
    assert "ehr-api" in result.stdout or "clinical" in result.stdout
    assert f"warning: {broken}:4: malformed YAML" in result.stderr
    assert "error: 1 input problem(s)" in result.stderr


def test_namespaces_places_workloads_without_a_namespace_where_they_are_applied(tmp_path: Path) -> None:
    # issue 11: no namespace means the namespace it will be applied to (`kubectl apply -n shop`)
    f = tmp_path / "app.yaml"
    f.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
                 "    pod-security.kubernetes.io/enforce: restricted\n---\n"
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: c}]}\n")
    result = runner.invoke(app, ["pss", "namespaces", str(f), "--namespace", "shop", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert (row["namespace"], row["workloads"], row["deniedByEnforce"]) == ("shop", 1, 1)
