"""`netpol diff --cluster FILES` (the live cluster against the live cluster with FILES applied) and
`rbac unused --cluster LOGS` (grants read from the cluster), against the loopback API server."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import yaml
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.conftest import EXAMPLES
from tests.kubeapi.server import FakeCluster
from tests.rbac_usage.test_rbac_usage import app_log
from tests.rbac_usage.test_rbac_usage_cli import RBAC

runner = CliRunner()
DENY_ALL = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-all, namespace: clinical}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def test_netpol_diff_cluster_shows_what_applying_files_would_close(kubeconfig: Path, tmp_path: Path) -> None:
    change = tmp_path / "deny.yaml"
    change.write_text(DENY_ALL)
    res = runner.invoke(app, ["netpol", "diff", "--cluster", "--kubeconfig", str(kubeconfig), str(change),
                              "-f", "json"])
    assert res.exit_code == 1, res.output
    rows = json.loads(res.stdout)
    assert rows and all(r["diff-type"] == "removed" for r in rows)
    assert all("clinical/" in r["src"] or "clinical/" in r["dst"] for r in rows)
    # the same comparison on files: the cluster holds the examples' top-level files (not control-plane/)
    before, after = tmp_path / "before", tmp_path / "after"
    for folder in (before, after):
        folder.mkdir()
        for path in sorted((EXAMPLES / "clinic-insecure").glob("*.yaml")):
            (folder / path.name).write_text(path.read_text())
    (after / "zz-deny.yaml").write_text(DENY_ALL)
    files = runner.invoke(app, ["netpol", "diff", str(before), str(after), "-f", "json"])
    assert files.exit_code == 1
    assert json.loads(files.stdout) == rows


def test_netpol_diff_cluster_replaces_by_identity_not_adds(kubeconfig: Path, fake: FakeCluster,
                                                            tmp_path: Path) -> None:
    """Applying the cluster's own NetworkPolicies again changes nothing: same identity replaces, exit 0."""
    policies = [{k: v for k, v in o.items()} for o in fake.objects if o.get("kind") == "NetworkPolicy"]
    assert policies
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump_all(policies))
    res = runner.invoke(app, ["netpol", "diff", "--cluster", "--kubeconfig", str(kubeconfig), str(same)])
    assert res.exit_code == 0, res.output


def test_netpol_diff_cluster_usage_errors(kubeconfig: Path, tmp_path: Path) -> None:
    change = tmp_path / "deny.yaml"
    change.write_text(DENY_ALL)
    both = runner.invoke(app, ["netpol", "diff", "--cluster", "--kubeconfig", str(kubeconfig), str(change),
                               str(change)])
    assert both.exit_code == 2 and "only the manifests" in both.output
    one = runner.invoke(app, ["netpol", "diff", str(change)])
    assert one.exit_code == 2 and "before and after" in one.output


def test_rbac_unused_cluster_reads_grants_from_the_cluster(kubeapi, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake: FakeCluster = kubeapi.cluster
    fake.objects.clear()
    fake.add(*[d for d in yaml.safe_load_all(RBAC) if d])
    for doc in fake.objects:  # the manifest's subject has no namespace: the file loader places it in clinical
        for s in doc.get("subjects") or []:
            s.setdefault("namespace", "clinical")
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(orjson.dumps(e.to_dict()) for e in app_log()) + b"\n")
    kubeconfig = kubeapi.kubeconfig(tmp_path / "kc.json")
    res = runner.invoke(app, ["rbac", "unused", "--cluster", "--kubeconfig", str(kubeconfig), str(log)])
    assert res.exit_code == 0, res.output
    assert "ServiceAccount clinical/app-sa: 3 of 7 granted permissions unused" in res.stdout
    assert {m for m, _, _ in fake.requests} == {"GET"}


def test_rbac_unused_cluster_with_forbidden_rbac_is_not_clean(kubeconfig: Path, fake: FakeCluster,
                                                              tmp_path: Path) -> None:
    fake.forbidden.add("rolebindings")
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(orjson.dumps(e.to_dict()) for e in app_log()) + b"\n")
    res = runner.invoke(app, ["rbac", "unused", "--cluster", "--kubeconfig", str(kubeconfig), str(log)])
    assert res.exit_code == 2
    assert "RoleBinding" in res.stderr
