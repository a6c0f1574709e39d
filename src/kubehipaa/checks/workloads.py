"""Workload hardening (KH-WL-NNN): what a container may do to its node and to its neighbours.

Why this is a HIPAA matter: a container that can reach the node (privileged, host namespaces, hostPath)
can read every other pod's memory, volumes and service-account tokens, so namespace-level access control
(164.312(a)(1)) and the integrity of ePHI (164.312(c)(1)) stop meaning anything on that node. The checks
follow the Pod Security Standards field semantics exactly (pod-level defaults, container overrides, all
three container lists), so a finding here agrees with what PSS admission would reject.

Severity is raised in PHI namespaces: the same mistake next to patient data is a bigger risk. As in PSS,
Windows pods (`spec.os.name: windows`) skip the Linux-only fields (capabilities, privilege escalation,
seccomp, read-only root filesystem, runAsUser), and pods in a user namespace (`hostUsers: false`) skip the
run-as-root checks, since UID 0 there maps to an unprivileged UID on the node.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubehipaa.checks._pods import all_containers, as_dict, workload_specs
from kubehipaa.checks.registry import Hit, check
from kubehipaa.inventory import Inventory
from kubehipaa.model import Severity
from kubehipaa.workload_kinds import WORKLOAD_KINDS

AREA = "workloads"
ISOLATION = ("164.312(a)(1)", "164.308(a)(1)(ii)(B)")
INTEGRITY = ("164.312(c)(1)", "164.308(a)(1)(ii)(B)")
ALLOWED_ADD_CAPS = frozenset({"NET_BIND_SERVICE", ""})
SECCOMP_OK = frozenset({"RuntimeDefault", "Localhost"})


@check(
    id="KH-WL-001",
    title="Privileged container",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.2",),
    nsa=("Pod security: non-privileged containers",),
    pss=("baseline: privileged",),
    remediation="Remove securityContext.privileged (or set it to false); grant only the specific capability "
    "the container needs.",
    description="A privileged container has every capability and all host devices; it can read any pod's "
    "volumes and tokens on the node, so access control to ePHI no longer holds.",
)
def privileged(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.sc.get("privileged") is True:
            yield Hit(ct.owner, f"container {ct.name} runs privileged",
                      path=f"{ct.path}.securityContext.privileged", value=True)


@check(
    id="KH-WL-002",
    title="Pod shares host namespaces (hostNetwork, hostPID or hostIPC)",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=(*ISOLATION, "164.312(e)(1)"),
    relation="supports",
    cis=("5.2.3", "5.2.4", "5.2.5"),
    nsa=("Pod security: host namespaces",),
    pss=("baseline: host namespaces",),
    remediation="Remove spec.hostNetwork, spec.hostPID and spec.hostIPC (or set them to false).",
    description="hostNetwork bypasses NetworkPolicy and sees node traffic; hostPID/hostIPC expose other "
    "processes' memory and environment, which may hold ePHI and credentials.",
)
def host_namespaces(inv: Inventory) -> Iterator[Hit]:
    for ps in workload_specs(inv):
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if ps.spec.get(field) is True:
                yield Hit(ps.owner, f"pod sets {field}: true", path=f"{ps.path}.{field}", value=True)


@check(
    id="KH-WL-003",
    title="hostPath volume",
    area=AREA,
    severity=Severity.HIGH,
    phi_severity=Severity.CRITICAL,
    hipaa=(*ISOLATION, "164.312(c)(1)"),
    relation="supports",
    cis=("5.2.12",),
    nsa=("Pod security: hostPath",),
    pss=("baseline: hostPath volumes",),
    remediation="Replace hostPath with a PersistentVolumeClaim, emptyDir, configMap or secret volume.",
    description="A hostPath mount reads or writes the node's filesystem: other pods' volumes, kubelet "
    "credentials, container runtime sockets. ePHI on the node becomes reachable outside its namespace.",
)
def host_path(inv: Inventory) -> Iterator[Hit]:
    for ps in workload_specs(inv):
        for i, vol in enumerate(ps.spec.get("volumes") or ()):
            if isinstance(vol, dict) and "hostPath" in vol:
                hp = as_dict(vol.get("hostPath"))
                yield Hit(ps.owner, f"volume {vol.get('name', '?')} mounts host path {hp.get('path', '?')}",
                          path=f"{ps.path}.volumes[{i}].hostPath.path", value=hp.get("path"))


@check(
    id="KH-WL-004",
    title="Container adds Linux capabilities beyond NET_BIND_SERVICE",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.9",),
    nsa=("Pod security: least privilege capabilities",),
    pss=("restricted: capabilities",),
    remediation="Remove securityContext.capabilities.add entries other than NET_BIND_SERVICE.",
    description="Capabilities such as SYS_ADMIN, NET_ADMIN or SYS_PTRACE let a container escape its isolation "
    "or inspect other processes.",
)
def added_capabilities(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.windows:
            continue
        caps = ct.sc.get("capabilities")
        add = caps.get("add") if isinstance(caps, dict) else None
        if not isinstance(add, list):
            continue
        extra = [str(a) for a in add if str(a) not in ALLOWED_ADD_CAPS]
        if extra:
            yield Hit(ct.owner, f"container {ct.name} adds capabilities {', '.join(extra)}",
                      path=f"{ct.path}.securityContext.capabilities.add", value=extra)


@check(
    id="KH-WL-005",
    title="Container does not drop ALL capabilities",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.MEDIUM,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.10",),
    pss=("restricted: capabilities",),
    remediation="Set securityContext.capabilities.drop: [\"ALL\"] and add back only NET_BIND_SERVICE if needed.",
    description="The runtime's default capability set (e.g. NET_RAW, CHOWN, SETUID) is more than a service "
    "needs; dropping ALL is the restricted Pod Security Standard.",
)
def drop_all(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.windows:
            continue
        caps = ct.sc.get("capabilities")
        drop = caps.get("drop") if isinstance(caps, dict) else None
        if not (isinstance(drop, list) and "ALL" in drop):
            yield Hit(ct.owner, f"container {ct.name} does not drop ALL capabilities",
                      path=f"{ct.path}.securityContext.capabilities.drop", value=drop)


@check(
    id="KH-WL-006",
    title="runAsNonRoot is not enforced",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.7",),
    nsa=("Pod security: non-root containers",),
    pss=("restricted: running as non-root",),
    remediation="Set spec.securityContext.runAsNonRoot: true (and a non-zero runAsUser in the image or spec); "
    "do not override it with false in a container.",
    description="A process running as root inside the container is one kernel bug away from root on the "
    "node; runAsNonRoot makes the kubelet refuse to start a root process.",
)
def run_as_non_root(inv: Inventory) -> Iterator[Hit]:
    # As upstream PSS: an explicit false on the pod is a violation even when every container sets true.
    for ps in workload_specs(inv):
        if ps.spec.get("hostUsers") is False:
            continue
        if as_dict(ps.spec.get("securityContext")).get("runAsNonRoot") is False:
            yield Hit(ps.owner, "pod sets runAsNonRoot: false", path=f"{ps.path}.securityContext.runAsNonRoot",
                      value=False)
    for ct in all_containers(inv):
        if ct.user_ns:
            continue
        value = ct.sc.get("runAsNonRoot")
        if value is False or (value is not True and ct.pod_sc.get("runAsNonRoot") is not True):
            msg = f"container {ct.name} may run as root (runAsNonRoot unset here and not true on the pod)"
            if value is False:
                msg = f"container {ct.name} sets runAsNonRoot: false"
            yield Hit(ct.owner, msg, path=f"{ct.path}.securityContext.runAsNonRoot", value=value)


@check(
    id="KH-WL-007",
    title="Container runs as UID 0 (runAsUser: 0)",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.7",),
    pss=("restricted: running as non-root user",),
    remediation="Set runAsUser to a non-zero UID (e.g. 10001) at pod or container level.",
    description="An explicit runAsUser: 0 runs the process as root regardless of the image's USER.",
)
def run_as_uid0(inv: Inventory) -> Iterator[Hit]:
    for ps in workload_specs(inv):
        if ps.spec.get("hostUsers") is False:
            continue
        pod_sc = as_dict(ps.spec.get("securityContext"))
        if pod_sc.get("runAsUser") == 0 and not isinstance(pod_sc.get("runAsUser"), bool):
            yield Hit(ps.owner, "pod sets runAsUser: 0", path=f"{ps.path}.securityContext.runAsUser", value=0)
    for ct in all_containers(inv):
        if ct.user_ns:
            continue
        uid = ct.sc.get("runAsUser")
        if uid == 0 and not isinstance(uid, bool):
            yield Hit(ct.owner, f"container {ct.name} sets runAsUser: 0",
                      path=f"{ct.path}.securityContext.runAsUser", value=0)


@check(
    id="KH-WL-008",
    title="allowPrivilegeEscalation is not false",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.2.6",),
    nsa=("Pod security: prevent privilege escalation",),
    pss=("restricted: privilege escalation",),
    remediation="Set securityContext.allowPrivilegeEscalation: false on every container.",
    description="Unless it is explicitly false, a setuid binary in the image can gain more privileges than "
    "the container started with (no_new_privs is not set).",
)
def privilege_escalation(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.windows:
            continue
        value = ct.sc.get("allowPrivilegeEscalation")
        if value is not False:
            yield Hit(ct.owner, f"container {ct.name} allows privilege escalation",
                      path=f"{ct.path}.securityContext.allowPrivilegeEscalation", value=value)


@check(
    id="KH-WL-009",
    title="Root filesystem is writable (readOnlyRootFilesystem not true)",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.MEDIUM,
    hipaa=INTEGRITY,
    relation="supports",
    cis=("5.7.3",),
    nsa=("Pod security: immutable container filesystems",),
    remediation="Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the app must write.",
    description="A writable root filesystem lets an intruder drop tools or alter binaries that process ePHI, "
    "and lets the app write ePHI to ephemeral, unencrypted container layers.",
)
def read_only_root(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.field != "containers" or ct.windows:
            continue
        value = ct.sc.get("readOnlyRootFilesystem")
        if value is not True:
            yield Hit(ct.owner, f"container {ct.name} has a writable root filesystem",
                      path=f"{ct.path}.securityContext.readOnlyRootFilesystem", value=value)


@check(
    id="KH-WL-010",
    title="Seccomp profile missing or Unconfined",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    cis=("5.7.2",),
    nsa=("Pod security: seccomp",),
    pss=("baseline: seccomp", "restricted: seccomp"),
    remediation="Set spec.securityContext.seccompProfile.type: RuntimeDefault (or Localhost with a profile).",
    description="Without a seccomp profile every syscall is reachable, so a kernel vulnerability becomes a "
    "container escape to the node.",
)
def seccomp(inv: Inventory) -> Iterator[Hit]:
    for ps in workload_specs(inv):
        if as_dict(ps.spec.get("os")).get("name") == "windows":
            continue
        pod_profile = as_dict(as_dict(ps.spec.get("securityContext")).get("seccompProfile"))
        pod_type = pod_profile.get("type")
        if pod_type is not None and pod_type not in SECCOMP_OK:
            yield Hit(ps.owner, f"pod seccomp profile is {pod_type}",
                      path=f"{ps.path}.securityContext.seccompProfile.type", value=pod_type)
    for ct in all_containers(inv):
        if ct.windows:
            continue
        pod_type = as_dict(ct.pod_sc.get("seccompProfile")).get("type")
        ctype = as_dict(ct.sc.get("seccompProfile")).get("type")
        if ctype is not None and ctype not in SECCOMP_OK:
            yield Hit(ct.owner, f"container {ct.name} seccomp profile is {ctype}",
                      path=f"{ct.path}.securityContext.seccompProfile.type", value=ctype)
        elif ctype is None and pod_type is None:
            yield Hit(ct.owner, f"container {ct.name} has no seccomp profile (none on the pod either)",
                      path=f"{ct.path}.securityContext.seccompProfile", value=None)


@check(
    id="KH-WL-011",
    title="Container without CPU/memory requests or a memory limit",
    area=AREA,
    severity=Severity.LOW,
    phi_severity=Severity.MEDIUM,
    hipaa=("164.308(a)(7)(i)", "164.308(a)(1)(ii)(B)"),
    relation="supports",
    nsa=("Pod security: resource limits",),
    remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on every "
    "container (a LimitRange can supply defaults per namespace).",
    description="Without requests and a memory limit one runaway pod can starve the node and make ePHI "
    "systems unavailable; availability of ePHI is part of the contingency safeguards.",
)
def resources(inv: Inventory) -> Iterator[Hit]:
    for ct in all_containers(inv):
        if ct.field == "ephemeralContainers":  # the API does not allow resources on ephemeral containers
            continue
        res = as_dict(ct.c.get("resources"))
        req, lim = as_dict(res.get("requests")), as_dict(res.get("limits"))
        missing = [f"requests.{k}" for k in ("cpu", "memory") if req.get(k) in (None, "")]
        if lim.get("memory") in (None, ""):
            missing.append("limits.memory")
        if missing:
            yield Hit(ct.owner, f"container {ct.name} has no {', '.join(missing)}",
                      path=f"{ct.path}.resources", value=missing)


@check(
    id="KH-WL-012",
    title="Workload in the default namespace",
    area=AREA,
    severity=Severity.MEDIUM,
    phi_severity=Severity.HIGH,
    hipaa=("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
    relation="supports",
    cis=("5.7.4",),
    nsa=("Namespaces: separate workloads",),
    remediation="Deploy every workload into a dedicated namespace with its own RBAC, NetworkPolicy and "
    "Pod Security labels; set metadata.namespace explicitly.",
    description="The default namespace usually has no NetworkPolicy, no Pod Security labels and broad RBAC, "
    "so workloads there escape the per-namespace access controls that protect ePHI. A manifest without "
    "metadata.namespace lands there when applied without -n; scan it with --namespace NS if it is deployed "
    "elsewhere.",
)
def default_namespace(inv: Inventory) -> Iterator[Hit]:
    for kind in sorted(WORKLOAD_KINDS):
        for obj in inv.of_kind(kind):
            if obj.namespace == "default" and obj.namespace_assumed:
                # Placed there by the file source: `kubectl apply` without -n puts it in default, so it is
                # judged as if written there (scan with --namespace NS if it is applied elsewhere).
                yield Hit(obj, f"{kind} {obj.name} has no metadata.namespace and is applied to the default "
                          "namespace (scan with --namespace if it is deployed elsewhere)",
                          path="metadata.namespace", value=None)
            elif obj.namespace == "default":
                yield Hit(obj, f"{kind} {obj.name} is in the default namespace",
                          path="metadata.namespace", value="default")
            elif obj.namespace is None:  # objects built by hand, not by the file source
                yield Hit(obj, f"{kind} {obj.name} has no metadata.namespace (applies to the default namespace)",
                          path="metadata.namespace", value=None, severity=Severity.LOW)


@check(
    id="KH-WL-013",
    title="Control-plane look-alike Pod (modified built-in)",
    area=AREA,
    severity=Severity.HIGH,
    hipaa=ISOLATION,
    relation="supports",
    remediation="Restore the component's static Pod manifest from kubeadm (`kubeadm init phase control-plane` "
    "/ `phase etcd local`), or, for a Pod that is not a control-plane component, drop the tier/component labels "
    "and run it outside kube-system under the workload policies.",
    description="Control-plane static Pods (kube-apiserver, kube-controller-manager, kube-scheduler, etcd in "
    "kube-system) are exempt from the workload checks because their host access is by design. The exemption "
    "is decided by content: a kube-system Pod that presents itself as a component (labels or binary) but runs "
    "another image or binary, is privileged, shares host PID/IPC, adds capabilities, uses a service account or "
    "mounts host paths kubeadm does not, is not exempt, and is reported here as a modified built-in.",
)
def control_plane_look_alike(inv: Inventory) -> Iterator[Hit]:
    for pod, verdict in inv.control_plane.static_pods:  # classified once, with the exemption
        if verdict.modified:
            yield Hit(pod, f"modified built-in: Pod {pod.namespace}/{pod.name} presents itself as "
                      f"{verdict.component} but " + "; ".join(t for t, _ in verdict.differences)
                      + "; it is judged as an ordinary workload", path=verdict.differences[0][1])
