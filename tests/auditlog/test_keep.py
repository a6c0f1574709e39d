"""Nothing silently dropped (issue 16 req 1): JSON and SARIF carry every alert unless `--keep` is asked for;
a cap keeps the riskiest alerts per rule (not the first in the log) and every report says how many it left out."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import Alert, AlertCollector
from kubehipaa.model import Severity
from tests.conftest import ROOT

from .helpers import raw_event

runner = CliRunner()
RULE = "KH-AUDLOG-030"  # exec or attach into a pod (medium)
NOISY = 1_200  # more than the old fixed cap of 1,000 alerts per rule
ATTACKER = "mallory@hospital.org"


def _time(i: int) -> str:
    return f"2026-11-27T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000000Z"


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 routine execs by one operator into kube-system, then, LAST in the log, one exec by another
    identity into the clinical (application, PHI) namespace."""
    events = [raw_event("create", "pods", sub="exec", name=f"coredns-{i}", ns="kube-system", code=101,
                        user="ops@hospital.org", time=_time(i), uri="/api/v1/namespaces/kube-system/pods/x/exec"
                        "?command=ls") for i in range(NOISY)]
    events.append(raw_event("create", "pods", sub="exec", name="ehr-0", ns="clinical", code=101, user=ATTACKER,
                            time=_time(NOISY), uri="/api/v1/namespaces/clinical/pods/ehr-0/exec?command=sh"))
    p = tmp_path_factory.mktemp("keep") / "audit.log"
    p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return p


def _analyze(log: Path, tmp_path: Path, fmt: str, *extra: str) -> str:
    out = tmp_path / f"report.{fmt}"
    args = ["analyze", str(log), "--format", fmt, "--fail-on", "never", "--rule", RULE, *extra]
    if fmt != "table":
        args += ["-o", str(out)]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return out.read_text() if fmt != "table" else res.output


def _sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft4Validator(schema)


def test_json_and_sarif_carry_every_alert_by_default(log: Path, tmp_path: Path) -> None:
    doc = orjson.loads(_analyze(log, tmp_path, "json"))
    (rule,) = doc["rules"]
    assert rule["count"] == rule["shown"] == len(rule["alerts"]) == NOISY + 1
    assert rule["omitted"] == 0 and doc["summary"]["omitted"] == 0 and doc["summary"]["keep"] is None
    assert rule["alerts"][-1]["user"] == ATTACKER  # log order

    sarif = orjson.loads(_analyze(log, tmp_path, "sarif"))
    _sarif_validator().validate(sarif)
    run = sarif["runs"][0]
    assert len(run["results"]) == NOISY + 1
    assert run["properties"]["omitted"] == {} and run["properties"]["keep"] is None
    assert "invocations" not in run  # no notification when nothing was left out


def test_an_explicit_keep_keeps_the_riskiest_and_says_how_many_were_left_out(log: Path, tmp_path: Path) -> None:
    doc = orjson.loads(_analyze(log, tmp_path, "json", "--keep", "5"))
    (rule,) = doc["rules"]
    assert (rule["count"], rule["shown"], rule["omitted"]) == (NOISY + 1, 5, NOISY - 4)
    assert doc["summary"] == {**doc["summary"], "keep": 5, "omitted": NOISY - 4}
    users = [a["user"] for a in rule["alerts"]]
    assert ATTACKER in users  # last in the log, first in risk (application namespace, new identity)
    assert users[-1] == ATTACKER  # kept alerts are listed in log order

    sarif = orjson.loads(_analyze(log, tmp_path, "sarif", "--keep", "5"))
    _sarif_validator().validate(sarif)
    run = sarif["runs"][0]
    assert len(run["results"]) == 5 and ATTACKER in {r["properties"]["user"] for r in run["results"]}
    assert run["properties"]["omitted"] == {RULE: NOISY - 4} and run["properties"]["keep"] == 5
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "alerts-omitted" and note["associatedRule"]["id"] == RULE
    assert f"{NOISY - 4} of {NOISY + 1} alert(s) left out" in note["message"]["text"]

    table = _analyze(log, tmp_path, "table", "--keep", "50")
    assert f"{RULE}: {NOISY - 49} of {NOISY + 1} alert(s) left out by --keep 50 (riskiest kept" in table
    assert ATTACKER in table


def test_the_table_holds_every_alert_and_shows_the_riskiest(log: Path, tmp_path: Path) -> None:
    """The table groups every alert into incidents (issue 16 req 4), so it holds them all: `--max-rows` caps
    the incidents shown and, with `--details`, the alerts shown per incident, never what is counted."""
    table = _analyze(log, tmp_path, "table", "--max-rows", "3", "--details")
    assert ATTACKER in table and "left out" not in table
    assert f"… {NOISY - 3} more alert(s) in INC-" in table  # the operator's 1,200 execs, 3 shown


def _alert(i: int, severity: Severity, *, ns: str = "tools", user: str = "bot") -> Alert:
    return Alert(RULE, "t", severity, (), f"m{i}", _time(i), f"id{i}", user, "10.0.0.1", "ua", "create",
                 f"pods/p{i}", ns)


def test_the_cap_ranks_severity_first_and_holds_at_most_keep() -> None:
    col = AlertCollector(keep=3)
    for i in range(5_000):
        col.add(_alert(i, Severity.MEDIUM, ns="clinical", user=f"u{i}"))  # PHI namespace, every one novel
        assert len(col.held[RULE]) <= 3  # bounded while streaming, not trimmed at the end
    col.add(_alert(5_000, Severity.CRITICAL, ns="", user="bot"))
    col.add(_alert(5_001, Severity.LOW, ns="clinical", user="new"))
    kept = col.kept(RULE)
    assert [a.message for a in kept] == ["m0", "m1", "m5000"]  # critical survives; ties keep the earliest
    assert col.counts[RULE] == 5_002 and col.omitted(RULE) == 4_999 and col.total_omitted == 4_999
    assert col.riskiest(RULE, 1) == [kept[-1]]


def test_no_cap_holds_every_alert_in_log_order() -> None:
    col = AlertCollector()
    for i in range(2_000):
        col.add(_alert(i, Severity.CRITICAL if i == 1_999 else Severity.LOW))
    assert [a.message for a in col.kept(RULE)] == [f"m{i}" for i in range(2_000)]
    assert col.omitted(RULE) == 0
    with pytest.raises(ValueError):
        AlertCollector(keep=0)
