"""Hostile audit Events for the fuzz tests: valid audit.k8s.io/v1 Events of the shapes the detections read,
and mutants guided by the typed Event description (`tests/fuzz/typed.py`, from upstream's Go types).

The bodies are typed too: an Event's `requestObject` / `responseObject` is the object of the request, so an
event that creates a Pod carries the Pod schema there, one that creates a ClusterRoleBinding the binding
schema, an exec the PodExecOptions shape. A mutant sets one to three fields anywhere in the event or its body
to a value of a wrong JSON type (`user` a string, `objectRef` a list, `requestURI` a number, `annotations` a
list, `responseStatus.code` a string, timestamps numbers, a body's `spec.containers` a number, a body
hundreds of levels deep or megabytes long...).

    event_log()        the valid events plus one to four mutated ones (unique auditIDs), in time order
    to_lines(events)   JSON lines, as the API server's log backend writes them
    to_event_list(evs) one pretty-printed EventList document, as the webhook backend posts it
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import typed
from tests.fuzz.manifests import BASE, to_yaml
from tests.fuzz.schema import Target, kind_schema, mutate, walk

NS = "clinical"
DEPTHS = (50, 200, 250)
"""Deep bodies stay within the 254 levels orjson writes: deeper ones reach a crash of the audit reader's
document path (`sources/auditlog._candidate_event`, exit 3) that is issue 12 req. 5's, fixed on its branch
(i12-bounds, "deep events counted in every shape"); raise to (50, 200, 400, 1000) once that is merged."""
T0 = "2026-11-27T10:00:00.000000Z"
RBAC_GROUP = "rbac.authorization.k8s.io"


def _event(n: int, verb: str, resource: str | None, *, uri: str, user: str = "jane@hospital.org",
           groups: tuple[str, ...] = ("system:authenticated",), code: int = 200, name: str | None = None,
           sub: str | None = None, group: str = "", ns: str | None = NS, level: str = "Request",
           decision: str = "allow", **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": f"fz-{n:04d}",
        "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
        "user": {"username": user, "uid": "u-1", "groups": list(groups), "extra": {"scopes": ["a"]}},
        "sourceIPs": ["192.0.2.1", "10.1.2.3"], "userAgent": "kubectl/v1.30.0 (linux/amd64)",
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": f"2026-11-27T10:00:{n:02d}.000000Z",
        "stageTimestamp": f"2026-11-27T10:00:{n:02d}.100000Z",
        "annotations": {"authorization.k8s.io/decision": decision,
                        "authorization.k8s.io/reason": "RBAC: allowed"},
    }
    if resource is not None:
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        for key, value in (("namespace", ns), ("name", name), ("subresource", sub), ("apiGroup", group)):
            if value:
                ref[key] = value
        ev["objectRef"] = ref
    ev.update(extra)
    return ev


def _privileged_pod() -> dict[str, Any]:
    pod = copy.deepcopy(BASE["Pod"])
    pod["metadata"]["namespace"] = NS
    spec = pod["spec"]
    spec["hostPID"] = True
    spec["containers"][0]["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    spec["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    return pod


def _binding(kind: str, role: str) -> dict[str, Any]:
    doc = copy.deepcopy(BASE[kind])
    doc["roleRef"]["name"] = role
    return doc


# (event, body kind of requestObject / responseObject or None)
BASES: tuple[tuple[dict[str, Any], str | None], ...] = (
    (_event(1, "create", "pods", sub="exec", name="ehr-0", level="Request",
            uri=f"/api/v1/namespaces/{NS}/pods/ehr-0/exec?command=sh&command=-c&command=curl+-u+admin%3Apw+"
                "http%3A%2F%2Fx&container=app&stdin=true&tty=true"), None),
    (_event(2, "create", "pods", sub="exec", name="ehr-0", uri=f"/api/v1/namespaces/{NS}/pods/ehr-0/exec",
            requestObject={"kind": "PodExecOptions", "apiVersion": "v1", "container": "app", "stdin": True,
                           "command": ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]}),
     "PodExecOptions"),
    (_event(3, "create", "clusterrolebindings", group=RBAC_GROUP, ns=None, name="fz-admin", code=201,
            level="RequestResponse", uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            requestObject=_binding("ClusterRoleBinding", "cluster-admin")), "ClusterRoleBinding"),
    (_event(4, "create", "roles", group=RBAC_GROUP, name="reader", code=201, level="RequestResponse",
            uri=f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles",
            requestObject=BASE["Role"] | {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
     "Role"),
    (_event(5, "create", "rolebindings", group=RBAC_GROUP, name="reader", code=201, level="RequestResponse",
            uri=f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings",
            requestObject=_binding("RoleBinding", "admin")), "RoleBinding"),
    (_event(6, "create", "pods", name="db-0", code=201, uri=f"/api/v1/namespaces/{NS}/pods",
            requestObject=_privileged_pod()), "Pod"),
    (_event(7, "create", "deployments", group="apps", name="web", code=201,
            uri=f"/apis/apps/v1/namespaces/{NS}/deployments", requestObject=BASE["Deployment"]), "Deployment"),
    (_event(8, "create", "configmaps", name="settings", code=201, uri=f"/api/v1/namespaces/{NS}/configmaps",
            requestObject=BASE["ConfigMap"] | {"data": {"ssn": "078-05-1120", "note": "MRN 12345678"}}),
     "ConfigMap"),
    (_event(9, "get", "secrets", name="db-creds", level="RequestResponse",
            uri=f"/api/v1/namespaces/{NS}/secrets/db-creds", responseObject=BASE["Secret"]), "Secret"),
    (_event(10, "list", "secrets", uri=f"/api/v1/namespaces/{NS}/secrets", user="system:serviceaccount:a:b",
            groups=("system:serviceaccounts",)), None),
    (_event(11, "create", "namespaces", ns=None, name="foo", code=201, user="system:anonymous",
            groups=("system:unauthenticated",), uri="/api/v1/namespaces?token=ghp_abc"), None),
    (_event(12, "get", "secrets", name="db", code=403, decision="forbid", uri=f"/api/v1/namespaces/{NS}/secrets/db",
            impersonatedUser={"username": "admin", "groups": ["system:masters"]}), None),
    (_event(13, "get", None, code=401, uri="/healthz", user="", groups=()), None),
    (_event(14, "delete", "events", name="e1", uri=f"/api/v1/namespaces/{NS}/events/e1"), None),
    (_event(15, "create", "serviceaccounts", sub="token", name="app", code=201,
            uri=f"/api/v1/namespaces/{NS}/serviceaccounts/app/token"), None),
)


def _root(body: str | None) -> dict[str, Any]:
    """The Event description with the body's schema at `requestObject` (or `responseObject` for a read)."""
    if body is None:
        return typed.EVENT
    schema = typed.POD_EXEC_OPTIONS if body == "PodExecOptions" else kind_schema(body)
    field = "responseObject" if body == "Secret" else "requestObject"
    return {**typed.EVENT, "properties": {**typed.EVENT["properties"], field: schema}}


@cache
def targets() -> tuple[Target, ...]:
    out = []
    for event, body in BASES:
        root = _root(body)
        out.append(Target.of(root, walk(root), event))
    return tuple(out)


@st.composite
def mutated_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    """One of the base events (as request number `n`) with one to three wrong-typed fields."""
    i = draw(st.integers(0, len(BASES) - 1))
    event = copy.deepcopy(BASES[i][0])
    event["auditID"] = f"fz-bad-{n}"
    mutate(draw, event, targets()[i], depths=DEPTHS)
    return event


@st.composite
def event_log(draw: st.DrawFn) -> list[Any]:
    """The valid events, with one to four mutated ones inserted at drawn places."""
    events: list[Any] = [copy.deepcopy(e) for e, _ in BASES]
    for n in range(draw(st.integers(1, 4))):
        events.insert(draw(st.integers(0, len(events))), draw(mutated_event(n)))
    return events


def to_lines(events: list[Any]) -> str:
    """One JSON document per line (the log backend's format)."""
    return "".join(json.dumps(e) + "\n" for e in events)


def to_event_list(events: list[Any]) -> str:
    """One pretty-printed EventList (the webhook backend's batch, or an EventList saved to a file)."""
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": events},
                      indent=1)


RBAC_MANIFESTS = to_yaml([BASE[k] for k in ("Namespace", "Role", "ClusterRole", "RoleBinding",
                                            "ClusterRoleBinding", "ServiceAccount")])
"""The RBAC objects `rbac unused` compares the log with."""
