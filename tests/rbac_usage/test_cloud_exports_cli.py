"""`rbac unused` and `rbac suggest` read every cloud audit export through the CLI (issue 11, requirement 8).

The samples are tests/auditlog/data/cloud (AKS diagnostic records with `properties.log` as a string and as an
object, GKE Cloud Logging entries, EKS CloudWatch / subscription / Firehose / export-task shapes). What
`audit timeline` reads from a file is the reference: the RBAC commands must see the same requests, so a
permission exercised only in a wrapped event is neither reported unused nor left out of a suggested Role.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubehipaa.cli.main import app

CLOUD = Path(__file__).resolve().parents[1] / "auditlog" / "data" / "cloud"
JANE = "jane@hospital.org"
# jane may exec into pods, read Secrets and read ConfigMaps in clinical; the samples exercise the first two
ROLE = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: jane, namespace: clinical}}
rules:
- {{apiGroups: [""], resources: [pods/exec], verbs: [create]}}
- {{apiGroups: [""], resources: [secrets], verbs: [get]}}
- {{apiGroups: [""], resources: [configmaps], verbs: [get]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: jane, namespace: clinical}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: jane}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{JANE}"}}]
"""
PERMISSION = {"pods/exec": ("create", "pods/exec"), "secrets": ("get", "secrets")}
SAMPLES = sorted(p.name for p in CLOUD.iterdir())


def _run(*args: str) -> dict:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return json.loads(res.stdout)


def _janes_requests(sample: Path) -> set[tuple[str, str]]:
    """(verb, resource) of jane's allowed requests, as `audit timeline` reads the file."""
    entries = _run("audit", "timeline", str(sample), "-f", "json", "--user", JANE)["entries"]
    return {(e["verb"], e["resource"]) for e in entries if e["outcome"] == "allowed"}


def test_every_sample_has_requests_of_jane() -> None:
    assert SAMPLES and all(_janes_requests(CLOUD / name) for name in SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_unused_counts_the_permissions_exercised_in_wrapped_events(name: str, tmp_path: Path) -> None:
    (tmp_path / "rbac.yaml").write_text(ROLE)
    seen = _janes_requests(CLOUD / name)
    report = _run("rbac", "unused", str(tmp_path / "rbac.yaml"), str(CLOUD / name), "-f", "json", "--all")
    [jane] = [s for s in report["subjects"] if s["subject"]["name"] == JANE]
    unused = {r for u in jane["unused"] for r in u["permission"]["resources"]}
    used = {res for res, request in PERMISSION.items() if request in seen}
    assert jane["granted"] == 3 and jane["used"] == len(used), (name, seen)
    assert unused == {"configmaps", *(set(PERMISSION) - used)}


@pytest.mark.parametrize("name", SAMPLES)
def test_suggest_grants_exactly_what_the_wrapped_events_show(name: str) -> None:
    seen = _janes_requests(CLOUD / name)
    out = _run("rbac", "suggest", "--user", JANE, str(CLOUD / name), "-f", "json")
    granted = {(verb, res) for item in out["manifest"]["items"] for rule in item.get("rules", [])
               for res in rule["resources"] for verb in rule["verbs"]}
    assert granted == seen
