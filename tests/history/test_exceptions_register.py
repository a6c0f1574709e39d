"""`kubehipaa exceptions list`: the risk-acceptance register (issue 15 req 7) on both backends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from kubehipaa.cli.main import app
from tests.history.helpers import NAMESPACE, deployment, write

runner = CliRunner()
TODAY = dt.date.today()
SOON = (TODAY + dt.timedelta(days=90)).isoformat()
PAST = (TODAY - dt.timedelta(days=3)).isoformat()


def _config(tmp_path: Path, url: str, *, extra: str = "") -> Path:
    cfg = tmp_path / ".kubehipaa.yaml"
    cfg.write_text(f"""history:
  url: "{url}"
exceptions:
  - check: KH-WL-001
    resource: {{kind: Deployment, namespace: clinical, name: ehr}}
    justification: vendor appliance needs privileged mode until the Q3 upgrade
    owner: platform-team
    approver: ciso@hospital.example
    expires: {SOON}
  - check: KH-WL-001
    resource: {{kind: Deployment, namespace: clinical, name: not-deployed}}
    justification: planned workload
    owner: apps-team
    expires: {SOON}
  - check: KH-WL-001
    resource: {{kind: Deployment, namespace: clinical, name: billing}}
    justification: old acceptance
    owner: billing-team
    expires: {PAST}
{extra}""")
    return cfg


def _register(*args: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, ["exceptions", "list", "-f", "json", *args])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_register_statuses_matches_and_history(history_url: str, tmp_path: Path) -> None:
    _config(tmp_path, history_url)
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr"),
                                   "b.yaml": deployment("billing")})
    # before any saved scan: nothing is known about matches, and nothing is called unused
    before = _register()
    assert [e["status"] for e in before["exceptions"]] == ["not-scanned", "not-scanned", "expired"]

    for _ in range(2):
        res = runner.invoke(app, ["scan", str(src), "--save", "-f", "json", "--fail-on", "never"])
        assert res.exit_code == 0, res.stderr
    reg = _register()
    ehr, planned, billing = reg["exceptions"]
    assert ehr["status"] == "active" and ehr["matched"] == 1
    assert ehr["owner"] == "platform-team" and ehr["approver"] == "ciso@hospital.example"
    assert ehr["justification"].startswith("vendor appliance") and ehr["expires"] == SOON
    assert [(m["checkId"], m["name"]) for m in ehr["matches"]] == [("KH-WL-001", "ehr")]
    assert [(h["scan"], h["matched"], h["status"]) for h in ehr["history"]] == [(1, 1, "active"), (2, 1, "active")]
    assert planned["status"] == "unused" and planned["matched"] == 0 and planned["approver"] is None
    assert billing["status"] == "expired"
    assert [e["check"] for e in _register("--unused")["exceptions"]] == ["KH-WL-001"]
    assert [e["owner"] for e in _register("--unused")["exceptions"]] == ["apps-team"]
    assert [e["owner"] for e in _register("--expired")["exceptions"]] == ["billing-team"]

    text = runner.invoke(app, ["exceptions", "list"])
    assert text.exit_code == 0
    assert "active" in text.stdout and "unused" in text.stdout and "expired" in text.stdout
    assert "ciso@hospital.example" in text.stdout


def test_an_edited_exception_starts_a_new_history(history_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, history_url)
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    assert runner.invoke(app, ["scan", str(src), "--save", "--fail-on", "never"]).exit_code == 0
    cfg.write_text(cfg.read_text().replace("until the Q3 upgrade", "until the Q4 upgrade"))
    reg = _register()
    assert reg["exceptions"][0]["status"] == "not-scanned" and reg["exceptions"][0]["history"] == []


def test_expired_and_unused_together_is_a_usage_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["exceptions", "list", "--expired", "--unused"])
    assert res.exit_code == 2


def test_the_register_of_the_current_input(tmp_path: Path) -> None:
    """With paths, the matches are those of the input scanned now (nothing saved, no history needed)."""
    _config(tmp_path, f"sqlite:///{tmp_path / 'h.db'}")
    src = write(tmp_path / "k8s", {"ns.yaml": NAMESPACE, "a.yaml": deployment("ehr")})
    reg = _register(str(src))
    assert reg["matchedIn"] == "current input"
    assert [(e["status"], e["matched"]) for e in reg["exceptions"]] == [("active", 1), ("unused", 0), ("expired", 0)]
    assert reg["exceptions"][0]["matches"][0]["name"] == "ehr"
    assert not (tmp_path / "h.db").exists()
    empty = runner.invoke(app, ["exceptions", "list", str(tmp_path / "missing")])
    assert empty.exit_code == 2
