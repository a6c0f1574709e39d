"""Sigma value and condition semantics, evaluated on pySigma's parsed rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubehipaa.engines.auditlog import SigmaRuleSet
from kubehipaa.errors import InputError
from kubehipaa.pipelines.audit import read_sigma_rules

HEAD = """
title: t
id: 5d9a1f3e-0000-4000-8000-000000000001
status: test
level: high
logsource:
  product: kubernetes
  service: audit
"""

EVENT = {
    "kind": "Event",
    "verb": "create",
    "requestURI": "/api/v1/namespaces/clinical/pods/web-0/exec?command=%2Fbin%2Fbash&command=-c",
    "user": {"username": "jane@hospital.org", "groups": ["doctors", "system:authenticated"]},
    "sourceIPs": ["203.0.113.7", "10.1.2.3"],
    "userAgent": "kubectl/v1.29.0 (linux/amd64)",
    "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "clinical", "name": "web-0"},
    "responseStatus": {"code": 101},
    "annotations": {"authorization.k8s.io/decision": "allow"},
}


def fires(detection: str, event: dict | None = None) -> bool:
    rs = SigmaRuleSet.from_yaml(HEAD + detection)
    assert len(rs) == 1
    return bool(rs.match(EVENT if event is None else event))


@pytest.mark.parametrize(
    ("detection", "expected"),
    [
        ("detection:\n  s:\n    verb: CREATE\n  condition: s", True),  # case-insensitive
        ("detection:\n  s:\n    verb|cased: CREATE\n  condition: s", False),
        ("detection:\n  s:\n    requestURI|contains: '%2fbin%2fbash'\n  condition: s", True),
        ("detection:\n  s:\n    requestURI|startswith: '/api/v1/'\n  condition: s", True),
        ("detection:\n  s:\n    requestURI|endswith: '-c'\n  condition: s", True),
        ("detection:\n  s:\n    userAgent: 'kubectl/v1.2?.0*'\n  condition: s", True),
        ("detection:\n  s:\n    userAgent: 'kubectl/v1.2?.0'\n  condition: s", False),
        ("detection:\n  s:\n    requestURI|contains|all: ['bash', 'curl']\n  condition: s", False),
        ("detection:\n  s:\n    requestURI|contains|all: ['bash', 'exec']\n  condition: s", True),
        ("detection:\n  s:\n    requestURI|re: 'command=%2F(bin|usr)'\n  condition: s", True),
        ("detection:\n  s:\n    sourceIPs|cidr: '203.0.113.0/24'\n  condition: s", True),  # any list element
        ("detection:\n  s:\n    sourceIPs|cidr: '192.168.0.0/16'\n  condition: s", False),
        ("detection:\n  s:\n    responseStatus.code: 101\n  condition: s", True),
        ("detection:\n  s:\n    responseStatus.code|gte: 400\n  condition: s", False),
        ("detection:\n  s:\n    responseStatus.code|lt: 200\n  condition: s", True),
        ("detection:\n  s:\n    user.groups: doctors\n  condition: s", True),
        ("detection:\n  s:\n    objectRef.apiGroup|exists: false\n  condition: s", True),
        ("detection:\n  s:\n    objectRef.name|exists: true\n  condition: s", True),
        ("detection:\n  s:\n    objectRef.apiGroup: null\n  condition: s", True),
        ("detection:\n  s:\n    annotations.authorization.k8s.io/decision: allow\n  condition: s", True),
        ("detection:\n  s:\n    objectRef.name|fieldref: objectRef.namespace\n  condition: s", False),
        ("detection:\n  s:\n    verb: create\n  f:\n    user.username|endswith: '@hospital.org'\n"
         "  condition: s and not f", False),
        ("detection:\n  s:\n    verb: create\n  f:\n    user.username: admin\n  condition: s and not f", True),
        ("detection:\n  sel_a:\n    verb: delete\n  sel_b:\n    objectRef.subresource: exec\n"
         "  condition: 1 of sel_*", True),
        ("detection:\n  sel_a:\n    verb: delete\n  sel_b:\n    objectRef.subresource: exec\n"
         "  condition: all of sel_*", False),
        ("detection:\n  s:\n    - verb: delete\n    - objectRef.subresource: exec\n  condition: s", True),
        ("detection:\n  keywords:\n    - 'web'\n  condition: keywords", False),  # whole-value keyword
        ("detection:\n  keywords:\n    - '*hospital.org*'\n  condition: keywords", True),
        ("detection:\n  s:\n    requestURI|base64offset|contains: 'secret'\n  condition: s", False),
    ],
)
def test_value_semantics(detection: str, expected: bool) -> None:
    assert fires(detection) is expected


def test_pseudo_fields_use_the_pipeline_mapping() -> None:
    pod = {"verb": "create", "objectRef": {"resource": "pods", "apiGroup": ""},
           "requestObject": {"kind": "Pod", "spec": {
               "containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}],
               "volumes": [{"name": "v", "hostPath": {"path": "/var/run/docker.sock"}}]}}}
    assert fires("detection:\n  s:\n    capabilities: NET_ADMIN\n  condition: s", pod)
    assert fires("detection:\n  s:\n    hostPath|endswith: docker.sock\n  condition: s", pod)
    deploy = {"verb": "create", "objectRef": {"resource": "deployments", "apiGroup": "apps"},
              "requestObject": {"kind": "Deployment", "spec": {"template": {"spec": {
                  "initContainers": [{"name": "i", "securityContext": {"privileged": True}}],
                  "containers": [{"name": "c"}]}}}}}
    assert fires("detection:\n  s:\n    capabilities: ALL\n    apiGroup: apps\n  condition: s", deploy)
    dropped = {"verb": "create", "objectRef": {"resource": "pods"}, "requestObject": {"kind": "Pod", "spec": {
        "containers": [{"name": "a", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}}}
    assert not fires("detection:\n  s:\n    capabilities: '*'\n  condition: s", dropped)


def test_other_logsources_are_skipped_and_correlations_compiled() -> None:
    text = (
        "title: win\nid: 5d9a1f3e-0000-4000-8000-000000000002\nlogsource:\n  product: windows\n"
        "detection:\n  s:\n    EventID: 1\n  condition: s\n---\n"
        "title: many\nid: 5d9a1f3e-0000-4000-8000-000000000003\nname: many\ncorrelation:\n  type: event_count\n"
        "  rules: [k]\n  group-by: [user.username]\n  timespan: 1m\n  condition:\n    gte: 5\n---\n"
        "title: temporal\nid: 5d9a1f3e-0000-4000-8000-000000000004\ncorrelation:\n  type: temporal\n"
        "  rules: [k]\n  group-by: [user.username]\n  timespan: 1m\n---\n"
        + HEAD.replace("title: t", "title: k\nname: k") + "detection:\n  s:\n    verb: list\n  condition: s\n"
    )
    rs = SigmaRuleSet.from_yaml(text)
    assert [r.title for r in rs.rules] == ["k"]
    assert [c.title for c in rs.correlations] == ["many"]
    assert sorted(s.title for s in rs.skipped) == ["temporal", "win"]
    assert "temporal" in next(s.reason for s in rs.skipped if s.title == "temporal")


def test_bad_rule_files_name_the_file(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yml"
    bad_yaml.write_text("title: x\ndetection: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yml"):
        read_sigma_rules([bad_yaml])
    bad_cond = tmp_path / "cond.yml"
    bad_cond.write_text(HEAD + "detection:\n  s:\n    verb: list\n  condition: s and missing\n")
    with pytest.raises(InputError, match=r"cond\.yml"):
        read_sigma_rules([tmp_path / "cond.yml"])
    with pytest.raises(InputError, match="nowhere"):
        read_sigma_rules([tmp_path / "nowhere"])


def test_non_dict_events_never_match() -> None:
    rs = SigmaRuleSet.from_yaml(HEAD + "detection:\n  s:\n    verb|exists: false\n  condition: s")
    assert rs.match({"kind": 0}) and not rs.match([])  # type: ignore[arg-type]


def test_sigma_filters_in_another_file_apply(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(
        "title: exec\nid: 5d9a1f3e-0000-4000-8000-000000000010\nname: exec_rule\n"
        "logsource: {product: kubernetes, service: audit}\n"
        "detection:\n  sel: {verb: create, objectRef.subresource: exec}\n  condition: sel\nlevel: medium\n")
    (tmp_path / "filter.yml").write_text(
        "title: admins may exec\nid: 5d9a1f3e-0000-4000-8000-000000000011\n"
        "logsource: {product: kubernetes, service: audit}\n"
        "filter:\n  rules: [exec_rule]\n  selection:\n    user.username: admin\n  condition: not selection\n")
    rs = read_sigma_rules([tmp_path])
    event = {"verb": "create", "objectRef": {"subresource": "exec"}, "user": {"username": "admin"}}
    assert rs.match(event) == []
    assert [m.title for m in rs.match(event | {"user": {"username": "eve"}})] == ["exec"]
