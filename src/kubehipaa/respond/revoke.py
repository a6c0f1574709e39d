"""`respond revoke sa/NAME -n NS`: take a ServiceAccount's API access away and say what remains.

What the RBAC authorizer would match to the account is what is removed (upstream
plugin/pkg/auth/authorizer/rbac and pkg/registry/rbac/validation `appliesToUser`): a `ServiceAccount`
subject with its name, whose namespace is the subject's own or, when empty, the binding's (validation lets a
RoleBinding leave it empty; a ClusterRoleBinding must set it, and an empty one matches nobody); and a `User`
subject named `system:serviceaccount:NS:NAME`, which is the same identity. Each such entry is removed
with a JSON patch that first `test`s the exact entry at its index, so a binding another writer changed in
between is re-read, never patched blind. The record's `extra` holds the binding, its roleRef and every
removed entry with its index: enough to restore it.

* The fence: RoleBindings in `NS` and ClusterRoleBindings (cluster-scoped by nature: a ClusterRoleBinding
  granting the account cluster-wide access is exactly what revoke must be able to remove) are changed.
  RoleBindings in other namespaces that bind the account are listed, unchanged, and the command exits 2:
  access remains there.
* Group grants (`system:serviceaccounts`, `system:serviceaccounts:NS`, `system:authenticated`) are
  access the account keeps through every identity of its kind; they are reported, never modified. The
  API server's own bootstrap bindings as shipped (judged by content with the RBAC engine, not by the
  bootstrapping label, which anyone can set) are named but do not fail the command; any other group grant
  does (exit 2).
* Legacy token Secrets (type `kubernetes.io/service-account-token`, annotation
  `kubernetes.io/service-account.name`) are deleted with a uid precondition; only their names are recorded.
  Secret values are never printed or logged (the answer's summary keeps identity only).
* Pods running as the account are reported: their projected tokens stay valid until they expire, though
  with the bindings gone they authorize only what the group grants above allow. Quarantine them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.rbac import RbacIndex, builtin_audit
from kubehipaa.errors import InputError
from kubehipaa.respond.api import JSON_PATCH, ApiRequest, resource_path
from kubehipaa.respond.replan import replanning
from kubehipaa.respond.runner import ActionRunner

RBAC_V1 = "rbac.authorization.k8s.io/v1"
TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
# A JSON patch whose `test` fails is refused; depending on the server version as 409 Conflict or 422 Invalid.
PATCH_CONFLICT = (409, 422)


def sa_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def sa_groups(namespace: str) -> tuple[str, ...]:
    """The groups every service account token authenticates with (upstream serviceaccount.MakeGroupNames),
    plus system:authenticated, which the authenticator adds."""
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


def subject_is_account(subject: Any, binding_namespace: str, namespace: str, name: str) -> bool:
    """Does this subject entry name exactly this service account (as the RBAC authorizer matches it)?"""
    if not isinstance(subject, dict):
        return False
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or binding_namespace
        return bool(sa_ns) and sa_ns == namespace and subject.get("name") == name
    if kind == "User":
        return subject.get("name") == sa_username(namespace, name)
    return False


@dataclass(frozen=True, slots=True)
class BindingRevocation:
    """The patch for one binding and what it removes."""

    request: ApiRequest
    extra: dict[str, Any]


def binding_ref(binding: dict[str, Any]) -> str:
    meta = binding.get("metadata") or {}
    if binding.get("kind") == "ClusterRoleBinding":
        return f"clusterrolebinding/{meta.get('name')}"
    return f"rolebinding/{meta.get('name')} (namespace {meta.get('namespace')})"


def binding_path(binding: dict[str, Any]) -> str:
    meta = binding.get("metadata") or {}
    if binding.get("kind") == "ClusterRoleBinding":
        return resource_path(RBAC_V1, "clusterrolebindings", None, str(meta.get("name")))
    return resource_path(RBAC_V1, "rolebindings", str(meta.get("namespace")), str(meta.get("name")))


def plan_binding(binding: dict[str, Any], namespace: str, name: str) -> BindingRevocation | None:
    """Pure: a binding as answered → the JSON patch removing this account's entries, or None."""
    meta = binding.get("metadata") or {}
    cluster_wide = binding.get("kind") == "ClusterRoleBinding"
    subjects = binding.get("subjects") or []
    indexes = [i for i, s in enumerate(subjects)
               if subject_is_account(s, "" if cluster_wide else str(meta.get("namespace") or ""), namespace, name)]
    if not indexes:
        return None
    ops: list[dict[str, Any]] = []
    for i in reversed(indexes):  # highest index first: removing it leaves the lower indexes where they were
        ops.append({"op": "test", "path": f"/subjects/{i}", "value": subjects[i]})
        ops.append({"op": "remove", "path": f"/subjects/{i}"})
    extra = {"binding": {"kind": binding.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
                         "resourceVersion": meta.get("resourceVersion")},
             "roleRef": binding.get("roleRef"),
             "removedSubjects": [{"index": i, "subject": subjects[i]} for i in indexes]}
    why = (f"revoke: remove {len(indexes)} subject entr{'y' if len(indexes) == 1 else 'ies'} for "
           f"{sa_username(namespace, name)} from {binding_ref(binding)} "
           f"(roleRef {(binding.get('roleRef') or {}).get('kind')}/{(binding.get('roleRef') or {}).get('name')})")
    return BindingRevocation(ApiRequest("PATCH", binding_path(binding), ops, JSON_PATCH, why=why), extra)


def group_grants(bindings: Sequence[dict[str, Any]], namespace: str) -> list[tuple[dict[str, Any], str]]:
    """(binding, group) for every binding that grants one of the account's groups."""
    groups = set(sa_groups(namespace))
    out = []
    for binding in bindings:
        for subject in binding.get("subjects") or []:
            if isinstance(subject, dict) and subject.get("kind") == "Group" and subject.get("name") in groups:
                out.append((binding, str(subject["name"])))
    return out


def builtin_bindings(bindings: Sequence[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of the bindings that are the API server's bootstrap defaults as shipped, judged
    by content with the RBAC engine (the bootstrapping label alone is a look-alike anyone can set)."""
    idx = RbacIndex.from_objects(bindings)
    audit = builtin_audit(idx)
    return {(b.kind, b.namespace, b.name) for b in idx.bindings if audit.exempt(b)}


def binding_key(binding: dict[str, Any]) -> tuple[str, str, str]:
    meta = binding.get("metadata") or {}
    return (str(binding.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def token_secrets(secrets: Sequence[dict[str, Any]], name: str) -> list[tuple[str, str]]:
    """(name, uid) of the account's legacy token Secrets; nothing of their data is kept."""
    out = []
    for secret in secrets:
        meta = secret.get("metadata") or {}
        if secret.get("type") == TOKEN_TYPE and (meta.get("annotations") or {}).get(SA_NAME_ANNOTATION) == name:
            out.append((str(meta.get("name")), str(meta.get("uid") or "")))
    return sorted(out)


@dataclass(slots=True)
class RevokeResult:
    lines: list[str] = field(default_factory=list)
    access_remains: bool = False


def _list(runner: ActionRunner, path: str, what: str, result: RevokeResult,
          query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]] | None:
    try:
        return runner.client.items(path, query)
    except InputError as exc:
        result.lines.append(f"warning: could not list {what} ({exc}): access through them may remain")
        result.access_remains = True
        return None


def _revoke_binding(runner: ActionRunner, first: dict[str, Any], namespace: str, name: str) -> bool:
    """Remove the account's entries from one binding, re-reading it after a conflict; True when sent."""
    path = binding_path(first)
    seen: list[dict[str, Any]] = [first]  # the binding as last read; re-read after a conflict

    def attempt() -> bool:
        binding = seen[-1] if len(seen) == 1 else runner.client.get(path)
        seen.append({})
        if binding is None:
            return False
        binding.setdefault("kind", first.get("kind"))
        plan = plan_binding(binding, namespace, name)
        if plan is None:
            return False
        runner.send(plan.request, extra=plan.extra)
        return True

    return replanning(attempt, f"revoke from {binding_ref(first)}", codes=PATCH_CONFLICT)


def revoke(runner: ActionRunner, namespace: str, name: str) -> RevokeResult:
    """Remove the account's bindings' subject entries and legacy tokens; report what access remains."""
    result = RevokeResult()
    user = sa_username(namespace, name)
    if runner.client.get(resource_path("v1", "serviceaccounts", namespace, name)) is None:
        result.lines.append(f"note: serviceaccount {namespace}/{name} does not exist; bindings naming it are "
                            "still removed (a new account of that name would inherit them)")
    rolebindings = _list(runner, resource_path(RBAC_V1, "rolebindings"), "RoleBindings in all namespaces", result)
    if rolebindings is None:
        rolebindings = runner.client.items(resource_path(RBAC_V1, "rolebindings", namespace))
    crbs = _list(runner, resource_path(RBAC_V1, "clusterrolebindings"), "ClusterRoleBindings", result) or []
    for item, kind in [*((b, "RoleBinding") for b in rolebindings), *((b, "ClusterRoleBinding") for b in crbs)]:
        item.setdefault("kind", kind)

    changed = 0
    outside: list[dict[str, Any]] = []
    for binding in [*rolebindings, *crbs]:
        if plan_binding(binding, namespace, name) is None:
            continue
        if binding.get("kind") == "RoleBinding" and (binding.get("metadata") or {}).get("namespace") != namespace:
            outside.append(binding)
            continue
        changed += _revoke_binding(runner, binding, namespace, name)

    secrets = runner.client.items(resource_path("v1", "secrets", namespace), [("fieldSelector", f"type={TOKEN_TYPE}")])
    tokens = token_secrets(secrets, name)
    del secrets  # values are never kept past this point
    for secret_name, uid in tokens:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}} if uid else None
        runner.send(ApiRequest("DELETE", resource_path("v1", "secrets", namespace, secret_name), body,
                               why=f"revoke: delete legacy token Secret {secret_name} of {user}"),
                    ok_codes=(404,), extra={"secret": secret_name, "serviceAccount": name})

    pods = runner.client.items(resource_path("v1", "pods", namespace))
    running = sorted(str((p.get("metadata") or {}).get("name")) for p in pods
                     if name in ((p.get("spec") or {}).get("serviceAccountName"),
                                 (p.get("spec") or {}).get("serviceAccount")))
    del pods
    grants = group_grants([*rolebindings, *crbs], namespace)
    defaults = builtin_bindings([b for b, _ in grants]) if grants else set()
    remains = {"serviceAccount": name,
               "outsideNamespace": [binding_ref(b) for b in outside],
               "groupGrants": [{"binding": binding_ref(b), "group": g} for b, g in grants],
               "podsRunningAs": running}
    if not changed and not tokens:
        runner.nothing_to_do(f"revoke {user}: no binding in the fence names it and no legacy token Secret "
                             "exists: nothing sent", remains)
    elif outside or running or grants:
        runner.note(f"revoke {user}: access that remains", remains)

    removed, deleted = ("would remove", "would delete") if runner.dry_run else ("removed", "deleted")
    result.lines.append(f"{removed} {user} from {changed} binding(s); {deleted} {len(tokens)} legacy token Secret(s)")
    for binding in outside:
        result.access_remains = True
        result.lines.append(f"NOT changed: {binding_ref(binding)} binds {user} outside namespace {namespace} "
                            "(the fence): access remains there — revoke it from that namespace")
    for binding, group in grants:
        ref = binding.get("roleRef") or {}
        default = binding_key(binding) in defaults
        result.access_remains |= not default
        result.lines.append(f"remaining access: {binding_ref(binding)} grants {ref.get('kind')}/{ref.get('name')} "
                            f"to group {group}, which includes {user} — not modified"
                            + (" (cluster bootstrap default)" if default else ""))
    for pod in running:
        result.lines.append(f"pod {namespace}/{pod} runs as {user}: its projected token stays valid until it "
                            f"expires — consider: kubehipaa respond quarantine pod/{pod} -n {namespace}")
    return result
