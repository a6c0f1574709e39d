"""`respond quarantine` / `respond release`: cut one pod off the network, keep it for forensics, undo exactly.

Quarantine is two changes, planned from what the server answers now:

1. the namespace's deny-all NetworkPolicy `kubehipaa-quarantine` (selects `quarantine: "true"`, types Ingress
   and Egress, no rules, labelled managed-by kubehipaa) is created if missing, FIRST, so the pod is isolated
   the moment it carries the label. A policy of that name that is not ours, or ours but edited, is never
   touched: the action refuses;
2. one merge patch on the pod, with a `metadata.resourceVersion` precondition, sets `quarantine: "true"`
   and, with `--detach`, changes the labels the pod's controller selects on, so the controller releases the
   pod (kept running for forensics) and starts a replacement. The previous labels and every change are
   recorded in the action log (`extra`), which is what `release` reads.

`release` reverses what the log says quarantine changed since the last release: every label it touched gets
its recorded previous value back (or is removed if it was absent), and the deny-all policy is deleted only if
a quarantine created it (same uid, per the log) and no other pod of the namespace still carries the label.

The planning functions are pure (objects in, ApiRequests out); `run_quarantine` / `run_release` do the I/O
through an `ActionRunner` (namespace fence, --dry-run, recording), re-reading and re-planning on a 409 (at
most `TRIES` times).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubehipaa.engines.netpol import SelectorError, parse_selector
from kubehipaa.errors import InputError, KubehipaaError
from kubehipaa.respond.api import MERGE_PATCH, ApiRequest, ResponderClient, resource_path
from kubehipaa.respond.netcheck import PodNetwork, pod_network, with_changes
from kubehipaa.respond.runner import ActionFailed, ActionRunner

QUARANTINE_LABEL = "quarantine"
QUARANTINE_VALUE = "true"
POLICY_NAME = "kubehipaa-quarantine"
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubehipaa"
DETACHED_VALUE = "kubehipaa-detached"
"""The value set on a label a controller's selector requires to be absent or different (NotIn/DoesNotExist)."""
TRIES = 3
POLICY_API = ("networking.k8s.io/v1", "networkpolicies")

# The controllers whose pods' ownerReferences name them, and where their selector is. A ReplicationController
# has a plain map selector; the others a metav1.LabelSelector. Others (e.g. a CRD) are refused for --detach.
OWNER_KINDS: dict[str, tuple[str, str]] = {
    "ReplicaSet": ("apps/v1", "replicasets"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "DaemonSet": ("apps/v1", "daemonsets"),
    "Job": ("batch/v1", "jobs"),
    "ReplicationController": ("v1", "replicationcontrollers"),
}


class Refused(KubehipaaError):
    """The action will not act (a user's object is in the way, nothing to release, ...): one line, exit 2."""


# --- pure planning ---------------------------------------------------------------------------------------


def _meta(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    meta = (doc or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _labels(doc: Mapping[str, Any] | None) -> dict[str, str]:
    labels = _meta(doc).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def pod_path(namespace: str, name: str | None = None) -> str:
    return resource_path("v1", "pods", namespace, name)


def policy_path(namespace: str, name: str | None = None) -> str:
    return resource_path(*POLICY_API, namespace, name)


DENY_ALL_SPEC: dict[str, Any] = {
    "podSelector": {"matchLabels": {QUARANTINE_LABEL: QUARANTINE_VALUE}},
    "policyTypes": ["Ingress", "Egress"],
}


def policy_body(namespace: str) -> dict[str, Any]:
    """The deny-all policy: selects quarantined pods, isolates both directions, allows nothing."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": POLICY_NAME, "namespace": namespace, "labels": {MANAGED_BY_KEY: MANAGED_BY},
                     "annotations": {"kubehipaa.io/purpose": "incident quarantine: denies all ingress and egress "
                                     f"of pods labelled {QUARANTINE_LABEL}={QUARANTINE_VALUE}"}},
        "spec": copy.deepcopy(DENY_ALL_SPEC),
    }


def is_ours(policy: Mapping[str, Any]) -> bool:
    return _labels(policy).get(MANAGED_BY_KEY) == MANAGED_BY


def is_deny_all(policy: Mapping[str, Any]) -> bool:
    """Whether a policy is exactly the deny-all (no rules in either direction; `[]` and absent are equal)."""
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return False
    return (spec.get("podSelector") == DENY_ALL_SPEC["podSelector"]
            and sorted(spec.get("policyTypes") or []) == ["Egress", "Ingress"]
            and not spec.get("ingress") and not spec.get("egress"))


def plan_policy(namespace: str, existing: Mapping[str, Any] | None) -> ApiRequest | None:
    """The create request when the deny-all is missing; None when ours is in place; Refused otherwise."""
    where = f"NetworkPolicy {namespace}/{POLICY_NAME}"
    if existing is None:
        return ApiRequest("POST", policy_path(namespace), policy_body(namespace), why=(
            f"create {where}: deny all ingress and egress of pods labelled {QUARANTINE_LABEL}={QUARANTINE_VALUE}"))
    if not is_ours(existing):
        raise Refused(f"{where} exists and is not managed by kubehipaa (no {MANAGED_BY_KEY}={MANAGED_BY} label); "
                      "refusing to modify a user's policy: rename or remove it, then quarantine again")
    if not is_deny_all(existing):
        raise Refused(f"{where} is labelled managed-by kubehipaa but is no longer the deny-all (it was edited); "
                      "refusing to overwrite it: inspect it, delete it, then quarantine again")
    return None


def selector_of(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The owner's selector as a metav1.LabelSelector (a ReplicationController's plain map → matchLabels)."""
    spec = owner.get("spec")
    raw = spec.get("selector") if isinstance(spec, dict) else None
    if owner.get("kind") == "ReplicationController":
        return {"matchLabels": dict(raw)} if isinstance(raw, dict) else {}
    return dict(raw) if isinstance(raw, dict) else {}


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """apimachinery's LabelSelectorAsSelector(selector).Matches(labels); an invalid selector is Refused."""
    try:
        return parse_selector(dict(selector)).matches(dict(labels))
    except SelectorError as exc:
        raise Refused(f"the controller's selector is invalid: {exc}") from None


def _requirements(selector: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    out = [(str(k), "In", [str(v)]) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        if isinstance(expr, dict):
            out.append((str(expr.get("key")), str(expr.get("operator")), [str(v) for v in expr.get("values") or []]))
    return out


def detach_changes(selector: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, str | None]:
    """Label changes (None = remove) after which `selector` no longer matches `labels`; {} if it already does not.

    Every label a positive requirement needs (matchLabels, `In`, `Exists`) is removed: the pod then leaves
    the controller, and also the Services and `kubectl get -l` queries built on the same labels. A selector
    made only of negative requirements (`NotIn`, `DoesNotExist`) is broken by setting one of its keys to a
    value it excludes. The quarantine label itself is never removed. The result is checked with the
    selector matcher; an empty selector (matches every pod) cannot be escaped and is Refused.
    """
    if not selector_matches(selector, labels):
        return {}
    reqs = _requirements(selector)
    if not reqs:
        raise Refused("the controller's selector is empty (it matches every pod): the pod cannot be detached "
                      "by changing labels")
    changes: dict[str, str | None] = {}
    for key, op, _values in reqs:
        if op in ("In", "Exists") and key in labels and key != QUARANTINE_LABEL:
            changes[key] = None
    if not changes:
        for key, op, values in reqs:
            if op == "NotIn" and key != QUARANTINE_LABEL:
                changes[key] = sorted(values)[0]
                break
            if op == "DoesNotExist" and key != QUARANTINE_LABEL:
                changes[key] = DETACHED_VALUE
                break
    after = apply_labels(labels, changes)
    if selector_matches(selector, after):
        raise Refused("no label change detaches the pod from its controller's selector without removing the "
                      f"{QUARANTINE_LABEL} label")
    return changes


def apply_labels(labels: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """`labels` after a merge patch of `changes` (None removes)."""
    out = dict(labels)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def controller_ref(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    refs = _meta(pod).get("ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


@dataclass(slots=True)
class Detach:
    """What --detach found and changes: the controller, its selector, the label changes."""

    owner: str  # Kind/name
    selector: dict[str, Any]
    changes: dict[str, str | None]
    note: str = ""


@dataclass(slots=True)
class QuarantinePlan:
    namespace: str
    name: str
    previous_labels: dict[str, str]
    label_changes: dict[str, str | None]
    policy_request: ApiRequest | None
    pod_request: ApiRequest | None
    detach: Detach | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> list[ApiRequest]:
        return [r for r in (self.policy_request, self.pod_request) if r is not None]

    def record(self) -> dict[str, Any]:
        """What the action log keeps for `release`: the pod's labels before and the exact changes."""
        out: dict[str, Any] = {"pod": self.name, "previousLabels": self.previous_labels,
                               "labelChanges": self.label_changes}
        if self.detach is not None:
            out["detach"] = {"owner": self.detach.owner, "selector": self.detach.selector,
                             "changes": self.detach.changes}
        return out


def plan_quarantine(namespace: str, pod: Mapping[str, Any], policy: Mapping[str, Any] | None,
                    owner: Mapping[str, Any] | None, *, detach: bool) -> QuarantinePlan:
    """The requests that quarantine `pod` (and detach it from `owner`), from the objects as read now.

    `owner` is the pod's controller as read (None: no controller, or it no longer exists).
    """
    name = str(_meta(pod).get("name"))
    labels = _labels(pod)
    notes: list[str] = []
    changes: dict[str, str | None] = {}
    if labels.get(QUARANTINE_LABEL) != QUARANTINE_VALUE:
        changes[QUARANTINE_LABEL] = QUARANTINE_VALUE
    det: Detach | None = None
    if detach:
        ref = controller_ref(pod)
        if ref is None:
            notes.append(f"--detach: pod {namespace}/{name} has no controller; nothing to detach")
        elif owner is None:
            notes.append(f"--detach: the pod's controller {ref.get('kind')}/{ref.get('name')} no longer exists; "
                         "nothing to detach")
        else:
            selector = selector_of(owner)
            moved = detach_changes(selector, apply_labels(labels, changes))
            det = Detach(f"{owner.get('kind')}/{_meta(owner).get('name')}", selector, moved)
            if not moved:
                det.note = f"--detach: {det.owner}'s selector already does not match the pod"
            elif owner.get("kind") == "StatefulSet":
                det.note = (f"--detach: {det.owner} releases the pod but cannot start its replacement while the "
                            "detached pod keeps the name (StatefulSet pods have fixed names)")
            else:
                det.note = f"--detach: {det.owner} releases the pod and starts a replacement"
            changes.update(moved)
    pod_request = None
    if changes:
        rv = _meta(pod).get("resourceVersion")
        body: dict[str, Any] = {"metadata": {"labels": changes}}
        if rv:
            body["metadata"]["resourceVersion"] = rv
        what = ", ".join(f"remove {k}" if v is None else f"{k}={v}" for k, v in changes.items())
        pod_request = ApiRequest("PATCH", pod_path(namespace, name), body, MERGE_PATCH,
                                 why=f"label pod {namespace}/{name}: {what} (only if unchanged since read)")
    return QuarantinePlan(namespace, name, labels, changes, plan_policy(namespace, policy), pod_request, det, notes)


@dataclass(slots=True)
class ReleasePlan:
    namespace: str
    name: str
    restore: dict[str, str | None]
    pod_request: ApiRequest | None
    policy_request: ApiRequest | None
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> list[ApiRequest]:
        return [r for r in (self.pod_request, self.policy_request) if r is not None]


@dataclass(slots=True)
class LogState:
    """What the action log says quarantine did to one pod and to the namespace's policy."""

    ever_quarantined: bool
    pending: list[dict[str, Any]]
    """The quarantine label-change records (`extra`) since the last completed release, in order."""
    created_policy_uids: set[str]


def read_log(records: list[dict[str, Any]], namespace: str, name: str) -> LogState:
    """Fold the action log's records for pod `namespace/name` (dry runs are never recorded)."""
    target = f"pod/{name}"
    ever = False
    pending: list[dict[str, Any]] = []
    uids: set[str] = set()
    for rec in records:
        if rec.get("namespace") != namespace or rec.get("dryRun"):
            continue
        request = rec.get("request") or {}
        answer = rec.get("answer") or {}
        if (rec.get("action") == "quarantine" and request.get("method") == "POST"
                and str(request.get("path", "")).startswith(policy_path(namespace))
                and answer.get("code") == 201):
            uid = (answer.get("object") or {}).get("uid")
            if uid:
                uids.add(str(uid))
        if rec.get("target") != target:
            continue
        extra = rec.get("extra") or {}
        if rec.get("action") == "quarantine":
            ever = True
            sent_ok = rec.get("request") is None or 200 <= int(answer.get("code") or 0) <= 299
            if "labelChanges" in extra and extra.get("applied") and sent_ok:
                pending.append(extra)
        elif rec.get("action") == "release" and extra.get("released"):
            pending = []
    return LogState(ever, pending, uids)


def plan_release(namespace: str, pod: Mapping[str, Any], state: LogState, policy: Mapping[str, Any] | None,
                 others_quarantined: list[str]) -> ReleasePlan:
    """The requests that undo what the log says quarantine changed, from the objects as read now.

    `others_quarantined`: names of the namespace's other pods that carry the quarantine label now.
    """
    name = str(_meta(pod).get("name"))
    if not state.ever_quarantined:
        raise Refused(f"pod {namespace}/{name} was never quarantined according to the action log; "
                      "nothing to release (check --evidence)")
    labels = _labels(pod)
    restore: dict[str, str | None] = {}
    if state.pending:
        original = {str(k): str(v) for k, v in (state.pending[0].get("previousLabels") or {}).items()}
        touched: list[str] = []
        for extra in state.pending:
            touched.extend(k for k in (extra.get("labelChanges") or {}) if k not in touched)
        for key in touched:
            want = original.get(key)
            if labels.get(key) != want:
                restore[key] = want
    notes: list[str] = []
    pod_request = None
    if restore:
        body: dict[str, Any] = {"metadata": {"labels": restore}}
        rv = _meta(pod).get("resourceVersion")
        if rv:
            body["metadata"]["resourceVersion"] = rv
        what = ", ".join(f"remove {k}" if v is None else f"{k}={v}" for k, v in restore.items())
        pod_request = ApiRequest("PATCH", pod_path(namespace, name), body, MERGE_PATCH,
                                 why=f"restore the labels of pod {namespace}/{name}: {what} "
                                     "(only if unchanged since read)")
    policy_request = None
    if policy is not None:
        uid = str(_meta(policy).get("uid") or "")
        if uid not in state.created_policy_uids:
            notes.append(f"NetworkPolicy {namespace}/{POLICY_NAME} was not created by a quarantine recorded in "
                         "this action log; left in place")
        elif others_quarantined:
            notes.append(f"NetworkPolicy {namespace}/{POLICY_NAME} kept: other pods are still quarantined "
                         f"({', '.join(sorted(others_quarantined))})")
        else:
            preconditions = {"uid": uid}
            if _meta(policy).get("resourceVersion"):
                preconditions["resourceVersion"] = str(_meta(policy)["resourceVersion"])
            policy_request = ApiRequest(
                "DELETE", policy_path(namespace, POLICY_NAME),
                {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions},
                why=f"delete NetworkPolicy {namespace}/{POLICY_NAME}: quarantine created it and no pod of the "
                    "namespace is quarantined any more")
    return ReleasePlan(namespace, name, restore, pod_request, policy_request, notes)


# --- I/O: read, send through the runner, verify ------------------------------------------------------------


def read_pod(client: ResponderClient, namespace: str, name: str) -> dict[str, Any]:
    pod = client.get(pod_path(namespace, name))
    if pod is None:
        raise InputError(f"pod {name!r} not found in namespace {namespace!r}")
    return pod


def read_owner(client: ResponderClient, namespace: str, pod: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod's controller as the server has it now; Refused for a controller kind we cannot read."""
    ref = controller_ref(pod)
    if ref is None:
        return None
    kind = str(ref.get("kind") or "")
    where = OWNER_KINDS.get(kind)
    if where is None:
        raise Refused(f"--detach: pod {namespace}/{_meta(pod).get('name')} is controlled by {kind}/"
                      f"{ref.get('name')}, whose selector kubehipaa does not know; quarantine without --detach "
                      "and relabel the pod by hand")
    owner = client.get(resource_path(where[0], where[1], namespace, str(ref.get("name") or "")))
    if owner is not None:
        owner.setdefault("kind", kind)
        if ref.get("uid") and _meta(owner).get("uid") and ref.get("uid") != _meta(owner).get("uid"):
            return None  # a different object of the same name: the pod's controller is gone
    return owner


def namespace_objects(client: ResponderClient, namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The Pods, Namespaces and NetworkPolicies the verification needs, and warnings about what it lacks."""
    warnings: list[str] = []
    objects = client.items(pod_path(namespace)) + client.items(policy_path(namespace))
    try:
        objects += client.items("/api/v1/namespaces")
    except InputError:
        try:
            ns = client.get(f"/api/v1/namespaces/{namespace}")
        except InputError:
            ns = None
        if ns is not None:
            ns.setdefault("kind", "Namespace")
            objects.append(ns)
        warnings.append("could not list Namespaces: namespaceSelectors are evaluated on this namespace only")
    return objects, warnings


T = TypeVar("T")


def with_retries(attempt: Callable[[], T]) -> T:
    """Run `attempt` (read, plan, send) again after a 409 Conflict/AlreadyExists, at most TRIES times."""
    for number in range(1, TRIES + 1):
        try:
            return attempt()
        except ActionFailed as exc:
            if exc.answer.code != 409 or number == TRIES:
                if exc.answer.code == 409:
                    raise KubehipaaError(f"{exc} (still conflicting after {TRIES} tries: another writer keeps "
                                         "changing the object; try again)") from None
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(slots=True)
class QuarantineResult:
    plan: QuarantinePlan
    network: PodNetwork
    summary: list[str]

    @property
    def verified(self) -> bool:
        return self.network.contained


def run_quarantine(runner: ActionRunner, namespace: str, name: str, *, detach: bool) -> QuarantineResult:
    """Quarantine pod `namespace/name` through `runner`, then verify with the NetworkPolicy engine."""
    client = runner.client

    def attempt() -> QuarantinePlan:
        pod = read_pod(client, namespace, name)
        policy = client.get(policy_path(namespace, POLICY_NAME))
        owner = read_owner(client, namespace, pod) if detach else None
        plan = plan_quarantine(namespace, pod, policy, owner, detach=detach)
        if plan.policy_request is not None:
            runner.send(plan.policy_request)
        if plan.pod_request is not None:
            # the labels before and the changes ride on the patch's own record: no window in which the
            # change is made but release could not know it
            runner.send(plan.pod_request, extra=plan.record() | {"applied": True})
        return plan

    plan = with_retries(attempt)
    summary = list(plan.notes)
    if plan.detach is not None and plan.detach.note:
        summary.append(plan.detach.note)
    if not plan.requests:
        runner.nothing_to_do(f"pod {namespace}/{name} is already quarantined and NetworkPolicy "
                             f"{namespace}/{POLICY_NAME} is in place", plan.record() | {"applied": False})
    objects, warnings = namespace_objects(client, namespace)
    if runner.dry_run:  # verify the state the plan would produce
        objects = with_changes(objects, namespace, name, plan.label_changes,
                               [policy_body(namespace)] if plan.policy_request is not None else [])
    network = pod_network(objects, namespace, name)
    statement = network.statement()
    if runner.dry_run:
        statement[0] = "after this plan: " + statement[0]
    runner.note(f"NetworkPolicy verification of pod {namespace}/{name}: "
                + ("contained" if network.contained else "NOT contained"), network.as_record())
    summary += statement + [f"  warning: {w}" for w in warnings]
    return QuarantineResult(plan, network, summary)


def run_release(runner: ActionRunner, namespace: str, name: str) -> ReleasePlan:
    """Undo what the action log says quarantine did to pod `namespace/name`, through `runner`."""
    client = runner.client
    broken = runner.log.verify()
    if broken is not None:  # the record release would undo from was altered: undoing from it is guesswork
        raise Refused(f"{runner.log.path}:{broken.line}: the action log's hash chain is broken ({broken.reason}); "
                      "refusing to release from an altered record")

    def attempt() -> ReleasePlan:
        pod = read_pod(client, namespace, name)
        state = read_log(runner.log.records(), namespace, name)
        policy = client.get(policy_path(namespace, POLICY_NAME))
        quarantined = client.items(pod_path(namespace), [("labelSelector", f"{QUARANTINE_LABEL}={QUARANTINE_VALUE}")])
        others = [str(_meta(p).get("name")) for p in quarantined if _meta(p).get("name") != name]
        plan = plan_release(namespace, pod, state, policy, others)
        if plan.pod_request is not None:
            runner.send(plan.pod_request)
        if plan.policy_request is not None:
            runner.send(plan.policy_request, ok_codes=(404,))
        return plan

    plan = with_retries(attempt)
    if plan.requests:
        runner.note(f"released pod {namespace}/{name}", {"released": True, "restoredLabels": plan.restore,
                                                         "policyDeleted": plan.policy_request is not None})
    else:
        runner.nothing_to_do(f"pod {namespace}/{name}: nothing quarantine changed remains to undo",
                             {"released": True, "restoredLabels": {}, "policyDeleted": False})
    return plan
