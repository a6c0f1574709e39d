"""One bad object never hides the good ones in the NetworkPolicy engine (issue 11, req. 5).

An invalid NetworkPolicy, or a workload, Pod, Service, Ingress, Route or Namespace with a wrong-typed field,
is left out and reported once (object, field, what the answers lack); the rest is analysed. Every netpol
command prints its answer and exits 2; the scan runs its network checks on the rest, lists the object in
`skipped[]` and exits 2.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.netpol import Engine, build_topology
from tests.conftest import CASES
from tests.netpol.helpers import deploy, ns, policy

runner = CliRunner()

BASE = [
    ns("a"),
    ns("b"),
    deploy("a", "web", {"app": "web"}, [{"name": "http", "containerPort": 8080}]),
    deploy("a", "db", {"app": "db"}, [{"name": "pg", "containerPort": 5432}]),
    deploy("b", "job", {"app": "job"}),
]
DB_IN = policy("a", "db-in", {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}],
})
WEB, DB, JOB = "a/web[Deployment]", "a/db[Deployment]", "b/job[Deployment]"


def pairs(objects: list[Any]) -> dict[tuple[str, str], str]:
    return {(str(c.src), str(c.dst)): c.conn_str for c in Engine(build_topology(objects)).connections()}


BAD_POLICY_SPECS = [
    ({"podSelector": {}, "policyTypes": 5}, "policyTypes must be a list"),
    ({"podSelector": {}, "policyTypes": "Ingress"}, "policyTypes must be a list"),
    ({"podSelector": {}, "ingress": [{"ports": 5}]}, "ports must be a list"),
    ({"podSelector": {}, "ingress": [{"ports": [5]}]}, "ports entries must be mappings"),
    ({"podSelector": {}, "ingress": [{"from": [5]}]}, "peer must be a mapping"),
    ({"podSelector": {}, "ingress": [{"from": 5}]}, "rule peers must be a list"),
    ({"podSelector": {}, "ingress": [5]}, "rule must be a mapping"),
    ({"podSelector": {}, "ingress": 5}, "ingress and egress must be lists"),
    ({"podSelector": 5}, "selector error"),
    ({"podSelector": {"matchLabels": [1]}}, "matchLabels must be a mapping"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": 5}}]}]},
     "except must be a list"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": 5}}]}]}, "CIDR error"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": 5}]}]}, "ipBlock must be a mapping"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}, "protocol"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": 6}]}]}, "protocol"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 1.5}]}]}, "port must be an integer"),
    ([1], "spec must be a mapping"),
]


@pytest.mark.parametrize(("spec", "needle"), BAD_POLICY_SPECS)
def test_an_invalid_policy_is_left_out_and_the_others_still_decide(spec: Any, needle: str) -> None:
    topo = build_topology([*BASE, DB_IN, (policy("a", "bad", spec), "bad.yaml:7")])
    [problem] = topo.problems
    assert needle in problem.reason, problem
    assert problem.what == "NetworkPolicy a/bad" and problem.file == "bad.yaml:7"
    assert "connectivity is computed without it" in problem.effect
    assert [p.name for p in topo.policies] == ["db-in"]
    p = {(str(c.src), str(c.dst)): c.conn_str for c in Engine(topo).connections()}
    assert p[(WEB, DB)] == "TCP 5432" and (JOB, DB) not in p


def test_leaving_out_a_deny_makes_pods_look_unisolated_as_the_message_says() -> None:
    """What "computed without it" means: the deny's isolation is gone (and an allow's flows would be)."""
    deny = policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress", 5]})
    p = pairs([*BASE, deny])
    assert p[(JOB, WEB)] == "All Connections"  # the answer over the rest, which is why the run exits 2
    [problem] = build_topology([*BASE, deny]).problems
    assert "pods only it selects look unisolated" in problem.message
    assert "connections only it allows are missing" in problem.message


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    node[keys[-1]] = value
    return out


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "in", "namespace": "a"},
           "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
               "service": {"name": "web", "port": {"number": 80}}}}]}}]}}
ROUTE = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r", "namespace": "a"},
         "spec": {"to": {"kind": "Service", "name": "web"}, "port": {"targetPort": 8080}}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "b", "labels": {"app": "p"}},
       "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}
WEB_DEPLOY = BASE[2]

BAD_OBJECTS = [
    (_with(WEB_DEPLOY, "spec", 5), "Deployment a/web", "spec must be a mapping"),
    (_with(WEB_DEPLOY, "spec.template", [1]), "Deployment a/web", "spec.template must be a mapping"),
    (_with(WEB_DEPLOY, "spec.template.spec.containers", {}), "Deployment a/web",
     "spec.template.spec.containers must be a list"),
    (_with(WEB_DEPLOY, "spec.template.spec.containers.0.ports", 5), "Deployment a/web",
     "containers[0].ports must be a list"),
    (_with(WEB_DEPLOY, "spec.template.spec.containers.0.ports.0.containerPort", "8080"), "Deployment a/web",
     "containerPort must be an integer"),
    (_with(WEB_DEPLOY, "spec.template.metadata.labels", [1]), "Deployment a/web", "labels must be a mapping"),
    (_with(WEB_DEPLOY, "metadata", 5), "Deployment default/<unnamed>", "metadata must be a mapping"),
    (_with(POD, "metadata.ownerReferences", 5), "Pod b/p", "ownerReferences must be a list"),
    (_with(POD, "spec", [1]), "Pod b/p", "spec must be a mapping"),
    (_with(SERVICE, "spec", [1]), "Service a/web", "spec must be a mapping"),
    (_with(SERVICE, "spec.ports", 5), "Service a/web", "spec.ports must be a list"),
    (_with(SERVICE, "spec.selector", [1]), "Service a/web", "spec.selector must be a mapping"),
    (_with(SERVICE, "spec.ports.0.targetPort", [1]), "Service a/web", "targetPort must be an integer or a string"),
    (_with(INGRESS, "spec.rules", 5), "Ingress a/in", "spec.rules must be a list"),
    (_with(INGRESS, "spec.rules.0.http.paths.0.backend.service.port", 80), "Ingress a/in",
     "service.port must be a mapping"),
    (_with(ROUTE, "spec.to", "web"), "Route a/r", "spec.to must be a mapping"),
    (_with(ns("b"), "metadata.labels", [1]), "Namespace b", "metadata.labels must be a mapping"),
]


@pytest.mark.parametrize(("bad", "what", "needle"), BAD_OBJECTS)
def test_a_wrong_typed_object_is_left_out_and_named(bad: dict[str, Any], what: str, needle: str) -> None:
    kind = bad["kind"]
    good = {"Deployment": WEB_DEPLOY, "Pod": POD, "Service": SERVICE, "Ingress": INGRESS, "Route": ROUTE,
            "Namespace": ns("b")}[kind]
    others = [o for o in [*BASE, POD, SERVICE, INGRESS, ROUTE] if o is not good]
    topo = build_topology([*others, bad])
    [problem] = topo.problems
    assert problem.what == what and needle in problem.reason, problem
    assert "skipped, as the API server would refuse it" in problem.effect
    keys = {w.key for w in topo.workloads}
    assert {DB, JOB} <= keys  # the rest is analysed
    assert (WEB in keys) == (kind != "Deployment")
    assert Engine(topo).connections()


FIRE = CASES / "KH-NET-001" / "fire.yaml"
BAD_NP = (
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: broken, namespace: clinical}\n"
    "spec:\n  podSelector: {}\n  policyTypes: 5\n"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "app.yaml").write_text((CASES / "KH-NET-001" / "pass.yaml").read_text())
    (tmp_path / "zz-bad.yaml").write_text("---\n" + BAD_NP)
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["netpol", "connlist"],
    ["netpol", "exposure", "-n", "clinical"],
    ["netpol", "can-reach", "clinical/frontend", "clinical/db", "-p", "5432"],
])
def test_every_netpol_command_answers_for_the_rest_and_exits_2(folder: Path, argv: list[str]) -> None:
    res = runner.invoke(app, [*argv, str(folder)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit | None)
    assert "clinical/frontend[Deployment]" in res.stdout and "clinical/db[Deployment]" in res.stdout
    [warning] = [line for line in res.stderr.splitlines() if "broken" in line and line.startswith("warning:")]
    assert f"{folder / 'zz-bad.yaml'}:2: NetworkPolicy clinical/broken: policyTypes must be a list" in warning
    assert res.stderr.splitlines()[-1].startswith("error: 1 input problem(s)")


def test_netpol_diff_answers_for_the_rest_and_exits_2(folder: Path, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    (before / "app.yaml").write_text((CASES / "KH-NET-001" / "pass.yaml").read_text())
    res = runner.invoke(app, ["netpol", "diff", str(before), str(folder)])
    assert res.exit_code == 2, res.output
    assert "policyTypes must be a list" in res.stderr


def test_a_directory_with_only_a_bad_policy_is_one_error_line(tmp_path: Path) -> None:
    """Nothing usable left: an input error at once (as for input without objects), not an empty answer."""
    (tmp_path / "np.yaml").write_text(BAD_NP)
    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "netpol", "connlist", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {tmp_path / 'np.yaml'}:1: NetworkPolicy clinical/broken: policyTypes must be a list, not a "
        "number; no workload or NetworkPolicy left to analyse"
    ]


def test_scan_runs_the_network_checks_on_the_rest_and_reports_the_policy(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(FIRE.read_text())
    (tmp_path / "zz-bad.yaml").write_text(BAD_NP)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["scan", str(tmp_path), "-f", "json", "-o", str(out)])
    assert res.exit_code == 2, res.output
    report = json.loads(out.read_text())
    assert report["errors"] == []  # no check was disabled by the bad policy
    assert "KH-NET-001" in {f["checkId"] for f in report["findings"]}  # and they judged the rest
    [skipped] = [s for s in report["skipped"] if "broken" in s["message"]]
    assert skipped["file"] == str(tmp_path / "zz-bad.yaml") and skipped["line"] == 1
    assert "policyTypes must be a list" in skipped["message"] and "computed without it" in skipped["message"]
    assert "clinical/broken" in res.stderr and res.stderr.splitlines()[-1].startswith("error: 1 input problem")


def test_direct_service_and_ingress_checks_report_wrong_typed_fields_instead_of_passing_them(tmp_path: Path) -> None:
    """KH-NET-008 read `loadBalancerSourceRanges: "0.0.0.0/0"` per character and saw a restricted
    Service; KH-NET-009 failed on a `tls` that is not a list. Both are now skipped input (exit 2)."""
    lb = _with(SERVICE, "spec.type", "LoadBalancer")
    lb["spec"]["loadBalancerSourceRanges"] = "0.0.0.0/0"
    ing = _with(INGRESS, "spec.tls", {"hosts": ["web.example"]})
    (tmp_path / "app.yaml").write_text("".join(f"---\n{json.dumps(d)}\n" for d in [*BASE, lb, ing]))
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["scan", str(tmp_path), "-f", "json", "-o", str(out), "--check", "KH-NET-00[89]"])
    assert res.exit_code == 2, res.output
    report = json.loads(out.read_text())
    assert report["errors"] == []
    messages = [s["message"] for s in report["skipped"]]
    assert any(m.startswith("Service a/web: spec.loadBalancerSourceRanges must be a list of strings") for m in messages)
    assert any(m.startswith("Ingress a/in: spec.tls must be a list") for m in messages)
