"""Least privilege from usage: unused grants, and suggested Roles checked back through the RBAC engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubehipaa.engines.auditlog import AuditEvent, event_from_dict
from kubehipaa.engines.rbac import (
    RbacIndex,
    collect_usage,
    event_attributes,
    suggest_role,
    unused_permissions,
    user_info,
)

SA = "system:serviceaccount:clinical:app-sa"
SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:clinical", "system:authenticated"]
_seq = 0


def ev(verb: str, resource: str | None, *, ns: str | None = None, name: str | None = None, sub: str | None = None,
       group: str | None = None, user: str = SA, groups: list[str] | None = None, code: int = 200,
       decision: str | None = "allow", uri: str | None = None, stage: str = "ResponseComplete",
       t: str = "2026-11-20T10:00:00.000000Z", impersonate: str | None = None) -> AuditEvent:
    """An audit.k8s.io/v1 Event shaped like the API server writes it."""
    global _seq
    _seq += 1
    doc: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{_seq}",
        "stage": stage, "verb": verb,
        "user": {"username": user, "groups": SA_GROUPS if groups is None else groups},
        "sourceIPs": ["10.0.3.7"], "userAgent": "app/1.0",
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": t, "stageTimestamp": t,
    }
    if resource is not None:
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        for k, v in (("namespace", ns), ("name", name), ("subresource", sub), ("apiGroup", group)):
            if v is not None:
                ref[k] = v
        doc["objectRef"] = ref
        path = f"/api/v1/{'namespaces/' + ns + '/' if ns else ''}{resource}{'/' + name if name else ''}"
        doc["requestURI"] = uri or path
    else:
        doc["requestURI"] = uri or "/healthz"
    if decision is not None:
        doc["annotations"] = {"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": ""}
    if impersonate:
        doc["impersonatedUser"] = {"username": impersonate, "groups": ["system:authenticated"]}
    return event_from_dict(doc)


def app_log() -> list[AuditEvent]:
    return [
        ev("get", "configmaps", ns="clinical", name="app-config"),
        ev("get", "configmaps", ns="clinical", name="app-config", t="2026-11-20T11:00:00Z"),
        ev("list", "pods", ns="clinical"),
        ev("watch", "pods", ns="clinical"),
        ev("get", "pods", ns="clinical", name="ehr-0", code=404),  # authorized, then not found: still used
        ev("create", "pods", ns="clinical", name="exec-target", sub="exec"),
        ev("create", "events", ns="clinical", name="ehr-0.17a", group="events.k8s.io"),
        ev("get", "secrets", ns="clinical", name="app-tls"),
        ev("get", "secrets", ns="clinical", name="db-password", code=403, decision="forbid"),
        ev("list", "secrets", code=403, decision="forbid"),  # cluster-wide list, denied
        ev("get", "namespaces", ns="clinical", name="clinical"),
        ev("list", "nodes"),
        ev("get", None, uri="/healthz?verbose=1"),
        ev("get", "leases", ns="reporting", name="app-leader", group="coordination.k8s.io"),
        ev("update", "leases", ns="reporting", name="app-leader", group="coordination.k8s.io"),
        # not attributable: logged before authorization, and unauthenticated
        ev("delete", "pods", ns="clinical", name="x", stage="RequestReceived", decision=None),
        ev("get", "pods", ns="clinical", name="y", code=401, decision=None),
        # someone else
        ev("get", "secrets", ns="clinical", name="app-tls", user="jane@hospital.org", groups=["doctors"]),
    ]


def _index(items: list[dict[str, Any]]) -> RbacIndex:
    return RbacIndex.from_objects(items, builtin_cluster_admin=False)


def test_event_attributes_follow_request_info() -> None:
    a = event_attributes(ev("create", "configmaps", ns="clinical", name="new-one"))
    assert a is not None and a.name == ""  # create on a collection carries no name for the authorizer
    b = event_attributes(ev("create", "pods", ns="clinical", name="p", sub="exec"))
    assert b is not None and b.name == "p" and b.subresource == "exec"
    c = event_attributes(ev("get", None, uri="/metrics?x=1"))
    assert c is not None and not c.resource_request and c.path == "/metrics"


def test_suggested_role_allows_exactly_what_was_observed() -> None:
    out = suggest_role(app_log(), SA)
    items = out["manifest"]["items"]
    kinds = sorted((i["kind"], i["metadata"].get("namespace", "")) for i in items)
    assert kinds == [("ClusterRole", ""), ("ClusterRoleBinding", ""), ("Role", "clinical"), ("Role", "reporting"),
                     ("RoleBinding", "clinical"), ("RoleBinding", "reporting")]
    idx = _index(items)
    ident = user_info(SA)
    usage = collect_usage(app_log())
    observed = usage.requests[SA]
    assert len(observed) == 14  # 15 attributable events, the configmap read twice
    for o in observed.values():
        decision = idx.authorize(ident, o.attrs)
        assert decision.allowed is o.allowed, (o.attrs.display, decision.reason)
    # denied requests are listed apart and never granted
    assert {(d["request"]["verb"], d["request"].get("name", "")) for d in out["denied"]} == {
        ("get", "db-password"), ("list", "")}
    assert out["conflicts"] == []
    # resourceNames only where every request of that verb named its object
    clinical = next(i for i in items if i["kind"] == "Role" and i["metadata"]["namespace"] == "clinical")
    secrets = [r for r in clinical["rules"] if "secrets" in r["resources"]]
    assert secrets == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["app-tls"], "verbs": ["get"]}]
    pods = [r for r in clinical["rules"] if r["resources"] == ["pods"]]
    assert {v for r in pods for v in r["verbs"]} == {"get", "list", "watch"}
    assert any(r.get("nonResourceURLs") == ["/healthz"] for r in items[0]["rules"])
    assert items[1]["subjects"] == [{"kind": "ServiceAccount", "name": "app-sa", "namespace": "clinical"}]
    # the unrelated user's request and the unattributable events are not in the suggestion
    assert not idx.authorize(ident, event_attributes(ev("delete", "pods", ns="clinical", name="x"))).allowed


def test_impersonated_requests_belong_to_the_impersonated_identity() -> None:
    log = [ev("get", "pods", ns="a", name="p", user="admin", groups=["system:masters"], impersonate="bob")]
    assert suggest_role(log, "bob")["allowed"]
    assert not suggest_role(log, "admin")["allowed"]


def test_many_names_are_dropped_unless_that_grants_a_denied_request() -> None:
    many = [ev("get", "configmaps", ns="a", name=f"cm-{i}") for i in range(30)]
    rules = suggest_role(many, SA)["manifest"]["items"][0]["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    with_denied = [*many, ev("get", "configmaps", ns="a", name="phi-export", code=403, decision="forbid")]
    out = suggest_role(with_denied, SA)
    rules = out["manifest"]["items"][0]["rules"]
    assert len(rules[0]["resourceNames"]) == 30
    idx = _index(out["manifest"]["items"])
    denied = event_attributes(with_denied[-1])
    assert denied is not None and not idx.authorize(user_info(SA), denied).allowed


def test_unused_permissions_per_identity() -> None:
    rbac = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "app", "namespace": "clinical"},
         "rules": [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["app-tls"]},
                   {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "app", "namespace": "clinical"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app"},
         "subjects": [{"kind": "ServiceAccount", "name": "app-sa"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "node-reader"},
         "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "doctors-nodes"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
         "subjects": [{"kind": "Group", "name": "doctors", "apiGroup": "rbac.authorization.k8s.io"},
                      {"kind": "ServiceAccount", "name": "app-sa", "namespace": "clinical"}]},
    ]
    report = unused_permissions(_index(rbac), app_log())
    by = {(s.subject.kind, s.subject.name): s for s in report.subjects}
    sa = by[("ServiceAccount", "app-sa")]
    unused = {(p.rule.verbs[0], p.rule.resources[0], p.binding.name) for p in sa.unused}
    used = {(p.rule.verbs[0], p.rule.resources[0], p.binding.name) for p in sa.used}
    assert used == {("get", "pods", "app"), ("list", "pods", "app"), ("watch", "pods", "app"),
                    ("get", "configmaps", "app"), ("get", "secrets", "app"), ("list", "nodes", "doctors-nodes")}
    assert unused == {("list", "configmaps", "app"), ("watch", "configmaps", "app"),
                      ("delete", "deployments", "app"), ("get", "nodes", "doctors-nodes")}
    assert sa.granted == 10 and sa.identities == [SA]
    doctors = by[("Group", "doctors")]
    assert doctors.identities == ["jane@hospital.org"] and len(doctors.unused) == 2  # jane never touched nodes
    assert report.to_dict()["subjects"]
    # a window that ends before most requests: only the last hour counts
    late = unused_permissions(_index(rbac), app_log(), window=1800)
    late_sa = next(s for s in late.subjects if s.subject.name == "app-sa")
    assert {(p.rule.verbs[0], p.rule.resources[0]) for p in late_sa.used} == {("get", "configmaps")}


def _falco_events(traces: Path) -> list[AuditEvent]:
    out = []
    for f in sorted(traces.glob("*.json")):
        for line in f.read_text().splitlines():
            doc = json.loads(line) if line.strip() else None
            if isinstance(doc, dict) and doc.get("kind") == "Event":
                out.append(event_from_dict(doc))
    return out


def test_roundtrip_on_real_falco_events(shared_dir: Callable[[str], Path]) -> None:
    """For every identity in the captured Falco traces, the suggestion grants all it did and nothing denied."""
    events = _falco_events(shared_dir("conformance/audit/falco/trace_files"))
    usage = collect_usage(events)
    assert len(usage.requests) >= 4
    checked = 0
    for user, per in usage.requests.items():
        out = suggest_role(usage, user)
        idx = _index(out["manifest"]["items"])
        for o in per.values():
            assert idx.authorize(user_info(user), o.attrs).allowed is o.allowed, (user, o.attrs.display)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("user", ["nobody", SA])
def test_empty_or_unknown_identity_gives_an_empty_list(user: str) -> None:
    out = suggest_role([] if user == SA else app_log(), user)
    assert out["manifest"]["items"] == [] and out["allowed"] == [] and out["denied"] == []


def test_window_reports_its_own_bounds() -> None:
    usage = collect_usage(app_log()).within(1800)
    assert (usage.start, usage.end) == ("2026-11-20T10:30:00Z", "2026-11-20T11:00:00Z")
    assert collect_usage(app_log()).within(None).start == "2026-11-20T10:00:00.000000Z"
