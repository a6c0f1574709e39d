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
"""

from __future__ import annotations

import json
import threading
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
    ("apps", "v1", "deployments", "Deployment", True),
    ("apps", "v1", "replicasets", "ReplicaSet", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True),
    ("apps", "v1", "daemonsets", "DaemonSet", True),
    ("batch", "v1", "jobs", "Job", True),
    ("batch", "v1", "cronjobs", "CronJob", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
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
    _cache: dict[tuple[str, str | None, int], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

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

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.cluster.requests.append(("GET", url.path, query))
        code, body = self._route(url.path.rstrip("/"), query)
        self._send(code, body)

    def _refuse(self) -> None:
        url = urlsplit(self.path)
        self.cluster.requests.append((self.command, url.path, {}))
        self._send(405, status(405, "MethodNotAllowed", "the test server is read-only"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

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
        if len(rest) == 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        by_plural = {r[2]: r for r in groups[gv]}
        if len(rest) == 2 and rest[0] == "namespaces" and namespace is None and gv == "v1":
            return self._get("namespaces", rest[1], by_plural["namespaces"])
        if len(rest) != 1 or rest[0] not in by_plural:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        return self._list(by_plural[rest[0]], namespace, query)

    def _get(self, plural: str, name: str, res: tuple[str, str, str, str, bool]) -> tuple[int, dict[str, Any]]:
        if plural in self.cluster.forbidden:
            return 403, status(403, "Forbidden", f'{plural} "{name}" is forbidden: User "system:serviceaccount:'
                               f'scan:kubehipaa" cannot get resource "{plural}" in API group "{res[0]}" at the '
                               "cluster scope", {"name": name, "group": res[0], "kind": plural})
        for obj in self.cluster.objects:
            if obj.get("kind") == res[3] and obj["metadata"].get("name") == name:
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
