"""A loopback Kubernetes API server for tests: the real wire shapes, a few objects, no cluster.

The real `kubernetes` client talks to it over HTTP on 127.0.0.1 (random port), so the live source is tested
end to end: discovery, paginated lists, expired continue tokens, per-resource denials.

Shapes, from upstream (kubernetes/kubernetes, read with the search tools, written here by hand):
* `/version`: `version.Info` (staging/src/k8s.io/apimachinery/pkg/version/types.go): major, minor,
  gitVersion, gitCommit, gitTreeState, buildDate, goVersion, compiler, platform.
* `/api`: `APIVersions` (metav1 types.go; api/discovery/api.json), `/apis`: `APIGroupList`
  (api/discovery/apis.json), `/api/v1` and `/apis/<group>/<version>`: `APIResourceList`
  (api/discovery/api__v1.json, apis__apps__v1.json): name (plural), singularName, namespaced, kind, verbs.
* Lists: `<Kind>List` with `apiVersion`, `metadata: ListMeta` (resourceVersion, continue,
  remainingItemCount) and `items` (api/openapi-spec/v3/api__v1_openapi.json, io.k8s.api.core.v1.PodList);
  items in a list carry no kind/apiVersion on the wire, exactly as the API server sends them.
* Errors: `Status` (metav1 types.go: kind Status, apiVersion v1, metadata {}, status "Failure", message,
  reason, details {name, group, kind}, code): 403 reason "Forbidden" with the apiserver's
  `<resource> is forbidden: User "…" cannot list resource …` message; 410 reason "Expired" for a continue
  token the server no longer honours, with the message of staging/src/k8s.io/apiserver/pkg/storage/etcd3/
  errors.go (`inconsistentContinue`) and an inconsistent continue token in the Status's metadata, as
  the etcd3 store returns it; 404 reason "NotFound".
* Writes (the respond commands): POST to a collection creates (201; 409 reason "AlreadyExists",
  `<plural>.<group> "<name>" already exists`); PATCH takes `application/strategic-merge-patch+json`,
  `application/merge-patch+json` (RFC 7386) and `application/json-patch+json` (RFC 6902), any other content
  type is 415 reason "UnsupportedMediaType"; PUT and PATCH bodies carrying `metadata.resourceVersion` that is
  not the stored one are 409 reason "Conflict" (`Operation cannot be fulfilled on <plural>.<group> "<name>":
  the object has been modified; please apply your changes to the latest version and try again`, from
  apimachinery's errors.NewConflict and the registry's optimistic-concurrency message); DELETE answers the
  object (200) or 404, or 409 when DeleteOptions.preconditions (uid, resourceVersion) do not hold;
  `POST pods/<name>/eviction` (policy/v1 Eviction) answers a Success Status with 201, or 429 reason
  "TooManyRequests" with a DisruptionBudget cause when a PodDisruptionBudget would be violated
  (pkg/registry/core/pod/storage/eviction.go); `GET pods/<name>/log` answers text/plain (`container`,
  `previous`, `limitBytes`). `dryRun=All` validates and answers without storing. Strategic merge here is
  merge patch plus the list directives the respond commands use (`$patch: delete` / `$retainKeys` are not
  needed); lists whose Go type has a patchMergeKey (containers by name, ...) are replaced, which is what
  strategic merge does for the label/annotation/replicas/unschedulable fields the commands patch.
* Selectors: list `labelSelector` (equality `k=v`, `k!=v`, `k`, `!k`, comma-joined) and `fieldSelector`
  (equality on dotted paths, e.g. `spec.nodeName=node-7`, `involvedObject.name=app`).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# (group, version, plural, kind, namespaced): the kinds this server serves (a subset of a real cluster).
RESOURCES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "nodes", "Node", False),
    ("", "v1", "pods", "Pod", True),
    ("", "v1", "podtemplates", "PodTemplate", True),
    ("", "v1", "replicationcontrollers", "ReplicationController", True),
    ("", "v1", "services", "Service", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True),
    ("", "v1", "configmaps", "ConfigMap", True),
    ("", "v1", "secrets", "Secret", True),
    ("", "v1", "events", "Event", True),
    ("apps", "v1", "deployments", "Deployment", True),
    ("apps", "v1", "replicasets", "ReplicaSet", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True),
    ("apps", "v1", "daemonsets", "DaemonSet", True),
    ("batch", "v1", "jobs", "Job", True),
    ("batch", "v1", "cronjobs", "CronJob", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
)
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list."
)


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A metav1.Status failure body, as the apiserver writes it."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


@dataclass
class FakeCluster:
    """What the server serves and how it misbehaves; tests change it between requests.

    `objects`: full objects (with kind/apiVersion; stripped from list items on the wire). `forbidden`:
    plurals whose list answers 403. `expire_once`: plurals whose first continued request answers 410.
    `requests`: every (method, path, query) seen, so tests can prove the client only reads.
    """

    objects: list[dict[str, Any]] = field(default_factory=list)
    git_version: str = "v1.31.2"
    forbidden: set[str] = field(default_factory=set)
    expire_once: set[str] = field(default_factory=set)
    repeat_token: set[str] = field(default_factory=set)
    """Plurals whose lists always answer the same continue token (a broken server)."""
    null_items: set[str] = field(default_factory=set)
    """Plurals whose lists answer `"items": null`."""
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    resource_version: int = 1000
    lists: dict[str, int] = field(default_factory=dict)
    """How many list requests (pages) each plural answered."""
    writes: list[tuple[str, str, str, Any]] = field(default_factory=list)
    """Every write as (method, path, content type, decoded body), for tests to assert the exact requests."""
    logs: dict[tuple[str, str, str, bool], str | bytes] = field(default_factory=dict)
    """Container logs by (namespace, pod, container, previous); bytes are served as they are."""
    pdb_blocked: set[tuple[str, str]] = field(default_factory=set)
    """(namespace, pod) pairs whose eviction a PodDisruptionBudget refuses (429)."""
    conflict_once: set[tuple[str, str]] = field(default_factory=set)
    """(plural, name) whose next write answers 409 Conflict (another writer got there first)."""
    delay: float = 0.0
    """Seconds every request waits before answering (to observe concurrency)."""
    _cache: dict[tuple[str, str | None, int], list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def selected(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """The objects of `kind` (in `namespace`) in list order; cached until objects change (the benchmark
        pages through 20k objects: the server must not be what is measured)."""
        key = (kind, namespace, len(self.objects))
        cached = self._cache.get(key)
        if cached is None:
            cached = [o for o in self.objects if o.get("kind") == kind
                      and (namespace is None or o["metadata"].get("namespace") == namespace)]
            cached.sort(key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"].get("name") or ""))
            self._cache[key] = cached
        return cached

    def add(self, *docs: dict[str, Any]) -> None:
        for doc in docs:
            meta = doc.setdefault("metadata", {})
            self.resource_version += 1
            meta.setdefault("resourceVersion", str(self.resource_version))
            meta.setdefault("uid", f"uid-{self.resource_version}")
            self.objects.append(doc)
        self._cache.clear()

    def find(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in self.objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") == kind and meta.get("name") == name and (namespace is None
                                                                         or meta.get("namespace") == namespace):
                return obj
        return None

    def remove(self, obj: dict[str, Any]) -> None:
        self.objects = [o for o in self.objects if o is not obj]
        self._cache.clear()

    def replace(self, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        self.resource_version += 1
        new.setdefault("metadata", {})["resourceVersion"] = str(self.resource_version)
        self.objects = [new if o is old else o for o in self.objects]
        self._cache.clear()
        return new


def _groups() -> dict[str, list[tuple[str, str, str, str, bool]]]:
    out: dict[str, list[tuple[str, str, str, str, bool]]] = {}
    for res in RESOURCES:
        out.setdefault(f"{res[0]}/{res[1]}" if res[0] else res[1], []).append(res)
    return out


def _resource_list(group_version: str, resources: list[tuple[str, str, str, str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": [
            {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
             "verbs": _VERBS, "storageVersionHash": "x"}
            for _, _, plural, kind, namespaced in resources
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    cluster: FakeCluster
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, code: int, body: Any) -> None:
        if self.cluster.delay:
            time.sleep(self.cluster.delay)
        text = isinstance(body, (str, bytes))
        data = body if isinstance(body, bytes) else body.encode() if text else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.cluster.requests.append(("GET", url.path, query))
        code, body = self._route(url.path.rstrip("/"), query)
        self._send(code, body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _write(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            body = self._body()
        except ValueError:
            self.cluster.requests.append((self.command, url.path, query))
            self._send(400, status(400, "BadRequest", "the request body is not JSON"))
            return
        with self.cluster._lock:
            self.cluster.requests.append((self.command, url.path, query))
            self.cluster.writes.append((self.command, url.path, ctype, body))
            code, answer = self._route_write(self.command, url.path.rstrip("/"), query, ctype, body)
        self._send(code, answer)

    do_POST = do_PUT = do_PATCH = do_DELETE = _write

    def _resolve(self, path: str) -> tuple[tuple[str, str, str, str, bool], str | None, str | None, str | None] | None:
        """(resource, namespace, name, subresource) for an API path, or None when it names no resource."""
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        groups = _groups()
        if gv not in groups or not rest:
            return None
        by_plural = {r[2]: r for r in groups[gv]}
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in by_plural:
            namespace, rest = rest[1], rest[2:]
        if rest[0] not in by_plural or len(rest) > 3:
            return None
        res = by_plural[rest[0]]
        return res, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None

    def _route_write(self, method: str, path: str, query: dict[str, list[str]], ctype: str,
                     body: Any) -> tuple[int, dict[str, Any]]:
        resolved = self._resolve(path)
        if resolved is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        res, namespace, name, sub = resolved
        group, _version, plural, kind, _namespaced = res
        qualified = f"{plural}.{group}" if group else plural
        dry = (query.get("dryRun") or [""])[0] == "All"
        cluster = self.cluster
        if plural in cluster.forbidden:
            return 403, status(403, "Forbidden", f'{plural} is forbidden: User "system:serviceaccount:scan:kubehipaa" '
                               f'cannot {method.lower()} resource "{plural}" in API group "{group}"',
                               {"group": group, "kind": plural})
        if method == "POST" and name is None:
            if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
                return 400, status(400, "BadRequest", "the object has no metadata")
            new_name = str(body["metadata"].get("name") or "")
            if cluster.find(kind, namespace, new_name) is not None:
                return 409, status(409, "AlreadyExists", f'{qualified} "{new_name}" already exists',
                                   {"name": new_name, "group": group, "kind": plural})
            doc = copy.deepcopy(body)
            doc["kind"], doc["apiVersion"] = kind, f"{group}/{_version}" if group else _version
            if namespace is not None:
                doc["metadata"]["namespace"] = namespace
            doc["metadata"].setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            if not dry:
                cluster.add(doc)
            return 201, doc
        if name is None:
            return 405, status(405, "MethodNotAllowed", f"the server does not allow this method on {qualified}")
        if sub == "eviction" and method == "POST" and plural == "pods":
            pod = cluster.find("Pod", namespace, name)
            if pod is None:
                return 404, status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
            if (namespace or "", name) in cluster.pdb_blocked:
                gone = status(429, "TooManyRequests",
                              "Cannot evict pod as it would violate the pod's disruption budget.",
                              {"causes": [{"reason": "DisruptionBudget", "message":
                                           "The disruption budget app-pdb needs 1 healthy pods and has 1 currently"}]})
                return 429, gone
            if not dry:
                cluster.remove(pod)
            return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
        if sub is not None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        current = cluster.find(kind, namespace, name)
        if current is None:
            return 404, status(404, "NotFound", f'{qualified} "{name}" not found',
                               {"name": name, "group": group, "kind": plural})
        if method == "DELETE":
            # DeleteOptions.preconditions (uid, resourceVersion): a mismatch is 409 Conflict with the message of
            # apiserver/pkg/storage/interfaces.go Preconditions.Check, inside NewConflict's wording
            pre = body.get("preconditions") if isinstance(body, dict) else None
            for key, shown in (("uid", "UID"), ("resourceVersion", "ResourceVersion")) if isinstance(pre, dict) else ():
                if pre.get(key) and str(pre[key]) != str(current["metadata"].get(key)):
                    return 409, status(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": '
                                       f"Precondition failed: {shown} in precondition: {pre[key]}, {shown} in "
                                       f"object meta: {current['metadata'].get(key)}",
                                       {"name": name, "group": group, "kind": plural})
            if not dry:
                cluster.remove(current)
            return 200, current
        conflict = status(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": the object has '
                          "been modified; please apply your changes to the latest version and try again",
                          {"name": name, "group": group, "kind": plural})
        if (plural, name) in cluster.conflict_once:
            cluster.conflict_once.discard((plural, name))
            return 409, conflict
        if method == "PUT":
            new = copy.deepcopy(body) if isinstance(body, dict) else None
            if new is None:
                return 400, status(400, "BadRequest", "the body is not an object")
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                return 400, status(400, "BadRequest", "a merge patch must be a JSON object")
            new = merge_patch(copy.deepcopy(current), body)
        elif ctype == "application/json-patch+json":
            try:
                new = json_patch(copy.deepcopy(current), body)
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                return 422, status(422, "Invalid", f"the JSON patch could not be applied: {exc}")
        else:
            return 415, status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json")
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if wanted and str(wanted) != str(current["metadata"].get("resourceVersion")):
            return 409, conflict
        new["kind"], new["apiVersion"] = current["kind"], current["apiVersion"]
        if dry:
            return 200, new
        return 200, cluster.replace(current, new)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        groups = _groups()
        if path == "/version":
            major, minor = self.cluster.git_version.lstrip("v").split(".")[:2]
            return 200, {"major": major, "minor": minor, "gitVersion": self.cluster.git_version,
                         "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                         "goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                 "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                for gv in groups if "/" in gv]}
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        if gv not in groups:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return 200, _resource_list(gv, groups[gv])
        namespace = None
        by_plural = {r[2]: r for r in groups[gv]}
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in by_plural:
            namespace, rest = rest[1], rest[2:]
        if len(rest) == 3 and rest[0] == "pods" and rest[2] == "log" and namespace is not None:
            return self._log(namespace, rest[1], query)
        if len(rest) == 2 and rest[0] in by_plural:
            return self._get(rest[0], rest[1], by_plural[rest[0]], namespace)
        if len(rest) != 1 or rest[0] not in by_plural:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        return self._list(by_plural[rest[0]], namespace, query)

    def _log(self, namespace: str, pod: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """A container's log as text/plain (the handler sends a str body as text)."""
        obj = self.cluster.find("Pod", namespace, pod)
        if obj is None:
            return 404, status(404, "NotFound", f'pods "{pod}" not found', {"name": pod, "kind": "pods"})
        containers = [c.get("name") for c in (obj.get("spec") or {}).get("containers") or []]
        container = (query.get("container") or [None])[0]
        if container is None:
            if len(containers) != 1:
                return 400, status(400, "BadRequest", f"a container name must be specified for pod {pod}, "
                                   f"choose one of: [{' '.join(str(c) for c in containers)}]")
            container = containers[0]
        previous = (query.get("previous") or ["false"])[0] == "true"
        text = self.cluster.logs.get((namespace, pod, str(container), previous))
        if text is None:
            if previous:
                return 400, status(400, "BadRequest", f'previous terminated container "{container}" in pod '
                                   f'"{pod}" not found')
            text = ""
        limit = (query.get("limitBytes") or [""])[0]
        data = text if isinstance(text, bytes) else text.encode()
        if limit.isdigit():
            data = data[: int(limit)]
        return 200, data

    def _get(self, plural: str, name: str, res: tuple[str, str, str, str, bool],
             namespace: str | None = None) -> tuple[int, dict[str, Any]]:
        if plural in self.cluster.forbidden:
            return 403, status(403, "Forbidden", f'{plural} "{name}" is forbidden: User "system:serviceaccount:'
                               f'scan:kubehipaa" cannot get resource "{plural}" in API group "{res[0]}" at the '
                               "cluster scope", {"name": name, "group": res[0], "kind": plural})
        obj = self.cluster.find(res[3], namespace if res[4] else None, name)
        if obj is not None:
            return 200, obj
        return 404, status(404, "NotFound", f'{plural} "{name}" not found',
                           {"name": name, "group": res[0], "kind": plural})

    def _list(self, res: tuple[str, str, str, str, bool], namespace: str | None,
              query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        group, version, plural, kind, _namespaced = res
        cluster = self.cluster
        cluster.lists[plural] = cluster.lists.get(plural, 0) + 1
        if plural in cluster.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return 403, status(403, "Forbidden", f'{plural} is forbidden: User "system:serviceaccount:scan:'
                               f'kubehipaa" cannot list resource "{plural}" in API group "{group}" {scope}',
                               {"group": group, "kind": plural})
        token = (query.get("continue") or [""])[0]
        if token and plural in cluster.expire_once:
            cluster.expire_once.discard(plural)
            gone = status(410, "Expired", EXPIRED_MESSAGE)
            # the apiserver hands back an "inconsistent" continue token in the Status's ListMeta; a client
            # that wants a consistent list (ours) ignores it and starts over
            gone["metadata"] = {"continue": f"inconsistent-{token}"}
            return 410, gone
        items = cluster.selected(kind, namespace)
        label_sel = (query.get("labelSelector") or [""])[0]
        field_sel = (query.get("fieldSelector") or [""])[0]
        if label_sel or field_sel:
            items = [o for o in items if labels_match(o, label_sel) and fields_match(o, field_sel)]
        start = int(token) if token.isdigit() else 0
        limit = int((query.get("limit") or ["0"])[0])
        end = start + limit if limit > 0 else len(items)
        page = items[start:end]
        meta: dict[str, Any] = {"resourceVersion": str(cluster.resource_version)}
        if end < len(items):
            meta["continue"] = str(end)
            meta["remainingItemCount"] = len(items) - end
        if plural in cluster.repeat_token:
            meta["continue"] = "again"
        gv = f"{group}/{version}" if group else version
        # On the wire, list items carry no kind/apiVersion: the list's own do.
        wire = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
        return 200, {"kind": f"{kind}List", "apiVersion": gv, "metadata": meta,
                     "items": None if plural in cluster.null_items else wire}


class KubeAPIServer:
    """The server on 127.0.0.1:<random port>, in a daemon thread; `url` is what a kubeconfig points at."""

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self.cluster = cluster or FakeCluster()
        handler = type("Handler", (_Handler,), {"cluster": self.cluster})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> KubeAPIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, path: Any, context: str = "test-ctx") -> Any:
        """Write a kubeconfig for this server (token auth, plain HTTP) to `path` and return it."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "loop", "cluster": {"server": self.url}}],
            "users": [{"name": "scanner", "user": {"token": "test-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "loop", "user": "scanner"}}],
        }
        path.write_text(json.dumps(config))
        return path


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test); raises on a failed test or a missing path."""
    if not isinstance(ops, list):
        raise ValueError("a JSON patch is a list of operations")
    for op in ops:
        parts = _pointer(op["path"])
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent[last]
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                del parent[last]
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(last), op["value"])
                else:
                    parent[int(last)] = op["value"]
            else:
                if kind == "replace" and last not in parent:
                    raise KeyError(op["path"])
                parent[last] = op["value"]
        else:
            raise ValueError(f"unsupported op {kind}")
    return doc


def labels_match(obj: dict[str, Any], selector: str) -> bool:
    """Equality-based label selector terms, comma-joined: k=v, k==v, k!=v, k, !k."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def fields_match(obj: dict[str, Any], selector: str) -> bool:
    """Equality field selector terms on dotted paths (k=v, k!=v), comma-joined."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        current: Any = obj
        for part in key.lstrip("=").split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current) if current is not None else "") == value.lstrip("=") and negate:
            return False
        if (str(current) if current is not None else "") != value.lstrip("=") and not negate:
            return False
    return True
