"""`kubehipaa netpol` end to end through the real CLI app, and the network checks' config allow-lists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import parse_config
from kubehipaa.inventory import Inventory
from kubehipaa.pipelines.scan import run_scan
from kubehipaa.sources.files import load_paths
from tests.conftest import CASES, ROOT

runner = CliRunner()
BASE = CASES / "KH-NET-001" / "pass.yaml"  # hardened clinical namespace: frontend -> db on 5432 only


def test_connlist_txt_and_formats() -> None:
    res = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "clinical/frontend[Deployment] => clinical/db[Deployment] : TCP 5432",
    ]
    js = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q", "--format", "json"])
    assert json.loads(js.output) == [
        {"src": "clinical/frontend[Deployment]", "dst": "clinical/db[Deployment]", "conn": "TCP 5432"}
    ]
    csv = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q", "-f", "csv"]).output.splitlines()
    assert csv == ["src,dst,conn", "clinical/frontend[Deployment],clinical/db[Deployment],TCP 5432"]
    md = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q", "-f", "md"]).output
    assert "| clinical/frontend[Deployment] | clinical/db[Deployment] | TCP 5432 |" in md
    dot = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q", "-f", "dot"]).output
    assert dot.startswith("digraph {") and '"cluster_clinical[namespace]"' in dot
    assert '-> "clinical/db[Deployment]" [label="TCP 5432"' in dot


def test_connlist_writes_output_file(tmp_path: Path) -> None:
    out = tmp_path / "c.txt"
    res = runner.invoke(app, ["netpol", "connlist", str(BASE), "-q", "-o", str(out)])
    assert res.exit_code == 0
    assert out.read_text().startswith("clinical/frontend[Deployment] => clinical/db[Deployment]")


def test_can_reach_yes_no_and_explanation() -> None:
    yes = runner.invoke(
        app,
        ["netpol", "can-reach", "clinical/frontend", "clinical/db", str(BASE), "-q", "--port", "5432/TCP"],
    )
    assert yes.exit_code == 0, yes.output
    assert yes.output.startswith("yes: clinical/frontend[Deployment] => clinical/db[Deployment] on 5432/TCP")
    assert "allowed by clinical/frontend-to-db Ingress rule #1 (TCP 5432)" in yes.output
    assert "allowed by clinical/frontend-egress-db Egress rule #1 (TCP 5432)" in yes.output
    no = runner.invoke(
        app, ["netpol", "can-reach", "clinical/db", "clinical/frontend", str(BASE), "-q", "-p", "8080"]
    )
    assert no.exit_code == 1
    assert no.output.startswith("no:")
    assert "isolated by clinical/default-deny-all" in no.output
    js = runner.invoke(app, ["netpol", "can-reach", "clinical/db", "8.8.8.8", str(BASE), "-q", "-f", "json"])
    data = json.loads(js.output)
    assert data["reachable"] is False and data["egress"]["isolatedBy"]


def test_exposure_defaults_to_phi_namespaces() -> None:
    res = runner.invoke(app, ["netpol", "exposure", str(CASES / "KH-NET-002" / "fire.yaml"), "-q"])
    assert res.exit_code == 0, res.output
    assert "Exposure of namespace(s): clinical" in res.output
    assert "0.0.0.0-255.255.255.255[External] => clinical/frontend[Deployment] : TCP 8080" in res.output
    assert (
        "clinical/frontend[Deployment] <= ipBlock 0.0.0.0/0 : TCP 8080 (clinical/frontend-from-anywhere Ingress rule #1)"
        in res.output
    )
    js = runner.invoke(app, ["netpol", "exposure", str(BASE), "-q", "-n", "clinical", "-f", "json"])
    data = json.loads(js.output)
    assert data["inbound"] == [] and data["ingressRules"] == []
    # the DNS rule reaches kube-system pods through a namespaceSelector: reported as potential egress
    assert {r["policy"] for r in data["egressRules"]} == {"clinical/allow-dns"}


def test_diff_reports_added_connections() -> None:
    res = runner.invoke(app, ["netpol", "diff", str(BASE), str(CASES / "KH-NET-002" / "fire.yaml"), "-q"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Connectivity diff:",
        "diff-type: added, source: 0.0.0.0-255.255.255.255[External], destination: clinical/frontend[Deployment], "
        "ref1: No Connections, ref2: TCP 8080",
    ]
    same = runner.invoke(app, ["netpol", "diff", str(BASE), str(BASE), "-q"])
    assert same.exit_code == 0 and same.output.strip() == ""


def test_typed_list_items_without_kind_are_loaded(tmp_path: Path) -> None:
    (tmp_path / "pods.json").write_text(
        json.dumps(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "items": [
                    {"metadata": {"name": "a", "namespace": "n", "labels": {"app": "a"}}, "spec": {}},
                    {"metadata": {"name": "b", "namespace": "n"}, "spec": {}},
                ],
            }
        )
    )
    res = runner.invoke(app, ["netpol", "connlist", str(tmp_path), "-q"])
    assert "n/a[Pod] => n/b[Pod] : All Connections" in res.output


POD_LIST_AND_KINDLESS = """\
apiVersion: v1
kind: PodList
items:
- metadata: {name: a, namespace: ns1, labels: {app: a}}
  spec: {}
- metadata: {name: b, namespace: ns1}
  spec: {}
---
apiVersion: v1
metadata: {name: orphan, namespace: ns1}
data: {x: "1"}
"""


def test_pod_list_beside_a_kindless_document_is_read_once_by_the_sources_layer(tmp_path: Path) -> None:
    """The CLI used to re-read such a file itself (`_typed_list_items`): the PodList's pods were loaded twice
    and the kind-less document was no longer reported. The sources layer is the only reader: exactly the two
    pods, and the kind-less document is reported as `scan` reports it."""
    from kubehipaa.cli.netpol import load_netpol_objects

    path = tmp_path / "mixed.yaml"
    path.write_text(POD_LIST_AND_KINDLESS)
    assert sorted((o.kind, o.name) for o in load_netpol_objects([str(path)], quiet=True)) == [
        ("Pod", "a"), ("Pod", "b")]
    res = runner.invoke(app, ["netpol", "connlist", str(path)])
    assert res.exit_code == 0, res.output
    peers = {p for line in res.stdout.splitlines() for p in line.split(" : ")[0].split(" => ")}
    assert {p for p in peers if not p.endswith("[External]")} == {"ns1/a[Pod]", "ns1/b[Pod]"}
    assert res.stdout.count("ns1/a[Pod] => ns1/b[Pod]") == 1
    skipped = f"warning: {path}:9: document has no 'kind'; skipped"
    assert skipped in res.stderr.splitlines()
    scan = runner.invoke(app, ["scan", str(path)])
    assert skipped in scan.stderr.splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ["netpol", "connlist", "BAD"],
        ["netpol", "connlist", "BASE", "--format", "xml"],
        ["netpol", "can-reach", "clinical/nope", "clinical/db", "BASE"],
        ["netpol", "can-reach", "clinical/frontend", "clinical/db", "BASE", "--port", "http"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: ns1}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: nonsense}\n"
    )
    argv = [str(bad) if a == "BAD" else str(BASE) if a == "BASE" else a for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "kubehipaa.cli.main", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:")


def _scan(path: Path, config: dict) -> set[str]:
    cfg = parse_config(config)
    inv = Inventory(load_paths([str(path)]).objects, cfg)
    return {f.check_id for f in run_scan(inv, cfg).findings}


def test_allowed_ingress_in_config_silences_exposure() -> None:
    fire = CASES / "KH-NET-002" / "fire.yaml"
    assert "KH-NET-002" in _scan(fire, {})
    cfg = {
        "network": {
            "allowed_ingress": [
                {"to_namespace": "clinical", "to_workload": "frontend", "from_cidr": "0.0.0.0/0"}
            ]
        }
    }
    assert "KH-NET-002" not in _scan(fire, cfg)
    wrong = {
        "network": {
            "allowed_ingress": [{"to_namespace": "clinical", "to_workload": "db", "from_cidr": "0.0.0.0/0"}]
        }
    }
    assert "KH-NET-002" in _scan(fire, wrong)


def test_allowed_egress_cidrs_in_config_silence_egress() -> None:
    fire = CASES / "KH-NET-003" / "fire.yaml"
    assert "KH-NET-003" in _scan(fire, {})
    assert "KH-NET-003" not in _scan(fire, {"egress": {"allowed_cidrs": ["0.0.0.0/0"]}})
    assert "KH-NET-003" in _scan(fire, {"egress": {"allowed_cidrs": ["11.0.0.0/8"]}})


def test_examples_insecure_triggers_every_network_check_and_hardened_none() -> None:
    from kubehipaa.config import load_config

    def ids(folder: Path) -> set[str]:
        cfg = load_config(None, [str(folder)])
        inv = Inventory(load_paths([str(folder)]).objects, cfg)
        return {f.check_id for f in run_scan(inv, cfg).findings if f.check_id.startswith("KH-NET")}

    expected = {f"KH-NET-00{i}" for i in range(1, 10)}
    assert ids(ROOT / "examples" / "clinic-insecure") == expected
    assert ids(ROOT / "examples" / "clinic-hardened") == set()
