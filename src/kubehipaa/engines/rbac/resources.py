"""kubectl-style request names (`pods/exec`, `deployments.apps`, `/metrics`) turned into authorizer attributes.

Offline there is no discovery, so a resource without an explicit group is resolved through a table of the
built-in resources (and their kubectl short names); anything unknown is taken as the core group, which is what
`resource[.group]` lets a user override.
"""

from __future__ import annotations

import re

from kubehipaa.engines.rbac.types import Attributes

# resource -> API group for built-in kinds
BUILTIN_GROUPS: dict[str, str] = {
    **{r: "" for r in (
        "pods", "services", "secrets", "configmaps", "serviceaccounts", "namespaces", "nodes",
        "persistentvolumes", "persistentvolumeclaims", "endpoints", "events", "limitranges", "resourcequotas",
        "replicationcontrollers", "podtemplates", "componentstatuses", "bindings",
    )},
    **{r: "apps" for r in ("deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions")},
    **{r: "batch" for r in ("jobs", "cronjobs")},
    **{r: "rbac.authorization.k8s.io" for r in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")},
    **{r: "networking.k8s.io" for r in ("networkpolicies", "ingresses", "ingressclasses")},
    "poddisruptionbudgets": "policy",
    "horizontalpodautoscalers": "autoscaling",
    "certificatesigningrequests": "certificates.k8s.io",
    **{r: "admissionregistration.k8s.io" for r in (
        "mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies",
        "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
    )},
    "customresourcedefinitions": "apiextensions.k8s.io",
    **{r: "storage.k8s.io" for r in ("storageclasses", "csidrivers", "csinodes", "volumeattachments")},
    "priorityclasses": "scheduling.k8s.io",
    "leases": "coordination.k8s.io",
    "endpointslices": "discovery.k8s.io",
    "runtimeclasses": "node.k8s.io",
    "apiservices": "apiregistration.k8s.io",
    "tokenreviews": "authentication.k8s.io",
    **{r: "authorization.k8s.io" for r in (
        "subjectaccessreviews", "selfsubjectaccessreviews", "localsubjectaccessreviews", "selfsubjectrulesreviews",
    )},
    **{r: "flowcontrol.apiserver.k8s.io" for r in ("flowschemas", "prioritylevelconfigurations")},
}

SHORT_NAMES: dict[str, str] = {
    "po": "pods", "svc": "services", "cm": "configmaps", "sa": "serviceaccounts", "ns": "namespaces",
    "no": "nodes", "pv": "persistentvolumes", "pvc": "persistentvolumeclaims", "ep": "endpoints", "ev": "events",
    "limits": "limitranges", "quota": "resourcequotas", "rc": "replicationcontrollers", "cs": "componentstatuses",
    "deploy": "deployments", "rs": "replicasets", "sts": "statefulsets", "ds": "daemonsets", "cj": "cronjobs",
    "netpol": "networkpolicies", "ing": "ingresses", "pdb": "poddisruptionbudgets", "hpa": "horizontalpodautoscalers",
    "csr": "certificatesigningrequests", "crd": "customresourcedefinitions", "crds": "customresourcedefinitions",
    "sc": "storageclasses", "pc": "priorityclasses",
}

CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    (BUILTIN_GROUPS[r], r)
    for r in (
        "nodes", "namespaces", "persistentvolumes", "componentstatuses", "clusterroles", "clusterrolebindings",
        "ingressclasses", "certificatesigningrequests", "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies", "mutatingadmissionpolicybindings", "customresourcedefinitions",
        "storageclasses", "csidrivers", "csinodes", "volumeattachments", "priorityclasses", "runtimeclasses",
        "apiservices", "tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews",
        "selfsubjectrulesreviews", "flowschemas", "prioritylevelconfigurations",
    )
)


VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")


class RequestSyntaxError(ValueError):
    """A resource argument that cannot be read."""


def resolve_resource(text: str) -> tuple[str, str]:
    """`deployments.apps` -> ("deployments", "apps"); `deploy` -> ("deployments", "apps"); `foo` -> ("foo", "")."""
    if not text:
        raise RequestSyntaxError("empty resource")
    resource, dot, group = text.partition(".")
    if dot:
        version, dot2, rest = group.partition(".")
        if dot2 and VERSION.match(version):
            group = rest  # `deployments.v1.apps`, as kubectl reads resource.version.group
        return resource, group
    if resource == "*":
        return "*", ""  # as kubectl: `*` alone is the core group; `*.*` means every group
    resource = SHORT_NAMES.get(resource, resource)
    if resource in BUILTIN_GROUPS:
        return resource, BUILTIN_GROUPS[resource]
    if resource + "s" in BUILTIN_GROUPS:
        return resource + "s", BUILTIN_GROUPS[resource + "s"]
    if resource.endswith("y") and resource[:-1] + "ies" in BUILTIN_GROUPS:
        plural = resource[:-1] + "ies"
        return plural, BUILTIN_GROUPS[plural]
    return resource, ""


def is_cluster_scoped(resource: str, group: str) -> bool:
    return (group, resource) in CLUSTER_SCOPED


def request_namespace(resource: str, group: str, name: str = "") -> str | None:
    """The namespace a plain API request for this resource carries, where the resource fixes it: none for a
    built-in cluster-scoped resource (its URL has no namespace), the object's own name for `namespaces/<name>`
    (the request-info parser puts it there); None for namespaced or unknown resources, whose requests carry
    the namespace they are made in.

    This describes HTTP requests only. The authorizer itself never looks at scope, and the API server asks it
    some questions about cluster-scoped resources *with* a namespace: creating or updating a RoleBinding in N
    that refers to ClusterRole X is authorized as `bind clusterroles X` in N (upstream BindingAuthorized), so
    RoleBindings in N decide it."""
    if resource == "namespaces" and group == "":
        return name
    if is_cluster_scoped(resource, group):
        return ""
    return None


def rolebinding_can_grant(attrs: Attributes) -> bool:
    """Can a RoleBinding ever grant this request in a real cluster? It counts only for requests that carry its
    namespace: every namespaced resource; of the built-in cluster-scoped ones, `namespaces` (the request for
    namespace N carries N) and `bind` on ClusterRoles (the API server asks it in the namespace of the
    RoleBinding being written, upstream BindingAuthorized); never another cluster-scoped resource (`escalate`
    on a ClusterRole is asked without a namespace, as its URL has none) or a non-resource URL."""
    if not attrs.resource_request:
        return False
    if attrs.resource == "namespaces" and attrs.api_group == "":
        return True
    if attrs.verb == "bind" and attrs.resource == "clusterroles" and attrs.api_group == "rbac.authorization.k8s.io":
        return True
    return not is_cluster_scoped(attrs.resource, attrs.api_group)


def request_attributes(
    verb: str,
    target: str,
    namespace: str = "",
    name: str = "",
    subresource: str = "",
    *,
    as_request: bool = True,
) -> Attributes:
    """Attributes of the request `kubectl <verb> <target>` (or a SubjectAccessReview) would make.

    `target` is `resource[.group][/subresource]` or a non-resource path starting with `/` (which never has a
    namespace). The namespace given is kept whatever the resource's scope, because that is the question the
    authorizer answers: it applies every ClusterRoleBinding and, when the request has a namespace, that
    namespace's RoleBindings, without knowing whether the resource is namespaced (`request_namespace` says what
    a plain request would carry). With `as_request` the rest is shaped the way the API server's request-info
    parser shapes a real request: a create on a collection or a deletecollection carries no name, and
    `namespaces/<name>` asked without a namespace is a request *in* that namespace (so a RoleBinding there can
    grant it).
    """
    if not verb:
        raise RequestSyntaxError("empty verb")
    if target.startswith("/"):
        return Attributes(verb=verb, path=target, resource_request=False)
    head, slash, sub = target.partition("/")
    if slash and not sub:
        raise RequestSyntaxError(f"{target!r}: empty subresource")
    if slash and subresource and sub != subresource:
        raise RequestSyntaxError(f"{target!r}: conflicting subresource {subresource!r}")
    sub = sub or subresource
    resource, group = resolve_resource(head)
    if as_request:
        if verb == "deletecollection" or (verb == "create" and not sub):
            name = ""
        if resource == "namespaces" and group == "" and not namespace:
            namespace = name
    return Attributes(
        verb=verb,
        resource=resource,
        api_group=group,
        subresource=sub,
        name=name,
        namespace=namespace,
        resource_request=True,
    )
