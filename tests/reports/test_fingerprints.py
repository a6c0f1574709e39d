"""Finding fingerprints (issue 15 req 2): rule + object identity + field path; never file path or line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from kubehipaa.model import Evidence, Finding, ResourceRef, Severity
from tests.conftest import EXAMPLES


def _finding(**changes: object) -> Finding:
    ref = dict(api_version="apps/v1", kind="Deployment", namespace="clinical", name="ehr-api", file="a.yaml", line=3)
    ref.update({k: v for k, v in changes.items() if k in ref})
    path = str(changes.get("path", "spec.template.spec.containers[0].securityContext.privileged"))
    return Finding(str(changes.get("check", "KH-WL-001")), "t", Severity.HIGH, ResourceRef(**ref), "m",  # type: ignore[arg-type]
                   [Evidence(path, True)], "r", ("164.312(a)(1)",))


def test_file_and_line_do_not_change_the_fingerprint() -> None:
    base = _finding().fingerprint
    assert len(base) == 32 and int(base, 16) >= 0
    assert _finding(file="moved/elsewhere.yaml", line=300).fingerprint == base
    assert _finding(api_version="apps/v1beta2").fingerprint == base  # the version is not identity


def test_identity_rule_and_field_path_do() -> None:
    base = _finding().fingerprint
    others = [_finding(check="KH-WL-002"), _finding(namespace="billing"), _finding(name="ehr-web"),
              _finding(kind="StatefulSet"), _finding(api_version="example.com/v1"),
              _finding(path="spec.template.spec.hostNetwork"),
              _finding(file="cluster:prod-east/Deployment/clinical/ehr-api", line=0)]
    prints = {f.fingerprint for f in others}
    assert base not in prints and len(prints) == len(others)
    # the same object in the same cluster, whatever the location suffix, is the same finding
    assert _finding(file="cluster:prod-east/x").fingerprint == others[-1].fingerprint


def _prints(*paths: str) -> list[str]:
    res = CliRunner().invoke(app, ["scan", *paths, "-f", "json", "--fail-on", "never"])
    assert res.exit_code == 0, res.output
    return sorted(f["fingerprint"] for f in json.loads(res.stdout)["findings"])


def test_moving_manifests_keeps_every_fingerprint(tmp_path: Path) -> None:
    """The example cluster's files concatenated into one file in another folder: same fingerprints, and
    JSON and SARIF agree."""
    files = sorted((EXAMPLES / "clinic-insecure").glob("*.yaml"))
    merged = tmp_path / "moved" / "all-in-one.yaml"
    merged.parent.mkdir()
    merged.write_text("\n---\n".join(p.read_text() for p in files))
    before = _prints(*map(str, files))
    assert before and len(set(before)) == len(before)
    assert _prints(str(merged)) == before
    res = CliRunner().invoke(app, ["scan", str(merged), "-f", "sarif", "--fail-on", "never"])
    sarif = sorted(r["partialFingerprints"]["kubehipaa/v1"] for r in json.loads(res.stdout)["runs"][0]["results"])
    assert sarif == before
