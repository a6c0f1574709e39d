"""Shared, precomputed view of pod specs and containers for the workload, image and secret checks.

Why a helper: every container-level check needs the same three container lists, the same index-exact
evidence path (`spec.template.spec.containers[0]...`) and the same exemption for control-plane static
Pods, which the control-plane checks (KH-API/KH-KUB) judge by their own rules. The walk over the specs is
the Inventory's `pod_view`, built once, so twenty container checks cost one pass over 85k objects.

The exemption is decided by what a Pod is, never by labels or a name anyone can give it: see
`control_plane_verdict`, the one place that says what a control-plane static Pod looks like.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from kubehipaa.inventory import Container, Inventory, PodSpecRef, PodView
from kubehipaa.model import K8sObject

CONTROL_PLANE_COMPONENTS = frozenset({"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"})
CONTROL_PLANE_NAMESPACE = "kube-system"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
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


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


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


def _binary(c: dict[str, Any]) -> str:
    cmd = c.get("command")
    return str(cmd[0]).rsplit("/", 1)[-1] if isinstance(cmd, list) and cmd else ""


def _image_name(image: str) -> str:
    """`registry.k8s.io/kube-apiserver:v1.30.4@sha256:...` -> `kube-apiserver`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _host_path_allowed(path: str) -> bool:
    norm = posixpath.normpath("/" + path.lstrip("/")) if path else ""
    return any(norm == p or norm.startswith(p + "/") for p in KUBEADM_HOST_PATHS)


def control_plane_verdict(pod: K8sObject) -> ControlPlaneVerdict | None:
    """Is this a kubeadm-style control-plane static Pod, whose host access is by design? None when the object
    does not present itself as one (not a kube-system Pod labelled `tier: control-plane` or `component: <c>`, or
    running a control-plane binary); otherwise the verdict, decided by content:

    - every container and init container runs a control-plane binary (`command[0]`: kube-apiserver,
      kube-controller-manager, kube-scheduler, etcd) from an image of that name; no ephemeral containers;
    - no privileged container, no added capability beyond NET_BIND_SERVICE, no hostPID/hostIPC, no service
      account (a static Pod cannot have one);
    - only hostPath volumes, under the paths kubeadm mounts (`KUBEADM_HOST_PATHS`).

    A Pod that presents itself as a component but fails this is a modified built-in or a look-alike: it is
    judged like any workload, and KH-WL-013 reports it. (Issue 13 will unify this classifier with the
    control-plane sources; keep it the only one.)"""
    if pod.kind != "Pod" or pod.namespace != CONTROL_PLANE_NAMESPACE:
        return None
    spec = as_dict(pod.doc.get("spec"))
    containers: list[tuple[str, int, Any]] = []
    for f in ("initContainers", "containers"):
        items = spec.get(f)
        if isinstance(items, list):
            containers.extend((f, i, c) for i, c in enumerate(items))
    labels = pod.labels
    running = [_binary(c) for _, _, c in containers if isinstance(c, dict)]
    component = next((b for b in running if b in CONTROL_PLANE_COMPONENTS), "")
    if not component:
        label = str(labels.get("component") or "")
        if label in CONTROL_PLANE_COMPONENTS:
            component = label
        elif labels.get("tier") == "control-plane":
            component = "control-plane component"
        else:
            return None
    diffs: list[tuple[str, str]] = []
    if not any(f == "containers" for f, _, _ in containers):
        diffs.append(("has no containers", "spec.containers"))
    for field, i, c in containers:
        path = f"spec.{field}[{i}]"
        if not isinstance(c, dict):
            diffs.append(("has a malformed container", path))
            continue
        binary = _binary(c)
        if binary not in CONTROL_PLANE_COMPONENTS:
            diffs.append((f"container {c.get('name') or '?'} runs {binary or 'its image entrypoint'}, not a "
                          "control-plane binary", f"{path}.command"))
        elif _image_name(str(c.get("image") or "")) != binary:
            diffs.append((f"container {c.get('name') or '?'} runs {binary} from image {c.get('image')!r}, not "
                          f"a {binary} image", f"{path}.image"))
        sc = as_dict(c.get("securityContext"))
        if sc.get("privileged") is True:
            diffs.append((f"container {c.get('name') or '?'} is privileged", f"{path}.securityContext.privileged"))
        added = as_dict(sc.get("capabilities")).get("add")
        extra = sorted({str(a).upper().removeprefix("CAP_") for a in added or ()} - KUBEADM_ADDED_CAPABILITIES
                       ) if isinstance(added, list) else []
        if extra:
            diffs.append((f"container {c.get('name') or '?'} adds capabilities {', '.join(extra)}",
                          f"{path}.securityContext.capabilities.add"))
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


def is_control_plane_pod(ps: PodSpecRef) -> bool:
    return ps.owner.kind == "Pod" and is_static_control_plane(ps.owner)


def view(inv: Inventory) -> PodView:
    """The judged pod specs (control-plane static Pods excluded) and all their containers: the Inventory's
    `pod_view`, built once."""
    return inv.pod_view


def workload_specs(inv: Inventory) -> list[PodSpecRef]:
    """Pod specs the workload checks judge: every Pod and template except control-plane static Pods."""
    return view(inv).specs


def all_containers(inv: Inventory) -> list[Container]:
    return view(inv).containers
