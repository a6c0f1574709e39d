"""The one control-plane classifier: what a Pod container runs, whether a kube-system Pod is a control-plane
static Pod, which objects are control-plane configuration, and the view the checks read.

Why one: the control-plane checks (KH-API) judge a container's flags as kube-apiserver's, and the workload
checks (KH-WL) exempt a kubeadm-style static Pod whose host access is by design. When those two answers came
from two classifiers they disagreed (a kube-system Pod running ``sh -c "kube-apiserver ..."`` was an API server
for KH-API and an ordinary workload for KH-WL). Here both come from :func:`container_component`, which reads the
command line through the same :func:`~kubehipaa.engines.controlplane.flags.entrypoint` the flag parser uses.

Two questions, deliberately different:

* What does a container present itself as (:func:`container_component`)? Generous, because a component found
  is a component judged (KH-API never passes what it did not look at): the binary its command runs, wrappers
  taken off; with no command, a ``kube-*`` image or container name. etcd only by its command: ``etcd`` is also
  an application database image, and an application's etcd is not the cluster's store.
* Is a kube-system Pod that presents itself as a component really a kubeadm-style static Pod
  (:func:`control_plane_verdict`)? Strict, because the answer exempts it from the workload checks: decided by
  content, never by labels or a name anyone can give it.

Pure: objects in, answers out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubehipaa.engines.controlplane.components import (
    APISERVER,
    COMPONENTS,
    CONTROLLER_MANAGER,
    ETCD,
    SCHEDULER,
)
from kubehipaa.engines.controlplane.flags import (
    Entrypoint,
    ParsedFlags,
    container_flags,
    entrypoint,
    parse_args,
)
from kubehipaa.model import K8sObject

_NAMED_BY_IMAGE = (APISERVER, CONTROLLER_MANAGER, SCHEDULER)
CONTROL_PLANE_NAMESPACE = "kube-system"

ENCRYPTION_KINDS = ("EncryptionConfiguration", "EncryptionConfig")
AUDIT_POLICY_KIND = "Policy"
AUDIT_API_GROUP = "audit.k8s.io/"
KUBELET_CONFIG_KIND = "KubeletConfiguration"
CONFIG_KINDS = (*ENCRYPTION_KINDS, AUDIT_POLICY_KIND, KUBELET_CONFIG_KIND)
# Kinds the control-plane source gives inputs that are no Kubernetes object (sources/controlplane.py).
APISERVER_FLAGS_KIND = "KubeAPIServerFlags"
KUBELET_FLAGS_KIND = "KubeletFlags"
MARKER_KIND = "ControlPlaneScan"

# Host paths kubeadm's control-plane manifests mount (certificates, kubeconfigs, CA bundles of the common
# distributions, the flexvolume plugin dir, etcd's data dir) plus /var/log/kubernetes, where kubeadm's
# documentation puts the audit log. Anything else is more host access than the component needs.
KUBEADM_HOST_PATHS = (
    "/etc/kubernetes", "/etc/ssl/certs", "/etc/ca-certificates", "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates", "/etc/pki", "/usr/libexec/kubernetes/kubelet-plugins", "/var/lib/etcd",
    "/var/log/kubernetes",
)
KUBEADM_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})  # kubeadm's rootless control plane
_EMPTY: dict[str, Any] = {}

_REDIRECTION = re.compile(r"(?<![^\s])\d*(?:>>?|<)(?:&\d+|\s*[^\s;&|<>`]+)")
"""`1>>/var/log/kube-apiserver.log`, `2>&1`, `< /dev/null`: where output goes, not another command."""
_SHELL_CONTROL = re.compile(r"[;&|<>`\n]|\$\((?![A-Za-z_][A-Za-z0-9_]*\))")
"""What makes a script run more than one command: separators, pipes, background, command substitution (a
`$(NAME)` is the kubelet's variable reference, expanded before the shell sees it)."""


# --------------------------------------------------------------------------------------------------------
# Configuration objects


def is_audit_policy(obj: K8sObject) -> bool:
    """Audit policies only: other projects (Kyverno, ...) also have a kind named ``Policy``."""
    return obj.kind == AUDIT_POLICY_KIND and obj.api_version.startswith(AUDIT_API_GROUP)


def is_config(obj: K8sObject) -> bool:
    """An EncryptionConfiguration, an audit Policy or a KubeletConfiguration."""
    return obj.kind in CONFIG_KINDS and (obj.kind != AUDIT_POLICY_KIND or is_audit_policy(obj))


# --------------------------------------------------------------------------------------------------------
# Containers


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def image_name(image: str) -> str:
    """`registry.k8s.io/kube-apiserver:v1.30.4@sha256:...` -> `kube-apiserver`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _component(ep: Entrypoint, container: dict[str, Any]) -> str | None:
    if ep.binary:
        return ep.name if ep.name in COMPONENTS else None
    # No command (or none we can read): the image's entrypoint runs; a kube-* image or name says which.
    image = image_name(str(container.get("image") or ""))
    name = container.get("name")
    return next((c for c in _NAMED_BY_IMAGE if c in image or name == c), None)


def container_component(container: dict[str, Any]) -> str | None:
    """The control-plane component `container` presents itself as (`COMPONENTS`), or None.

    The binary its command runs, with ``sh -c`` / ``go-runner`` wrappers taken off exactly as the flag parser
    takes them off; when the command does not say (absent, or not a list of strings), a kube-apiserver,
    kube-controller-manager or kube-scheduler image or container name."""
    return _component(entrypoint(container), container)


def pod_containers(obj: K8sObject) -> list[tuple[int, dict[str, Any]]]:
    """(index, container) of a Pod's `spec.containers` (where a static Pod runs its component)."""
    if obj.kind != "Pod":
        return []
    containers = as_dict(obj.doc.get("spec")).get("containers")
    if not isinstance(containers, list):
        return []
    return [(i, c) for i, c in enumerate(containers) if isinstance(c, dict)]


def component_containers(obj: K8sObject, component: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, container) of the containers of Pod `obj` that run `component`."""
    return [(i, c) for i, c in pod_containers(obj) if container_component(c) == component]


def apiserver_containers(obj: K8sObject) -> list[tuple[int, dict[str, Any]]]:
    return component_containers(obj, APISERVER)


def etcd_containers(obj: K8sObject) -> list[tuple[int, dict[str, Any]]]:
    return component_containers(obj, ETCD)


# --------------------------------------------------------------------------------------------------------
# Static Pods


@dataclass(frozen=True, slots=True)
class ControlPlaneVerdict:
    """A kube-system Pod that presents itself as a control-plane component, and whether it is one."""

    component: str
    matches: bool
    differences: tuple[tuple[str, str], ...] = ()
    """(what differs from a kubeadm-style static Pod, evidence path)."""

    @property
    def modified(self) -> bool:
        return not self.matches


def _host_path_allowed(path: str) -> bool:
    norm = posixpath.normpath("/" + path.lstrip("/")) if path else ""
    return any(norm == p or norm.startswith(p + "/") for p in KUBEADM_HOST_PATHS)


def runs_one_command(script: str) -> bool:
    """Does a ``sh -c`` script only run its command (with output redirected at most)? ``kube-apiserver ...;
    curl ... | sh`` would be a component in name and anything in fact. Strict: a quoted ``;`` counts too."""
    text = _REDIRECTION.sub(" ", script.replace("\\\n", " ").strip())
    return _SHELL_CONTROL.search(text) is None


def _container_differences(field_name: str, i: int, c: Any) -> list[tuple[str, str]]:
    path = f"spec.{field_name}[{i}]"
    if not isinstance(c, dict):
        return [("has a malformed container", path)]
    who = f"container {c.get('name') or '?'}"
    diffs: list[tuple[str, str]] = []
    ep = entrypoint(c)
    binary = ep.name if ep.binary else ""
    if binary not in COMPONENTS:
        diffs.append((f"{who} runs {binary or 'its image entrypoint'}, not a control-plane binary",
                      f"{path}.command"))
    elif image_name(str(c.get("image") or "")) != binary:
        diffs.append((f"{who} runs {binary} from image {c.get('image')!r}, not a {binary} image", f"{path}.image"))
    elif ep.script is not None and not runs_one_command(ep.script):
        diffs.append((f"{who} runs {binary} from a shell script that runs other commands too", f"{path}.command"))
    sc = as_dict(c.get("securityContext"))
    if sc.get("privileged") is True:
        diffs.append((f"{who} is privileged", f"{path}.securityContext.privileged"))
    added = as_dict(sc.get("capabilities")).get("add")
    extra = sorted({str(a).upper().removeprefix("CAP_") for a in added or ()} - KUBEADM_ADDED_CAPABILITIES
                   ) if isinstance(added, list) else []
    if extra:
        diffs.append((f"{who} adds capabilities {', '.join(extra)}", f"{path}.securityContext.capabilities.add"))
    return diffs


def control_plane_verdict(pod: K8sObject) -> ControlPlaneVerdict | None:
    """Is this a kubeadm-style control-plane static Pod, whose host access is by design? None when the object
    does not present itself as one (not a kube-system Pod with a container that presents itself as a component
    (`container_component`), or labelled `component: <c>` or `tier: control-plane`); otherwise the verdict,
    decided by content:

    - every container and init container runs a control-plane binary (its command, wrappers taken off; a
      shell script that runs nothing else) from an image of that name; no ephemeral containers;
    - no privileged container, no added capability beyond NET_BIND_SERVICE, no hostPID/hostIPC, no service
      account (a static Pod cannot have one);
    - only hostPath volumes, under the paths kubeadm mounts (`KUBEADM_HOST_PATHS`).

    A Pod that presents itself as a component but fails this is a modified built-in or a look-alike: it is
    judged like any workload, and KH-WL-013 reports it."""
    if pod.kind != "Pod" or pod.namespace != CONTROL_PLANE_NAMESPACE:
        return None
    spec = as_dict(pod.doc.get("spec"))
    containers: list[tuple[str, int, Any]] = []
    for f in ("initContainers", "containers"):
        items = spec.get(f)
        if isinstance(items, list):
            containers.extend((f, i, c) for i, c in enumerate(items))
    claimed = (container_component(c) for _, _, c in containers if isinstance(c, dict))
    component = next((c for c in claimed if c), "")
    if not component:
        labels = pod.labels
        label = str(labels.get("component") or "")
        if label in COMPONENTS:
            component = label
        elif labels.get("tier") == "control-plane":
            component = "control-plane component"
        else:
            return None
    diffs: list[tuple[str, str]] = []
    if not any(f == "containers" for f, _, _ in containers):
        diffs.append(("has no containers", "spec.containers"))
    for field_name, i, c in containers:
        diffs.extend(_container_differences(field_name, i, c))
    if spec.get("ephemeralContainers"):
        diffs.append(("has ephemeral containers, which a static Pod cannot have", "spec.ephemeralContainers"))
    for flag in ("hostPID", "hostIPC"):
        if spec.get(flag) is True:
            diffs.append((f"shares the host's {flag[4:]} namespace", f"spec.{flag}"))
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa:
        diffs.append((f"names service account {sa}, which a static Pod cannot have", "spec.serviceAccountName"))
    volumes = spec.get("volumes")
    for i, v in enumerate(volumes if isinstance(volumes, list) else ()):
        v = as_dict(v)
        host = as_dict(v.get("hostPath"))
        if not host:
            kinds = [k for k in v if k != "name"]
            diffs.append((f"volume {v.get('name') or '?'} is a {kinds[0] if kinds else 'typeless'} volume; a "
                          "control-plane static Pod mounts host paths only", f"spec.volumes[{i}]"))
        elif not _host_path_allowed(str(host.get("path") or "")):
            diffs.append((f"mounts host path {host.get('path')!r}, outside what kubeadm mounts",
                          f"spec.volumes[{i}].hostPath.path"))
    return ControlPlaneVerdict(component, not diffs, tuple(diffs))


def is_static_control_plane(pod: K8sObject) -> bool:
    """A kubeadm-style static Pod of a control-plane component in kube-system (host access is by design),
    recognised by its content (`control_plane_verdict`), not by its labels or name."""
    verdict = control_plane_verdict(pod)
    return verdict is not None and verdict.matches


# --------------------------------------------------------------------------------------------------------
# The view


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of a component found in the input: where, and its parsed flags."""

    obj: K8sObject
    component: str
    flags: ParsedFlags
    prefix: str
    """Evidence path of the command line: `spec.containers[0]` (static Pod) or `spec` (a flags file)."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A kube-apiserver or etcd container whose `command`/`args` are not lists of strings (a Pod the API
    server refuses): its flags cannot be judged, and the checks report it as skipped input."""

    obj: K8sObject
    component: str
    prefix: str
    problem: str


@dataclass(frozen=True)
class ControlPlane:
    """What the input holds of the control plane, classified once (`Inventory.control_plane`)."""

    apiservers: tuple[Invocation, ...] = ()
    """kube-apiserver containers of Pods (any namespace) and `KubeAPIServerFlags` files, flags readable."""
    etcd: tuple[Invocation, ...] = ()
    others: tuple[Invocation, ...] = ()
    """kube-controller-manager and kube-scheduler containers."""
    unreadable: tuple[Unreadable, ...] = ()
    static_pods: tuple[tuple[K8sObject, ControlPlaneVerdict], ...] = ()
    """kube-system Pods that present themselves as components, with the verdict on what they are."""
    encryption_configs: tuple[K8sObject, ...] = ()
    audit_policies: tuple[K8sObject, ...] = ()
    kubelet_configs: tuple[K8sObject, ...] = ()
    kubelet_flags: tuple[Invocation, ...] = ()
    markers: tuple[K8sObject, ...] = ()
    """`ControlPlaneScan`: a control-plane scan was asked for (what was requested, what was missing)."""
    _verdicts: dict[int, ControlPlaneVerdict] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # `static_pods` holds the Pods, so an id is never reused while this view lives.
        self._verdicts.update((id(pod), v) for pod, v in self.static_pods)

    def verdict(self, pod: K8sObject) -> ControlPlaneVerdict | None:
        """The verdict on `pod` (None: it does not present itself as a control-plane static Pod)."""
        return self._verdicts.get(id(pod))

    def is_exempt(self, pod: K8sObject) -> bool:
        """A control-plane static Pod that is what it claims: judged by KH-API, not by the workload checks."""
        verdict = self._verdicts.get(id(pod))
        return verdict is not None and verdict.matches

    def has_evidence(self) -> bool:
        """Anything of the control plane to assess: a control-plane scan, a configuration file, an API server
        from a flags file or a kube-system Pod."""
        if self.markers or self.encryption_configs or self.audit_policies or self.kubelet_configs:
            return True
        found = [a.obj for a in self.apiservers] + [u.obj for u in self.unreadable if u.component == APISERVER]
        return any(o.kind != "Pod" or o.namespace == CONTROL_PLANE_NAMESPACE for o in found)


def _flags_file(obj: K8sObject, component: str) -> Invocation:
    """A synthetic flags object (`spec.args`, tokens of a flags file) as an invocation."""
    spec = as_dict(obj.doc.get("spec"))
    args = spec.get("args")
    tokens = [str(t) for t in args] if isinstance(args, list) else []
    return Invocation(obj, component, parse_args(tokens, source="args"), "spec")


def classify_control_plane(of_kind: Callable[[str], Sequence[K8sObject]]) -> ControlPlane:
    """The control-plane view of an inventory (`of_kind(kind)` -> its objects of that kind)."""
    found: dict[str, list[Invocation]] = {c: [] for c in COMPONENTS}
    unreadable: list[Unreadable] = []
    static_pods: list[tuple[K8sObject, ControlPlaneVerdict]] = []
    for pod in of_kind("Pod"):
        for i, c in pod_containers(pod):
            ep = entrypoint(c)
            component = _component(ep, c)
            if component is None:
                continue
            flags = container_flags(c)
            prefix = f"spec.containers[{i}]"
            if flags.problems and component in (APISERVER, ETCD):
                unreadable.append(Unreadable(pod, component, prefix, flags.problems[0]))
                continue
            found[component].append(Invocation(pod, component, flags, prefix))
        if pod.namespace == CONTROL_PLANE_NAMESPACE:
            verdict = control_plane_verdict(pod)
            if verdict is not None:
                static_pods.append((pod, verdict))
    apiservers = found[APISERVER] + [_flags_file(o, APISERVER) for o in of_kind(APISERVER_FLAGS_KIND)]
    return ControlPlane(
        apiservers=tuple(apiservers),
        etcd=tuple(found[ETCD]),
        others=tuple(found[CONTROLLER_MANAGER] + found[SCHEDULER]),
        unreadable=tuple(unreadable),
        static_pods=tuple(static_pods),
        encryption_configs=tuple(o for kind in ENCRYPTION_KINDS for o in of_kind(kind)),
        audit_policies=tuple(o for o in of_kind(AUDIT_POLICY_KIND) if is_audit_policy(o)),
        kubelet_configs=tuple(of_kind(KUBELET_CONFIG_KIND)),
        kubelet_flags=tuple(_flags_file(o, "kubelet") for o in of_kind(KUBELET_FLAGS_KIND)),
        markers=tuple(of_kind(MARKER_KIND)),
    )

