"""`kubehipaa snapshot --cluster`: read-only export that `kubehipaa scan FILE` reads back to the same findings."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.kubeapi.server import FakeCluster

runner = CliRunner()
SECRET_B64 = "cm91bmQtdHJpcC1zZWNyZXQ="  # round-trip-secret


def _key(report: dict) -> list[tuple]:
    return sorted((f["checkId"], f["resource"]["kind"], f["resource"]["namespace"] or "", f["resource"]["name"],
                   f["message"], tuple(e["path"] for e in f["evidence"])) for f in report["findings"])


def test_snapshot_round_trip_gives_the_same_findings(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.add({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "db", "namespace": "clinical"}, "data": {"password": SECRET_B64}})
    snap = tmp_path / "snap.yaml"
    res = runner.invoke(app, ["snapshot", "--cluster", "--kubeconfig", str(kubeconfig), "-o", str(snap)])
    assert res.exit_code == 0, res.stderr
    text = snap.read_text()
    assert SECRET_B64 not in text and "round-trip-secret" not in text
    assert "password: <redacted>" in text
    live = runner.invoke(app, ["scan", "--cluster", "--kubeconfig", str(kubeconfig), "-f", "json"])
    back = runner.invoke(app, ["scan", str(snap), "-f", "json"])
    assert live.exit_code == back.exit_code == 1
    live_report, file_report = json.loads(live.stdout), json.loads(back.stdout)
    assert _key(live_report) and _key(live_report) == _key(file_report)
    assert live_report["summary"]["objects"] == file_report["summary"]["objects"]
    assert {m for m, _, _ in fake.requests} == {"GET"}


def test_snapshot_names_what_it_could_not_read(fake: FakeCluster, kubeconfig: Path, tmp_path: Path) -> None:
    fake.forbidden.add("secrets")
    snap = tmp_path / "snap.yaml"
    res = runner.invoke(app, ["snapshot", "--cluster", "--kubeconfig", str(kubeconfig), "-o", str(snap)])
    assert res.exit_code == 2
    assert "# NOT READABLE: Secret (403 Forbidden" in snap.read_text()
    assert "not readable" in res.stderr


def test_snapshot_requires_cluster() -> None:
    assert runner.invoke(app, ["snapshot"]).exit_code == 2
