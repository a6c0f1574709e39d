"""`respond scale`: set a Deployment's, StatefulSet's or ReplicaSet's replicas (e.g. to 0 to contain it).

The plan is read from what the server answers now: a merge patch of `spec.replicas` carrying the
`metadata.resourceVersion` it was planned from, so "previous replicas" in the record is exactly what the
patch replaced (another writer in between turns the patch into a 409 and the action re-reads). The record's
`extra` keeps the previous count so the change can be reversed. Already at the wanted count → no write,
one `nothing_to_do` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubehipaa.errors import InputError
from kubehipaa.respond.api import MERGE_PATCH, ApiRequest, resource_path
from kubehipaa.respond.replan import replanning
from kubehipaa.respond.runner import ActionRunner

SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet")


@dataclass(frozen=True, slots=True)
class ScalePlan:
    """The one patch to send (None: already at the wanted count) and what it replaces."""

    request: ApiRequest | None
    previous: int
    extra: dict[str, Any] = field(default_factory=dict)


def current_replicas(obj: dict[str, Any]) -> int:
    """`spec.replicas`, defaulted as the API server defaults it for apps/v1 workloads (1 when unset)."""
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def plan_scale(obj: dict[str, Any], path: str, replicas: int) -> ScalePlan:
    """Pure: the workload as the server answered it → the merge patch that sets `replicas`, or nothing."""
    meta = obj.get("metadata") or {}
    kind, name = str(obj.get("kind") or "workload"), str(meta.get("name") or "")
    previous = current_replicas(obj)
    version = str(meta.get("resourceVersion") or "")
    extra = {"kind": kind, "name": name, "previousReplicas": previous, "replicas": replicas,
             "resourceVersion": version}
    if previous == replicas:
        return ScalePlan(None, previous, extra)
    body: dict[str, Any] = {"spec": {"replicas": replicas}}
    if version:
        body = {"metadata": {"resourceVersion": version}, **body}
    why = f"scale {kind.lower()}/{name} from {previous} to {replicas} replicas (precondition: resourceVersion {version})"
    return ScalePlan(ApiRequest("PATCH", path, body, MERGE_PATCH, why=why), previous, extra)


def scale(runner: ActionRunner, kind: str, api_version: str, plural: str, name: str, namespace: str,
          replicas: int) -> list[str]:
    """Read, plan, send (re-reading on a conflict); the summary lines for the responder."""
    if kind not in SCALABLE:
        raise InputError(f"respond scale acts on {', '.join(k.lower() for k in SCALABLE)}, not {kind.lower()}")
    path = resource_path(api_version, plural, namespace, name)

    def attempt() -> list[str]:
        obj = runner.client.get(path)
        if obj is None:
            raise InputError(f"{kind.lower()}/{name} not found in namespace {namespace!r}")
        obj.setdefault("kind", kind)
        plan = plan_scale(obj, path, replicas)
        if plan.request is None:
            runner.nothing_to_do(f"{kind.lower()}/{name} already has {replicas} replicas: nothing sent", plan.extra)
            return []
        runner.send(plan.request, extra=plan.extra)
        undo = f"kubehipaa respond scale {kind.lower()}/{name} -n {namespace} --replicas {plan.previous}"
        return [f"previous replicas: {plan.previous} (to undo: {undo})"]

    return replanning(attempt, f"scale {kind.lower()}/{name}")
