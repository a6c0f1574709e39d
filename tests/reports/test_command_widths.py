"""The tables of `scan`, `pss`, `etcd verify` and `audit-policy check` fit 80 and 120 columns without splitting
a check id, resource name or namespace (issue 13 req 4).

Each command is rendered at the width the reader has: through its `Report` with `RenderOptions(width=...)`, and
end to end with `COLUMNS` set (what a terminal, `less` or CI sees). A name "split mid-word" would be on two
lines, so each name must appear whole on one line, and no line may be wider than the width.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.config import Config
from kubehipaa.engines import pss
from kubehipaa.inventory import Inventory
from kubehipaa.model import K8sObject
from kubehipaa.pipelines import pss as pss_pipeline
from kubehipaa.pipelines.etcd import EtcdVerification, ResourceReport
from kubehipaa.pipelines.scan import ScanResult, run_scan
from kubehipaa.reports.base import RenderOptions
from kubehipaa.reports.etcd import EtcdReport
from kubehipaa.reports.pss import ChecksReport, DryRunReport, EvaluationReport, NamespacesReport
from kubehipaa.reports.scan import ScanReport
from kubehipaa.sources.files import load_paths
from tests.conftest import EXAMPLES
from tests.reports.layout import assert_fits

WIDTHS = (80, 120)
INSECURE = EXAMPLES / "clinic-insecure"
PSS_WORKLOADS = Path(__file__).resolve().parents[1] / "pss" / "data" / "workloads.yaml"
HARDENED_POLICY = EXAMPLES / "clinic-hardened" / "control-plane" / "audit-policy.yaml"
runner = CliRunner()


def _invoke(args: list[str], width: int) -> str:
    r = runner.invoke(app, args, env={"COLUMNS": str(width)})
    assert r.exit_code in (0, 1), r.output
    return r.stdout


# -- scan ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def insecure_scan() -> ScanResult:
    loaded = load_paths([str(INSECURE)])
    inv = Inventory(loaded.objects, Config())
    return run_scan(inv, Config())


def _scan_names(result: ScanResult) -> set[str]:
    names = set()
    for f in result.active:
        names |= {f.check_id, f.resource.display}
        if f.resource.namespace:
            names.add(f.resource.namespace)
    return names


@pytest.mark.parametrize("width", WIDTHS)
def test_scan_table_fits_and_keeps_names_whole(insecure_scan: ScanResult, width: int) -> None:
    text = ScanReport(Config()).render(insecure_scan, "table", RenderOptions(width=width))
    assert_fits(text, width, _scan_names(insecure_scan))
    assert text.rstrip().splitlines()[-1].endswith("suppressed")  # the summary line closes the report


@pytest.mark.parametrize("width", WIDTHS)
def test_scan_cli_table_follows_columns(insecure_scan: ScanResult, width: int) -> None:
    text = _invoke(["scan", str(INSECURE), "--max-rows", "0", "--fail-on", "never"], width)
    assert_fits(text, width, _scan_names(insecure_scan))


# -- pss -----------------------------------------------------------------------------------------------------


def _workloads() -> list[K8sObject]:
    return load_paths([str(PSS_WORKLOADS)]).objects


def _pss_names(results: Iterable[pss_pipeline.Evaluated]) -> set[str]:
    names = set()
    for r in results:
        names |= {r.obj.display, *(v.check for v in r.verdict.violations)}
        if r.obj.namespace:
            names.add(r.obj.namespace)
    return names


@pytest.mark.parametrize("width", WIDTHS)
def test_pss_evaluate_and_dry_run_tables_fit(width: int) -> None:
    objects = _workloads()
    level, version = pss.parse_level("restricted"), pss.parse_version("v1.30")
    evaluation = pss_pipeline.evaluate(objects, level, version)
    text = EvaluationReport().render(evaluation, "table", RenderOptions(width=width))
    assert_fits(text, width, _pss_names(evaluation.results))
    dry = pss_pipeline.dry_run(objects, "clinical", level, version)
    text = DryRunReport().render(dry, "table", RenderOptions(width=width))
    assert_fits(text, width, _pss_names(dry.results) | {"baseline:v1.30:"})


@pytest.mark.parametrize("width", WIDTHS)
def test_pss_namespaces_and_checks_listing_fit(width: int) -> None:
    result = pss_pipeline.namespaces(_workloads())
    text = NamespacesReport().render(result, "table", RenderOptions(width=width))
    assert_fits(text, width, {r.namespace for r in result.rows} | {"baseline:v1.30", "restricted:latest"})
    text = ChecksReport().render(pss.CHECKS, "table", RenderOptions(width=width))
    assert_fits(text, width, {c.id for c in pss.CHECKS} | {str(c.level) for c in pss.CHECKS})


@pytest.mark.parametrize("width", WIDTHS)
def test_pss_cli_tables_follow_columns(width: int) -> None:
    text = _invoke(["pss", "evaluate", str(PSS_WORKLOADS), "--version", "v1.30"], width)
    assert_fits(text, width, {"DaemonSet/clinical/log-shipper", "StatefulSet/clinical/ehr-db", "hostNamespaces"})
    text = _invoke(["pss", "checks"], width)
    assert_fits(text, width, {c.id for c in pss.CHECKS})


# -- etcd verify ---------------------------------------------------------------------------------------------


def _etcd_result() -> EtcdVerification:
    secrets = ResourceReport("secrets", "", "/registry/secrets/")
    for ns, status, n in (("clinical-records-production", "current", 40), ("clinical-records-production",
                          "plaintext", 2), ("billing", "stale", 1), ("kube-system", "current", 12)):
        secrets.counts[status] += n
        secrets.namespaces[ns][status] += n
    secrets.objects["plaintext"] = [{"namespace": "clinical-records-production", "name": "legacy-db-credentials",
                                     "encoding": "protobuf"}]
    secrets.objects["stale"] = [{"namespace": "billing", "name": "api-token", "provider": "aescbc",
                                 "version": "v1", "key": "oldkey"}]
    widgets = ResourceReport("widgets", "example.com", "/registry/example.com/widgets/",
                             counts=Counter(encrypted=3))
    widgets.namespaces["default"]["encrypted"] += 3
    return EtcdVerification("https://127.0.0.1:2379", 42, "/etc/kubernetes/encryption-config.yaml",
                            [secrets, widgets])


@pytest.mark.parametrize("width", WIDTHS)
def test_etcd_verify_table_fits(width: int) -> None:
    text = EtcdReport().render(_etcd_result(), "table", RenderOptions(width=width))
    assert_fits(text, width, {"clinical-records-production", "kube-system", "billing", "plaintext", "unreadable",
                              "clinical-records-production/legacy-db-credentials", "billing/api-token",
                              "kubectl get secrets -A -o json | kubectl replace -f -", "widgets.example.com"})


# -- audit-policy check --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_audit_policy_table_fits(width: int, tmp_path: Path) -> None:
    text = _invoke(["audit-policy", "check", str(HARDENED_POLICY), "-n", "clinical-records-production"], width)
    assert_fits(text, width, {"clinical-records-production", "RequestResponse", "Metadata", "pods/portforward",
                              "serviceaccounts/token"})
    bad = tmp_path / "audit.yaml"
    bad.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                   "- level: None\n  userGroups: [system:serviceaccounts]\n- level: RequestResponse\n")
    text = _invoke(["audit-policy", "check", str(bad), "-n", "clinical-records-production"], width)
    assert_fits(text, width, {"FAIL", "RequestResponse", "rbac-writes:", "system:serviceaccount:"
                              "clinical-records-production:app"})


def test_a_cell_of_several_lines_is_as_wide_as_its_widest_line() -> None:
    """A resource cell `name` + `file:line` on two lines must not claim the width of both lines together,
    squeezing the finding column into needless wrapping (it did: the scan table at 120 columns)."""
    from kubehipaa.reports.terminal import Column, fit_table, render_text

    message = "container api is privileged and can reach the node"
    rows = [["Deployment/clinical/ehr-api\nexamples/clinic/workloads.yaml:8", message]]
    text = render_text([fit_table([Column("Resource", key=True), Column("Finding")], rows, 100)], width=100)
    assert any(message in line for line in text.splitlines()), text
