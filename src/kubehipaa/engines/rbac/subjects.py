"""Who a request is: user names, implicit groups and how binding subjects apply to a user.

The authenticators, not RBAC, add the implicit groups; an offline engine has to add them itself or it would
miss every grant made to `system:authenticated` or `system:serviceaccounts`:

- every authenticated user is in `system:authenticated`;
- the anonymous user `system:anonymous` is in `system:unauthenticated` (and not in `system:authenticated`);
- a service account `system:serviceaccount:<ns>:<name>` is in `system:serviceaccounts` and
  `system:serviceaccounts:<ns>`.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubehipaa.engines.rbac.types import Subject, UserInfo

SA_PREFIX = "system:serviceaccount:"
ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ALL_SERVICEACCOUNTS = "system:serviceaccounts"
MASTERS = "system:masters"


NODE_PREFIX = "system:node:"
# The user names Kubernetes' own components authenticate as (k8s.io/apiserver/pkg/authentication/user:
# APIServerUser, KubeProxy, KubeControllerManager, KubeScheduler). system:anonymous is not among them: it is
# whoever sends no credentials.
COMPONENT_USERS = frozenset({"system:apiserver", "system:kube-proxy", "system:kube-controller-manager",
                             "system:kube-scheduler"})


def component_user(username: str) -> bool:
    """A user name that Kubernetes itself issues to a component, a node (`system:node:<name>`) or a service
    account, rather than one naming a person or a shared account.

    Why not every `system:` name: the prefix is reserved by convention only; a client certificate or token
    may carry any such name (`system:admin`), and a check that skipped them all would be evaded by a
    prefix anyone can choose."""
    if username in COMPONENT_USERS or split_service_account(username) is not None:
        return True
    return username.startswith(NODE_PREFIX) and len(username) > len(NODE_PREFIX)


def service_account_username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) for a service-account user name, else None. Mirrors upstream: both parts non-empty,
    no further colon in the namespace."""
    if not username.startswith(SA_PREFIX):
        return None
    rest = username[len(SA_PREFIX) :]
    ns, sep, name = rest.partition(":")
    if not sep or not ns or not name:
        return None
    return ns, name


def implicit_groups(username: str) -> tuple[str, ...]:
    if username == ANONYMOUS:
        return (UNAUTHENTICATED,)
    sa = split_service_account(username)
    if sa is not None:
        return (ALL_SERVICEACCOUNTS, f"{ALL_SERVICEACCOUNTS}:{sa[0]}", AUTHENTICATED)
    return (AUTHENTICATED,)


def user_info(username: str, groups: Iterable[str] = (), *, add_implicit: bool = True) -> UserInfo:
    """A request identity; explicit groups first, implicit ones appended once."""
    out: list[str] = []
    for g in groups:
        if g not in out:
            out.append(g)
    if add_implicit:
        for g in implicit_groups(username):
            if g not in out:
                out.append(g)
    return UserInfo(username, tuple(out))


def subject_user_key(subject: Subject, binding_namespace: str) -> str | None:
    """The user name a User or ServiceAccount subject matches, or None if it can never match.

    A ServiceAccount without a namespace takes the RoleBinding's namespace; in a ClusterRoleBinding (binding
    namespace "") it matches nobody, exactly as upstream.
    """
    if subject.kind == "User":
        return subject.name
    if subject.kind == "ServiceAccount":
        ns = subject.namespace or binding_namespace
        if not ns:
            return None
        return service_account_username(ns, subject.name)
    return None


def applies_to_user(user: UserInfo, subject: Subject, binding_namespace: str) -> bool:
    if subject.kind == "Group":
        return subject.name in user.groups
    key = subject_user_key(subject, binding_namespace)
    return key is not None and key == user.name


def identity_for_subject(subject: Subject, binding_namespace: str = "") -> UserInfo | None:
    """The identity that a subject stands for, with implicit groups (a Group subject becomes a member-only
    identity with no user name of its own)."""
    if subject.kind == "Group":
        if subject.name in (AUTHENTICATED, UNAUTHENTICATED):
            return UserInfo("", (subject.name,))
        return UserInfo("", (subject.name, AUTHENTICATED))
    key = subject_user_key(subject, binding_namespace)
    if key is None:
        return None
    return user_info(key)
