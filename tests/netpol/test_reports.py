"""reports/netpol.py: one `Report` per result type, tables that fit the width, names redacted everywhere.

The upstream formats (connlist txt/json/csv/md/dot, diff txt) are pinned against netpol-analyzer's goldens in
test_conformance.py; these tests cover our own formats and the interface.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.engines.netpol import Engine, build_topology, can_reach, diff, exposure
from kubehipaa.reports.base import RenderOptions, UnknownFormat
from kubehipaa.reports.netpol import CONNLIST, DIFF, EXPOSURE, VERDICT
from tests.netpol.helpers import deploy, ns, policy

NS = "patient-records"
API = "patient-records-api-backend"
INDEXER = "clinical-notes-search-indexer"
OBJECTS = [
    ns(NS),
    ns("reporting"),
    deploy(NS, API, {"app": "api"}, [{"name": "http", "containerPort": 8443}]),
    deploy(NS, INDEXER, {"app": "indexer"}),
    deploy("reporting", "monthly-utilisation-report-generator", {"app": "report"}),
    policy(NS, "api-from-reporting-and-partners", {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "reporting"}}},
                              {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.7.0/24"]}}],
                     "ports": [{"port": 8443}]}],
    }),
    policy(NS, "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}),
]
NAMES = [f"{NS}/{API}[Deployment]", f"{NS}/{INDEXER}[Deployment]", "reporting/monthly-utilisation-report-generator"
         "[Deployment]", "192.168.0.0-192.168.6.255[External]"]


def _engine(objects: list[dict[str, Any]] = OBJECTS) -> Engine:
    return Engine(build_topology(objects))


def _diff_rows() -> Any:
    before, after = _engine(OBJECTS[:-1]).connlist(), _engine().connlist()
    return diff(before.connections, before.peers, after.connections, after.peers)


def _words(text: str) -> set[str]:
    return set(re.split(r"[\s│┌┐└┘├┤┬┴┼─]+", text))


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("what", ["connlist", "exposure", "diff"])
def test_tables_fit_the_width_and_never_split_a_workload_name(width: int, what: str) -> None:
    options = RenderOptions(width=width)
    if what == "connlist":
        text = CONNLIST.render(_engine().connlist(), "table", options)
    elif what == "exposure":
        text = EXPOSURE.render(exposure(_engine(), [NS]), "table", options)
    else:
        rows = _diff_rows()
        assert rows
        text = DIFF.render(rows, "table", options)
    assert text.endswith("\n") and max(len(line) for line in text.splitlines()) <= width, text
    words = _words(text)
    shown = [name for name in NAMES if name.split("[")[0].split("/")[-1] in text]
    assert shown, text
    for name in shown:
        assert name in words, f"{name} split at width {width}:\n{text}"


def test_exposure_table_holds_every_section() -> None:
    text = EXPOSURE.render(exposure(_engine(), [NS]), "table", RenderOptions(width=200))
    for heading in ("Inbound (from outside):", "Outbound (to outside):", "Policy rules admitting peers",
                    "Policy rules letting workloads send", "Workloads not isolated for ingress",
                    "Workloads not isolated for egress"):
        assert heading in text
    assert "ipBlock 192.168.0.0/16 except 192.168.7.0/24" in text
    assert "(none)" in text  # no workload may send outside: the outbound section says so


@pytest.mark.parametrize("report", [CONNLIST, EXPOSURE, VERDICT, DIFF])
def test_each_report_names_its_formats_and_refuses_others(report: Any) -> None:
    assert report.formats and report.formats[0] == "txt"
    with pytest.raises(UnknownFormat, match="choose one of"):
        report.render(None, "xml", RenderOptions(width=80))


SSN_NAME = "123-45-6789"


def test_every_format_masks_an_identifier_shaped_name() -> None:
    """A pod named like an SSN is masked in every format alike (the JSON one redacts the tree)."""
    objects = [ns("n"), deploy("n", SSN_NAME, {"app": "a"}), deploy("n", "web", {"app": "web"}),
               policy("n", SSN_NAME, {"podSelector": {"matchLabels": {"app": "a"}},
                                      "ingress": [{"from": [{"namespaceSelector": {}}]}]})]
    engine = _engine(objects)
    options = RenderOptions(width=100)
    outputs = [CONNLIST.render(engine.connlist(), fmt, options) for fmt in CONNLIST.formats]
    outputs += [EXPOSURE.render(exposure(engine, ["n"]), fmt, options) for fmt in EXPOSURE.formats]
    verdict = can_reach(engine, "n/web", f"n/{SSN_NAME}")
    outputs += [VERDICT.render(verdict, fmt, options) for fmt in VERDICT.formats]
    rows = diff([], [], engine.connections(), [w.peer for w in engine.topo.workloads])
    outputs += [DIFF.render(rows, fmt, options) for fmt in DIFF.formats]
    for text in outputs:
        assert SSN_NAME not in text and "<redacted:ssn>" in text, text
    assert json.loads(outputs[1])  # still valid JSON


runner = CliRunner()


@pytest.mark.parametrize("command", [["connlist"], ["exposure", "-n", NS], ["diff", "BEFORE"]])
def test_cli_table_format_follows_the_terminal_width(command: list[str], tmp_path: Any) -> None:
    import yaml

    after = tmp_path / "after.yaml"
    after.write_text(yaml.safe_dump_all(OBJECTS))
    before = tmp_path / "before.yaml"
    before.write_text(yaml.safe_dump_all(OBJECTS[:-1]))
    argv = ["netpol", *[str(before) if a == "BEFORE" else a for a in command], str(after), "-f", "table", "-q"]
    res = runner.invoke(app, argv, env={"COLUMNS": "80"})
    assert res.exit_code in (0, 1), res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout
    assert f"{NS}/{API}[Deployment]" in _words(res.stdout)
