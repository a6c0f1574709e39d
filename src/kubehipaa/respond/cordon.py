"""`respond cordon NODE [--drain]`: stop scheduling on a node and, with --drain, evict its pods.

Cordon is a merge patch of `spec.unschedulable: true` carrying the node's `resourceVersion` (a node is
cluster-scoped: the only cluster-scoped plural this action may touch is `nodes`). Drain follows what
`kubectl drain` does, decided per pod from what the API answers now:

* evicted through `POST pods/<name>/eviction` (policy/v1 Eviction), so PodDisruptionBudgets are honoured;
  a 429 TooManyRequests (a budget would be violated) is retried with backoff a bounded number of times, then
  the pod is reported as not evicted (exit 2: the node still runs it);
* skipped, and said so: DaemonSet-owned pods (their controller ignores unschedulable and would recreate
  them) and mirror pods (annotation `kubernetes.io/config.mirror`: the kubelet's static pods, which the API
  cannot delete); pods already terminating;
* not evicted unless the responder says so: pods no controller owns (`--force`: eviction deletes them for
  good, and in an incident they may be evidence) and pods with emptyDir volumes (`--delete-emptydir-data`:
  their local data is lost);
* the namespace fence: only namespaces named with `-n` (or every namespace, with `--all-namespaces` given
  explicitly); pods elsewhere on the node are listed as not evicted.

A re-run evicts only what is left; an already cordoned node is one `nothing_to_do` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubehipaa.errors import InputError
from kubehipaa.respond.api import MERGE_PATCH, ApiRequest, resource_path
from kubehipaa.respond.replan import replanning
from kubehipaa.respond.runner import ActionRunner

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
# Backoff between eviction attempts a PodDisruptionBudget refused (429); the CLI passes these, tests pass 0s.
EVICTION_BACKOFF: tuple[float, ...] = (1.0, 2.0, 4.0)
TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class DrainOptions:
    """What the responder allowed: the namespaces drain may evict from (None: all, said explicitly) and
    the kubectl-style overrides."""

    namespaces: frozenset[str] | None
    force: bool = False
    delete_emptydir_data: bool = False
    backoff: Sequence[float] = EVICTION_BACKOFF
    sleep: Callable[[float], None] = time.sleep


@dataclass(slots=True)
class DrainPlan:
    """Each pod on the node, sorted into what drain does with it."""

    evict: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(ns/name, why) left alone by design (DaemonSet, mirror, terminating)."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(ns/name, why) not evicted although they still run on the node (outside the fence, needs --force)."""


def plan_cordon(node: dict[str, Any], path: str) -> ApiRequest | None:
    """Pure: the node as answered → the cordon patch, or None when it is already unschedulable."""
    meta = node.get("metadata") or {}
    if (node.get("spec") or {}).get("unschedulable") is True:
        return None
    version = str(meta.get("resourceVersion") or "")
    body: dict[str, Any] = {"spec": {"unschedulable": True}}
    if version:
        body = {"metadata": {"resourceVersion": version}, **body}
    return ApiRequest("PATCH", path, body, MERGE_PATCH,
                      why=f"cordon node {meta.get('name')}: mark unschedulable (precondition: resourceVersion {version})")


def pod_id(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def controller_of(pod: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with `controller: true`, as kubectl drain's filters read it."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def plan_drain(pods: Sequence[dict[str, Any]], options: DrainOptions) -> DrainPlan:
    """Pure: the pods the API lists on the node → evict / skip / refuse, each with the reason."""
    plan = DrainPlan()
    for pod in sorted(pods, key=pod_id):
        meta = pod.get("metadata") or {}
        ident = pod_id(pod)
        controller = controller_of(pod)
        volumes = (pod.get("spec") or {}).get("volumes") or []
        phase = (pod.get("status") or {}).get("phase")
        # what drain never evicts is skipped whatever its namespace (a node always runs some: kube-proxy,
        # static control-plane pods), so only pods drain would evict can be left behind by the fence
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            plan.skipped.append((ident, "mirror pod of a static pod: the API cannot delete it (the kubelet owns it)"))
        elif controller is not None and controller.get("kind") == "DaemonSet":
            plan.skipped.append((ident, f"DaemonSet-managed ({controller.get('name')}): its controller ignores "
                                        "unschedulable and would recreate it"))
        elif meta.get("deletionTimestamp"):
            plan.skipped.append((ident, "already terminating"))
        elif options.namespaces is not None and meta.get("namespace") not in options.namespaces:
            plan.refused.append((ident, f"namespace {meta.get('namespace')} was not given with -n "
                                        "(or --all-namespaces): outside the fence"))
        elif controller is None and phase not in TERMINAL_PHASES and not options.force:
            plan.refused.append((ident, "no controller owns it: eviction deletes it for good (it may be "
                                        "evidence); use --force to evict it anyway"))
        elif (any(isinstance(v, dict) and "emptyDir" in v for v in volumes) and phase not in TERMINAL_PHASES
              and not options.delete_emptydir_data):
            plan.refused.append((ident, "uses emptyDir: its local data would be lost; use --delete-emptydir-data"))
        else:
            plan.evict.append(pod)
    return plan


def eviction_request(pod: dict[str, Any], node: str) -> ApiRequest:
    """POST pods/<name>/eviction with a policy/v1 Eviction body (the PDB-respecting way to delete a pod)."""
    meta = pod.get("metadata") or {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
    return ApiRequest("POST", resource_path("v1", "pods", ns, name, "eviction"), body,
                      why=f"drain node {node}: evict pod {ns}/{name}")


def cordon(runner: ActionRunner, node_name: str, *, record_nothing: bool = True) -> tuple[list[str], bool]:
    """Cordon the node (re-reading on a conflict); (summary lines, already cordoned). With
    `record_nothing=False` an already cordoned node records no line (drain records the run's one line)."""
    path = resource_path("v1", "nodes", None, node_name)

    def attempt() -> tuple[list[str], bool]:
        node = runner.client.get(path)
        if node is None:
            raise InputError(f"node {node_name!r} not found")
        request = plan_cordon(node, path)
        extra = {"node": node_name, "previousUnschedulable": bool((node.get("spec") or {}).get("unschedulable")),
                 "resourceVersion": (node.get("metadata") or {}).get("resourceVersion")}
        if request is None:
            if record_nothing:
                runner.nothing_to_do(f"node {node_name} is already cordoned (unschedulable): nothing sent", extra)
            return [f"node {node_name}: already cordoned"], True
        runner.send(request, extra=extra)
        return [f"node {node_name}: cordoned (to undo: kubectl uncordon {node_name})"], False

    return replanning(attempt, f"cordon node {node_name}")


def _runner_for(runner: ActionRunner, namespace: str) -> ActionRunner:
    """The same action fenced to one pod's namespace, sharing the plan, results and records (one report)."""
    return replace(runner, namespace=namespace, cluster_scoped=frozenset(),
                   planned=runner.planned, results=runner.results, records=runner.records)


def list_node_pods(runner: ActionRunner, node_name: str, namespaces: frozenset[str] | None) -> tuple[
        list[dict[str, Any]], list[str]]:
    """Pods on the node (fieldSelector spec.nodeName). Cluster-wide so pods outside the fence are named too;
    when that list is refused and namespaces were given, each of them is listed, with a warning."""
    query = [("fieldSelector", f"spec.nodeName={node_name}")]
    try:
        return runner.client.items("/api/v1/pods", query), []
    except InputError as exc:
        if namespaces is None:
            raise
        pods: list[dict[str, Any]] = []
        for ns in sorted(namespaces):
            pods.extend(runner.client.items(resource_path("v1", "pods", ns), query))
        return pods, [f"warning: could not list pods on {node_name} in every namespace ({exc}); pods in "
                      "namespaces not given with -n may still run there"]


def drain(runner: ActionRunner, node_name: str, options: DrainOptions, *, was_cordoned: bool = False) -> tuple[
        list[str], bool]:
    """Evict what may be evicted; (summary lines, complete) — complete is False when a pod the fence or a
    budget kept stays on the node. `was_cordoned`: the cordon found nothing to do, so a drain with nothing
    to evict makes this run one `nothing_to_do` line."""
    pods, lines = list_node_pods(runner, node_name, options.namespaces)
    plan = plan_drain(pods, options)
    evicted: list[str] = []
    blocked: list[tuple[str, str]] = []
    for pod in plan.evict:
        ident = pod_id(pod)
        sub = _runner_for(runner, str((pod.get("metadata") or {}).get("namespace") or ""))
        request = eviction_request(pod, node_name)
        controller = controller_of(pod) or {}
        extra = {"node": node_name, "pod": (pod.get("metadata") or {}).get("name"),
                 "controller": {k: controller.get(k) for k in ("kind", "name") if controller.get(k)}}
        answer = sub.send(request, ok_codes=(404, 429), extra=extra)
        tries = 1
        while answer is not None and answer.code == 429 and tries <= len(options.backoff):
            options.sleep(options.backoff[tries - 1])
            answer = sub.send(replace(request, why=f"{request.why} (retry {tries}: a disruption budget refused)"),
                              ok_codes=(404, 429), extra=extra)
            tries += 1
        if answer is not None and answer.code == 429:
            blocked.append((ident, f"a PodDisruptionBudget refused its eviction {tries} times (429): not evicted"))
        elif answer is not None and answer.code == 404:
            evicted.append(f"{ident} (already gone)")
        else:
            evicted.append(ident)
    left = {"node": node_name, "notEvicted": [{"pod": p, "why": w} for p, w in [*plan.refused, *blocked]],
            "skipped": [{"pod": p, "why": w} for p, w in plan.skipped]}
    if not plan.evict:
        runner.nothing_to_do(f"{'node already cordoned; ' if was_cordoned else ''}drain {node_name}: no pod left "
                             "that may be evicted: nothing sent", left)
    elif plan.refused or blocked or plan.skipped:
        runner.note(f"drain {node_name}: {len(plan.refused) + len(blocked)} pod(s) not evicted, "
                    f"{len(plan.skipped)} skipped", left)
    verb = "would evict" if runner.dry_run else "evicted"
    lines.extend(f"{verb}: {p}" for p in evicted)
    lines.extend(f"skipped: {p} — {why}" for p, why in plan.skipped)
    lines.extend(f"NOT evicted: {p} — {why}" for p, why in [*plan.refused, *blocked])
    if plan.refused or blocked:
        lines.append(f"node {node_name} still runs {len(plan.refused) + len(blocked)} pod(s) drain did not evict")
    return lines, not (plan.refused or blocked)
