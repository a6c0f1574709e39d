"""`respond evidence`: preserve what a pod is and was, read-only, into a sealed bundle of the incident folder.

What is collected (GETs only; every request and its status code is listed in the bundle's `requests.json`):
the pod (spec and status), its owner chain (ownerReferences followed to the top, each owner's uid checked
against the reference: a recreated owner is named, not silently taken for the original), the pod's events,
the logs of every container (init, regular and ephemeral ones; current and previous), the image IDs the
kubelet ran, the service account's effective RBAC grants (RBAC engine over the cluster's roles and bindings),
the NetworkPolicies that apply and the pod's allowed connections (NetworkPolicy engine, `netcheck`), and the
node. A kind the responder may not read (403) is stated in the bundle and its summary and makes the command
exit 2, but never hides what could be read.

Layout, so one incident folder holds many pods and many collections: `DIR/pods/<ns>/<pod>/<UTC stamp>/`
with `MANIFEST.sha256` (see `bundle`); `DIR/actions.jsonl` records the collection with the manifest's hash.

Logs are evidence: they are kept as the kubelet served them (size-capped: `limitBytes` on the request and a
hard cap on what is read, truncation recorded), unless `--redact-logs`. `summary.md` is for people and
passes once through `kubehipaa.redaction`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kubehipaa.errors import InputError
from kubehipaa.redaction import redact_text
from kubehipaa.respond.actions import ActionLog
from kubehipaa.respond.api import ApiAnswer, ApiRequest, ResponderClient, list_pages, resource_path
from kubehipaa.respond.bundle import BundleWriter, new_bundle_folder, safe_name
from kubehipaa.respond.runner import ActionRunner

DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024
MAX_OWNERS = 20
"""Owner chains are 2-3 deep in practice; the bound keeps a cyclic or fan-out chain finite."""
SUMMARY_TAIL_LINES = 5
SUMMARY_LINE_CHARS = 300
SUMMARY_ROWS = 100
"""The summary is one page for people: long lists are cut there (the JSON files keep everything)."""
RBAC = "rbac.authorization.k8s.io/v1"

# Kinds that own pods in a stock cluster (plural, namespaced); any other owner kind is looked up by discovery.
_OWNER_KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("v1", "ReplicationController"): ("replicationcontrollers", True),
    ("v1", "Node"): ("nodes", False),  # a static pod's mirror is owned by its Node
}


_SIZE = re.compile(r"^(\d{1,15})\s*(Ki|Mi|Gi|k|K|M|G|)B?$")
_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "": 1}


def parse_size(text: str) -> int:
    """`10Mi`, `512Ki`, `5MB`, `2048` → bytes (binary Ki/Mi/Gi, decimal k/M/G, optional trailing B)."""
    m = _SIZE.match(text.strip())
    if m is None or int(m.group(1)) <= 0:
        raise InputError(f"--max-log-bytes {text!r}: give a positive size such as 1048576, 512Ki, 10Mi or 5MB")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A read the API refused (403) or could not answer; stated in the bundle, never mistaken for absence."""

    what: str
    path: str
    code: int | None
    reason: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "path": self.path, "code": self.code, "reason": self.reason,
                "message": self.message}


@dataclass
class Reader:
    """Read-only GETs through the responder's client; each request's path and status code is kept."""

    client: ResponderClient
    requests: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    def call(self, what: str, path: str, query: Sequence[tuple[str, str]] = (), *, accept: str = "application/json",
             max_bytes: int | None = None) -> ApiAnswer:
        answer = self.client.call(ApiRequest("GET", path, query=tuple(query)), accept=accept, max_bytes=max_bytes)
        self.requests.append({"what": what, "request": ApiRequest("GET", path, query=tuple(query)).url(),
                              "code": answer.code})
        return answer

    def refused(self, what: str, path: str, answer: ApiAnswer) -> Unreadable:
        item = Unreadable(what, path, answer.code, answer.reason, answer.message)
        self.unreadable.append(item)
        return item

    def get(self, what: str, path: str) -> dict[str, Any] | Unreadable | None:
        """The object, None when it does not exist (404), or Unreadable (403, other errors)."""
        answer = self.call(what, path)
        if answer.code == 404:
            return None
        if answer.ok and isinstance(answer.body, dict):
            return answer.body
        return self.refused(what, path, answer)

    def items(self, what: str, path: str, query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]] | Unreadable:
        """Every item of a list (all pages, kind/apiVersion filled, restarted on 410), or Unreadable."""
        items, failed = list_pages(lambda request: self.call(what, request.path, request.query), path, query)
        return self.refused(what, path, failed) if failed is not None else items


@dataclass(slots=True)
class EvidenceOptions:
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    redact_logs: bool = False


@dataclass(slots=True)
class Collected:
    """What `collect` wrote: the bundle folder (relative to the incident folder), its files and gaps."""

    folder: Path
    relpath: str
    files: list[str]
    manifest_sha256: str
    unreadable: list[Unreadable]
    notes: list[str]


# ---------------------------------------------------------------------------------------------- collection
def _owner_path(reader: Reader, ref: dict[str, Any], namespace: str) -> str | None:
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    known = _OWNER_KINDS.get((api_version, kind))
    if known is None:  # a custom controller: ask discovery where its kind is served
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        answer = reader.call(f"discovery {api_version}", base)
        for res in (answer.body or {}).get("resources") or [] if isinstance(answer.body, dict) else []:
            if isinstance(res, dict) and res.get("kind") == kind and "/" not in str(res.get("name")):
                known = (str(res["name"]), bool(res.get("namespaced")))
                break
    if known is None:
        return None
    plural, namespaced = known
    return resource_path(api_version, plural, namespace if namespaced else None, str(ref.get("name") or ""))


def owner_chain(reader: Reader, pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Each owner reached from the pod's ownerReferences (breadth first, bounded, cycle-safe): the reference,
    which object referred to it, and the owner object, or why it is not there."""
    namespace = str(pod["metadata"].get("namespace") or "")
    out: list[dict[str, Any]] = []
    queue: list[tuple[str, dict[str, Any]]] = [(f"Pod/{pod['metadata'].get('name')}", r)
                                               for r in pod["metadata"].get("ownerReferences") or []]
    seen: set[str] = {str(pod["metadata"].get("uid") or "")}
    while queue and len(out) < MAX_OWNERS:
        child, ref = queue.pop(0)
        if not isinstance(ref, dict):
            continue
        key = str(ref.get("uid") or f"{ref.get('apiVersion')}/{ref.get('kind')}/{ref.get('name')}")
        if key in seen:
            continue
        seen.add(key)
        entry: dict[str, Any] = {"ownerOf": child, "reference": ref}
        path = _owner_path(reader, ref, namespace)
        if path is None:
            entry["status"] = "unknown kind (not served by this API server)"
            out.append(entry)
            continue
        obj = reader.get(f"owner {ref.get('kind')}/{ref.get('name')}", path)
        if isinstance(obj, Unreadable):
            entry["status"] = f"not readable ({obj.code} {obj.reason})"
        elif obj is None:
            entry["status"] = "not found (deleted)"
        else:
            uid = (obj.get("metadata") or {}).get("uid")
            entry["status"] = "found" if not ref.get("uid") or uid == ref.get("uid") else \
                f"uid mismatch: the object now at this name has uid {uid} (the owner was recreated)"
            entry["object"] = obj
            if entry["status"] == "found":
                queue.extend((f"{obj.get('kind') or ref.get('kind')}/{ref.get('name')}", r)
                             for r in (obj.get("metadata") or {}).get("ownerReferences") or [])
        out.append(entry)
    return out


def containers_of(pod: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, type) of every container: init, regular and ephemeral (a `kubectl debug` shell is evidence)."""
    spec = pod.get("spec") or {}
    out: list[tuple[str, str]] = []
    for key, kind in (("initContainers", "init"), ("containers", "container"),
                      ("ephemeralContainers", "ephemeral")):
        for c in spec.get(key) or []:
            if isinstance(c, dict) and c.get("name"):
                out.append((str(c["name"]), kind))
    return out


def collect_log(reader: Reader, namespace: str, pod: str, container: str, previous: bool,
                max_bytes: int) -> dict[str, Any]:
    """One log: `limitBytes` asks the kubelet for at most max+1 bytes (the API allows it to send "slightly
    more or less"), and the client reads at most max+1 whatever comes: more than max means truncated."""
    path = resource_path("v1", "pods", namespace, pod, "log")
    query = [("container", container), ("limitBytes", str(max_bytes + 1))]
    if previous:
        query.append(("previous", "true"))
    what = f"log {container}{' (previous)' if previous else ''}"
    answer = reader.call(what, path, query, accept="text/plain", max_bytes=max_bytes + 1)
    if answer.ok:
        data = answer.raw  # byte for byte: evidence is not re-encoded
        truncated = len(data) > max_bytes
        return {"status": "collected", "data": data[:max_bytes], "truncated": truncated,
                "bytes": min(len(data), max_bytes)}
    if previous and answer.code == 400:  # the API's answer when no earlier instance of the container exists
        return {"status": "absent", "reason": "no previous (terminated) instance of this container"}
    item = reader.refused(what, path, answer)
    return {"status": f"not readable ({item.code} {item.reason})".replace(" )", ")"), "message": item.message}


def image_ids(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """What the kubelet actually ran: the image as named in the spec and the imageID (with the digest)."""
    status = pod.get("status") or {}
    out = []
    for key, kind in (("initContainerStatuses", "init"), ("containerStatuses", "container"),
                      ("ephemeralContainerStatuses", "ephemeral")):
        for cs in status.get(key) or []:
            if not isinstance(cs, dict):
                continue
            image_id = str(cs.get("imageID") or "")
            digest = image_id.rpartition("@")[2] if "@" in image_id else ""
            out.append({"container": cs.get("name"), "type": kind, "image": cs.get("image"),
                        "imageID": image_id, "digest": digest, "containerID": cs.get("containerID"),
                        "restartCount": cs.get("restartCount")})
    return out


def rbac_grants(reader: Reader, namespace: str, sa_name: str) -> dict[str, Any]:
    """The service account's effective grants, cluster-wide and per namespace, by the RBAC engine. When a
    cluster-wide list is refused, the pod's namespace is read instead and the gap is stated."""
    from kubehipaa.engines.rbac import RbacIndex, service_account_username, user_info

    objects: list[dict[str, Any]] = []
    gaps: list[str] = []
    for plural, namespaced in (("clusterroles", False), ("clusterrolebindings", False), ("roles", True),
                               ("rolebindings", True)):
        got = reader.items(f"rbac {plural}", resource_path(RBAC, plural))
        if isinstance(got, Unreadable) and namespaced:
            gaps.append(f"{plural} across namespaces not readable ({got.code}); only namespace {namespace} read")
            got = reader.items(f"rbac {plural} in {namespace}", resource_path(RBAC, plural, namespace))
        if isinstance(got, Unreadable):
            gaps.append(f"{plural} not readable ({got.code} {got.reason})")
            continue
        objects.extend(got)
    username = service_account_username(namespace, sa_name)
    user = user_info(username)
    index = RbacIndex.from_objects(objects)
    grants: list[dict[str, Any]] = []
    namespaces = sorted({str((o.get("metadata") or {}).get("namespace") or "") for o in objects
                         if o.get("kind") == "RoleBinding"} | {namespace})
    for scope in ["", *namespaces]:
        for rule, grant in index.effective_rules(user, scope):
            binding = grant.binding
            if binding is None or binding.namespace != scope:
                continue  # cluster-wide rules are listed once, under scope ""
            grants.append({"scope": scope or "cluster-wide", "binding": binding.display,
                           "role": f"{grant.role_kind} {grant.role_name}", "ruleIndex": grant.rule_index,
                           "rule": rule.to_dict(), "subject": grant.subject.display if grant.subject else "",
                           "assumedBuiltinRole": grant.assumed_role})
    return {"serviceAccount": sa_name, "username": username, "groups": list(user.groups), "grants": grants,
            "gaps": gaps, "complete": not gaps}


def network_view(reader: Reader, pod: dict[str, Any]) -> dict[str, Any]:
    """The NetworkPolicies that select the pod, its allowed connections and the rules still open
    (`netcheck.pod_network` over the cluster's Namespaces, Pods, NetworkPolicies, Services and Ingresses)."""
    from kubehipaa.respond.netcheck import pod_network

    meta = pod.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    objects: list[dict[str, Any]] = []
    gaps: list[str] = []
    for api_version, plural in (("v1", "namespaces"), ("v1", "pods"), ("networking.k8s.io/v1", "networkpolicies"),
                                ("v1", "services"), ("networking.k8s.io/v1", "ingresses")):
        got: list[dict[str, Any]] | Unreadable = reader.items(plural, resource_path(api_version, plural))
        if isinstance(got, Unreadable) and plural != "namespaces":
            gaps.append(f"{plural} across namespaces not readable ({got.code}); only namespace {namespace} read: "
                        "connections with other namespaces are not complete")
            got = reader.items(f"{plural} in {namespace}", resource_path(api_version, plural, namespace))
        if isinstance(got, Unreadable):
            gaps.append(f"{plural} not readable ({got.code} {got.reason}): the allowed connections are not "
                        "complete")
            continue
        objects.extend(got)
    # the pod as collected, even when the list did not show it (or showed a newer pod of the same name)
    objects = [o for o in objects if not (o.get("kind") == "Pod" and (o.get("metadata") or {}).get("name") == name
                                          and (o.get("metadata") or {}).get("namespace") == namespace)]
    objects.append(pod)
    out: dict[str, Any] = {"gaps": gaps}
    try:
        result = pod_network(objects, namespace, name)
    except InputError as exc:  # the engine cannot use the pod: state it, keep the rest of the bundle
        out["unavailable"] = str(exc)
        out["policies"] = [o for o in objects if o.get("kind") == "NetworkPolicy"
                           and (o.get("metadata") or {}).get("namespace") == namespace]
        return out
    selecting = set(result.ingress_policies) | set(result.egress_policies)
    out["policies"] = [o for o in objects if o.get("kind") == "NetworkPolicy"
                       and f"{(o.get('metadata') or {}).get('namespace')}/{(o.get('metadata') or {}).get('name')}"
                       in selecting]
    out["verification"] = result.as_record()
    out["statement"] = result.statement()
    return out


def node_info(reader: Reader, pod: dict[str, Any]) -> dict[str, Any]:
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node:
        return {"status": "not scheduled on a node"}
    got = reader.get(f"node {node}", resource_path("v1", "nodes", None, node))
    if isinstance(got, Unreadable):
        return {"name": node, "status": f"not readable ({got.code} {got.reason})", "message": got.message}
    if got is None:
        return {"name": node, "status": "not found (the node was removed)"}
    return {"name": node, "status": "collected", "node": got}


# ---------------------------------------------------------------------------------------------- writing
def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _stamp(now: dt.datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def collect(client: ResponderClient, incident: Path, namespace: str, name: str,
            options: EvidenceOptions, *, now: dt.datetime | None = None) -> Collected:
    """Read everything, then write and seal the bundle and record the collection in the action log.

    Nothing is written when the pod itself cannot be read (there is no evidence to seal)."""
    now = now or dt.datetime.now(dt.UTC)
    reader = Reader(client)
    pod_path = resource_path("v1", "pods", namespace, name)
    pod = reader.get(f"pod {name}", pod_path)
    if pod is None:
        raise InputError(f"pod {namespace}/{name} not found")
    if isinstance(pod, Unreadable):
        raise InputError(f"pod {namespace}/{name} not readable: {pod.code} {pod.reason}: {pod.message}")
    pod.setdefault("kind", "Pod")
    pod.setdefault("apiVersion", "v1")

    owners = owner_chain(reader, pod)
    events = reader.items("events", resource_path("v1", "events", namespace), [
        ("fieldSelector", f"involvedObject.kind=Pod,involvedObject.name={name},involvedObject.namespace={namespace}")])
    logs: list[tuple[str, str, bool, dict[str, Any]]] = []
    for container, kind in containers_of(pod):
        for previous in (False, True):
            logs.append((container, kind, previous,
                         collect_log(reader, namespace, name, container, previous, options.max_log_bytes)))
    images = image_ids(pod)
    spec = pod.get("spec") or {}
    # serviceAccount is the deprecated alias the API still fills in; "default" is what admission assigns
    sa_name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    rbac = rbac_grants(reader, namespace, sa_name)
    network = network_view(reader, pod)
    node = node_info(reader, pod)

    parent = incident / "pods" / safe_name(namespace) / safe_name(name)
    folder = new_bundle_folder(parent, _stamp(now))
    relpath = folder.relative_to(incident).as_posix()
    writer = BundleWriter(folder)
    writer.write("pod.json", _json(pod))
    writer.write("owners.json", _json(owners))
    writer.write("events.json", _json(events.to_dict() | {"status": "not readable"}
                                      if isinstance(events, Unreadable) else events))
    log_index = []
    for container, kind, previous, result in logs:
        entry = {"container": container, "type": kind, "previous": previous,
                 **{k: v for k, v in result.items() if k != "data"}}
        if "data" in result:
            data: bytes = result["data"]
            if options.redact_logs:
                data = redact_text(data.decode("utf-8", errors="replace")).encode("utf-8")
            rel = f"logs/{safe_name(container)}{'.previous' if previous else ''}.log"
            writer.write(rel, data)
            entry["file"] = rel
            entry["redacted"] = options.redact_logs
        log_index.append(entry)
    writer.write("logs.json", _json({"maxBytes": options.max_log_bytes, "redacted": options.redact_logs,
                                     "logs": log_index}))
    writer.write("images.json", _json(images))
    writer.write("rbac.json", _json(rbac))
    writer.write("network.json", _json(network))
    writer.write("node.json", _json(node))
    who = client.identity
    collection = {"target": f"pod/{name}", "namespace": namespace,
                  "collectedAt": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                  "localUser": who.local_user, "kubeUser": who.kube_user, "context": who.context,
                  "options": {"maxLogBytes": options.max_log_bytes, "redactLogs": options.redact_logs},
                  "unreadable": [u.to_dict() for u in reader.unreadable], "requests": reader.requests}
    writer.write("collection.json", _json(collection))
    notes = [*rbac["gaps"], *network["gaps"]]
    writer.write("summary.md", render_summary(pod, owners, events, log_index, logs, images, rbac, network, node,
                                              collection, notes))
    manifest_hash = writer.seal()
    files = sorted(writer.files)
    runner = ActionRunner(client, ActionLog(incident), "evidence", f"pod/{name}", namespace)
    runner.note(f"evidence collected into {relpath} ({len(files)} files sealed by MANIFEST.sha256)",
                {"bundle": relpath, "manifestSha256": manifest_hash, "files": len(files),
                 "unreadable": [u.what for u in reader.unreadable]})
    return Collected(folder, relpath, files, manifest_hash, list(reader.unreadable), notes)


# ---------------------------------------------------------------------------------------------- summary
def _tail(data: bytes, lines: int) -> list[str]:
    """The last lines of a log, each clipped (one 10 MiB line must not become the summary)."""
    text = data[-lines * SUMMARY_LINE_CHARS * 4:].decode("utf-8", errors="replace").rstrip("\n")
    return [line if len(line) <= SUMMARY_LINE_CHARS else line[:SUMMARY_LINE_CHARS] + " […]"
            for line in text.splitlines()[-lines:]]


def _capped(lines: list[str], limit: int, what: str) -> list[str]:
    return lines if len(lines) <= limit else [*lines[:limit], f"- … and {len(lines) - limit} more {what} "
                                                               "(all in the JSON files)"]


def render_summary(pod: dict[str, Any], owners: list[dict[str, Any]], events: Any, log_index: list[dict[str, Any]],
                   logs: list[tuple[str, str, bool, dict[str, Any]]], images: list[dict[str, Any]],
                   rbac: dict[str, Any], network: dict[str, Any], node: dict[str, Any],
                   collection: dict[str, Any], notes: list[str]) -> str:
    """The bundle for people: one page, every value passed once through the redaction layer (raw values
    stay in the JSON and log files, which the manifest seals)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    out = [f"# Evidence: pod {meta.get('namespace')}/{meta.get('name')}", "",
           f"- Collected: {collection['collectedAt']} by {collection['localUser']} "
           f"(kube user {collection['kubeUser']}, context {collection['context']})",
           f"- Pod uid: {meta.get('uid')}; phase: {status.get('phase')}; node: {(pod.get('spec') or {}).get('nodeName')}",
           f"- Service account: {rbac['serviceAccount']}", ""]
    out += ["## Not readable", ""]
    out += [f"- {u['what']}: {u['code']} {u['reason']} ({u['path']})" for u in collection["unreadable"]] or \
        ["- nothing: every read was answered"]
    out += [f"- {n}" for n in notes]
    out += ["", "## Owner chain", ""]
    out += [f"- {o['ownerOf']} is owned by {o['reference'].get('kind')}/{o['reference'].get('name')}: {o['status']}"
            for o in owners] or ["- no owner (a bare pod)"]
    out += ["", "## Images", ""]
    out += [f"- {i['container']} ({i['type']}): {i['image']} digest {i['digest'] or 'unknown'}, "
            f"restarts {i['restartCount']}" for i in images] or ["- no container status reported"]
    out += ["", "## Logs", ""]
    for entry in log_index:
        label = f"{entry['container']} ({entry['type']}{', previous' if entry['previous'] else ''})"
        if "file" in entry:
            out.append(f"- {label}: {entry['file']}, {entry['bytes']} bytes"
                       f"{', TRUNCATED at the size cap' if entry['truncated'] else ''}"
                       f"{', redacted' if entry.get('redacted') else ''}")
        else:
            out.append(f"- {label}: {entry['status']}")
    for container, _kind, previous, result in logs:
        tail = _tail(result["data"], SUMMARY_TAIL_LINES) if "data" in result else []
        if tail:
            out += ["", f"Last lines of {container}{' (previous)' if previous else ''}:", "", "```",
                    *tail, "```"]
    out += ["", "## Events", ""]
    if isinstance(events, Unreadable):
        out.append(f"- not readable ({events.code} {events.reason})")
    else:
        out += _capped([f"- {e.get('lastTimestamp') or e.get('eventTime') or e.get('firstTimestamp')} "
                        f"{e.get('type')} {e.get('reason')}: {str(e.get('message'))[:SUMMARY_LINE_CHARS]}"
                        for e in events], SUMMARY_ROWS, "events") or ["- no events"]
    out += ["", "## RBAC grants of the service account", ""]
    out += _capped([f"- {g['scope']}: {g['binding']} → {g['role']} rule {g['ruleIndex']}: "
                    f"{', '.join(g['rule'].get('verbs', []))} on "
                    f"{', '.join(g['rule'].get('resources', []) or g['rule'].get('nonResourceURLs', []))}"
                    for g in rbac["grants"]], SUMMARY_ROWS, "grants") or ["- none found"]
    out += ["", "## Network", ""]
    if "unavailable" in network:
        out.append(f"- allowed connections not computed: {network['unavailable']}")
    else:
        ver = network["verification"]
        out.append(f"- NetworkPolicies selecting the pod: ingress {', '.join(ver['ingressPolicies']) or 'none'}; "
                   f"egress {', '.join(ver['egressPolicies']) or 'none'}")
        out.append(f"- allowed connections: {len(ver['allowed'])} (all listed in network.json); "
                   f"contained: {'yes' if ver['contained'] else 'no'}")
        out += ["", "```", *network["statement"][:20], "```"]
    out += ["", "## Node", "", f"- {node.get('name', '-')}: {node['status']}"]
    text = "\n".join(str(line) for line in out) + "\n"
    return redact_text(text)
