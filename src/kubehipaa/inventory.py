"""The indexed set of scanned objects, and the views every check needs, derived once.

Checks must not re-walk the object list for pod specs or namespace labels, nor rebuild an engine's index:
on 85k objects that would multiply the scan time by the number of checks. The inventory builds these views
lazily, once (`functools.cached_property`), and checks only read them; a check keeps no cache of its own.
Objects an engine leaves out while a view is built are recorded here (`skip`, `skipped`), so the scan that
reads the inventory names them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from kubehipaa.config import Config
from kubehipaa.engines.controlplane import ControlPlane, classify_control_plane
from kubehipaa.model import K8sObject, ResourceRef
from kubehipaa.workload_kinds import POD_TEMPLATE_PATHS

if TYPE_CHECKING:
    from kubehipaa.engines.netpol import Engine as NetpolEngine
    from kubehipaa.engines.rbac import RbacIndex
    from kubehipaa.sources.files import InputProblem

CONTAINER_FIELDS = ("containers", "initContainers", "ephemeralContainers")
RBAC_VIEW_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")
_EMPTY: dict[str, Any] = {}


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


@dataclass(frozen=True, slots=True)
class PodSpecRef:
    """A pod spec found in a Pod or a workload template.

    `path` is the dotted path of the spec inside the owner (for evidence), `template_meta` the template's
    metadata (labels and annotations the pods will carry).
    """

    owner: K8sObject
    spec: dict[str, Any]
    path: str
    template_meta: dict[str, Any]

    @property
    def namespace(self) -> str | None:
        return self.owner.namespace

    def containers(self, include_init: bool = True, include_ephemeral: bool = True) -> list[tuple[str, dict]]:
        """(field name, container) pairs across all container lists, e.g. ("initContainers", {...})."""
        out: list[tuple[str, dict]] = []
        fields = ["containers"]
        if include_init:
            fields.append("initContainers")
        if include_ephemeral:
            fields.append("ephemeralContainers")
        for name in fields:
            for c in self.spec.get(name) or ():
                if isinstance(c, dict):
                    out.append((name, c))
        return out


def pod_spec_of(obj: K8sObject) -> PodSpecRef | None:
    """The pod spec carried by `obj`, if it is a Pod or a workload with a pod template (`POD_TEMPLATE_PATHS`)."""
    keys = POD_TEMPLATE_PATHS.get(obj.kind)
    if keys is None:
        return None
    node: Any = obj.doc
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    if not isinstance(node, dict):
        return None
    spec = node.get("spec")
    if not isinstance(spec, dict):
        return None
    meta: dict[str, Any] = node["metadata"] if isinstance(node.get("metadata"), dict) else {}
    return PodSpecRef(obj, spec, ".".join((*keys, "spec")), meta)


@dataclass(slots=True)
class Container:
    """One container of one pod spec, with what nearly every check reads already looked up."""

    owner: K8sObject
    spec: PodSpecRef
    field: str  # containers | initContainers | ephemeralContainers
    path: str  # evidence path of the container, e.g. spec.template.spec.containers[0]
    c: dict[str, Any]
    sc: dict[str, Any]  # the container's securityContext ({} when unset)
    pod_sc: dict[str, Any]  # the pod's securityContext ({} when unset)
    windows: bool  # spec.os.name == windows: Linux-only fields are invalid, PSS skips their checks
    user_ns: bool  # spec.hostUsers == false: UID 0 maps to an unprivileged host UID (PSS >= v1.35)

    @property
    def name(self) -> str:
        return str(self.c.get("name") or "?")


@dataclass(slots=True)
class PodView:
    """The pod specs the workload checks judge and all their containers (see `Inventory.pod_view`)."""

    specs: list[PodSpecRef]
    containers: list[Container]


@dataclass(frozen=True, slots=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None


def parse_image(image: str) -> ImageRef:
    """Split an image reference by the OCI/Docker grammar (`[registry[:port]/]repo[:tag][@digest]`): the tag is
    the part after ':' in the last path component only, so a registry port is not mistaken for a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :] or None, digest or None)
    return ImageRef(name, None, digest or None)


class ImageUse(NamedTuple):
    """One container's image: who runs it, the evidence path of its `image` field, and the parsed reference."""

    owner: K8sObject
    path: str
    container: str
    image: str
    ref: ImageRef


class Inventory:
    """Objects indexed by kind/namespace/name, plus derived views."""

    def __init__(self, objects: list[K8sObject], config: Config | None = None) -> None:
        self.objects = objects
        self.config = config or Config()
        by_kind: dict[str, list[K8sObject]] = defaultdict(list)
        index: dict[tuple[str, str | None, str], K8sObject] = {}
        for obj in objects:
            by_kind[obj.kind].append(obj)
            index[(obj.kind, obj.namespace, obj.name)] = obj
        self._by_kind = dict(by_kind)
        self._index = index
        self._refs: dict[int, list[Any]] = {}  # id(obj) -> [obj, its ResourceRef, the ref findings show or None]
        self._skipped: dict[tuple[str, int | None, str], InputProblem] = {}

    def ref(self, obj: K8sObject) -> ResourceRef:
        """`obj.ref`, built once per object: an object with many findings shares one (immutable) ref."""
        entry = self._refs.get(id(obj))
        if entry is None or entry[0] is not obj:
            entry = self._refs[id(obj)] = [obj, obj.ref, None]  # holding obj keeps its id from being reused
        ref: ResourceRef = entry[1]
        return ref

    def finding_ref(self, obj: K8sObject, redact: Callable[[ResourceRef], ResourceRef]) -> ResourceRef:
        """`redact(self.ref(obj))`, computed once per object: every finding on `obj` carries this ref (the check
        registry passes its redaction), and an object with findings from twenty checks asks twenty times."""
        entry = self._refs.get(id(obj))
        if entry is None or entry[0] is not obj:
            entry = self._refs[id(obj)] = [obj, obj.ref, None]
        shown: ResourceRef | None = entry[2]
        if shown is None:
            shown = entry[2] = redact(entry[1])
        return shown

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        out: list[K8sObject] = []
        for kind in kinds:
            out.extend(self._by_kind.get(kind, ()))
        return out

    @property
    def kinds(self) -> set[str]:
        return set(self._by_kind)

    def get(self, kind: str, namespace: str | None, name: str) -> K8sObject | None:
        return self._index.get((kind, namespace, name))

    def skip(self, file: str, line: int | None, message: str) -> None:
        """Record that the object read at `file:line` was left out of some answer, and why (`message`).

        Engines leave out an object they cannot use (an invalid NetworkPolicy, a Role whose `rules` is not a
        list, a pod spec with a wrong-typed field) and judge the rest, so one bad object does not disable
        every check built on them. The scan puts these into its result and exits 2: it never looks cleaner
        than the input it could not judge. Several checks share one engine, so a repeat is kept once."""
        from kubehipaa.sources.files import LOST, InputProblem  # the loader's record of input not analysed

        self._skipped.setdefault((file, line, message), InputProblem(file, line, message, LOST))

    @property
    def skipped(self) -> list[InputProblem]:
        """Everything `skip` recorded, in the order first reported."""
        return list(self._skipped.values())

    @cached_property
    def pod_specs(self) -> list[PodSpecRef]:
        out = []
        for kind in POD_TEMPLATE_PATHS:
            for obj in self._by_kind.get(kind, ()):
                ref = pod_spec_of(obj)
                if ref is not None:
                    out.append(ref)
        return out

    @cached_property
    def netpol(self) -> NetpolEngine:
        """The NetworkPolicy connectivity engine over these objects, built once for every check that asks.

        Built as the API server reads the input (`strict=False`: a named port towards IP peers is kept, as a
        warning, where netpol-analyzer refuses the policy). Objects the engine cannot use are left out and
        listed in `netpol.topo.problems`; a reader reports them as skipped input. Connections are expanded only
        when asked (`netpol.connections(...)`, restricted to namespaces when given): a cluster without policies
        has a quadratic number of them.
        """
        from kubehipaa.engines.netpol import Engine, build_topology  # not every command needs the engine

        return Engine(build_topology(self.objects, strict=False))

    @cached_property
    def pod_view(self) -> PodView:
        """The pod specs the workload, image and secret checks judge, and all their containers.

        Every Pod and template except control-plane static Pods, whose host access is by design and which the
        control-plane checks (KH-API/KH-KUB) judge by their own rules. Built in one pass, so twenty container
        checks cost one walk over the specs."""
        specs: list[PodSpecRef] = []
        ctrs: list[Container] = []
        for ps in self.pod_specs:
            if ps.owner.kind == "Pod" and self.control_plane.is_exempt(ps.owner):
                continue  # the one control-plane classifier (`control_plane`) says it is what it claims
            specs.append(ps)
            spec = ps.spec
            pod_sc = _as_dict(spec.get("securityContext"))
            windows = _as_dict(spec.get("os")).get("name") == "windows"
            user_ns = spec.get("hostUsers") is False
            for field in CONTAINER_FIELDS:
                items = spec.get(field)
                if not isinstance(items, list):
                    continue
                for i, c in enumerate(items):
                    if isinstance(c, dict):
                        ctrs.append(Container(ps.owner, ps, field, f"{ps.path}.{field}[{i}]", c,
                                              _as_dict(c.get("securityContext")), pod_sc, windows, user_ns))
        return PodView(specs, ctrs)

    @cached_property
    def images(self) -> list[ImageUse]:
        """The image of every judged container (`pod_view`), each distinct reference parsed once."""
        out: list[ImageUse] = []
        refs: dict[str, ImageRef] = {}
        for ct in self.pod_view.containers:
            image = ct.c.get("image")
            if isinstance(image, str) and image:
                ref = refs.get(image)
                if ref is None:
                    ref = refs[image] = parse_image(image)
                out.append(ImageUse(ct.owner, f"{ct.path}.image", ct.name, image, ref))
        return out

    @cached_property
    def rbac(self) -> RbacIndex:
        """The RBAC engine's index of the Roles, bindings and service accounts, shared by every RBAC check.

        A malformed Role or binding is left out of it and recorded as skipped input (`skip`; the scan then
        exits 2): the checks judge the rest instead of all failing on it."""
        from kubehipaa.engines.rbac import RbacIndex  # here: commands without RBAC do not pay for its import

        idx = RbacIndex.from_objects(self.of_kind(*RBAC_VIEW_KINDS))
        for bad in idx.skipped:
            self.skip(bad.file, bad.line, bad.message)
        return idx

    @cached_property
    def namespaces(self) -> dict[str, K8sObject]:
        return {obj.name: obj for obj in self._by_kind.get("Namespace", ())}

    @cached_property
    def namespace_names(self) -> set[str]:
        """Every namespace mentioned: declared Namespace objects and namespaces of namespaced objects."""
        names = set(self.namespaces)
        names.update(obj.namespace for obj in self.objects if obj.namespace)
        return names

    def namespace_labels(self, namespace: str | None) -> dict[str, str]:
        if not namespace:
            return {}
        ns = self.namespaces.get(namespace)
        labels = dict(ns.labels) if ns is not None else {}
        labels.setdefault("kubernetes.io/metadata.name", namespace)
        return labels

    @cached_property
    def phi_namespaces(self) -> frozenset[str]:
        """Namespaces that hold PHI: named in the config, or labelled with the configured selector."""
        phi = set(self.config.phi.namespaces)
        selector = self.config.phi.selector
        if selector:
            for name, ns in self.namespaces.items():
                labels = ns.labels
                if all(str(labels.get(k)) == v for k, v in selector.items()):
                    phi.add(name)
        return frozenset(phi)

    def is_phi(self, namespace: str | None) -> bool:
        return bool(namespace) and namespace in self.phi_namespaces

    @cached_property
    def control_plane(self) -> ControlPlane:
        """The control plane in this input, classified once by the one classifier: kube-apiserver, etcd and the
        other component containers with their parsed flags, the verdict on each kube-system Pod that presents
        itself as a component (exempt from the workload checks or a look-alike), and the configuration files
        (EncryptionConfiguration, audit Policy, kubelet) by kind. The KH-API/ENC/AUD/KUB checks read it."""
        return classify_control_plane(self.of_kind)
